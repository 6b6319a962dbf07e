//! `vigil playbook check|test`: the remediate function's own playbook code, without AWS.

use crate::input;
use serde_json::{Value, json};
use vigil_adapters::{ParseContext, SourceEvent};
use vigil_model::{Enrichment, Finding};
use vigil_playbook::{
    DecisionInput, Guardrails, LiveTask, Mode, Origin, PlaybookFile, Subject, Verdict, Vouch,
};

pub fn load(path: &str) -> Result<PlaybookFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    PlaybookFile::parse(&text).map_err(|e| format!("{path}: {e}"))
}

pub fn check(path: &str) -> Result<String, String> {
    let file = load(path)?;
    let stops = file.playbooks.iter().filter(|p| p.stops()).count();
    Ok(format!(
        "{path}: ok: {} playbook(s), {stops} that stop tasks, default mode {}",
        file.playbooks.len(),
        file.default_mode.as_str()
    ))
}

/// A finding to test: canonical or enriched JSON, a `Finding Enriched` event, or a raw source event.
fn subject_input(path: &str, ctx: &ParseContext) -> Result<(Finding, Option<Enrichment>), String> {
    let bytes = input::read(Some(path))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{path}: not JSON: {e}"))?;
    let detail = if value.get("detail-type").and_then(Value::as_str) == Some("Finding Enriched") {
        &value["detail"]
    } else {
        &value
    };
    if detail.get("finding").is_some() {
        let finding = serde_json::from_value(detail["finding"].clone())
            .map_err(|e| format!("{path}: finding: {e}"))?;
        let enrichment = match detail.get("enrichment") {
            Some(e) if !e.is_null() => Some(
                serde_json::from_value(e.clone())
                    .map_err(|e| format!("{path}: enrichment: {e}"))?,
            ),
            _ => None,
        };
        return Ok((finding, enrichment));
    }
    if detail.get("schema_version").is_some() && detail.get("fingerprint").is_some() {
        let finding =
            serde_json::from_value(detail.clone()).map_err(|e| format!("{path}: finding: {e}"))?;
        return Ok((finding, None));
    }
    match vigil_adapters::parse_event(&bytes, ctx) {
        Ok(SourceEvent::Finding(f)) => Ok((f, None)),
        Ok(SourceEvent::TaskStateChange(_)) => {
            Err(format!("{path}: an ECS task state change is not a finding"))
        }
        Ok(SourceEvent::AgentStatus(_)) => Err(format!(
            "{path}: an agent's status event (Falco internal) is telemetry, not a finding"
        )),
        Err(e) => Err(format!("{path}: invalid event: {e}")),
    }
}

pub struct TestArgs<'a> {
    pub file: &'a str,
    pub findings: &'a [String],
    pub mode: Mode,
    pub ctx: ParseContext,
    pub json: bool,
}

