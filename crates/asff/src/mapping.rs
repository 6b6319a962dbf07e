//! Finding → ASFF. Strings are cleaned again here even though the adapters cleaned them: a Finding
//! can also arrive from the bus, where anything may be forged.

use crate::limits::*;
use crate::model::*;
use chrono::{DateTime, SecondsFormat, Utc};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use vigil_model::text::{clean, clean_cow, clean_into};
use vigil_model::{Enrichment, Finding, NetworkDirection, SeverityLabel, SubjectKind, TaskInfo};

/// Why a finding cannot be an ASFF record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsffError {
    /// The finding names no AWS account (`AwsAccountId` is required).
    MissingAccount,
    /// The account is not 12 digits: the value found.
    InvalidAccount(String),
    /// The finding names no region (`Region` is required).
    MissingRegion,
    /// The record is over [`MAX_FINDING_BYTES`] even after trimming: its size in bytes.
    TooLarge(usize),
}

impl std::error::Error for AsffError {}

impl std::fmt::Display for AsffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AsffError::MissingAccount => {
                f.write_str("account: unknown; Security Hub needs the AWS account id")
            }
            AsffError::InvalidAccount(a) => {
                write!(f, "account: {a:?} is not a 12-digit AWS account id")
            }
            AsffError::MissingRegion => {
                f.write_str("region: unknown; Security Hub needs the region")
            }
            AsffError::TooLarge(n) => {
                write!(
                    f,
                    "$: ASFF finding is {n} bytes even after trimming, over the {MAX_FINDING_BYTES}-byte limit"
                )
            }
        }
    }
}

/// What the mapping needs besides the finding.
#[derive(Debug, Clone)]
pub struct MappingContext {
    /// `UpdatedAt`: Security Hub keeps the record with the latest value, so this must be the time of
    /// the import, not of the event.
    pub now: DateTime<Utc>,
}

/// What Vigil already told Security Hub about the finding, from the dedup record (carried in the
/// `Finding Accepted` event's `DedupSummary`). Empty for a finding mapped on its own (`vigil asff`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    /// The highest normalized severity counted for the fingerprint: the record's `Severity` is never
    /// lower, so a later, less severe occurrence cannot lower what an earlier one raised.
    pub highest_severity: Option<u8>,
    /// The `UpdatedAt` of the last import confirmed for the fingerprint.
    pub last_update: Option<DateTime<Utc>>,
}

impl History {
    /// The history a `Finding Accepted` event's dedup summary carries.
    pub fn of(dedup: &vigil_contract::DedupSummary) -> Self {
        History {
            highest_severity: dedup.highest_severity,
            last_update: dedup.last_update,
        }
    }
}

/// The product ARN Security Hub assigns to an account's own findings.
pub fn product_arn(partition: &str, region: &str, account: &str) -> String {
    concat(&[
        "arn:",
        partition,
        ":securityhub:",
        region,
        ":",
        account,
        ":product/",
        account,
        "/default",
    ])
}

/// Where Vigil imports a finding in Security Hub: its `Id` and its account's and region's product.
/// Computed from the finding alone, never taken from a message.
pub fn securityhub_ref(finding: &Finding, imported: bool) -> vigil_contract::SecurityHubRef {
    let region = finding.region.as_deref().unwrap_or_default();
    vigil_contract::SecurityHubRef {
        id: finding_id(finding),
        product_arn: product_arn(
            vigil_model::partition_of(region),
            region,
            finding.account.as_deref().unwrap_or_default(),
        ),
        imported,
        import_error: None,
    }
}

/// GuardDuty's own Security Hub finding for a GuardDuty finding (`Id` = the GuardDuty finding ARN,
/// product `aws/guardduty`), read from the event ingest kept, when it shows it: `(Id, ProductArn)`.
/// The ARN must be a GuardDuty finding ARN of the finding's own account. Nothing binds it to the
/// finding's fingerprint: whoever trusts it must check it against what ingest recorded.
pub fn guardduty_ref(finding: &Finding) -> Option<(String, String)> {
    if finding.source != vigil_model::Source::Guardduty {
        return None;
    }
    let raw = finding.raw.event.get();
    let arn = match serde_json::from_str::<serde_json::Value>(raw).ok()? {
        serde_json::Value::Object(o) => o
            .get("detail")
            .and_then(|d| d.get("arn"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)?,
        // Truncated: the prefix kept still carries the finding's ARN near its start.
        serde_json::Value::String(prefix) => {
            let at = prefix.find(":guardduty:")?;
            let start = prefix[..at].rfind('"')? + 1;
            let end = at + prefix[at..].find('"')?;
            prefix[start..end].to_owned()
        }
        _ => return None,
    };
    guardduty_finding_ref(&arn, finding.account.as_deref())
}

/// GuardDuty's own Security Hub finding for the GuardDuty finding ARN `arn`: `(Id, ProductArn)`,
/// when `arn` is a GuardDuty finding ARN of `account`.
pub fn guardduty_finding_ref(arn: &str, account: Option<&str>) -> Option<(String, String)> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = arn.len() <= 512
        && parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "guardduty"
        && !parts[3].is_empty()
        && parts[5].contains("/finding/")
        && account == Some(parts[4]);
    ok.then(|| {
        let (partition, region) = (parts[1], parts[3]);
        let product = format!("arn:{partition}:securityhub:{region}::product/aws/guardduty");
        (arn.to_owned(), product)
    })
}

/// The ASFF `Id` of a finding: derived from the fingerprint, so repeats update one record.
pub fn finding_id(finding: &Finding) -> String {
    const PREFIX: &str = "vigil-";
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
    let fingerprint = finding.fingerprint.as_str();
    // A fingerprint Vigil computed (`v1-` and hex) is kept whole: nothing to filter or cut.
    // (Every allowed character is ASCII: a byte of any other character is not allowed either.)
    if PREFIX.len() + fingerprint.len() <= MAX_ID
        && fingerprint.bytes().all(|b| allowed(char::from(b)))
    {
        return concat(&[PREFIX, fingerprint]);
    }
    PREFIX
        .chars()
        .chain(fingerprint.chars())
        .filter(|c| allowed(*c))
        .take(MAX_ID)
        .collect()
}

