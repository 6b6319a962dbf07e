//! An attack sequence is one Security Hub finding: its cluster, tasks and containers as resources
//! within ASFF's 32, in that order, the truncation noted, and the signals summarised.

use chrono::{TimeZone, Utc};
use vigil_asff::limits::{MAX_DESCRIPTION, MAX_PRODUCT_FIELD_VALUE, MAX_RESOURCES};
use vigil_asff::{MappingContext, to_asff};
use vigil_model::{
    AttackSequence, Finding, RawEvent, SequenceContainer, SequenceIndicator, SequenceTask,
    Severity, SignalBrief, Source,
};

const CLUSTER: &str = "arn:aws:ecs:us-west-2:111122223333:cluster/shop-prod";

fn sequence(tasks: usize, containers_per_task: usize) -> Finding {
    let now = Utc.with_ymd_and_hms(2025, 12, 2, 9, 0, 0).unwrap();
    let mut f = Finding::new(
        Source::Guardduty,
        "AttackSequence:ECS/CompromisedCluster".into(),
        "Potential compromise of ECS cluster shop-prod detected.".into(),
        Severity::from_guardduty(9.5).unwrap(),
        now,
        RawEvent::capture("{}"),
    );
    f.account = Some("111122223333".into());
    f.region = Some("us-west-2".into());
    f.resource.cluster_arn = Some(CLUSTER.into());
    f.mitre = vec!["execution".into(), "impact".into()];
    let mut seq = AttackSequence {
        uid: "seq-1".into(),
        clusters: vec![CLUSTER.into()],
        tasks: (0..tasks)
            .map(|i| SequenceTask {
                task_arn: format!("arn:aws:ecs:us-west-2:111122223333:task/shop-prod/{i:032x}"),
                cluster_arn: Some(CLUSTER.into()),
                task_definition_arn: None,
                launch_type: None,
                containers: (0..containers_per_task)
                    .map(|j| SequenceContainer {
                        uid: format!("{i:032x}{j:032x}"),
                        name: Some(format!("c{j}")),
                        image: Some("nginx:1.27".into()),
                        image_uid: None,
                    })
                    .collect(),
            })
            .collect(),
        indicators: vec![SequenceIndicator {
            key: "ATTACK_TACTIC".into(),
            values: vec!["Execution".into(), "Impact".into()],
            ..Default::default()
        }],
        ..AttackSequence::default()
    };
    seq.signals.count = 40;
    seq.signals.occurrences = 400;
    seq.signals.kept = (0..20)
        .map(|i| SignalBrief {
            name: format!("Execution:Runtime/Signal{i}-{}", "x".repeat(200)),
            signal_type: Some("FINDING".into()),
            count: 10,
            ..Default::default()
        })
        .collect();
    f.sequence = Some(seq);
    f.seal()
}

fn ctx() -> MappingContext {
    MappingContext {
        now: Utc.with_ymd_and_hms(2025, 12, 2, 10, 0, 0).unwrap(),
    }
}

#[test]
fn a_small_sequence_lists_cluster_then_tasks_then_containers() {
    let f = sequence(2, 2);
    let a = to_asff(&f, &ctx()).unwrap();
    let types: Vec<&str> = a
        .resources
        .iter()
        .map(|r| r.resource_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "AwsEcsCluster",
            "AwsEcsTask",
            "AwsEcsTask",
            "Container",
            "Container",
            "Container",
            "Container"
        ]
    );
    assert_eq!(a.resources[0].id, CLUSTER);
    assert_eq!(a.severity.label, "CRITICAL");
    assert_eq!(
        a.types[0],
        "TTPs/Execution/AttackSequence:ECS-CompromisedCluster"
    );
    assert_eq!(a.product_fields["vigil/SequenceUid"], "seq-1");
    assert_eq!(a.product_fields["vigil/SequenceTasks"], "2");
    assert!(!a.product_fields.contains_key("vigil/ResourcesTruncated"));
    assert!(
        a.description
            .contains("Attack sequence: 40 signal(s) (400 observation(s))")
    );
    assert_eq!(a.id, format!("vigil-{}", sequence(2, 2).fingerprint));
}

#[test]
fn a_large_sequence_stays_within_32_resources_and_says_so() {
    let f = sequence(100, 3);
    let a = to_asff(&f, &ctx()).unwrap();
    assert_eq!(a.resources.len(), MAX_RESOURCES);
    assert_eq!(a.resources[0].resource_type, "AwsEcsCluster");
    assert!(
        a.resources[1..]
            .iter()
            .all(|r| r.resource_type == "AwsEcsTask"),
        "tasks before containers"
    );
    let note = &a.product_fields["vigil/ResourcesTruncated"];
    assert!(
        note.starts_with("32 of 401 named resources listed"),
        "{note}"
    );
    assert!(a.description.chars().count() <= MAX_DESCRIPTION);
    assert!(
        a.product_fields
            .values()
            .all(|v| v.chars().count() <= MAX_PRODUCT_FIELD_VALUE)
    );
    assert!(serde_json::to_vec(&a).unwrap().len() < 240 * 1024);
}

#[test]
fn dropped_tasks_count_as_named_and_an_empty_sequence_still_names_a_resource() {
    let mut f = sequence(1, 0);
    f.sequence.as_mut().unwrap().tasks_dropped = 150;
    let a = to_asff(&f, &ctx()).unwrap();
    assert_eq!(a.resources.len(), 2);
    assert!(a.product_fields["vigil/ResourcesTruncated"].starts_with("2 of 152"));
    assert_eq!(a.product_fields["vigil/SequenceTasks"], "151");

    let mut empty = sequence(0, 0);
    empty.sequence.as_mut().unwrap().clusters.clear();
    empty.resource.cluster_arn = None;
    let empty = empty.seal();
    let a = to_asff(&empty, &ctx()).unwrap();
    assert_eq!(a.resources.len(), 1);
    assert_eq!(a.resources[0].resource_type, "Other");
    assert_eq!(a.resources[0].id, "guardduty-attack-sequence/seq-1");
}
