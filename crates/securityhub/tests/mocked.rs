//! BatchImportFindings against mocked responses: throttled calls are retried whole, failed findings
//! are retried alone, an outage ends in a per-finding error, and large inputs are split into calls.

use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::config::retry::RetryConfig;
use aws_sdk_securityhub::error::ErrorMetadata;
use aws_sdk_securityhub::operation::batch_import_findings::{
    BatchImportFindingsError, BatchImportFindingsInput, BatchImportFindingsOutput,
};
use aws_sdk_securityhub::types::ImportFindingsError;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use chrono::{TimeZone, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_asff::{AsffFinding, MappingContext, to_asff};
use vigil_securityhub::{ImportError, RetryPolicy, SecurityHubImporter};

fn findings(n: usize) -> Vec<AsffFinding<'static>> {
    let mut f = vigil_model::fixtures::terminal_shell("111122223333", "us-west-2");
    f.resource.task_arn =
        Some("arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b".into());
    f.resource.container.name = Some("FargateApp".into());
    let ctx = MappingContext {
        now: Utc.with_ymd_and_hms(2020, 1, 23, 18, 0, 0).unwrap(),
    };
    let base = to_asff(&f.seal(), &ctx).unwrap().into_owned();
    (0..n)
        .map(|i| {
            let mut a = base.clone();
            a.id = format!("{}-{i}", base.id).into();
            a
        })
        .collect()
}

/// A client whose SDK-level retries are off, so every call the importer makes is one mocked call.
macro_rules! client {
    ($rule:expr) => {
        mock_client!(aws_sdk_securityhub, RuleMode::Sequential, [$rule], |c| c
            .retry_config(RetryConfig::disabled()))
    };
}

fn importer(client: Client, attempts: u32) -> SecurityHubImporter {
    SecurityHubImporter::new(client, RetryPolicy::immediate(attempts), 1000)
}

fn throttled() -> BatchImportFindingsError {
    BatchImportFindingsError::generic(
        ErrorMetadata::builder()
            .code("TooManyRequestsException")
            .message("Rate exceeded")
            .build(),
    )
}

fn ok(n: i32) -> BatchImportFindingsOutput {
    BatchImportFindingsOutput::builder()
        .failed_count(0)
        .success_count(n)
        .build()
}

fn failed(id: &str, code: &str) -> ImportFindingsError {
    ImportFindingsError::builder()
        .id(id)
        .error_code(code)
        .error_message("try again")
        .build()
}

/// The finding ids of every request, in order.
type Sent = Arc<Mutex<Vec<Vec<String>>>>;

/// Records the finding ids of every request.
fn recorder() -> (
    Sent,
    impl Fn(&BatchImportFindingsInput) -> bool + Send + Sync + 'static,
) {
    let sent: Sent = Arc::default();
    let record = sent.clone();
    (sent, move |req| {
        record.lock().unwrap().push(
            req.findings()
                .iter()
                .map(|f| f.id().unwrap_or_default().to_owned())
                .collect(),
        );
        true
    })
}

#[tokio::test]
async fn throttled_calls_are_retried_whole() {
    let rule = mock!(Client::batch_import_findings)
        .sequence()
        .error(throttled)
        .times(2)
        .output(|| ok(3))
        .build();
    let importer = importer(client!(&rule), 4);
    let results = importer.import(&findings(3)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(results.len(), 3);
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn only_failed_findings_are_retried() {
    let all = findings(5);
    let (id1, id3) = (all[1].id.clone(), all[3].id.clone());
    let (sent, matcher) = recorder();
    let (f1, f3) = (id1.clone(), id3.clone());
    let rule = mock!(Client::batch_import_findings)
        .match_requests(matcher)
        .sequence()
        .output(move || {
            BatchImportFindingsOutput::builder()
                .failed_count(2)
                .success_count(3)
                .failed_findings(failed(&f1, "InternalException"))
                .failed_findings(failed(&f3, "ThrottlingException"))
                .build()
        })
        .output(|| ok(2))
        .build();
    let importer = importer(client!(&rule), 3);
    let results = importer.import(&all).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].len(), 5);
    assert_eq!(
        sent[1],
        vec![id1, id3],
        "only the failed findings were sent again"
    );
}

#[tokio::test]
async fn an_outage_fails_every_finding_after_the_budget() {
    let rule = mock!(Client::batch_import_findings)
        .sequence()
        .error(|| {
            BatchImportFindingsError::generic(
                ErrorMetadata::builder()
                    .code("InternalException")
                    .message("Internal server error")
                    .build(),
            )
        })
        .times(3)
        .build();
    let importer = importer(client!(&rule), 3);
    let results = importer.import(&findings(4)).await;
    assert_eq!(results.len(), 4);
    for r in &results {
        assert!(
            matches!(r, Err(ImportError::Failed { attempts: 3, code, message })
                if code == "InternalException" && message == "Internal server error"),
            "{r:?}"
        );
    }
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn two_hundred_and_fifty_findings_take_three_calls() {
    let (sent, matcher) = recorder();
    let rule = mock!(Client::batch_import_findings)
        .match_requests(matcher)
        .then_compute_output(|req| ok(req.findings().len() as i32));
    let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&rule], |c| c
        .retry_config(RetryConfig::disabled()));
    let all = findings(250);
    let results = importer(client, 1).import(&all).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(rule.num_calls(), 3);
    let sent = sent.lock().unwrap();
    assert_eq!(
        sent.iter().map(Vec::len).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    let ids: Vec<String> = all.iter().map(|f| String::from(&f.id)).collect();
    assert_eq!(sent.concat(), ids, "order kept");
}