/// `n` in decimal, as `to_string` writes it, without the formatting machinery.
fn decimal(mut n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: valid UTF-8.
    std::str::from_utf8(&digits[start..])
        .expect("ASCII digits")
        .to_owned()
}

/// `parts` joined, allocated once at the right size.
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// The ASFF record of `finding` alone (no enrichment, no history).
///
/// Fails when the finding has no valid account or region, or the record cannot be trimmed under
/// [`MAX_FINDING_BYTES`].
pub fn to_asff<'a>(
    finding: &'a Finding,
    ctx: &MappingContext,
) -> Result<AsffFinding<'a>, AsffError> {
    to_asff_enriched(finding, None, ctx)
}

/// Like [`to_asff`], with what ECS enrichment learned: service and task definition resources, task and
/// service tags, image digests and the offending container's hardening.
pub fn to_asff_enriched<'a>(
    finding: &'a Finding,
    enrichment: Option<&'a Enrichment>,
    ctx: &MappingContext,
) -> Result<AsffFinding<'a>, AsffError> {
    to_asff_with_history(finding, enrichment, ctx, &History::default())
}

/// Like [`to_asff_enriched`], for a finding Security Hub may already have from Vigil.
///
/// `UpdatedAt` is the latest of the import time (`ctx.now`), the finding's `LastObservedAt` and the
/// last confirmed import's `UpdatedAt`: Security Hub keeps the record with the latest `UpdatedAt`, so
/// an import must never carry an older one than the last, nor one older than what it reports
/// observed. The observed times are bounded where they are read (ingest clamps times more than five
/// minutes after receipt), so this maximum cannot be pushed far ahead and freeze the finding; and
/// `CreatedAt` = `FirstObservedAt` ≤ `LastObservedAt` ≤ `UpdatedAt` always holds. The last
/// confirmed `UpdatedAt` covers clock differences between instances and an `UpdatedAt` a skewed
/// `LastObservedAt` moved ahead of the clock; two imports in flight at once are ordered by their own
/// clocks, which Security Hub resolves by keeping the later one.
///
/// `Severity` is the occurrence's, raised to `history.highest_severity` when that is higher (the
/// label then the one whose band holds it; `Original` stays the occurrence's own).
///
/// The record borrows the finding's strings that need no cleaning; [`AsffFinding::into_owned`]
/// detaches it.
pub fn to_asff_with_history<'a>(
    finding: &'a Finding,
    enrichment: Option<&'a Enrichment>,
    ctx: &MappingContext,
    history: &History,
) -> Result<AsffFinding<'a>, AsffError> {
    let account = finding
        .account
        .as_deref()
        .ok_or(AsffError::MissingAccount)?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AsffError::InvalidAccount(clean(account, 32, false)));
    }
    let region = cleaned(
        finding.region.as_deref().ok_or(AsffError::MissingRegion)?,
        32,
        false,
    );
    if region.is_empty() {
        return Err(AsffError::MissingRegion);
    }
    let partition = vigil_model::partition_of(&region);

    let first = finding.first_observed_at.min(finding.observed_at);
    let last = finding.last_observed_at.max(finding.observed_at);
    let updated = ctx
        .now
        .max(last)
        .max(history.last_update.unwrap_or(ctx.now));
    let (label, normalized) = {
        let own = finding.severity.label;
        let (lo, hi) = own.band();
        let own_normalized = finding.severity.normalized.clamp(lo, hi);
        match history.highest_severity.map(|h| h.min(100)) {
            Some(h) if h > own_normalized => (SeverityLabel::from_normalized(h), h),
            _ => (own, own_normalized),
        }
    };

    let title = cleaned(&finding.title, MAX_TITLE, false);
    let title = if title.is_empty() {
        cleaned(&finding.rule, MAX_TITLE, false)
    } else {
        title
    };
    let description = finding
        .description
        .as_deref()
        .map(|d| cleaned(d, MAX_DESCRIPTION, true))
        .unwrap_or_default();
    let description = if description.is_empty() {
        title.clone()
    } else {
        description
    };
    // An attack sequence: what GuardDuty correlated, in a sentence (within the 1024 limit).
    let description = match &finding.sequence {
        Some(seq) => cleaned_owned(
            format!("{description} Attack sequence: {}.", seq.summary()),
            MAX_DESCRIPTION,
            true,
        ),
        None => description,
    };

    let first_observed_at = ts(first);
    // A finding seen once (the common case) was first and last observed at one instant.
    let last_observed_at = if last == first {
        first_observed_at.clone()
    } else {
        ts(last)
    };
    let mut record = AsffFinding {
        schema_version: Text::constant(SCHEMA_VERSION),
        id: finding_id(finding).into(),
        product_arn: product_arn(partition, &region, account).into(),
        product_name: Text::constant("Vigil"),
        company_name: Text::constant("Vigil"),
        region: region.clone(),
        generator_id: cleaned_owned(
            concat(&["vigil/", finding.source.as_str(), "/", &finding.rule]),
            MAX_GENERATOR_ID,
            false,
        ),
        aws_account_id: Text::borrowed(account),
        types: types(finding),
        created_at: first_observed_at.clone().into(),
        first_observed_at: first_observed_at.into(),
        last_observed_at: last_observed_at.into(),
        updated_at: ts(updated).into(),
        severity: AsffSeverity {
            label: Text::constant(label.as_str()),
            normalized,
            original: {
                let o = cleaned(&finding.severity.original, MAX_SEVERITY_ORIGINAL, false);
                if o.is_empty() {
                    Text::constant(finding.severity.label.as_str())
                } else {
                    o
                }
            },
        },
        title,
        description,
        product_fields: product_fields(finding),
        resources: match &finding.sequence {
            Some(seq) => sequence_resources(seq, partition, &region).0,
            None => resources(
                finding,
                enrichment.and_then(|e| e.task.as_ref()),
                partition,
                &region,
            ),
        },
        process: process(finding),
        network: network(finding),
        record_state: Text::constant("ACTIVE"),
    };
    enforce_size(&mut record)?;
    Ok(record)
}

