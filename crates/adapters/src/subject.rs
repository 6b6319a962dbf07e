//! What a Falco-style detection is about, from its event source: a container or host workload
//! (`syscall`), or a plugin's stream: a cloud account (`aws_cloudtrail`, `gcp_auditlog`, Azure), a
//! Kubernetes object (`k8s_audit`; older audit alerts name no source but carry `ka.*`/`jevt.*`
//! fields), a SaaS identity (`okta`, `github`, …). Falco and Sysdig name sources alike.

use crate::fields::FieldMap;
use std::borrow::Cow;
use vigil_model::text::clean_opt;
use vigil_model::{Subject, SubjectKind};

/// Field prefixes of the plugins whose alerts may arrive without a `source`.
const KUBERNETES_FIELDS: &[&str] = &["ka.", "jevt.", "k8saudit."];
const CLOUD_FIELDS: &[&str] = &["ct.", "gcp.", "azure."];
const SAAS_FIELDS: &[&str] = &["okta.", "github.", "keycloak.", "gitlab.", "auth0."];

/// The kind of subject for an event source name (case and `-`/`_` ignored); `None` when the name is
/// absent or says nothing, so the fields decide.
pub fn kind_of_source(source: &str) -> Option<SubjectKind> {
    let source = source.trim();
    let ignored = |c: char| matches!(c, '-' | '_' | ' ');
    // A short ASCII name (every real one) is folded on the stack.
    let mut buf = [0u8; 64];
    let mut folded = String::new();
    let s: &str = if source.is_ascii() && source.len() <= buf.len() {
        let mut n = 0;
        for b in source.bytes().filter(|b| !ignored(char::from(*b))) {
            buf[n] = b.to_ascii_lowercase();
            n += 1;
        }
        std::str::from_utf8(&buf[..n]).unwrap_or_default()
    } else {
        folded.extend(
            source
                .chars()
                .filter(|c| !ignored(*c))
                .flat_map(char::to_lowercase),
        );
        &folded
    };
    Some(match s {
        "" => return None,
        // Sysdig names its runtime detections by what they see.
        "syscall"
        | "syscalls"
        | "workload"
        | "workloadruntimedetection"
        | "host"
        | "container"
        | "falco"
        | "agent"
        | "runtime" => SubjectKind::Workload,
        s if s.starts_with("k8saudit") || s.starts_with("k8s") || s.starts_with("kubernetes") => {
            SubjectKind::Kubernetes
        }
        s if s.contains("cloudtrail")
            || s.starts_with("gcp")
            || s.starts_with("azure")
            || s.starts_with("aws")
            || s.starts_with("cloud") =>
        {
            SubjectKind::Cloud
        }
        "okta" | "github" | "gitlab" | "keycloak" | "auth0" | "entraid" | "googleworkspace"
        | "onelogin" | "slack" | "salesforce" => SubjectKind::Saas,
        _ => SubjectKind::Other,
    })
}

