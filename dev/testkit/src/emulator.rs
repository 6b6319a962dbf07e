use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A running emulator; stopped when dropped (also when a test panics), and by the launcher itself
/// when this process dies (it exits when its stdin closes).
pub struct Emulator {
    /// The launcher, when this process started it (not for [`Emulator::connect`]).
    child: Option<Child>,
    _stdin: Option<ChildStdin>,
    endpoint: String,
    addr: String,
    /// Where `restart` saves the state and the next launcher restores it from.
    state_file: PathBuf,
    /// A temporary file chosen by `start()`, removed on drop.
    owns_state_file: bool,
}

/// Requests the emulator served, per service and operation (`{"dynamodb": {"UpdateItem": 3}}`).
pub type ApiCalls = BTreeMap<String, BTreeMap<String, u64>>;

const INSTALL_HINT: &str = "python3 -m pip install -r requirements-test.txt";

/// How long `restart` waits for the old launcher to save the state and exit (it first lets the
/// request being served finish, which may be an SQS long poll).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);

impl Emulator {
    /// The region the SDK configuration names.
    pub const REGION: &'static str = "us-east-1";
    /// The account moto serves (its default).
    pub const ACCOUNT: &'static str = "123456789012";

    /// Starts the emulator and waits until it serves requests. Panics with the install command when
    /// Python or moto is missing. `restart` keeps the state in a temporary file, removed on drop.
    pub fn start() -> Emulator {
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let state_file = std::env::temp_dir().join(format!(
            "vigil-emulator-{}-{nanos}-{}.state",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        // A leftover of an earlier process with the same name would be restored: start empty.
        let _ = std::fs::remove_file(&state_file);
        let mut emulator = Self::start_with_state(state_file);
        emulator.owns_state_file = true;
        emulator
    }

    /// Starts the emulator with its state kept in `state_file`: restored from it if the file exists
    /// (a file that cannot be restored makes the start panic), saved to it by `restart`. The file is
    /// the caller's: it is left in place.
    pub fn start_with_state(state_file: impl Into<PathBuf>) -> Emulator {
        let state_file = state_file.into();
        let (child, stdin, endpoint) = Self::spawn(0, &state_file);
        let addr = endpoint.trim_start_matches("http://").to_owned();
        Emulator {
            child: Some(child),
            _stdin: Some(stdin),
            endpoint,
            addr,
            state_file,
            owns_state_file: false,
        }
    }

    /// Restarts the emulator with its state kept, as a server restart behind durable storage:
    /// the launcher stops accepting connections, lets the request being served finish, saves the
    /// state and exits (requests queued behind that one are cut: their connections are reset).
    /// For `downtime` nothing listens on the port (connections are refused); then a new launcher
    /// restores the state and listens on the same port, so `endpoint()` is unchanged. Blocks until
    /// the new launcher serves requests; the old process is reaped. Panics if the state could not be
    /// saved or restored, or the port could not be bound again.
    pub fn restart(&mut self, downtime: Duration) {
        let answer = self.exchange("POST", "/_vigil/shutdown");
        let status = self.wait_for_exit();
        assert!(
            status.success(),
            "the emulator did not save its state and exit cleanly (exit {status}); it answered {answer:?}"
        );
        std::thread::sleep(downtime);
        let port = self
            .addr
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .expect("port of the emulator's address");
        let (child, stdin, endpoint) = Self::spawn(port, &self.state_file);
        self.child = Some(child);
        self._stdin = Some(stdin);
        assert_eq!(
            endpoint, self.endpoint,
            "the restarted emulator listens elsewhere"
        );
    }

    /// An emulator someone else started (`moto_server`, or this launcher), at `endpoint`
    /// (`http://HOST:PORT`): used as it is, never stopped or restarted from here. Its
    /// [`Self::api_calls`] are only there when it is this launcher ([`Self::try_api_calls`]).
    pub fn connect(endpoint: &str) -> Result<Emulator, String> {
        let addr = endpoint
            .strip_prefix("http://")
            .ok_or_else(|| format!("{endpoint}: expected http://HOST:PORT"))?
            .trim_end_matches('/')
            .to_owned();
        TcpStream::connect(&addr).map_err(|e| format!("cannot reach {endpoint}: {e}"))?;
        Ok(Emulator {
            child: None,
            _stdin: None,
            endpoint: format!("http://{addr}"),
            addr,
            state_file: PathBuf::new(),
            owns_state_file: false,
        })
    }

    /// The file `restart` saves the state to.
    pub fn state_file(&self) -> &Path {
        &self.state_file
    }

    fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        let child = self
            .child
            .as_mut()
            .expect("only an emulator this process started can be restarted");
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "the emulator did not exit within {SHUTDOWN_TIMEOUT:?} of POST /_vigil/shutdown"
                    );
                }
                Err(e) => panic!("wait for the emulator to exit: {e}"),
            }
        }
    }

    /// Starts a launcher on `port` (0: a free one) and waits for its ready line.
    fn spawn(port: u16, state_file: &Path) -> (Child, ChildStdin, String) {
        let launcher = Self::launcher();
        let python = std::env::var("VIGIL_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let mut child = Command::new(&python)
            .arg(&launcher)
            .args(["--host", "127.0.0.1", "--exit-on-stdin-eof"])
            .arg("--port")
            .arg(port.to_string())
            .arg("--state-file")
            .arg(state_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {python} {}: {e}; install Python 3 and run: {INSTALL_HINT}",
                    launcher.display()
                )
            });
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the emulator's ready line");
        let Some(endpoint) = line
            .trim()
            .strip_prefix("VIGIL_EMULATOR_READY ")
            .map(str::to_owned)
        else {
            let status = child.wait().ok();
            panic!(
                "the AWS API emulator did not start (exit {status:?}, said {line:?}; its stderr above says why); is moto installed? run: {INSTALL_HINT}"
            );
        };
        (child, stdin, endpoint)
    }

    /// The launcher script of the checkout being run: found from the running package's directory
    /// (cargo sets `CARGO_MANIFEST_DIR` for `cargo test` and `cargo run`) or the current
    /// directory, else where this crate was compiled. Clones that share one target directory (as
    /// CI's cache does) may reuse each other's compiled testkit, whose compile-time path names the
    /// other clone.
    fn launcher() -> PathBuf {
        const SCRIPT: &str = "dev/testkit/python/vigil_emulator.py";
        let starts = [
            std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
            std::env::current_dir().ok(),
        ];
        starts
            .iter()
            .flatten()
            .flat_map(|start| start.ancestors())
            .map(|dir| dir.join(SCRIPT))
            .find(|candidate| candidate.is_file())
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("python")
                    .join("vigil_emulator.py")
            })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SDK configuration for the emulator: its endpoint, dummy credentials, a fixed region, and
    /// retries kept short so failure tests stay fast.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(Self::REGION))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "vigil-testkit",
            ))
            .load()
            .await
    }

    /// The environment a child process (a function binary, `vigil demo`) needs to use the emulator
    /// through `aws_config::load_from_env()`.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", Self::REGION.into()),
        ]
    }

    /// The requests served so far.
    pub fn api_calls(&self) -> ApiCalls {
        serde_json::from_str(&self.http("GET", "/_vigil/api-calls")).expect("api-calls JSON")
    }

    /// The requests served so far, if this is the Vigil launcher (plain `moto_server` does not
    /// count them).
    pub fn try_api_calls(&self) -> Option<ApiCalls> {
        let (head, body) = self.exchange("GET", "/_vigil/api-calls").ok()?;
        is_ok(&head)
            .then(|| serde_json::from_str(&body).ok())
            .flatten()
    }

    /// The DynamoDB write units metered since the last reset, as `GET /_vigil/write-units` gives
    /// them (`units` and `writes` by operation, `largest` item and `over_1kb` writes by item kind).
    pub fn write_units(&self) -> serde_json::Value {
        serde_json::from_str(&self.http("GET", "/_vigil/write-units")).expect("write-units JSON")
    }

    /// Zeroes the request counts.
    pub fn reset_api_calls(&self) {
        self.http("POST", "/_vigil/api-calls/reset");
    }

    /// Count of one operation (`("dynamodb", "UpdateItem")`).
    pub fn calls(&self, service: &str, operation: &str) -> u64 {
        self.api_calls()
            .get(service)
            .and_then(|ops| ops.get(operation))
            .copied()
            .unwrap_or(0)
    }

    /// A minimal HTTP/1.1 exchange on loopback for the launcher's own endpoints.
    pub(crate) fn http(&self, method: &str, path: &str) -> String {
        let (head, body) = self
            .exchange(method, path)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(is_ok(&head), "{method} {path}: {head}");
        body
    }

    /// Status line and headers, and the body, of one request.
    fn exchange(&self, method: &str, path: &str) -> std::io::Result<(String, String)> {
        let mut stream = TcpStream::connect(&self.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Ok((head.to_owned(), body))
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.owns_state_file {
            let _ = std::fs::remove_file(&self.state_file);
        }
    }
}

/// A `200 OK` status line, in either HTTP version the launcher may answer with.
fn is_ok(head: &str) -> bool {
    head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200")
}