/// RFC 3339 UTC with milliseconds (`2026-01-01T00:00:00.000Z`), as chrono's
/// `to_rfc3339_opts(SecondsFormat::Millis, true)` writes it; written directly for years 0–9999
/// outside a leap second, by chrono otherwise.
fn ts(t: DateTime<Utc>) -> String {
    let (secs, nanos) = (t.timestamp(), t.timestamp_subsec_nanos());
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return t.to_rfc3339_opts(SecondsFormat::Millis, true);
    }
    let second_of_day = secs.rem_euclid(86_400) as u32;
    let digits = |out: &mut [u8], mut n: u32| {
        for d in out.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    let mut b = *b"0000-00-00T00:00:00.000Z";
    digits(&mut b[0..4], year as u32);
    digits(&mut b[5..7], month);
    digits(&mut b[8..10], day);
    digits(&mut b[11..13], second_of_day / 3600);
    digits(&mut b[14..16], second_of_day / 60 % 60);
    digits(&mut b[17..19], second_of_day % 60);
    digits(&mut b[20..23], nanos / 1_000_000);
    // Digits and separators: ASCII, valid UTF-8.
    std::str::from_utf8(&b).expect("ASCII").to_owned()
}

/// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `s` cleaned ([`clean_cow`]), borrowed when it needs no change.
fn cleaned(s: &str, max_chars: usize, keep_newlines: bool) -> Text<'_> {
    Text::from(clean_cow(s, max_chars, keep_newlines))
}

/// A string built for the record, cleaned in place ([`clean_into`]).
fn cleaned_owned(s: String, max_chars: usize, keep_newlines: bool) -> Text<'static> {
    Text::from(clean_into(s, max_chars, keep_newlines))
}

/// [`cleaned`] or [`cleaned_owned`], as `s` is.
fn cleaned_cow(s: Cow<'_, str>, max_chars: usize) -> Text<'_> {
    match s {
        Cow::Borrowed(b) => cleaned(b, max_chars, false),
        Cow::Owned(o) => cleaned_owned(o, max_chars, false),
    }
}

/// ASFF `Types` (`namespace/category/classifier`) from the MITRE tactics the source tagged; playbooks
/// match on them too.
pub fn finding_types(finding: &Finding) -> Vec<String> {
    types(finding).into_iter().map(Text::into_string).collect()
}

/// [`finding_types`], categories alone borrowed.
fn types(finding: &Finding) -> Vec<Text<'static>> {
    let classifier = clean_cow(&finding.rule, 128, false);
    let classifier = if classifier.contains('/') {
        Cow::Owned(classifier.replace('/', "-"))
    } else {
        classifier
    };
    let mut out: Vec<Text<'static>> = Vec::new();
    for tactic in &finding.mitre {
        let category = match tactic.as_str() {
            "initial_access" => "TTPs/Initial Access",
            "execution" => "TTPs/Execution",
            "persistence" => "TTPs/Persistence",
            "privilege_escalation" => "TTPs/Privilege Escalation",
            "defense_evasion" => "TTPs/Defense Evasion",
            "credential_access" => "TTPs/Credential Access",
            "discovery" => "TTPs/Discovery",
            "lateral_movement" => "TTPs/Lateral Movement",
            "collection" => "TTPs/Collection",
            "command_and_control" => "TTPs/Command and Control",
            "exfiltration" => "Effects/Data Exfiltration",
            "impact" => "Effects/Resource Consumption",
            _ => continue,
        };
        let t = if out.is_empty() && !classifier.is_empty() {
            Text::from(concat(&[category, "/", &classifier]))
        } else {
            Text::constant(category)
        };
        if !out.contains(&t) {
            // A category alone is a clean constant.
            out.push(if t.as_str() == category {
                t
            } else {
                cleaned_owned(t.into_string(), MAX_TYPE, false)
            });
        }
    }
    if out.is_empty() {
        // ASFF's Unusual Behaviors categories: a container's process, a cloud or SaaS user's
        // calls, a Kubernetes (or other) application's API.
        let category = match finding.subject.kind {
            SubjectKind::Workload => "Unusual Behaviors/Container",
            SubjectKind::Cloud | SubjectKind::Saas => "Unusual Behaviors/User",
            SubjectKind::Kubernetes | SubjectKind::Other => "Unusual Behaviors/Application",
        };
        out.push(if classifier.is_empty() {
            Text::constant(category)
        } else {
            cleaned_owned(concat(&[category, "/", &classifier]), MAX_TYPE, false)
        });
    }
    out.truncate(MAX_TYPES);
    out
}

/// Declares the `ProductFields` keys, in the order of their names (a test checks it), so the
/// fields sort by their key's rank.
macro_rules! product_field_keys {
    ($($key:ident),* $(,)?) => {
        /// A `ProductFields` key: `vigil/<name>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        enum Field {
            $(
                #[doc = concat!("`vigil/", stringify!($key), "`")]
                $key
            ),*
        }

        impl Field {
            #[cfg(test)]
            const ALL: &[Field] = &[$(Field::$key),*];

            fn key(self) -> &'static str {
                match self {
                    $(Field::$key => concat!("vigil/", stringify!($key))),*
                }
            }
        }
    };
}

product_field_keys!(
    Arrival,
    CommandLine,
    Connection,
    ContainerImage,
    ContainerImageDigest,
    Count,
    EventSource,
    ExecutableSha256,
    Fingerprint,
    Host,
    IdentityMismatch,
    Mitre,
    ResourcesTruncated,
    Rule,
    SenderAccount,
    SequenceActors,
    SequenceEndpoints,
    SequenceFirstSeen,
    SequenceIndicators,
    SequenceLastSeen,
    SequenceSignalTypes,
    SequenceSignals,
    SequenceSummary,
    SequenceTasks,
    SequenceUid,
    Service,
    Source,
    SourceEventId,
    Subject,
    SubjectAccount,
    SubjectAction,
    SubjectSourceIp,
    SubjectTarget,
    SubjectUser,
    Tags,
    TaskDefinitionFamily,
    TimeClamped,
    User,
);

/// `ProductFields` as they are built: values cleaned; empty values and entries beyond
/// [`MAX_PRODUCT_FIELDS`] left out. Kept as a list, each key once, and sorted by rank at the end.
struct ProductFields<'a>(Vec<(Field, Text<'a>)>);