#[tokio::test]
async fn invalid_findings_are_rejected_without_retry() {
    let all = findings(3);
    let bad = all[2].id.clone();
    let rule = mock!(Client::batch_import_findings)
        .sequence()
        .output(move || {
            BatchImportFindingsOutput::builder()
                .failed_count(1)
                .success_count(2)
                .failed_findings(failed(&bad, "InvalidInput"))
                .build()
        })
        .build();
    let results = importer(client!(&rule), 3).import(&all).await;
    assert_eq!(results[0], Ok(()));
    assert_eq!(results[1], Ok(()));
    assert!(
        matches!(&results[2], Err(ImportError::Rejected { code, .. }) if code == "InvalidInput"),
        "{:?}",
        results[2]
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_mapping_error_fails_only_that_finding() {
    let mut all = findings(3);
    all[1].severity.label = "SEVERE".into();
    let (sent, matcher) = recorder();
    let rule = mock!(Client::batch_import_findings)
        .match_requests(matcher)
        .then_output(|| ok(2));
    let results = importer(client!(&rule), 1).import(&all).await;
    assert_eq!(results[0], Ok(()));
    assert!(
        matches!(&results[1], Err(ImportError::Mapping(_))),
        "{:?}",
        results[1]
    );
    assert!(
        results[1]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("Severity.Label")
    );
    assert_eq!(results[2], Ok(()));
    assert_eq!(
        sent.lock().unwrap().concat(),
        vec![all[0].id.clone(), all[2].id.clone()]
    );
}

#[tokio::test]
async fn a_rejected_call_is_not_retried() {
    let rule = mock!(Client::batch_import_findings)
        .sequence()
        .error(|| {
            BatchImportFindingsError::generic(
                ErrorMetadata::builder()
                    .code("InvalidAccessException")
                    .message("Security Hub is not enabled")
                    .build(),
            )
        })
        .build();
    let results = importer(client!(&rule), 3).import(&findings(2)).await;
    for r in &results {
        assert!(
            matches!(r, Err(ImportError::Rejected { code, .. }) if code == "InvalidAccessException"),
            "{r:?}"
        );
    }
    assert_eq!(rule.num_calls(), 1);
}

/// A client with the SDK's standard retry, as `aws_config::load_from_env()` gives one.
macro_rules! standard_retry_client {
    ($rule:expr) => {
        mock_client!(aws_sdk_securityhub, RuleMode::Sequential, [$rule], |c| c
            .retry_config(RetryConfig::standard().with_max_attempts(3)))
    };
}

#[tokio::test]
async fn a_throttled_call_is_sent_once_per_attempt_whatever_the_client_retry() {
    let rule = mock!(Client::batch_import_findings)
        .sequence()
        .error(throttled)
        .times(4)
        .build();
    let results = importer(standard_retry_client!(&rule), 4)
        .import(&findings(2))
        .await;
    assert_eq!(rule.num_calls(), 4, "4 sends, not 4 × 3 = 12");
    for r in &results {
        assert!(
            matches!(r, Err(ImportError::Failed { attempts: 4, code, .. }) if code == "TooManyRequestsException"),
            "{r:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn every_send_waits_for_the_rate_limiter_retries_included() {
    // One call a second, no burst: throttled twice, then imported. Three sends, a second apart.
    let sent_at: Arc<Mutex<Vec<tokio::time::Instant>>> = Arc::default();
    let record = sent_at.clone();
    let rule = mock!(Client::batch_import_findings)
        .match_requests(move |_| {
            record.lock().unwrap().push(tokio::time::Instant::now());
            true
        })
        .sequence()
        .error(throttled)
        .times(2)
        .output(|| ok(2))
        .build();
    let importer =
        SecurityHubImporter::new(standard_retry_client!(&rule), RetryPolicy::immediate(4), 1);
    let results = importer.import(&findings(2)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // Sends (the mock's answers) and the calls timed are the same three.
    assert_eq!(rule.num_calls(), 3);
    let sent_at = sent_at.lock().unwrap();
    assert_eq!(sent_at.len(), 3);
    for pair in sent_at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_secs(1),
            "a send without a token: {gap:?}"
        );
    }
}

/// BatchUpdateFindings refused because Security Hub is not enabled in the finding's region is
/// permanent (a note remediation must not retry for ever); throttled, it is not.
#[tokio::test]
async fn a_note_refused_for_access_is_permanent_and_a_throttled_one_is_not() {
    use aws_sdk_securityhub::operation::batch_update_findings::BatchUpdateFindingsError;
    let refused = |code: &'static str| {
        mock!(Client::batch_update_findings).then_error(move || {
            BatchUpdateFindingsError::generic(ErrorMetadata::builder().code(code).build())
        })
    };
    for (code, permanent) in [
        ("InvalidAccessException", true),
        ("AccessDeniedException", true),
        ("TooManyRequestsException", false),
        ("InternalException", false),
    ] {
        let rule = refused(code);
        let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&rule], |c| c
            .retry_config(RetryConfig::disabled()));
        let e = vigil_securityhub::workflow::annotate(&client, "id", "arn", "note", None)
            .await
            .unwrap_err();
        assert_eq!(e.is_permanent(), permanent, "{code}: {e}");
    }
}
