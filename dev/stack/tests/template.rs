//! The model read from infra/template.yaml holds the pipeline's contracts.

use serde_json::json;
use std::collections::BTreeMap;
use vigil_stack::{Bus, Options, Stack};

fn stack() -> Stack {
    Stack::load(Stack::repo_template(), &Options::default()).expect("template")
}

#[test]
fn each_function_reads_its_queue_in_batches_with_partial_failures() {
    let s = stack();
    let expected = [
        ("IngestFunction", "IngestQueue", "ingest"),
        ("EnrichFunction", "EnrichQueue", "enrich"),
        ("RemediateFunction", "RemediateQueue", "remediate"),
        ("CoverageFunction", "CoverageQueue", "coverage"),
    ];
    assert_eq!(s.functions.len(), expected.len());
    for (function, queue, binary) in expected {
        let f = &s.functions[function];
        assert_eq!(f.binary.as_deref(), Some(binary));
        assert_eq!(
            f.code_uri.as_deref(),
            Some(".."),
            "{function}: workspace root, from Globals"
        );
        let m = f.mapping.as_ref().expect("SQS event source");
        assert_eq!(m.queue, queue);
        assert!(m.reports_batch_item_failures(), "{function}");
        assert!(m.batch_size.unwrap() > 1 && m.maximum_batching_window_seconds.unwrap() >= 1);
        let q = &s.queues[queue];
        let timeout = f.timeout_seconds.expect("timeout");
        assert!(
            q.visibility_timeout_seconds.unwrap() >= 6 * timeout,
            "{queue}: visibility timeout below 6 x {function}'s timeout"
        );
        let dlq = &q.redrive.as_ref().expect("redrive").dead_letter_queue;
        assert!(s.queues[dlq].redrive.is_none());
        assert_eq!(f.environment["TABLE_NAME"], "vigil");
        assert_eq!(f.environment["EVENT_BUS_NAME"], "vigil");
        assert_eq!(f.environment["LOG_LEVEL"], "info");
    }
}

#[test]
fn enrich_stays_within_security_hubs_import_quota() {
    let s = stack();
    let enrich = &s.functions["EnrichFunction"];
    let per_instance: u32 = enrich.environment["SECURITYHUB_CALLS_PER_SECOND"]
        .parse()
        .unwrap();
    let instances = enrich
        .mapping
        .as_ref()
        .unwrap()
        .maximum_concurrency
        .unwrap();
    assert!(
        instances * per_instance <= 10,
        "{instances} x {per_instance} calls/s"
    );
    assert!(enrich.reserved_concurrency.unwrap() >= instances);
}