impl<'a> ProductFields<'a> {
    fn put(&mut self, key: Field, value: Option<&'a str>) {
        if let Some(v) = value {
            self.insert(key, cleaned(v, MAX_PRODUCT_FIELD_VALUE, false));
        }
    }

    /// Like [`ProductFields::put`] for a value built for the record: cleaned in place.
    fn put_owned(&mut self, key: Field, value: String) {
        self.insert(key, cleaned_owned(value, MAX_PRODUCT_FIELD_VALUE, false));
    }

    fn insert(&mut self, key: Field, cleaned: Text<'a>) {
        if !cleaned.is_empty() && self.0.len() < MAX_PRODUCT_FIELDS {
            self.0.push((key, cleaned));
        }
    }

    fn into_map(mut self) -> ProductFieldMap<'a> {
        // Keys rank as their names do (see `product_field_keys!`): sorted by rank, they are sorted
        // by name. A key put twice keeps its last value (a stable sort, then the last of a run).
        self.0.sort_by_key(|(k, _)| *k);
        let mut entries: Vec<(Text<'a>, Text<'a>)> = Vec::with_capacity(self.0.len());
        let mut fields = self.0.into_iter().peekable();
        while let Some((k, v)) = fields.next() {
            if fields.peek().is_none_or(|(next, _)| *next != k) {
                entries.push((Text::constant(k.key()), v));
            }
        }
        ProductFieldMap::from_sorted(entries)
    }
}

fn product_fields(finding: &Finding) -> ProductFieldMap<'_> {
    let mut fields = ProductFields(Vec::with_capacity(24));
    let r = &finding.resource;
    fields.put(Field::Source, Some(finding.source.as_str()));
    fields.put(Field::Rule, Some(&finding.rule));
    fields.put(Field::Fingerprint, Some(finding.fingerprint.as_str()));
    fields.put_owned(Field::Count, decimal(finding.count));
    fields.put(Field::SourceEventId, finding.source_event_id.as_deref());
    // Who sent it, and whether its story holds: analysts see why remediation refused it.
    fields.put(Field::Arrival, Some(finding.provenance.arrival.as_str()));
    fields.put(
        Field::SenderAccount,
        finding.provenance.sender_account.as_deref(),
    );
    if !finding.identity_conflicts.is_empty() {
        fields.put_owned(
            Field::IdentityMismatch,
            finding.identity_conflicts.join("; "),
        );
    }
    // Observed times the event put too far in the future, clamped at ingest to the receive time.
    if let Some(clamp) = &finding.time_clamped {
        fields.put_owned(
            Field::TimeClamped,
            format!(
                "observed {} claimed, after receipt at {}; clamped to receipt",
                ts(clamp.claimed),
                ts(clamp.received_at)
            ),
        );
    }
    fields.put(Field::Host, r.host.as_deref());
    let subject = &finding.subject;
    if !subject.is_workload() {
        fields.put(Field::Subject, Some(subject.kind.as_str()));
        fields.put(Field::EventSource, subject.event_source.as_deref());
        fields.put(Field::SubjectUser, subject.user.as_deref());
        fields.put(Field::SubjectAccount, subject.account.as_deref());
        fields.put(Field::SubjectSourceIp, subject.source_ip.as_deref());
        fields.put(Field::SubjectAction, subject.action.as_deref());
        fields.put(Field::SubjectTarget, subject.target.as_deref());
    }
    fields.put(Field::Service, r.service_name.as_deref());
    fields.put(
        Field::TaskDefinitionFamily,
        r.task_definition_family.as_deref(),
    );
    fields.put(Field::ContainerImage, r.container.image.as_deref());
    fields.put(
        Field::ContainerImageDigest,
        r.container.image_digest.as_deref(),
    );
    let process = finding.process.as_ref();
    fields.put(
        Field::CommandLine,
        process.and_then(|p| p.command_line.as_deref()),
    );
    fields.put(Field::User, process.and_then(|p| p.user.as_deref()));
    fields.put(
        Field::ExecutableSha256,
        process.and_then(|p| p.executable_sha256.as_deref()),
    );
    fields.put(
        Field::Connection,
        finding
            .network
            .as_ref()
            .and_then(|n| n.connection.as_deref()),
    );
    if let Some(seq) = &finding.sequence {
        fields.put(Field::SequenceUid, Some(&seq.uid));
        fields.put_owned(Field::SequenceSummary, seq.summary());
        let signals = &seq.signals;
        fields.put_owned(
            Field::SequenceSignalTypes,
            signals
                .types
                .iter()
                .map(|(t, n)| format!("{t}={n}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        fields.put_owned(
            Field::SequenceSignals,
            signals
                .kept
                .iter()
                .map(|b| format!("{} (x{})", b.name, b.count))
                .collect::<Vec<_>>()
                .join("; "),
        );
        if let Some(t) = signals.first_seen {
            fields.put_owned(Field::SequenceFirstSeen, ts(t));
        }
        if let Some(t) = signals.last_seen {
            fields.put_owned(Field::SequenceLastSeen, ts(t));
        }
        fields.put_owned(
            Field::SequenceIndicators,
            seq.indicators
                .iter()
                .map(|i| format!("{}={}", i.key, i.values.join("|")))
                .collect::<Vec<_>>()
                .join("; "),
        );
        fields.put_owned(Field::SequenceActors, seq.actor_count.to_string());
        fields.put_owned(Field::SequenceEndpoints, seq.endpoints.join(","));
        fields.put_owned(
            Field::SequenceTasks,
            (seq.tasks.len() as u64 + seq.tasks_dropped).to_string(),
        );
        let (listed, named) = sequence_resource_counts(seq);
        if listed < named {
            fields.put_owned(
                Field::ResourcesTruncated,
                format!(
                    "{listed} of {named} named resources listed (Security Hub takes at most {MAX_RESOURCES}): the cluster first, then tasks, then containers"
                ),
            );
        }
    }
    if !finding.mitre.is_empty() {
        fields.put_owned(Field::Mitre, finding.mitre.join(","));
    }
    if !finding.tags.is_empty() {
        fields.put_owned(Field::Tags, finding.tags.join(","));
    }
    fields.into_map()
}

/// A resource of the record: no tags unless given.
fn resource<'a>(
    resource_type: &'static str,
    id: Text<'a>,
    partition: &'static str,
    region: &Text<'a>,
    tags: BTreeMap<String, String>,
    details: Option<AsffDetails<'a>>,
) -> AsffResource<'a> {
    AsffResource {
        resource_type: Text::constant(resource_type),
        id,
        partition: Text::constant(partition),
        region: region.clone(),
        tags,
        details,
    }
}