pub fn test(args: TestArgs<'_>) -> Result<String, String> {
    let file = load(args.file)?;
    let mut reports = Vec::new();
    for path in args.findings {
        let (mut finding, enrichment) = subject_input(path, &args.ctx)?;
        // Read locally, the event is judged as if it had come the way its source's events do:
        // AWS's findings through the default bus, agents' through the agent bus.
        if finding.provenance.arrival == vigil_model::Arrival::Local {
            finding.provenance.arrival = match finding.source {
                vigil_model::Source::Guardduty => vigil_model::Arrival::AwsService,
                _ => vigil_model::Arrival::AgentBus,
            };
        }
        let mut report = json!({"input": path, "fingerprint": finding.fingerprint.as_str()});
        if let Some(seq) = &finding.sequence {
            // An attack sequence is decided per task: one decision for each task it names, each
            // from the same core, with the sequence's fingerprint.
            let tasks: Vec<Value> = finding
                .per_task()
                .iter()
                .map(|t| {
                    let mut d = decision(&file, t, None, args.mode);
                    d["task_arn"] = json!(t.resource.task_arn);
                    d["container"] = json!(t.resource.container.name);
                    d
                })
                .collect();
            report["sequence"] = json!(seq.uid);
            report["tasks_dropped"] = json!(seq.tasks_dropped);
            report["tasks"] = Value::Array(tasks);
        } else if let Value::Object(d) = decision(&file, &finding, enrichment.as_ref(), args.mode) {
            report.as_object_mut().expect("an object").extend(d);
        }
        reports.push(report);
    }
    if args.json {
        return Ok(serde_json::to_string_pretty(&reports).unwrap_or_default());
    }
    let mut out = String::new();
    for r in &reports {
        out.push_str(&format!(
            "{}  ({})\n",
            r["input"].as_str().unwrap_or_default(),
            r["fingerprint"].as_str().unwrap_or_default()
        ));
        if let Some(uid) = r["sequence"].as_str() {
            let tasks = r["tasks"].as_array().map_or(&[][..], Vec::as_slice);
            out.push_str(&format!(
                "  attack sequence {uid}: {} task(s) decided one by one{}\n",
                tasks.len(),
                match r["tasks_dropped"].as_u64() {
                    Some(n) if n > 0 => format!(" ({n} more named, not kept)"),
                    _ => String::new(),
                }
            ));
            if tasks.is_empty() {
                out.push_str("  names no task: nothing to decide\n");
            }
            for t in tasks {
                out.push_str(&format!(
                    "  task {}\n",
                    t["task_arn"].as_str().unwrap_or_default()
                ));
                render(&mut out, t, "    ");
            }
            continue;
        }
        render(&mut out, r, "  ");
    }
    Ok(out.trim_end().to_owned())
}

/// The decision the remediate function would make for one finding, as the report shows it.
fn decision(
    file: &PlaybookFile,
    finding: &Finding,
    enrichment: Option<&Enrichment>,
    mode: Mode,
) -> Value {
    let subject = Subject::new(finding, enrichment, vigil_asff::finding_types(finding));
    // Without AWS the deploying account is taken to be the finding's own; the task's live state
    // (running, protected, what its service keeps), Vigil's records and the stop counters show
    // as unknown.
    let mut guardrails = Guardrails::default();
    guardrails.trusted_accounts.extend(finding.account.clone());
    let origin = Origin {
        event_source: vigil_playbook::guardrails::VIGIL_SOURCE,
        event_account: finding
            .provenance
            .sender_account
            .as_deref()
            .or(finding.account.as_deref()),
        now: None,
        vouch: Vouch::NotChecked,
    };
    // The same decision the remediate function makes, from the same core.
    let Some(decision) = vigil_playbook::decide(DecisionInput {
        playbooks: file,
        guardrails: &guardrails,
        mode_cap: mode,
        subject: &subject,
        origin,
        live: &LiveTask::Unknown,
        approval: None,
    }) else {
        return json!({"playbook": null});
    };
    let evaluation = &decision.evaluation;
    let pending = evaluation
        .checks
        .iter()
        .any(|c| c.verdict == Verdict::Unknown);
    json!({
        "playbook": decision.playbook.name.as_str(),
        "mode": decision.mode.as_str(),
        "actions": decision.playbook.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "outcome": evaluation.outcome.as_str(),
        "outcome_depends_on_aws": pending,
        "reason": decision.rendered_reason,
        "guardrails": evaluation.checks,
    })
}

/// One decision, as text, each line indented by `indent`.
fn render(out: &mut String, r: &Value, indent: &str) {
    {
        let Some(name) = r["playbook"].as_str() else {
            out.push_str(&format!("{indent}no playbook matches: logged only\n"));
            return;
        };
        out.push_str(&format!(
            "{indent}playbook {name}  mode {}  actions {}\n{indent}outcome {}{}\n{indent}reason  {}\n",
            r["mode"].as_str().unwrap_or_default(),
            r["actions"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            r["outcome"].as_str().unwrap_or_default(),
            if r["outcome_depends_on_aws"] == json!(true) {
                " (if the unknown checks pass)"
            } else {
                ""
            },
            r["reason"].as_str().unwrap_or_default(),
        ));
        for c in r["guardrails"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "{indent}  {:<16} {:<14} {}\n",
                c["guardrail"].as_str().unwrap_or_default(),
                c["verdict"].as_str().unwrap_or_default(),
                c["detail"].as_str().unwrap_or_default()
            ));
        }
    }
}
