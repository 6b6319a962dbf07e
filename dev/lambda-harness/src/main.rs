//! Whole-process benchmark of the Lambda functions: each release binary runs against a local Lambda
//! Runtime API (this crate's `runtime_api`) and the AWS API emulator, as it would in one execution
//! environment. Per function it reports the time from exec to the first response (init + first
//! invocation), the init alone (exec to the first `invocation/next`), the warm invocation time, peak
//! RSS (`VmHWM`) over all events, and the size of the deployment zip (the binary as `bootstrap`).
//!
//! Usage: lambda-harness [--bin-dir DIR] [--events N] [--batch N] [--json]
//! Build first: `cargo build --release -p vigil-ingest -p vigil-enrich`.

mod runtime_api;

use runtime_api::{Outcome, RuntimeApi};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vigil_testkit::{BUS_NAME, BusTap, Emulator, TABLE_NAME};

/// Where a function's events come from.
#[derive(Clone, Copy)]
enum Input {
    /// Source events built from the adapter samples, as EventBridge delivers them.
    SourceEvents,
    /// What an earlier function published on the bus with this `detail-type`.
    Published(&'static str),
}

struct Function {
    /// The binary's name in the release directory, also the Lambda function name.
    name: &'static str,
    input: Input,
    /// The `detail-type` it publishes, tapped so a later function can consume it.
    publishes: Option<&'static str>,
}

/// The functions, in pipeline order. Adding one is one line.
const FUNCTIONS: &[Function] = &[
    Function {
        name: "ingest",
        input: Input::SourceEvents,
        publishes: Some("Finding Accepted"),
    },
    Function {
        name: "enrich",
        input: Input::Published("Finding Accepted"),
        publishes: Some("Finding Enriched"),
    },
];

struct Options {
    bin_dir: PathBuf,
    events: usize,
    batch: usize,
    json: bool,
}

fn options() -> Options {
    let mut o = Options {
        bin_dir: default_bin_dir(),
        events: 1000,
        batch: 10,
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--bin-dir" => o.bin_dir = PathBuf::from(val()),
            "--events" => o.events = val().parse().unwrap_or_else(|_| usage("--events N")),
            "--batch" => o.batch = val().parse().unwrap_or_else(|_| usage("--batch N")),
            "--json" => o.json = true,
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    o.batch = o.batch.clamp(1, 100);
    o
}

fn usage(why: &str) -> ! {
    eprintln!(
        "lambda-harness: {why}\nusage: lambda-harness [--bin-dir DIR] [--events N] [--batch N] [--json]"
    );
    std::process::exit(2)
}

/// `$CARGO_TARGET_DIR/release`, else the workspace's `target/release`.
fn default_bin_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("release")
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).expect("read a sample")).expect("sample JSON")
}

/// `n` EventBridge events cycling through the Falco, GuardDuty and Sysdig samples, each with its own
/// event id and task, in the emulator's account and region.
fn source_events(n: usize) -> Vec<Value> {
    let samples = [
        fixture("falco-ecs-eventbridge.json"),
        fixture("guardduty-ecs-runtime.json"),
        fixture("sysdig-runtime-policy.json"),
    ];
    (0..n)
        .map(|i| {
            let mut e = samples[i % samples.len()].clone();
            let task = format!(
                "arn:aws:ecs:{}:{}:task/bench/{i:032x}",
                Emulator::REGION,
                Emulator::ACCOUNT
            );
            e["id"] = json!(format!("00000000-0000-4000-8000-{i:012x}"));
            e["account"] = json!(Emulator::ACCOUNT);
            e["region"] = json!(Emulator::REGION);
            let d = &mut e["detail"];
            if d.get("output_fields").is_some() {
                d["output_fields"]["container.label.com.amazonaws.ecs.task-arn"] = json!(task);
            } else if d.get("resource").is_some() {
                d["resource"]["ecsClusterDetails"]["taskDetails"]["arn"] = json!(task);
            } else {
                d["labels"]["ecs.taskArn"] = json!(task);
            }
            e
        })
        .collect()
}