/// A resource's id, cleaned.
fn resource_id(id: &str) -> Text<'_> {
    cleaned(id, MAX_RESOURCE_ID, false)
}

/// A string of resource details, cleaned.
fn text(v: &str) -> Text<'_> {
    cleaned(v, MAX_GENERIC_STRING, false)
}

/// An ARN in resource details, cleaned.
fn arn(v: &str) -> Text<'_> {
    cleaned(v, MAX_RESOURCE_ID, false)
}

fn resources<'a>(
    finding: &'a Finding,
    task_info: Option<&'a TaskInfo>,
    partition: &'static str,
    region: &Text<'a>,
) -> Vec<AsffResource<'a>> {
    if !finding.subject.is_workload() {
        return subject_resources(finding, partition, region);
    }
    let r = &finding.resource;
    let mut out = Vec::with_capacity(3);

    // Enrichment may have found the task through the container's runtime id: prefer what it learned.
    let task_arn = task_info
        .map(|t| t.task_arn.as_str())
        .or(r.task_arn.as_deref());
    let cluster_arn = task_info
        .map(|t| t.cluster_arn.as_str())
        .or(r.cluster_arn.as_deref());
    let task_definition_arn: Option<Cow<'a, str>> = task_info
        .and_then(|t| t.task_definition_arn.as_deref().map(Cow::Borrowed))
        .or_else(|| {
            let (family, revision) = (
                r.task_definition_family.as_ref()?,
                r.task_definition_revision.as_ref()?,
            );
            // What comes before `:task/` (all of it when there is none), found without a
            // substring searcher.
            let task_arn = task_arn?;
            let prefix = task_arn
                .match_indices(':')
                .find(|&(at, _)| task_arn[at + 1..].starts_with("task/"))
                .map_or(task_arn, |(at, _)| &task_arn[..at]);
            let prefix = Some(prefix).filter(|p| p.starts_with("arn:"))?;
            Some(Cow::Owned(concat(&[
                prefix,
                ":task-definition/",
                family,
                ":",
                revision,
            ])))
        });
    let service_name = task_info
        .and_then(|t| t.service_name.as_deref())
        .or(r.service_name.as_deref());

    if let Some(task) = task_arn {
        let group = match task_info.and_then(|t| t.group.as_deref()) {
            Some(g) => Some(text(g)),
            None => service_name
                .map(|s| cleaned_owned(concat(&["service:", s]), MAX_GENERIC_STRING, false)),
        };
        let details = EcsTaskDetails {
            cluster_arn: cluster_arn.map(arn),
            group,
            started_by: task_info.and_then(|t| t.started_by.as_deref()).map(text),
            task_definition_arn: task_definition_arn.map(|td| cleaned_cow(td, MAX_RESOURCE_ID)),
        };
        let tags = task_info
            .map(|t| resource_tags(&t.tags))
            .unwrap_or_default();
        out.push(resource(
            "AwsEcsTask",
            resource_id(task),
            partition,
            region,
            tags,
            Some(AsffDetails::AwsEcsTask(details)),
        ));
    }
    if let Some(cluster) = cluster_arn {
        let name = cluster.rsplit('/').next().unwrap_or(cluster);
        let details = EcsClusterDetails {
            cluster_arn: arn(cluster),
            cluster_name: text(name),
        };
        out.push(resource(
            "AwsEcsCluster",
            resource_id(cluster),
            partition,
            region,
            BTreeMap::new(),
            Some(AsffDetails::AwsEcsCluster(details)),
        ));
    }
    if let Some(t) = task_info {
        if let Some(name) = &t.service_name {
            let id = t.service_arn.as_deref().unwrap_or(name);
            let details = EcsServiceDetails {
                cluster: arn(&t.cluster_arn),
                name: text(name),
                service_arn: t.service_arn.as_deref().map(arn),
                task_definition: t.task_definition_arn.as_deref().map(arn),
            };
            out.push(resource(
                "AwsEcsService",
                resource_id(id),
                partition,
                region,
                resource_tags(&t.service_tags),
                Some(AsffDetails::AwsEcsService(details)),
            ));
        }
        if let Some(td) = &t.task_definition_arn {
            let details = EcsTaskDefinitionDetails {
                container_definitions: t
                    .containers
                    .iter()
                    .take(MAX_RESOURCES)
                    .map(|c| EcsContainerDefinition {
                        image: c.image.as_deref().map(text),
                        name: text(&c.name),
                        privileged: c.privileged,
                        readonly_root_filesystem: c.readonly_root_filesystem,
                        user: c.user.as_deref().map(text),
                    })
                    .collect(),
                family: t.task_definition_family.as_deref().map(text),
                task_role_arn: t.task_role_arn.as_deref().map(arn),
            };
            out.push(resource(
                "AwsEcsTaskDefinition",
                resource_id(td),
                partition,
                region,
                BTreeMap::new(),
                Some(AsffDetails::AwsEcsTaskDefinition(details)),
            ));
        }
    }

    let c = &r.container;
    let offending = task_info.and_then(TaskInfo::offending);
    let name = offending.map(|o| o.name.as_str()).or(c.name.as_deref());
    let image = offending
        .and_then(|o| o.image.as_deref())
        .or(c.image.as_deref());
    let digest = offending
        .and_then(|o| o.image_digest.as_deref())
        .or(c.image_digest.as_deref());
    let privileged = offending.and_then(|o| o.privileged).or(c.privileged);
    let id = offending
        .and_then(|o| o.runtime_id.as_deref())
        .or(c.id.as_deref())
        .or(name)
        .or(image);
    if let Some(id) = id {
        let details = ContainerDetails {
            image_id: digest.map(text),
            image_name: image.map(text),
            name: name.map(text),
            privileged,
        };
        out.push(resource(
            "Container",
            resource_id(id),
            partition,
            region,
            BTreeMap::new(),
            Some(AsffDetails::Container(details)),
        ));
    }
    if out.is_empty() {
        // ASFF needs at least one resource; with nothing known, name the host (or say so).
        let id = r.host.as_deref().unwrap_or("unknown-workload");
        out.push(resource(
            "Other",
            resource_id(id),
            partition,
            region,
            BTreeMap::new(),
            None,
        ));
    }
    out.truncate(MAX_RESOURCES);
    out
}