#[test]
fn every_rule_delivers_with_retries_and_a_dead_letter_queue() {
    let s = stack();
    assert_eq!(s.rules.len(), 10);
    for r in &s.rules {
        assert!(!r.targets.is_empty(), "{}", r.logical_id);
        for t in &r.targets {
            assert!(t.maximum_retry_attempts.is_some() && t.maximum_event_age_seconds.is_some());
            assert_eq!(
                t.dead_letter_queue.as_deref(),
                Some("DeliveryDeadLetterQueue")
            );
        }
    }
    let agent = s.rule("AgentEventsRule").unwrap();
    assert_eq!(
        agent.bus,
        Bus::Custom {
            logical_id: "AgentBus".into(),
            name: "vigil".into()
        }
    );
    assert_eq!(
        agent.pattern,
        json!({"source": [{"anything-but": {"wildcard": ["aws.*", "vigil"]}}],
               "detail-type": [{"anything-but": ["Agent Heartbeat"]}]})
    );
    // Agent telemetry: heartbeats and Falco's own events, from agents only, to coverage.
    for id in ["AgentHeartbeatRule", "FalcoTelemetryRule"] {
        let r = s.rule(id).unwrap();
        assert_eq!(r.bus, agent.bus, "{id}");
        assert_eq!(r.pattern["source"], agent.pattern["source"], "{id}");
        assert_eq!(r.targets.len(), 1, "{id}");
        assert_eq!(r.targets[0].queue, "CoverageQueue", "{id}");
    }
    assert_eq!(s.rule("GuardDutyRuntimeRule").unwrap().bus, Bus::Default);
    assert_eq!(
        s.rule("GuardDutyAttackSequenceRule").unwrap().bus,
        Bus::Default
    );
    assert_eq!(s.rule("TaskStoppedRule").unwrap().bus, Bus::Default);
    // Approvals: only Security Hub's custom action events for Vigil's action, from the default bus,
    // into a queue of their own.
    let approvals = s.rule("ApprovalRule").unwrap();
    assert_eq!(approvals.bus, Bus::Default);
    assert_eq!(
        approvals.pattern,
        json!({"source": ["aws.securityhub"],
               "detail-type": ["Security Hub Findings - Custom Action"],
               "resources": ["arn:aws:securityhub:us-east-1:123456789012:action/custom/VigilApprove"]})
    );
    assert_eq!(approvals.targets.len(), 1);
    assert_eq!(approvals.targets[0].queue, "ApprovalQueue");
    // Read by remediate, through a mapping of its own, with partial batch failures.
    let mapping = s
        .extra_mappings
        .iter()
        .find(|m| m.queue == "ApprovalQueue")
        .expect("the approval queue's mapping");
    assert_eq!(mapping.function, "RemediateFunction");
    assert!(mapping.reports_batch_item_failures());
    assert_eq!(
        s.function_reading("ApprovalQueue").unwrap().logical_id,
        "RemediateFunction"
    );
    assert!(s.queues["ApprovalQueue"].redrive.is_some());
    let remediate = &s.functions["RemediateFunction"];
    assert_eq!(
        remediate.environment["APPROVAL_QUEUE_ARN"],
        "arn:aws:sqs:us-east-1:123456789012:ApprovalQueue"
    );
    assert_eq!(remediate.environment["APPROVAL_TTL_SECONDS"], "86400");
    assert_eq!(
        remediate.environment["APPROVAL_ACTION_TARGET_ARN"],
        "arn:aws:securityhub:us-east-1:123456789012:action/custom/VigilApprove"
    );
}

#[test]
fn parameters_override_defaults_and_are_checked() {
    let options = Options {
        parameters: BTreeMap::from([
            ("EventBusName".to_owned(), "agents".to_owned()),
            ("RemediationMode".to_owned(), "enforce".to_owned()),
            ("AllowedClusters".to_owned(), "prod,staging".to_owned()),
            ("DedupWindowSeconds".to_owned(), "3600".to_owned()),
        ]),
        table_name: "t".to_owned(),
        ..Options::default()
    };
    let s = Stack::load(Stack::repo_template(), &options).unwrap();
    let remediate = &s.functions["RemediateFunction"].environment;
    assert_eq!(remediate["REMEDIATION_MODE"], "enforce");
    assert_eq!(remediate["ALLOWED_CLUSTERS"], "prod,staging");
    assert_eq!(remediate["EVENT_BUS_NAME"], "agents");
    assert_eq!(remediate["TABLE_NAME"], "t");
    assert_eq!(
        s.functions["IngestFunction"].environment["DEDUP_WINDOW_SECONDS"],
        "3600"
    );
    assert_eq!(s.agent_bus().unwrap().name(), "agents");

    let bad = Options {
        parameters: BTreeMap::from([("RemediationMode".to_owned(), "always".to_owned())]),
        ..Options::default()
    };
    assert!(Stack::load(Stack::repo_template(), &bad).is_err());
    let unknown = Options {
        parameters: BTreeMap::from([("NoSuchParameter".to_owned(), "x".to_owned())]),
        ..Options::default()
    };
    assert!(Stack::load(Stack::repo_template(), &unknown).is_err());
}

#[test]
fn table_is_pk_sk_with_ttl() {
    let t = stack().table;
    assert_eq!(t.partition_key, "pk");
    assert_eq!(t.sort_key.as_deref(), Some("sk"));
    assert_eq!(t.ttl_attribute.as_deref(), Some("expires_at"));
}