/// An SQS event source batch (`{"Records": [...]}`) with these bodies.
fn sqs_batch(bodies: &[Value], first: usize) -> Vec<u8> {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            json!({
                "messageId": format!("msg-{:08}", first + i),
                "receiptHandle": "bench",
                "body": b.to_string(),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:{}:{}:bench", Emulator::REGION, Emulator::ACCOUNT),
                "awsRegion": Emulator::REGION,
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "Records": records })).expect("serializes")
}

/// Peak resident set size of a process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Size of a Lambda deployment zip: the binary stored as `bootstrap`, deflated.
fn zip_size(binary: &Path) -> Option<u64> {
    let dir = std::env::temp_dir().join(format!("vigil-harness-zip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let bootstrap = dir.join("bootstrap");
    std::fs::copy(binary, &bootstrap).ok()?;
    let zip = dir.join("function.zip");
    let _ = std::fs::remove_file(&zip);
    let ok = Command::new("zip")
        .args(["-q", "-9", "-j"])
        .arg(&zip)
        .arg(&bootstrap)
        .status()
        .ok()?
        .success();
    let size = ok
        .then(|| std::fs::metadata(&zip).ok().map(|m| m.len()))
        .flatten();
    let _ = std::fs::remove_dir_all(&dir);
    size
}

struct Measurement {
    name: &'static str,
    events: usize,
    invocations: usize,
    batch: usize,
    init_ms: f64,
    cold_start_ms: f64,
    warm_invocation_ms: f64,
    peak_rss_kib: u64,
    binary_bytes: u64,
    zip_bytes: Option<u64>,
    failed_invocations: usize,
    failed_records: usize,
}

async fn run_function(
    f: &Function,
    opts: &Options,
    emulator: &Emulator,
    bodies: Vec<Value>,
) -> Result<Measurement, String> {
    let binary = opts.bin_dir.join(f.name);
    if !binary.is_file() {
        return Err(format!(
            "{} not found; build it: cargo build --release -p vigil-{}",
            binary.display(),
            f.name
        ));
    }
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:{}",
        Emulator::REGION,
        Emulator::ACCOUNT,
        f.name
    );
    let api = RuntimeApi::start(arn).await.map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&binary);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", f.name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", f.name),
        )
        .env("TABLE_NAME", TABLE_NAME)
        .env("EVENT_BUS_NAME", BUS_NAME)
        .env("RUST_LOG", "warn")
        .envs(emulator.env_vars())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());

    let batches: Vec<Vec<u8>> = bodies
        .chunks(opts.batch)
        .enumerate()
        .map(|(i, c)| sqs_batch(c, i * opts.batch))
        .collect();
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("exec {}: {e}", binary.display()))?;
    let pid = child.id();

    let mut failed_invocations = 0;
    let mut failed_records = 0;
    let mut cold_start = Duration::ZERO;
    let mut warm_start = None;
    for (i, batch) in batches.into_iter().enumerate() {
        let outcome = tokio::time::timeout(Duration::from_secs(60), api.invoke(batch))
            .await
            .map_err(|_| {
                let why = api
                    .init_error()
                    .unwrap_or_else(|| "no response in 60 s".into());
                let _ = child.kill();
                format!("{}: invocation {i}: {why}", f.name)
            })?;
        match outcome {
            Outcome::Response(body) => {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                failed_records += v["batchItemFailures"].as_array().map_or(0, Vec::len);
            }
            Outcome::Error(body) => {
                if failed_invocations == 0 {
                    eprintln!(
                        "{}: invocation {i} failed: {}",
                        f.name,
                        String::from_utf8_lossy(&body)
                    );
                }
                failed_invocations += 1;
            }
        }
        if i == 0 {
            cold_start = t0.elapsed();
            warm_start = Some(Instant::now());
        }
    }
    let warm_total = warm_start.map_or(Duration::ZERO, |t| t.elapsed());
    let peak = peak_rss_kib(pid).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();

    let invocations = bodies.len().div_ceil(opts.batch);
    Ok(Measurement {
        name: f.name,
        events: bodies.len(),
        invocations,
        batch: opts.batch,
        init_ms: api
            .first_next()
            .map_or(f64::NAN, |t| (t - t0).as_secs_f64() * 1e3),
        cold_start_ms: cold_start.as_secs_f64() * 1e3,
        warm_invocation_ms: if invocations > 1 {
            warm_total.as_secs_f64() * 1e3 / (invocations - 1) as f64
        } else {
            f64::NAN
        },
        peak_rss_kib: peak,
        binary_bytes: std::fs::metadata(&binary).map_or(0, |m| m.len()),
        zip_bytes: zip_size(&binary),
        failed_invocations,
        failed_records,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let opts = options();
    let emulator = Emulator::start();
    emulator.create_table().await;
    emulator.create_bus().await;
    aws_sdk_securityhub::Client::new(&emulator.sdk_config().await)
        .enable_security_hub()
        .send()
        .await
        .expect("enable Security Hub in the emulator");
    let mut taps: Vec<(&str, BusTap)> = Vec::new();
    for f in FUNCTIONS {
        if let Some(dt) = f.publishes {
            let tap = emulator
                .tap_bus(
                    &format!("bench-{}", f.name),
                    json!({"source": ["vigil"], "detail-type": [dt]}),
                )
                .await;
            taps.push((dt, tap));
        }
    }

    let mut results = Vec::new();
    for f in FUNCTIONS {
        let bodies = match f.input {
            Input::SourceEvents => source_events(opts.events),
            Input::Published(dt) => {
                let tap = &taps.iter().find(|(t, _)| *t == dt).expect("tapped").1;
                let published = tap.drain().await;
                if published.is_empty() {
                    eprintln!("{}: nothing was published as {dt:?}; skipped", f.name);
                    continue;
                }
                published
                    .iter()
                    .cycle()
                    .take(opts.events)
                    .cloned()
                    .collect()
            }
        };
        match run_function(f, &opts, &emulator, bodies).await {
            Ok(m) => results.push(m),
            Err(e) => {
                eprintln!("lambda-harness: {e}");
                std::process::exit(1);
            }
        }
    }

    if opts.json {
        let out: Vec<Value> = results
            .iter()
            .map(|m| {
                json!({
                    "function": m.name, "events": m.events, "invocations": m.invocations, "batch": m.batch,
                    "init_ms": m.init_ms, "cold_start_ms": m.cold_start_ms,
                    "warm_invocation_ms": m.warm_invocation_ms, "peak_rss_kib": m.peak_rss_kib,
                    "binary_bytes": m.binary_bytes, "zip_bytes": m.zip_bytes,
                    "failed_invocations": m.failed_invocations, "failed_records": m.failed_records,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serializes")
        );
        return;
    }
    println!(
        "| function | events (batches of {}) | init ms | cold start ms (exec → first response) | warm invocation ms | peak RSS MiB | binary MiB | zip MiB | failed |",
        opts.batch
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for m in &results {
        println!(
            "| {} | {} ({} invocations) | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {} | {} invocations, {} records |",
            m.name,
            m.events,
            m.invocations,
            m.init_ms,
            m.cold_start_ms,
            m.warm_invocation_ms,
            m.peak_rss_kib as f64 / 1024.0,
            m.binary_bytes as f64 / 1048576.0,
            m.zip_bytes
                .map_or("n/a (zip not installed)".into(), |z| format!(
                    "{:.2}",
                    z as f64 / 1048576.0
                )),
            m.failed_invocations,
            m.failed_records
        );
    }
}
