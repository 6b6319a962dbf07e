//! The fingerprint names "the same threat on the same workload": it is the dedup key and, through the
//! ASFF `Id`, the identity of the Security Hub finding. What goes in:
//!
//! - the source and the rule (case-folded): another detector or rule is another finding;
//! - the scope: the task ARN when known, else the container's 12-character short id (plus the host and
//!   account, as short ids are only unique per host), else the host; so the same rule on another task
//!   is another finding, and every container of a task is covered by its task's finding;
//! - the container name within the task, the process executable (path, else name) and the remote
//!   address of a network event: what tells one threat from another within one workload.
//!
//! - the sender account EventBridge stamped (see [`crate::Provenance`]): an untrusted sender's copy
//!   of an alert never shares a record with the trusted sender's.
//! - for a finding not about a workload (a cloud account, a Kubernetes object, a SaaS identity): its
//!   subject kind, event source, account, user and target; workload findings hash none of these.
//!
//! - for a GuardDuty attack sequence: the sequence's own `uid` and the finding's account, in place
//!   of every workload field (task, container, host, cluster, process, remote address, identity
//!   conflicts): the sequence is one finding however many tasks it names or comes to name, and
//!   [`Finding::per_task`]'s findings keep its fingerprint.
//!
//! What stays out: times, event ids, pids, counts, command-line arguments and local ports, which change
//! on every occurrence of the same activity and would defeat deduplication.

use crate::Finding;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;

/// The fingerprint's hash input, one named field at a time.
struct Fields(Sha256);

impl Fields {
    /// Length-prefixed so that no two different field lists hash the same bytes.
    fn bytes(&mut self, name: &str, value: Option<&[u8]>) {
        let v = value.unwrap_or(b"");
        self.0.update(name.as_bytes());
        self.0.update((v.len() as u64).to_be_bytes());
        self.0.update(v);
    }

    fn field(&mut self, name: &str, value: Option<&str>) {
        self.bytes(name, value.map(str::as_bytes));
    }
}

/// Hex SHA-256 of the salient fields of a finding, prefixed by the fingerprint scheme version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FindingFingerprint(String);

impl FindingFingerprint {
    const SCHEME: &'static str = "v1";

    /// The fingerprint of `finding`, from the fields listed in the module docs.
    pub fn of(finding: &Finding) -> Self {
        // The rule, case-folded; an ASCII rule (nearly all) is folded on the stack.
        let rule = finding.rule.trim();
        let mut rule_buf = [0u8; 256];
        let rule_folded: Cow<'_, [u8]> = if rule.is_ascii() && rule.len() <= rule_buf.len() {
            let folded = &mut rule_buf[..rule.len()];
            folded.copy_from_slice(rule.as_bytes());
            folded.make_ascii_lowercase();
            Cow::Borrowed(folded)
        } else {
            Cow::Owned(rule.to_lowercase().into_bytes())
        };
        // The container's short id, as [`crate::Container::short_id`] gives it, on the stack.
        let mut short_buf = [0u8; 12];
        let short_id: Option<&[u8]> = finding.resource.container.id.as_deref().map(|id| {
            let id = crate::text::truncate_utf8(crate::Container::bare_id(id), 12).as_bytes();
            let short = &mut short_buf[..id.len()];
            short.copy_from_slice(id);
            short.make_ascii_lowercase();
            &*short
        });

        let mut h = Fields(Sha256::new());
        h.field("scheme", Some(Self::SCHEME));
        h.field("source", Some(finding.source.as_str()));
        h.bytes("rule", Some(&rule_folded));
        // Who sent it: the same alert about the same task from another account is another
        // finding, so a decoy from an untrusted sender can never stand in for the genuine one.
        h.field("sender", finding.provenance.sender_account.as_deref());
        // And by which entry point: a direct invocation can never stand in for the agent bus's
        // copy of an alert (or the other way round), whichever comes first.
        h.field("arrival", Some(finding.provenance.arrival.as_str()));

        if let Some(seq) = &finding.sequence {
            h.field("sequence", Some(seq.uid.as_str()));
            h.field("account", finding.account.as_deref());
            if finding.is_sample() {
                h.field("sample", Some("true"));
            }
            return Self::finish(h.0);
        }

        let r = &finding.resource;
        match (&r.task_arn, short_id) {
            (Some(task), _) => {
                h.field("task", Some(task));
                // The container too: an alert naming another container of the task (or one that
                // is not the task's at all) is another finding, so a decoy cannot pre-empt it.
                h.bytes("container", short_id);
            }
            (None, Some(id)) => {
                h.bytes("container", Some(id));
                h.field("host", r.host.as_deref());
                h.field("account", finding.account.as_deref());
            }
            (None, None) => {
                h.field("host", r.host.as_deref());
                h.field("account", finding.account.as_deref());
                h.field("cluster", r.cluster_arn.as_deref());
            }
        }
        // An event whose story does not hold together (a cluster label against its task ARN, a
        // task in another account) never shares a record with a consistent one: a decoy cannot
        // make the genuine alert a repeat.
        if !finding.identity_conflicts.is_empty() {
            h.field("identity_conflict", Some("true"));
        }
        // A finding about an account, a Kubernetes object or a SaaS identity is never the same as a
        // container's: only those hash their subject, so workload fingerprints are unchanged.
        let subject = &finding.subject;
        if !subject.is_workload() {
            h.field("subject", Some(subject.kind.as_str()));
            h.field("event_source", subject.event_source.as_deref());
            h.field("subject_account", subject.account.as_deref());
            h.field(
                "subject_user",
                subject.user_id.as_deref().or(subject.user.as_deref()),
            );
            h.field("subject_target", subject.target.as_deref());
        }
        // A source's sample is never the same finding as a real one (only samples hash this).
        if finding.is_sample() {
            h.field("sample", Some("true"));
        }
        h.field("container_name", r.container.name.as_deref());
        let exe = finding
            .process
            .as_ref()
            .and_then(|p| p.executable_path.as_deref().or(p.name.as_deref()));
        h.field("executable", exe);
        h.field(
            "remote",
            finding
                .network
                .as_ref()
                .and_then(|n| n.remote_ip.as_deref()),
        );