/// How many resources [`sequence_resources`] lists of a sequence, and how many it names.
fn sequence_resource_counts(seq: &vigil_model::AttackSequence) -> (usize, usize) {
    let containers: usize = seq.tasks.iter().map(|t| t.containers.len()).sum::<usize>()
        + seq.unattached_containers.len();
    // With nothing else, one `Other` resource names the sequence.
    let all = (seq.clusters.len() + seq.tasks.len() + containers).max(1);
    let named = all + (seq.tasks_dropped + seq.containers_dropped) as usize;
    (all.min(MAX_RESOURCES), named)
}

/// An attack sequence's resources, within ASFF's [`MAX_RESOURCES`]: its clusters first, then its
/// tasks, then their containers (and the containers no task lists). Returns them with how many
/// were listed and how many the sequence names (tasks and containers dropped by the model's own
/// bounds included), so a truncation can be noted.
pub fn sequence_resources<'a>(
    seq: &'a vigil_model::AttackSequence,
    partition: &'static str,
    region: &Text<'a>,
) -> (Vec<AsffResource<'a>>, usize, usize) {
    let resource = |resource_type: &'static str, id: Text<'a>, details: AsffDetails<'a>| {
        resource(
            resource_type,
            id,
            partition,
            region,
            BTreeMap::new(),
            Some(details),
        )
    };
    let mut all = Vec::new();
    for c in &seq.clusters {
        let name = c.rsplit('/').next().unwrap_or(c);
        all.push(resource(
            "AwsEcsCluster",
            resource_id(c),
            AsffDetails::AwsEcsCluster(EcsClusterDetails {
                cluster_arn: arn(c),
                cluster_name: text(name),
            }),
        ));
    }
    for t in &seq.tasks {
        all.push(resource(
            "AwsEcsTask",
            resource_id(&t.task_arn),
            AsffDetails::AwsEcsTask(EcsTaskDetails {
                cluster_arn: t.cluster_arn.as_deref().map(arn),
                task_definition_arn: t.task_definition_arn.as_deref().map(arn),
                ..Default::default()
            }),
        ));
    }
    let containers = seq
        .tasks
        .iter()
        .flat_map(|t| t.containers.iter())
        .chain(&seq.unattached_containers);
    for c in containers {
        all.push(resource(
            "Container",
            resource_id(&c.uid),
            AsffDetails::Container(ContainerDetails {
                image_id: c.image_uid.as_deref().map(text),
                image_name: c.image.as_deref().map(text),
                name: c.name.as_deref().map(text),
                privileged: None,
            }),
        ));
    }
    if all.is_empty() {
        // ASFF needs a resource: the sequence names no ECS resource Vigil keeps.
        all.push(resource(
            "Other",
            cleaned_owned(
                format!("guardduty-attack-sequence/{}", seq.uid),
                MAX_RESOURCE_ID,
                false,
            ),
            AsffDetails::Other(BTreeMap::from([(
                Text::constant("SequenceUid"),
                text(&seq.uid),
            )])),
        ));
    }
    let named = all.len() + (seq.tasks_dropped + seq.containers_dropped) as usize;
    all.truncate(MAX_RESOURCES);
    let listed = all.len();
    (all, listed, named)
}

/// The resource of a finding about an account, a Kubernetes object or a SaaS identity (never a
/// container or task): an IAM user by its ARN when CloudTrail names one, otherwise `Other`, named by
/// what the finding is about, with the subject in its details.
fn subject_resources<'a>(
    finding: &'a Finding,
    partition: &'static str,
    region: &Text<'a>,
) -> Vec<AsffResource<'a>> {
    let s = &finding.subject;
    let mut other = BTreeMap::new();
    for (k, v) in [
        ("Kind", Some(s.kind.as_str())),
        ("EventSource", s.event_source.as_deref()),
        ("User", s.user.as_deref()),
        ("UserId", s.user_id.as_deref()),
        ("Account", s.account.as_deref()),
        ("SourceIp", s.source_ip.as_deref()),
        ("Action", s.action.as_deref()),
        ("Target", s.target.as_deref()),
    ] {
        if let Some(v) = v
            .map(|v| cleaned(v, MAX_OTHER_DETAIL_VALUE, false))
            .filter(|v| !v.is_empty())
        {
            other.insert(Text::constant(k), v);
        }
    }
    let iam_user = s.user_id.as_deref().and_then(|arn| {
        let (head, name) = arn.split_once(":user/")?;
        (head.starts_with("arn:") && head.contains(":iam::") && !name.is_empty())
            .then(|| (arn, name.rsplit('/').next().unwrap_or(name)))
    });
    let mut out = Vec::new();
    if s.kind == SubjectKind::Cloud
        && let Some((arn, name)) = iam_user
    {
        out.push(resource(
            "AwsIamUser",
            resource_id(arn),
            partition,
            region,
            BTreeMap::new(),
            Some(AsffDetails::AwsIamUser(IamUserDetails {
                user_name: cleaned(name, MAX_GENERIC_STRING, false),
            })),
        ));
    }
    // Named by what it is about: the Kubernetes object, else the acting user (with its account),
    // else the account, else the event source.
    let user: Option<Cow<'a, str>> = s.user_id.as_deref().map(Cow::Borrowed).or_else(|| {
        let user = s.user.as_deref()?;
        Some(match s.account.as_deref() {
            Some(a) => Cow::Owned(format!("{a}/{user}")),
            None => Cow::Borrowed(user),
        })
    });
    let id = match s.kind {
        SubjectKind::Kubernetes => s
            .target
            .as_ref()
            .map(|t| Cow::Owned(format!("k8s/{t}")))
            .or(user),
        _ => user.or_else(|| s.target.as_deref().map(Cow::Borrowed)),
    }
    .or_else(|| s.account.as_deref().map(Cow::Borrowed))
    .or_else(|| s.event_source.as_deref().map(Cow::Borrowed))
    .unwrap_or(Cow::Borrowed(s.kind.as_str()));
    out.push(resource(
        "Other",
        cleaned_cow(id, MAX_RESOURCE_ID),
        partition,
        region,
        BTreeMap::new(),
        Some(AsffDetails::Other(other)),
    ));
    out
}

