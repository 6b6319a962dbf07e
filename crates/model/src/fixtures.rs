//! Findings for tests (feature `test-support`): one realistic base that tests adjust, instead of each
//! test building a Finding field by field.

use crate::{Finding, RawEvent, Severity, Source};
use chrono::{TimeZone, Utc};

/// A sealed Falco "Terminal shell in container" finding (Notice) on the Fargate task
/// `task/FargateCluster/c13b` of `account` in `region`, container `FargateApp` (`ad64cbc71c7f`),
/// observed 2020-01-23T17:58:20Z. Change fields and call [`Finding::seal`] again as needed.
pub fn terminal_shell(account: &str, region: &str) -> Finding {
    let mut f = Finding::new(
        Source::Falco,
        "Terminal shell in container".into(),
        "Terminal shell in container".into(),
        Severity::from_falco_priority("Notice").expect("a Falco priority"),
        Utc.with_ymd_and_hms(2020, 1, 23, 17, 58, 20)
            .single()
            .expect("a valid time"),
        RawEvent::capture("{}"),
    );
    f.account = Some(account.to_owned());
    f.region = Some(region.to_owned());
    f.resource.task_arn = Some(format!(
        "arn:aws:ecs:{region}:{account}:task/FargateCluster/c13b"
    ));
    f.resource.cluster_arn = Some(format!(
        "arn:aws:ecs:{region}:{account}:cluster/FargateCluster"
    ));
    f.resource.container.id = Some("ad64cbc71c7f".into());
    f.resource.container.name = Some("FargateApp".into());
    // As an agent of `account` put it on the agent bus.
    f.provenance = crate::Provenance {
        arrival: crate::Arrival::AgentBus,
        source: Some("falco".into()),
        detail_type: Some("Falco Alert".into()),
        sender_account: Some(account.to_owned()),
        event_id: Some("fixture-event".into()),
        producer_id: None,
    };
    f.seal()
}