#[test]
fn short_form_intrinsics_resolve() {
    let yaml = r#"
Parameters:
  Name: { Type: String, Default: n }
  List: { Type: CommaDelimitedList, Default: "a,b" }
Conditions:
  IsN: !Equals [!Ref Name, n]
  NotN: !Not [!Condition IsN]
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{ AttributeName: pk, KeyType: HASH }]
  Q:
    Type: AWS::SQS::Queue
  Skipped:
    Type: AWS::SQS::Queue
    Condition: NotN
  R:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [!Sub "${Name}-${AWS::Region}"]
        joined: [!Join ["+", !Ref List]]
        picked: [!Select [1, !Split [",", "x,y,z"]]]
        chosen: !If [IsN, [yes], [no]]
        dropped: !If [NotN, [x], !Ref AWS::NoValue]
        arn: [!GetAtt Q.Arn]
      Targets:
        - { Id: q, Arn: !GetAtt Q.Arn }
"#;
    let s = Stack::from_yaml(yaml, &Options::default()).unwrap();
    assert!(!s.queues.contains_key("Skipped"));
    assert_eq!(
        s.rules[0].pattern,
        json!({
            "source": ["n-us-east-1"],
            "joined": ["a+b"],
            "picked": ["y"],
            "chosen": ["yes"],
            "arn": ["arn:aws:sqs:us-east-1:123456789012:Q"],
        })
    );
    assert_eq!(s.rules[0].targets[0].queue, "Q");
    assert!(Stack::from_yaml("Resources: { A: !Bogus x }", &Options::default()).is_err());
}

/// Remediation acts only on `vigil` events from the agent bus; the bus policy refuses them to every
/// principal but the function roles (an explicit Deny binds this account's own principals too), and
/// each function role may put nothing else.
#[test]
fn only_the_function_roles_may_put_vigil_events_on_the_agent_bus() {
    let text = std::fs::read_to_string(Stack::repo_template()).unwrap();
    let doc = vigil_stack::template_document(&text).unwrap();
    let resources = doc["Resources"].as_object().unwrap();
    let mut publishers: Vec<&str> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::IAM::Role")
        .filter(|(_, r)| {
            r.pointer("/Properties/Policies")
                .and_then(|p| p.as_array())
                .into_iter()
                .flatten()
                .flat_map(|p| {
                    p.pointer("/PolicyDocument/Statement")
                        .and_then(|s| s.as_array())
                })
                .flatten()
                .any(|st| {
                    let puts = st["Action"] == "events:PutEvents"
                        || st["Action"]
                            .as_array()
                            .is_some_and(|a| a.contains(&json!("events:PutEvents")));
                    if puts {
                        assert_eq!(
                            st.pointer("/Condition/ForAllValues:StringEquals/events:source"),
                            Some(&json!(["vigil"])),
                            "a function role puts only vigil events: {st}"
                        );
                        assert!(
                            st.pointer("/Condition/ForAllValues:StringEquals/events:detail-type")
                                .and_then(|t| t.as_array())
                                .is_some_and(|t| !t.is_empty()),
                            "and only its own detail-types: {st}"
                        );
                    }
                    puts
                })
        })
        .map(|(id, _)| id.as_str())
        .collect();
    // serde_json keeps the template's order when a dev-dependency turns on `preserve_order`.
    publishers.sort_unstable();
    assert_eq!(
        publishers,
        ["CoverageRole", "EnrichRole", "IngestRole", "RemediateRole"]
    );

    let statements = resources["AgentBus"]["Properties"]["Policy"]["Statement"]
        .as_array()
        .unwrap();
    let deny = statements
        .iter()
        .find(|s| s["Effect"] == "Deny")
        .expect("a Deny statement on the agent bus");
    assert_eq!(deny["Principal"], "*");
    assert_eq!(deny["Action"], "events:PutEvents");
    assert_eq!(
        deny["Resource"]["Fn::Sub"],
        "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"
    );
    assert_eq!(deny["Condition"]["StringEquals"]["events:source"], "vigil");
    let mut exempt: Vec<&str> = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Fn::GetAtt"][0].as_str().unwrap())
        .collect();
    exempt.sort_unstable();
    assert_eq!(exempt, publishers);
}

