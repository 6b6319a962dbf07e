//! ECS ARN helpers: sources give a cluster as a name or an ARN, and task ARNs in the long form
//! (`task/CLUSTER/ID`) or the legacy short form (`task/ID`).

/// The parts of an `arn:PARTITION:ecs:REGION:ACCOUNT:task/...` ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskArn<'a> {
    /// `aws`, `aws-cn` or `aws-us-gov`.
    pub partition: &'a str,
    /// The region (e.g. `eu-west-1`), never empty.
    pub region: &'a str,
    /// The 12-digit account, never empty.
    pub account: &'a str,
    /// The cluster name of the long form (`task/CLUSTER/ID`); `None` in the legacy short form.
    pub cluster: Option<&'a str>,
    /// The task id (32 hex characters today; older tasks have a UUID).
    pub task_id: &'a str,
}

/// Longest ARN or cluster name accepted: real task ARNs stay under 400 characters (a 255-character
/// cluster name included), and Security Hub cuts resource ids at 512.
pub const MAX_ARN_LEN: usize = 512;

/// Whether `s` can be an ECS identifier (ARN or cluster name): not too long, and no white space,
/// control or invisible formatting character (AWS allows none of them). Anything else is not trusted
/// as an identifier at all, rather than cleaned into a different one.
pub fn is_plausible_id(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_ARN_LEN {
        return false;
    }
    // Visible ASCII (the usual case) is plausible without looking at characters one by one: the
    // only ASCII white space and unsafe characters are ' ' and the controls.
    if vigil_model::text::is_printable_ascii(s) && !s.contains(' ') {
        return true;
    }
    !s.chars()
        .any(|c| c.is_whitespace() || vigil_model::text::is_unsafe_char(c))
}

impl<'a> TaskArn<'a> {
    /// Splits a task ARN; `None` when it is not a plausible `arn:…:ecs:…:task/…` ARN with a region,
    /// an account and one task id.
    pub fn parse(arn: &'a str) -> Option<Self> {
        if !is_plausible_id(arn) {
            return None;
        }
        // The five fields before the resource (which may hold more `:`), as `splitn(6, ':')` gives
        // them, found in one pass over the bytes: on fields this short, a searcher per field costs
        // several times as much.
        let mut fields = [""; 5];
        let mut colons = arn
            .bytes()
            .enumerate()
            .filter_map(|(i, b)| (b == b':').then_some(i));
        let mut start = 0;
        for field in &mut fields {
            let end = colons.next()?;
            *field = &arn[start..end];
            start = end + 1;
        }
        let [scheme, partition, service, region, account] = fields;
        if scheme != "arn" || service != "ecs" || region.is_empty() || account.is_empty() {
            return None;
        }
        let rest = arn[start..].strip_prefix("task/")?;
        let (cluster, task_id) = match rest.split_once('/') {
            Some((cluster, id)) => (Some(cluster), id),
            None => (None, rest),
        };
        if task_id.is_empty() || task_id.contains('/') {
            return None;
        }
        Some(TaskArn {
            partition,
            region,
            account,
            cluster,
            task_id,
        })
    }

    /// Whether `arn` is [`TaskArn::cluster_arn`], compared without building it.
    pub fn is_own_cluster_arn(&self, arn: &str) -> bool {
        let Some(cluster) = self.cluster else {
            return false;
        };
        [
            "arn:",
            self.partition,
            ":ecs:",
            self.region,
            ":",
            self.account,
            ":cluster/",
            cluster,
        ]
        .iter()
        .try_fold(arn, |rest, part| rest.strip_prefix(part))
            == Some("")
    }

    /// The cluster ARN, when the task ARN names its cluster.
    pub fn cluster_arn(&self) -> Option<String> {
        self.cluster
            .map(|c| cluster_arn(self.partition, self.region, self.account, c))
    }
}

pub use vigil_model::partition_of;