/// ASFF resource tags: at most 50, keys ≤ 128 and values ≤ 256 characters, AWS-reserved keys dropped.
fn resource_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter()
        .filter(|(k, _)| !k.starts_with("aws:"))
        .take(MAX_RESOURCE_TAGS)
        .map(|(k, v)| {
            (
                clean(k, 128, false),
                clean(v, MAX_RESOURCE_TAG_VALUE, false),
            )
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn process(finding: &Finding) -> Option<AsffProcess<'_>> {
    let p = finding.process.as_ref()?;
    let proc = AsffProcess {
        name: p
            .name
            .as_deref()
            .map(|n| cleaned(n, MAX_PROCESS_NAME, false))
            .filter(|n| !n.is_empty()),
        path: p
            .executable_path
            .as_deref()
            .map(|n| cleaned(n, MAX_PROCESS_PATH, false))
            .filter(|n| !n.is_empty()),
        pid: p
            .pid
            .and_then(|v| i32::try_from(v).ok())
            .filter(|v| *v >= 0),
        parent_pid: p
            .parent_pid
            .and_then(|v| i32::try_from(v).ok())
            .filter(|v| *v >= 0),
    };
    (proc.name.is_some() || proc.path.is_some() || proc.pid.is_some()).then_some(proc)
}

fn network(finding: &Finding) -> Option<AsffNetwork<'_>> {
    let n = finding.network.as_ref()?;
    let ip = |s: &Option<String>| s.as_deref().and_then(|s| s.parse::<IpAddr>().ok());
    let (local, remote) = (ip(&n.local_ip), ip(&n.remote_ip));
    // ASFF's Source/Destination are the connection's ends: outbound goes local → remote.
    let inbound = n.direction == Some(NetworkDirection::Inbound);
    let (src, src_port, dst, dst_port) = if inbound {
        (remote, n.remote_port, local, n.local_port)
    } else {
        (local, n.local_port, remote, n.remote_port)
    };
    let v4 = |a: Option<IpAddr>| a.filter(IpAddr::is_ipv4).map(|a| Text::from(a.to_string()));
    let v6 = |a: Option<IpAddr>| a.filter(IpAddr::is_ipv6).map(|a| Text::from(a.to_string()));
    let net = AsffNetwork {
        direction: n.direction.map(|d| {
            Text::constant(if d == NetworkDirection::Inbound {
                "IN"
            } else {
                "OUT"
            })
        }),
        protocol: n
            .protocol
            .as_deref()
            .map(|p| cleaned(p, MAX_NETWORK_PROTOCOL, false))
            .filter(|p| !p.is_empty()),
        source_ip_v4: v4(src),
        source_ip_v6: v6(src),
        source_port: src_port,
        destination_ip_v4: v4(dst),
        destination_ip_v6: v6(dst),
        destination_port: dst_port,
        destination_domain: n
            .domain
            .as_deref()
            .map(|d| cleaned(d, MAX_NETWORK_DOMAIN, false))
            .filter(|d| !d.is_empty()),
    };
    (net.destination_domain.is_some()
        || net.source_ip_v4.is_some()
        || net.destination_ip_v4.is_some()
        || net.source_ip_v6.is_some()
        || net.destination_ip_v6.is_some())
    .then_some(net)
}

/// Keeps the serialized record within the 240 KB finding limit, shedding optional detail first.
fn enforce_size(record: &mut AsffFinding) -> Result<(), AsffError> {
    // Serializing every record to measure it would cost more than the rest of the mapping; the bound
    // is exact enough, as nearly every record is a few KB against a 240 KB limit.
    if size_upper_bound(record) <= MAX_FINDING_BYTES {
        return Ok(());
    }
    let size = |r: &AsffFinding| serde_json::to_vec(r).map(|v| v.len()).unwrap_or(usize::MAX);
    if size(record) <= MAX_FINDING_BYTES {
        return Ok(());
    }
    record.product_fields.retain(|k, _| {
        matches!(
            k.as_str(),
            "vigil/Source" | "vigil/Rule" | "vigil/Fingerprint" | "vigil/Count"
        )
    });
    record.resources.iter_mut().for_each(|r| r.details = None);
    let n = size(record);
    if n <= MAX_FINDING_BYTES {
        Ok(())
    } else {
        Err(AsffError::TooLarge(n))
    }
}

/// Generous fixed overhead charged per field by [`size_upper_bound`] for its key and punctuation.
const FIELD: usize = 48;

/// An upper bound of a string's serialized size: strings were cleaned of control characters, so
/// JSON escaping at most doubles them (`"` and `\\`).
fn text_bound(s: &str) -> usize {
    2 * s.len() + FIELD
}

fn opt_bound(s: &Option<Text<'_>>) -> usize {
    s.as_deref().map_or(0, text_bound)
}

/// An upper bound of a JSON value's serialized size (see [`text_bound`]).
fn value_bound(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::String(s) => text_bound(s),
        serde_json::Value::Array(items) => FIELD + items.iter().map(value_bound).sum::<usize>(),
        serde_json::Value::Object(map) => {
            FIELD
                + map
                    .iter()
                    .map(|(k, v)| text_bound(k) + value_bound(v))
                    .sum::<usize>()
        }
        _ => FIELD,
    }
}