/// The subject of an alert: its event source (`source`, else the fields' `evt.source`) and, for
/// non-workload sources, who did what to what, from the plugin's documented fields.
pub fn subject(source: Option<&str>, f: &FieldMap<'_>) -> Subject {
    let named = source
        .filter(|s| !crate::fields::is_unknown(s))
        .map(Cow::Borrowed)
        .or_else(|| f.get("evt.source"));
    let kind = named
        .as_deref()
        .and_then(kind_of_source)
        .unwrap_or_else(|| {
            if f.has_prefix(KUBERNETES_FIELDS) {
                SubjectKind::Kubernetes
            } else if f.has_prefix(CLOUD_FIELDS) {
                SubjectKind::Cloud
            } else if f.has_prefix(SAAS_FIELDS) {
                SubjectKind::Saas
            } else {
                SubjectKind::Workload
            }
        });
    let text = |names: &[&str], max: usize| clean_opt(f.get_any(names).as_deref(), max);
    let mut s = Subject {
        kind,
        event_source: named.and_then(|n| {
            let n = n.trim();
            if n.bytes().any(|b| b.is_ascii_uppercase()) {
                clean_opt(Some(&n.to_ascii_lowercase()), 64)
            } else {
                clean_opt(Some(n), 64)
            }
        }),
        ..Subject::default()
    };
    match kind {
        SubjectKind::Workload => {}
        SubjectKind::Kubernetes => {
            s.user = text(
                &[
                    "ka.user.name",
                    "jevt.value[/user/username]",
                    "ka.impuser.name",
                ],
                256,
            );
            s.source_ip = clean_opt(
                f.first_of("ka.sourceips")
                    .or_else(|| f.first_of("jevt.value[/sourceIPs/0]"))
                    .as_deref(),
                64,
            );
            s.action = text(&["ka.verb", "jevt.value[/verb]"], 64);
            s.account = text(&["ka.cluster.name", "k8saudit.cluster.name"], 256);
            let resource = f
                .get_any(&["ka.target.resource", "jevt.value[/objectRef/resource]"])
                .map(|r| match f.get("ka.target.subresource") {
                    Some(sub) => Cow::Owned(format!("{r}/{sub}")),
                    None => r,
                });
            let namespace = f.get_any(&["ka.target.namespace", "jevt.value[/objectRef/namespace]"]);
            let name = f.get_any(&["ka.target.name", "jevt.value[/objectRef/name]"]);
            let parts: Vec<&str> = [resource.as_deref(), namespace.as_deref(), name.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            s.target = (resource.is_some() || name.is_some())
                .then(|| parts.join("/"))
                .and_then(|t| clean_opt(Some(&t), 512));
        }
        SubjectKind::Cloud => {
            s.user = text(
                &[
                    "ct.user",
                    "ct.user.principalid",
                    "gcp.user",
                    "azure.identity",
                    "azure.caller",
                ],
                256,
            );
            s.user_id = text(&["ct.user.arn", "gcp.principalSubject"], 512);
            s.account = text(
                &[
                    "ct.user.accountid",
                    "ct.recipientaccountid",
                    "gcp.projectId",
                    "gcp.project_id",
                    "azure.subscriptionId",
                ],
                64,
            );
            s.source_ip = text(&["ct.srcip", "gcp.callerIP", "azure.callerIpAddress"], 64);
            s.action = text(&["ct.name", "gcp.methodName", "azure.operationName"], 256);
            s.target = text(
                &[
                    "gcp.resourceName",
                    "azure.resourceId",
                    "ct.request.bucketname",
                ],
                512,
            );
        }
        SubjectKind::Saas | SubjectKind::Other => {
            s.user = text(
                &[
                    "okta.actor.alternateid",
                    "okta.actor.name",
                    "github.user",
                    "keycloak.user",
                    "user.name",
                ],
                256,
            );
            s.user_id = text(&["okta.actor.id"], 256);
            s.account = text(&["okta.org", "github.org", "github.owner"], 256);
            s.source_ip = text(&["okta.client.ip", "keycloak.ipAddress"], 64);
            s.action = text(
                &[
                    "okta.evt.type",
                    "okta.eventtype",
                    "github.type",
                    "github.action",
                ],
                256,
            );
            s.target = text(
                &["github.repo", "okta.target.user.alternateid", "okta.app"],
                512,
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names() {
        assert_eq!(kind_of_source("syscall"), Some(SubjectKind::Workload));
        assert_eq!(kind_of_source("aws_cloudtrail"), Some(SubjectKind::Cloud));
        assert_eq!(kind_of_source("awscloudtrail"), Some(SubjectKind::Cloud));
        assert_eq!(kind_of_source("gcp_auditlog"), Some(SubjectKind::Cloud));
        assert_eq!(kind_of_source("k8s_audit"), Some(SubjectKind::Kubernetes));
        assert_eq!(
            kind_of_source("K8sAudit-EKS"),
            Some(SubjectKind::Kubernetes)
        );
        assert_eq!(kind_of_source("okta"), Some(SubjectKind::Saas));
        assert_eq!(kind_of_source("github"), Some(SubjectKind::Saas));
        assert_eq!(kind_of_source("nomad"), Some(SubjectKind::Other));
        assert_eq!(kind_of_source(" "), None);
    }
}
