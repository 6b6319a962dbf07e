//! The importer against the AWS API emulator's Security Hub, which validates the required ASFF
//! fields and upserts by (ProductArn, Id): a re-import updates the one record, 150 findings go out
//! in two BatchImportFindings calls, and a throttled call costs one send per attempt.

use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::types::{AwsSecurityFindingFilters, StringFilter, StringFilterComparison};
use chrono::{TimeZone, Utc};
use vigil_asff::{AsffFinding, MappingContext, to_asff};
use vigil_fault_injection::{FaultInjector, FaultKind, FaultPlan, FaultRates, Service};
use vigil_securityhub::{ImportError, RetryPolicy, SecurityHubImporter};
use vigil_testkit::Emulator;

const PRODUCT_ARN: &str = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default";

fn finding(minute: u32) -> AsffFinding<'static> {
    let mut f = vigil_model::fixtures::terminal_shell(Emulator::ACCOUNT, Emulator::REGION);
    f.resource.task_arn =
        Some("arn:aws:ecs:us-east-1:123456789012:task/FargateCluster/c13b".into());
    f.resource.cluster_arn =
        Some("arn:aws:ecs:us-east-1:123456789012:cluster/FargateCluster".into());
    f.resource.task_definition_family = Some("sample-fargate".into());
    f.resource.task_definition_revision = Some("1".into());
    f.resource.container.name = Some("FargateApp".into());
    f.mitre = vec!["execution".into()];
    let ctx = MappingContext {
        now: Utc.with_ymd_and_hms(2020, 1, 23, 18, minute, 0).unwrap(),
    };
    let a = to_asff(&f.seal(), &ctx).unwrap().into_owned();
    assert_eq!(a.product_arn, PRODUCT_ARN);
    a
}

async fn setup(emulator: &Emulator) -> (Client, SecurityHubImporter) {
    let client = Client::new(&emulator.sdk_config().await);
    client.enable_security_hub().send().await.unwrap();
    let importer = SecurityHubImporter::new(client.clone(), RetryPolicy::immediate(3), 10);
    (client, importer)
}

/// Runs a test body on a thread with a large stack: in debug builds the SDK's generated
/// `GetFindings` deserializer (the whole `AwsSecurityFinding` shape) overflows the 2 MB default of
/// test threads. Importing does not need this; only reading findings back does.
fn on_big_stack<F>(body: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()>,
{
    std::thread::Builder::new()
        .stack_size(32 * 1024 * 1024)
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(body())
        })
        .unwrap()
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

#[test]
fn a_reimport_updates_the_one_record() {
    on_big_stack(reimport);
}

#[test]
fn a_hundred_and_fifty_findings_take_two_calls() {
    on_big_stack(hundred_and_fifty);
}

async fn reimport() {
    let emulator = Emulator::start();
    let (client, importer) = setup(&emulator).await;

    let first = finding(0);
    let results = importer.import(std::slice::from_ref(&first)).await;
    assert_eq!(results, vec![Ok(())]);

    let mut second = finding(5);
    assert_eq!(second.id, first.id, "same fingerprint, same Id");
    assert!(second.updated_at > first.updated_at);
    second.title = "Terminal shell in container (again)".into();
    let results = importer.import(std::slice::from_ref(&second)).await;
    assert_eq!(results, vec![Ok(())]);

    let by_id = AwsSecurityFindingFilters::builder()
        .id(StringFilter::builder()
            .value(&first.id)
            .comparison(StringFilterComparison::Equals)
            .build())
        .build();
    let out = client.get_findings().filters(by_id).send().await.unwrap();
    assert_eq!(out.findings().len(), 1, "{:?}", out.findings());
    let stored = &out.findings()[0];
    assert_eq!(stored.title(), Some("Terminal shell in container (again)"));
    assert_eq!(stored.updated_at(), Some(second.updated_at.as_str()));
    assert_eq!(stored.product_arn(), Some(PRODUCT_ARN));
    // Nothing else was stored either.
    let all = client.get_findings().send().await.unwrap();
    assert_eq!(all.findings().len(), 1);
}

async fn hundred_and_fifty() {
    let emulator = Emulator::start();
    let (client, importer) = setup(&emulator).await;
    let base = finding(0);
    let findings: Vec<AsffFinding> = (0..150)
        .map(|i| {
            let mut a = base.clone();
            a.id = format!("{}-{i}", base.id).into();
            a
        })
        .collect();

    emulator.reset_api_calls();
    let results = importer.import(&findings).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(emulator.calls("securityhub", "BatchImportFindings"), 2);

    // All 150 are stored.
    let mut stored = 0;
    let mut token: Option<String> = None;
    loop {
        let out = client
            .get_findings()
            .max_results(100)
            .set_next_token(token.take())
            .send()
            .await
            .unwrap();
        stored += out.findings().len();
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    assert_eq!(stored, 150);
}

/// An importer on the functions' client (`vigil_securityhub::client`) through `faults`.
async fn importer_through(emulator: &Emulator, faults: &FaultInjector) -> SecurityHubImporter {
    let config = emulator.sdk_config().await;
    Client::new(&config)
        .enable_security_hub()
        .send()
        .await
        .unwrap();
    let client = vigil_securityhub::client(faults.securityhub_config(&config));
    SecurityHubImporter::new(client, RetryPolicy::immediate(4), 10)
}

/// Sends counted by the fault injector: a throttled attempt costs one send, so a call throttled once
/// and then answered is sent twice, and one throttled for good is sent `max_attempts` times.
#[tokio::test]
async fn a_call_throttled_then_answered_is_sent_twice() {
    let emulator = Emulator::start();
    let faults = FaultInjector::new(FaultPlan::none().first_requests(
        Service::SecurityHub,
        1,
        FaultKind::Throttle,
    ));
    let importer = importer_through(&emulator, &faults).await;
    let results = importer.import(&[finding(0)]).await;
    assert_eq!(results, vec![Ok(())]);
    let stats = faults.stats();
    assert_eq!(
        stats.operation(Service::SecurityHub, "BatchImportFindings"),
        2,
        "{stats:?}"
    );
    assert_eq!(stats.injected(Service::SecurityHub, FaultKind::Throttle), 1);
    assert_eq!(emulator.calls("securityhub", "BatchImportFindings"), 1);
}

#[tokio::test]
async fn a_call_throttled_for_good_is_sent_max_attempts_times() {
    let emulator = Emulator::start();
    let faults = FaultInjector::new(FaultPlan::none().service(
        Service::SecurityHub,
        FaultRates::always(FaultKind::Throttle),
    ));
    let importer = importer_through(&emulator, &faults).await;
    let results = importer.import(&[finding(0)]).await;
    assert!(
        matches!(&results[0], Err(ImportError::Failed { attempts: 4, .. })),
        "{results:?}"
    );
    let stats = faults.stats();
    assert_eq!(
        stats.operation(Service::SecurityHub, "BatchImportFindings"),
        4,
        "not 12: {stats:?}"
    );
    assert_eq!(emulator.calls("securityhub", "BatchImportFindings"), 0);
}