/// An upper bound of the details' serialized size: the type key and every field, each charged
/// [`FIELD`] besides its text (booleans and absent fields too).
fn details_bound(d: &AsffDetails) -> usize {
    let fields = match d {
        AsffDetails::AwsEcsTask(t) => {
            4 * FIELD
                + opt_bound(&t.cluster_arn)
                + opt_bound(&t.group)
                + opt_bound(&t.started_by)
                + opt_bound(&t.task_definition_arn)
        }
        AsffDetails::AwsEcsCluster(c) => text_bound(&c.cluster_arn) + text_bound(&c.cluster_name),
        AsffDetails::AwsEcsService(s) => {
            text_bound(&s.cluster)
                + text_bound(&s.name)
                + opt_bound(&s.service_arn)
                + opt_bound(&s.task_definition)
                + 2 * FIELD
        }
        AsffDetails::AwsEcsTaskDefinition(t) => {
            3 * FIELD
                + opt_bound(&t.family)
                + opt_bound(&t.task_role_arn)
                + t.container_definitions
                    .iter()
                    .map(|c| {
                        5 * FIELD + text_bound(&c.name) + opt_bound(&c.image) + opt_bound(&c.user)
                    })
                    .sum::<usize>()
        }
        AsffDetails::Container(c) => {
            4 * FIELD + opt_bound(&c.image_id) + opt_bound(&c.image_name) + opt_bound(&c.name)
        }
        AsffDetails::AwsIamUser(u) => text_bound(&u.user_name),
        AsffDetails::Other(map) => map
            .iter()
            .map(|(k, v)| text_bound(k) + text_bound(v))
            .sum::<usize>(),
        AsffDetails::Json(v) => return value_bound(v),
    };
    2 * FIELD + fields
}

/// An upper bound of the record's serialized size. Strings were cleaned of control characters, so JSON
/// escaping at most doubles them (`"` and `\\`); every field is charged a generous fixed overhead for
/// its key and punctuation.
pub(crate) fn size_upper_bound(r: &AsffFinding) -> usize {
    let strings: [&str; 17] = [
        &r.schema_version,
        &r.id,
        &r.product_arn,
        &r.product_name,
        &r.company_name,
        &r.region,
        &r.generator_id,
        &r.aws_account_id,
        &r.first_observed_at,
        &r.last_observed_at,
        &r.created_at,
        &r.updated_at,
        &r.title,
        &r.description,
        &r.record_state,
        &r.severity.label,
        &r.severity.original,
    ];
    let mut total = 512 + strings.iter().map(|s| text_bound(s)).sum::<usize>();
    total += r.types.iter().map(|t| text_bound(t)).sum::<usize>();
    total += r
        .product_fields
        .iter()
        .map(|(k, v)| text_bound(k) + text_bound(v))
        .sum::<usize>();
    for res in &r.resources {
        total += 4 * FIELD
            + text_bound(&res.resource_type)
            + text_bound(&res.id)
            + text_bound(&res.partition)
            + text_bound(&res.region);
        total += res
            .tags
            .iter()
            .map(|(k, v)| text_bound(k) + text_bound(v))
            .sum::<usize>();
        total += res.details.as_ref().map_or(0, details_bound);
    }
    if let Some(p) = &r.process {
        total += 4 * FIELD + opt_bound(&p.name) + opt_bound(&p.path);
    }
    if let Some(n) = &r.network {
        total += 9 * FIELD
            + opt_bound(&n.destination_domain)
            + opt_bound(&n.direction)
            + opt_bound(&n.protocol)
            + opt_bound(&n.source_ip_v4)
            + opt_bound(&n.source_ip_v6)
            + opt_bound(&n.destination_ip_v4)
            + opt_bound(&n.destination_ip_v6);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use vigil_model::{RawEvent, Severity, Source};

    proptest! {
        #[test]
        fn decimal_is_to_string(n in prop_oneof![any::<u64>(), 0u64..1000, Just(u64::MAX)]) {
            prop_assert_eq!(decimal(n), n.to_string());
        }

        /// The direct timestamp writer and chrono agree on every instant chrono can represent,
        /// leap seconds and years beyond 9999 included (those go through chrono).
        #[test]
        fn timestamps_are_written_as_chrono_writes_them(
            secs in prop_oneof![
                -62_167_219_200i64..253_402_300_800,
                -8_334_632_851_200i64..8_210_298_412_799,
            ],
            nanos in prop_oneof![0u32..1_000_000_000, 999_000_000u32..2_000_000_000],
        ) {
            if let Some(t) = DateTime::<Utc>::from_timestamp(secs, nanos) {
                prop_assert_eq!(ts(t), t.to_rfc3339_opts(SecondsFormat::Millis, true));
            }
        }
    }

    #[test]
    fn product_field_keys_are_declared_in_the_order_of_their_names() {
        for pair in Field::ALL.windows(2) {
            assert!(
                pair[0] < pair[1] && pair[0].key() < pair[1].key(),
                "{pair:?}"
            );
        }
    }

    #[test]
    fn timestamps_at_the_edges() {
        for t in [
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
            DateTime::from_timestamp(1_700_000_000, 999_999_999).unwrap(),
            DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap(),
        ] {
            assert_eq!(ts(t), t.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
    }

    #[test]
    fn the_size_bound_is_never_below_the_real_size() {
        let now = Utc::now();
        for (title, desc) in [
            ("t", "d"),
            ("\"quoted\" \\ slashes", "é".repeat(2000).as_str()),
            ("x", &"\"".repeat(900)),
        ] {
            let mut f = Finding::new(
                Source::Falco,
                "r".into(),
                title.into(),
                Severity::from_falco_priority("Notice").unwrap(),
                now,
                RawEvent::capture("{}"),
            );
            f.description = Some(desc.to_owned());
            f.account = Some("123456789012".into());
            f.region = Some("us-east-1".into());
            f.resource.task_arn = Some("arn:aws:ecs:us-east-1:123456789012:task/c/t".into());
            f.resource.container.name = Some("\"c\"".into());
            f.tags = vec!["\\".repeat(100); 20];
            let f = f.seal();
            let record = to_asff(&f, &MappingContext { now }).unwrap();
            let actual = serde_json::to_vec(&record).unwrap().len();
            assert!(
                size_upper_bound(&record) >= actual,
                "bound {} < actual {actual}",
                size_upper_bound(&record)
            );
        }
    }
}
