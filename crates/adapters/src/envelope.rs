//! The EventBridge envelope (`version`, `id`, `source`, `detail-type`, `account`, `region`, `time`,
//! `detail`). Its `account` and `region` are set by EventBridge itself, so they are preferred over
//! anything inside `detail`.

use crate::AdapterError;
use crate::json::Obj;
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use vigil_model::text::{clean_cow, clean_into};

/// The EventBridge event envelope's fields Vigil reads (all but `version` and `detail`), borrowed
/// from the parsed event where cleaning left them as they were.
#[derive(Debug, Clone, Default)]
pub struct Envelope<'a> {
    /// `id`: EventBridge's id of this event.
    pub id: Option<Cow<'a, str>>,
    /// Cleaned for display and logs.
    pub source: Cow<'a, str>,
    /// `detail-type`, cleaned for display and logs.
    pub detail_type: Cow<'a, str>,
    /// Exactly as received: identity is decided on these, before any cleaning or case folding.
    pub source_exact: &'a str,
    /// `detail-type` exactly as received.
    pub detail_type_exact: &'a str,
    /// `account`: the 12-digit account that put the event, stamped by EventBridge.
    pub account: Option<Cow<'a, str>>,
    /// `region`, stamped by EventBridge.
    pub region: Option<Cow<'a, str>>,
    /// `time` (RFC 3339), when valid.
    pub time: Option<DateTime<Utc>>,
}

/// `s` cleaned for a single line of at most `max_chars`, borrowed when unchanged; empty is `None`.
fn cleaned(s: Option<Cow<'_, str>>, max_chars: usize) -> Option<Cow<'_, str>> {
    let c = match s? {
        Cow::Borrowed(b) => clean_cow(b, max_chars, false),
        Cow::Owned(o) => Cow::Owned(clean_into(o, max_chars, false)),
    };
    (!c.is_empty()).then_some(c)
}

impl<'a> Envelope<'a> {
    /// An AWS service's event, by its exact source (only AWS can put `aws.*` sources on a bus, and
    /// the agent bus's rule passes none of them).
    pub fn is_aws_service(&self) -> bool {
        matches!(
            self.source_exact,
            crate::GUARDDUTY_SOURCE | crate::ECS_SOURCE
        )
    }

    /// An object is an envelope when it has `detail` and `detail-type` (or the SDK's `detailType`).
    pub fn detect(o: &Obj<'_>) -> Option<&'static str> {
        if !o.map.contains_key("detail") {
            return None;
        }
        ["detail-type", "detailType", "DetailType"]
            .into_iter()
            .find(|k| o.map.contains_key(k))
    }

    /// Reads the envelope of `o`, its detail type under `detail_type_key` (see [`Envelope::detect`]).
    ///
    /// Missing strings read as empty or `None`, a malformed `time` as `None`; fails only when a field
    /// has the wrong JSON type.
    pub fn parse(o: &Obj<'a>, detail_type_key: &str) -> Result<Self, AdapterError> {
        let source = o.str("source")?;
        let detail_type = o.str(detail_type_key)?;
        Ok(Envelope {
            source_exact: source.unwrap_or_default(),
            detail_type_exact: detail_type.unwrap_or_default(),
            id: cleaned(o.str("id")?.map(Cow::Borrowed), 128),
            source: cleaned(source.map(Cow::Borrowed), 256).unwrap_or_default(),
            detail_type: cleaned(detail_type.map(Cow::Borrowed), 256).unwrap_or_default(),
            account: cleaned(o.text("account")?, 32),
            region: cleaned(o.str("region")?.map(Cow::Borrowed), 32),
            // EventBridge always writes RFC 3339 here; a malformed value is ignored rather than fatal
            // because every source carries its own observation time.
            time: o.time("time").ok().flatten(),
        })
    }

    /// The id, owned.
    pub fn id_owned(&self) -> Option<String> {
        self.id.as_deref().map(str::to_owned)
    }

    /// The account, owned.
    pub fn account_owned(&self) -> Option<String> {
        self.account.as_deref().map(str::to_owned)
    }

    /// The region, owned.
    pub fn region_owned(&self) -> Option<String> {
        self.region.as_deref().map(str::to_owned)
    }
}