        Self::finish(h.0)
    }

    fn finish(h: Sha256) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digest = h.finalize();
        // Written as bytes, then copied once: pushing 64 chars checks capacity 64 times.
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(digest) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        let hex = std::str::from_utf8(&hex).expect("hex digits are ASCII");
        FindingFingerprint([Self::SCHEME, "-", hex].concat())
    }

    /// Wraps a fingerprint read back from storage or an event.
    pub fn from_stored(s: impl Into<String>) -> Self {
        FindingFingerprint(s.into())
    }

    /// The fingerprint as text: `v1-` and 64 lower-case hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A placeholder used while a finding is being built, before its fields are final.
    pub(crate) fn pending() -> Self {
        FindingFingerprint(String::new())
    }
}

impl fmt::Display for FindingFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        AttackSequence, Finding, FindingFingerprint, RawEvent, SequenceContainer, SequenceTask,
        Severity, Source,
    };

    fn sequence(tasks: usize) -> Finding {
        let now = chrono::Utc::now();
        let mut f = Finding::new(
            Source::Guardduty,
            "AttackSequence:ECS/CompromisedCluster".into(),
            "t".into(),
            Severity::from_guardduty(10.0).unwrap(),
            now,
            RawEvent::capture("{}"),
        );
        f.account = Some("111122223333".into());
        f.resource.cluster_arn = Some("arn:aws:ecs:us-east-1:111122223333:cluster/prod".into());
        f.sequence = Some(AttackSequence {
            uid: "seq-1".into(),
            tasks: (0..tasks)
                .map(|i| SequenceTask {
                    task_arn: format!("arn:aws:ecs:us-east-1:111122223333:task/prod/{i:032x}"),
                    cluster_arn: Some("arn:aws:ecs:us-east-1:111122223333:cluster/prod".into()),
                    task_definition_arn: Some(
                        "arn:aws:ecs:us-east-1:111122223333:task-definition/web:7".into(),
                    ),
                    launch_type: Some("FARGATE".into()),
                    containers: vec![SequenceContainer {
                        uid: format!("{i:064x}"),
                        name: Some("app".into()),
                        image: Some("nginx:1".into()),
                        image_uid: None,
                    }],
                })
                .collect(),
            ..AttackSequence::default()
        });
        f.seal()
    }

    #[test]
    fn every_per_task_finding_keeps_the_sequence_fingerprint() {
        let f = sequence(3);
        let per_task = f.per_task();
        assert_eq!(per_task.len(), 3);
        for (i, t) in per_task.iter().enumerate() {
            assert_eq!(t.fingerprint, f.fingerprint);
            assert_eq!(FindingFingerprint::of(t), f.fingerprint, "task {i}");
            assert!(
                t.resource
                    .task_arn
                    .as_deref()
                    .unwrap()
                    .ends_with(&format!("{i:032x}"))
            );
            assert_eq!(t.resource.task_definition_family.as_deref(), Some("web"));
            assert_eq!(t.resource.container.name.as_deref(), Some("app"));
            assert!(t.identity_conflicts.is_empty());
        }
        assert_eq!(
            f.resource.task_arn, None,
            "the sequence itself names no task"
        );
    }

    #[test]
    fn a_sequence_is_one_finding_whatever_tasks_it_names() {
        let (a, b) = (sequence(1), sequence(50));
        assert_eq!(a.fingerprint, b.fingerprint);
        let mut other = sequence(1);
        other.sequence.as_mut().unwrap().uid = "seq-2".into();
        assert_ne!(other.seal().fingerprint, a.fingerprint);
        let mut sender = sequence(1);
        sender.provenance.sender_account = Some("444455556666".into());
        assert_ne!(sender.seal().fingerprint, a.fingerprint);
        assert!(sequence(0).per_task().is_empty());
    }

    #[test]
    fn a_task_in_another_account_is_an_identity_conflict_of_its_own_finding() {
        let mut f = sequence(1);
        f.sequence.as_mut().unwrap().tasks[0].task_arn =
            "arn:aws:ecs:us-east-1:999999999999:task/prod/abc".into();
        let t = &f.per_task()[0];
        assert_eq!(t.identity_conflicts.len(), 1);
        assert_eq!(FindingFingerprint::of(t), f.fingerprint);
    }
}
