use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// A running emulator; stopped when dropped (also when a test panics), and by the launcher itself
/// when this process dies (it exits when its stdin closes).
pub struct Emulator {
    child: Child,
    _stdin: ChildStdin,
    endpoint: String,
    addr: String,
}

/// Requests the emulator served, per service and operation (`{"dynamodb": {"UpdateItem": 3}}`).
pub type ApiCalls = BTreeMap<String, BTreeMap<String, u64>>;

const INSTALL_HINT: &str = "python3 -m pip install -r requirements-test.txt";

impl Emulator {
    pub const REGION: &'static str = "us-east-1";
    pub const ACCOUNT: &'static str = "123456789012";

    /// Starts the emulator and waits until it serves requests. Panics with the install command when
    /// Python or moto is missing.
    pub fn start() -> Emulator {
        let launcher = Self::launcher();
        let python = std::env::var("VIGIL_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let mut child = Command::new(&python)
            .arg(&launcher)
            .args(["--host", "127.0.0.1", "--port", "0", "--exit-on-stdin-eof"])
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
                "the AWS API emulator did not start (exit {status:?}, said {line:?}); is moto installed? run: {INSTALL_HINT}"
            );
        };
        let addr = endpoint.trim_start_matches("http://").to_owned();
        Emulator {
            child,
            _stdin: stdin,
            endpoint,
            addr,
        }
    }

    fn launcher() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("python")
            .join("vigil_emulator.py")
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
        let mut stream = TcpStream::connect(&self.addr).expect("connect to the emulator");
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
        write!(stream, "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", self.addr)
            .expect("write request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "{method} {path}: {head}"
        );
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        }
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