/// Whether the `role`'s inline policies allow DynamoDB `action` on an item whose partition key is
/// `pk` (statements conditioned on `dynamodb:LeadingKeys` prefixes, as the template writes them).
fn role_allows(role: &str, action: &str, pk: &str) -> bool {
    let text = std::fs::read_to_string(Stack::repo_template()).unwrap();
    let doc = vigil_stack::template_document(&text).unwrap();
    let policies = doc["Resources"][role]["Properties"]["Policies"]
        .as_array()
        .unwrap_or_else(|| panic!("{role} has inline policies"));
    policies
        .iter()
        .flat_map(|p| {
            p.pointer("/PolicyDocument/Statement")
                .and_then(|s| s.as_array())
        })
        .flatten()
        .filter(|st| st["Effect"] == "Allow")
        .filter(|st| {
            st["Action"] == action
                || st["Action"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!(action)))
        })
        .any(
            |st| match st.pointer("/Condition/ForAllValues:StringLike/dynamodb:LeadingKeys") {
                None => true,
                Some(keys) => keys.as_array().unwrap().iter().any(|k| {
                    let k = k.as_str().unwrap();
                    match k.strip_suffix('*') {
                        Some(prefix) => pk.starts_with(prefix),
                        None => pk == k,
                    }
                }),
            },
        )
}

/// The emulator does not enforce IAM: what remediate's DynamoDB calls need from its role is
/// checked here, call by call and key by key (`functions/remediate`: action records, stop
/// counters, holds, proposals, and ingest's record, read only).
#[test]
fn remediates_role_allows_each_dynamodb_call_it_makes_and_nothing_more_on_those_keys() {
    let needed = [
        ("dynamodb:GetItem", "ACT#v1-f#arn:task"),
        ("dynamodb:PutItem", "ACT#v1-f#arn:task"),
        ("dynamodb:UpdateItem", "ACT#v1-f#arn:task"),
        // The counter is read with one query and counted in the decision's transaction.
        ("dynamodb:Query", "RATE#service#arn:cluster/shop"),
        ("dynamodb:UpdateItem", "RATE#cluster#arn:cluster"),
        ("dynamodb:GetItem", "HOLD#arn:cluster/shop"),
        ("dynamodb:PutItem", "HOLD#arn:cluster/shop"),
        ("dynamodb:UpdateItem", "HOLD#arn:cluster/shop"),
        ("dynamodb:PutItem", "PROPOSAL#finding"),
        ("dynamodb:Query", "PROPOSAL#finding"),
        ("dynamodb:GetItem", "FP#v1-f"),
    ];
    for (action, pk) in needed {
        assert!(
            role_allows("RemediateRole", action, pk),
            "RemediateRole may not {action} on {pk}"
        );
    }
    let refused = [
        ("dynamodb:PutItem", "FP#v1-f"),
        ("dynamodb:UpdateItem", "FP#v1-f"),
        ("dynamodb:Query", "ACT#v1-f#arn:task"),
        ("dynamodb:Scan", "RATE#service#arn:cluster/shop"),
        ("dynamodb:DeleteItem", "RATE#service#arn:cluster/shop"),
    ];
    for (action, pk) in refused {
        assert!(
            !role_allows("RemediateRole", action, pk),
            "RemediateRole may {action} on {pk}"
        );
    }
}

/// A stop's hold must outlast SQS bringing its message back: a stop whose StopTask keeps failing
/// is retried for up to `maxReceiveCount` × `VisibilityTimeout`, and a hold that lapses before the
/// stop is made no longer keeps `min_healthy_tasks` (see `vigil_remediate::DEFAULT_HOLD_SECONDS`).
#[test]
fn the_default_stop_hold_outlasts_the_remediate_queues_retries() {
    let text = std::fs::read_to_string(Stack::repo_template()).unwrap();
    let doc = vigil_stack::template_document(&text).unwrap();
    for queue in ["RemediateQueue", "ApprovalQueue"] {
        let props = &doc["Resources"][queue]["Properties"];
        let number = |v: &serde_json::Value| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or_else(|| panic!("{queue}: {v} is not a number"))
        };
        let visibility = number(&props["VisibilityTimeout"]);
        let receives = number(&props["RedrivePolicy"]["maxReceiveCount"]);
        assert!(
            visibility * receives < vigil_remediate::DEFAULT_HOLD_SECONDS,
            "{queue}: retried for {} s, held for {} s",
            visibility * receives,
            vigil_remediate::DEFAULT_HOLD_SECONDS
        );
    }
}
