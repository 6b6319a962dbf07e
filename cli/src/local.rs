//! `vigil demo` and `vigil replay`: the local pipeline (crate `vigil-local`) from the command line.

use serde_json::Value;
use std::io::{IsTerminal, Write};
use vigil_local::{Progress, Summary, scenario};
use vigil_playbook::PlaybookFile;
use vigil_remediate::RemediationMode;

fn mode(s: &str) -> Result<RemediationMode, String> {
    RemediationMode::parse(s).ok_or_else(|| format!("unknown mode {s:?}"))
}

/// Runs the pipeline on a thread with a large stack: the three handlers' futures, nested in the
/// relay's, outgrow the default 2 MiB (8 MiB main thread) in unoptimized builds.
fn block_on<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
) -> Result<T, String> {
    const STACK: usize = 64 << 20;
    std::thread::Builder::new()
        .name("vigil-local".into())
        .stack_size(STACK)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(STACK)
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the async runtime: {e}"))?
                .block_on(work)
        })
        .map_err(|e| format!("cannot start the pipeline thread: {e}"))?
        .join()
        .map_err(|_| "the local pipeline panicked".to_owned())?
}

/// Progress on stderr, one rewritten line, only when a person is watching.
fn progress(p: &Progress) {
    let stderr = std::io::stderr();
    if !stderr.is_terminal() {
        return;
    }
    let m = |f: &str| p.messages.get(f).copied().unwrap_or(0);
    let _ = write!(
        stderr.lock(),
        "\rrelayed: ingest {}  enrich {}  remediate {}  coverage {}   ",
        m(vigil_local::INGEST),
        m(vigil_local::ENRICH),
        m(vigil_local::REMEDIATE),
        m(vigil_local::COVERAGE)
    );
}

fn output(summary: Summary, json: bool) -> Result<String, String> {
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    if json {
        serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())
    } else {
        Ok(summary.render().trim_end().to_owned())
    }
}

fn emulated(endpoint: Option<String>) -> scenario::Emulated {
    endpoint.map_or(scenario::Emulated::Own, scenario::Emulated::At)
}

pub fn demo(mode_name: &str, endpoint: Option<String>, json: bool) -> Result<String, String> {
    let mode = mode(mode_name)?;
    let emulated = emulated(endpoint);
    let summary = block_on(async move { scenario::demo(mode, &emulated, progress).await })?;
    output(summary, json)
}

pub fn replay(
    files: &[String],
    playbooks: Option<&str>,
    mode_name: &str,
    endpoint: Option<String>,
    json: bool,
) -> Result<String, String> {
    let playbooks = match playbooks {
        Some(path) => crate::playbook::load(path)?,
        None => PlaybookFile::parse(scenario::SHIPPED_PLAYBOOKS).map_err(|e| e.to_string())?,
    };
    let events = read_events(files)?;
    let mode = mode(mode_name)?;
    let emulated = emulated(endpoint);
    let summary = block_on(async move {
        scenario::run(mode, playbooks, &emulated, |_| events, false, progress).await
    })?;
    output(summary, json)
}

/// JSON lines from each file, blank lines skipped; a line that is not JSON is an error naming it.
fn read_events(files: &[String]) -> Result<Vec<Value>, String> {
    let mut events = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line)
                .map_err(|e| format!("{path}:{}: not JSON: {e}", i + 1))?;
            events.push(v);
        }
    }
    Ok(events)
}

/// `vigil replay --aws --stack NAME`: the events through the deployed pipeline.
pub fn replay_deployed(
    files: &[String],
    stack: &str,
    timeout: u64,
    json: bool,
) -> Result<String, String> {
    let events = read_events(files)?;
    let stack = stack.to_owned();
    let deadline = std::time::Duration::from_secs(timeout);
    let summary =
        block_on(
            async move { vigil_local::deployed::replay_stack(&stack, &events, deadline).await },
        )?;
    output(summary, json)
}

/// `vigil coverage`: the check now on the local pipeline at `endpoint`, else the last report of
/// the deployed `stack`.
pub fn coverage(
    endpoint: Option<String>,
    table: Option<String>,
    stack: Option<String>,
    json: bool,
) -> Result<String, String> {
    let report = block_on(async move {
        match (endpoint, stack) {
            (Some(endpoint), _) => vigil_local::coverage::check_at(&endpoint, table).await,
            (None, Some(stack)) => vigil_local::coverage::deployed_report(&stack).await,
            (None, None) => Err("--endpoint URL or --aws --stack NAME".into()),
        }
    })?;
    if json {
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())
    } else {
        Ok(vigil_local::coverage::render(&report).trim_end().to_owned())
    }
}

/// `vigil approve`: the custom action's event on the emulator's default bus; prints it.
pub fn approve(
    findings: &[String],
    endpoint: &str,
    product_arn: Option<&str>,
    account: &str,
    region: &str,
) -> Result<String, String> {
    let selected: Vec<(String, String, String)> = findings
        .iter()
        .map(|id| {
            let product = match product_arn {
                Some(p) => p.to_owned(),
                None if id.starts_with("arn:aws:guardduty:") => {
                    format!("arn:aws:securityhub:{region}::product/aws/guardduty")
                }
                None => format!("arn:aws:securityhub:{region}:{account}:product/{account}/default"),
            };
            (id.clone(), product, account.to_owned())
        })
        .collect();
    let endpoint = endpoint.to_owned();
    let event = block_on(async move { vigil_local::approve_at(&endpoint, &selected).await })?;
    serde_json::to_string_pretty(&event).map_err(|e| e.to_string())
}