/// `arn:<partition>:ecs:<region>:<account>:cluster/<name>`.
pub fn cluster_arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    crate::fields::concat(&[
        "arn:",
        partition,
        ":ecs:",
        region,
        ":",
        account,
        ":cluster/",
        name,
    ])
}

/// Whether `s` has the shape of an ECS cluster ARN (`arn:…:ecs:…:cluster/…`); a name is not.
pub fn is_cluster_arn(s: &str) -> bool {
    s.starts_with("arn:") && s.contains(":ecs:") && s.contains(":cluster/")
}

/// `arn:...:task-definition/FAMILY:REVISION` → (family, revision).
pub fn task_definition_parts(arn: &str) -> Option<(String, String)> {
    let (_, rest) = arn.rsplit_once("task-definition/")?;
    let (family, revision) = rest.rsplit_once(':')?;
    (!family.is_empty() && revision.chars().all(|c| c.is_ascii_digit()) && !revision.is_empty())
        .then(|| (family.to_owned(), revision.to_owned()))
}

/// `service:NAME` (the task `group` of service-started tasks) → NAME.
pub fn service_from_group(group: &str) -> Option<String> {
    group
        .strip_prefix("service:")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Resolves a cluster given as ARN or name into an ARN, using whatever account and region are known.
/// A cluster that cannot be an identifier ([`is_plausible_id`]) counts as not given.
pub fn resolve_cluster(
    cluster: Option<&str>,
    task: Option<&TaskArn<'_>>,
    account: Option<&str>,
    region: Option<&str>,
) -> Option<String> {
    if let Some(c) = cluster.map(str::trim).filter(|c| is_plausible_id(c)) {
        if is_cluster_arn(c) {
            return Some(c.to_owned());
        }
        if let Some(t) = task {
            return Some(cluster_arn(t.partition, t.region, t.account, c));
        }
        if let (Some(a), Some(r)) = (account, region) {
            return Some(cluster_arn(partition_of(r), r, a, c));
        }
        return None;
    }
    task.and_then(TaskArn::cluster_arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// [`TaskArn::parse`] as first written, with `str` splitting: the byte scan must agree with it.
    fn parse_reference(arn: &str) -> Option<TaskArn<'_>> {
        if !is_plausible_id(arn) {
            return None;
        }
        let mut parts = arn.splitn(6, ':');
        let (scheme, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if scheme != "arn" || service != "ecs" || region.is_empty() || account.is_empty() {
            return None;
        }
        let rest = resource.strip_prefix("task/")?;
        let (cluster, task_id) = match rest.split_once('/') {
            Some((cluster, id)) => (Some(cluster), id),
            None => (None, rest),
        };
        if task_id.is_empty() || task_id.contains('/') {
            return None;
        }
        Some(TaskArn {
            partition,
            region,
            account,
            cluster,
            task_id,
        })
    }

    proptest! {
        #[test]
        fn task_arn_parse_matches_reference(
            arn in prop_oneof![
                "arn:(aws|é|):(ecs|ec2|):[a-z:-]{0,6}:[0-9:]{0,4}:(task/|task|cluster/)?[a-z/:é ]{0,8}",
                any::<String>(),
            ]
        ) {
            prop_assert_eq!(TaskArn::parse(&arn), parse_reference(&arn));
        }
    }

    #[test]
    fn task_arn_forms() {
        let long =
            TaskArn::parse("arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb4")
                .unwrap();
        assert_eq!(long.cluster, Some("FargateCluster"));
        for (candidate, own) in [
            (
                "arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster",
                true,
            ),
            (
                "arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster2",
                false,
            ),
            ("arn:aws:ecs:us-west-2:111122223333:cluster/Fargate", false),
            ("arn:aws:ecs:us-west-2:111122223333:cluster/", false),
            ("FargateCluster", false),
            ("", false),
        ] {
            assert_eq!(long.is_own_cluster_arn(candidate), own, "{candidate}");
            assert_eq!(long.cluster_arn().as_deref() == Some(candidate), own);
        }
        assert_eq!(
            long.cluster_arn().as_deref(),
            Some("arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster")
        );
        let short =
            TaskArn::parse("arn:aws:ecs:us-east-2:012345678910:task/9781c248-0edd").unwrap();
        assert_eq!(short.cluster, None);
        assert_eq!(short.task_id, "9781c248-0edd");
        assert!(TaskArn::parse("arn:aws:ec2:us-east-2:0123:task/x").is_none());
        assert!(TaskArn::parse("not an arn").is_none());
        for hostile in [
            "arn:aws:ecs:us-east-1:123456789012:task/c/t\u{1b}[31m",
            "arn:aws:ecs:us-east-1:1234\u{202e}56789012:task/c/t",
            "arn:aws:ecs:us-east-1:123456789012:task/c\u{0}/t",
            "arn:aws:ecs:us-east-1:123456789012:task/c/t\u{200b}",
            "arn:aws:ecs:us-east-1:123456789012:task/c/t\n",
            "arn:aws:ecs:us east-1:123456789012:task/c/t",
        ] {
            assert!(TaskArn::parse(hostile).is_none(), "{hostile:?}");
        }
        let long = format!(
            "arn:aws:ecs:us-east-1:123456789012:task/c/{}",
            "a".repeat(600)
        );
        assert!(TaskArn::parse(&long).is_none());
    }

    #[test]
    fn the_ascii_shortcut_agrees_with_the_character_check() {
        let reference = |s: &str| {
            !s.is_empty()
                && s.len() <= MAX_ARN_LEN
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || vigil_model::text::is_unsafe_char(c))
        };
        for b in 0u8..=0x7f {
            for s in [
                format!("{}", char::from(b)),
                format!("arn:aws:ecs:us-east-1:1:task/c/{}t", char::from(b)),
                format!("{}{}", "x".repeat(20), char::from(b)),
            ] {
                assert_eq!(is_plausible_id(&s), reference(&s), "{s:?}");
            }
        }
        for s in [
            "é",
            "a\u{a0}b",
            "a\u{85}b",
            "a\u{2028}",
            "a\u{202e}b",
            "日本",
        ] {
            assert_eq!(is_plausible_id(s), reference(s), "{s:?}");
        }
    }

    #[test]
    fn cluster_resolution() {
        let t = TaskArn::parse("arn:aws-cn:ecs:cn-north-1:111122223333:task/x").unwrap();
        assert_eq!(
            resolve_cluster(Some("prod"), Some(&t), None, None).as_deref(),
            Some("arn:aws-cn:ecs:cn-north-1:111122223333:cluster/prod")
        );
        assert_eq!(
            resolve_cluster(Some("prod"), None, Some("1"), Some("us-gov-west-1")).as_deref(),
            Some("arn:aws-us-gov:ecs:us-gov-west-1:1:cluster/prod")
        );
        assert_eq!(resolve_cluster(Some("prod"), None, None, None), None);
        // A cluster that cannot be an identifier is ignored: the task ARN's own cluster is used.
        let named = TaskArn::parse("arn:aws:ecs:us-east-1:1:task/real/t").unwrap();
        for hostile in ["pr\u{1b}[2Jod", "pr\u{202e}od", "a b", &"c".repeat(600)] {
            assert_eq!(
                resolve_cluster(Some(hostile), Some(&named), None, None).as_deref(),
                Some("arn:aws:ecs:us-east-1:1:cluster/real"),
                "{hostile:?}"
            );
        }
        assert_eq!(
            resolve_cluster(Some(" prod "), None, Some("1"), Some("us-east-1")).as_deref(),
            Some("arn:aws:ecs:us-east-1:1:cluster/prod")
        );
        assert_eq!(
            task_definition_parts("arn:aws:ecs:r:1:task-definition/web:12"),
            Some(("web".into(), "12".into()))
        );
        assert_eq!(service_from_group("service:api").as_deref(), Some("api"));
        assert_eq!(service_from_group("family:api"), None);
    }
}
