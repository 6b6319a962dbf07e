//! The EventBridge envelope (`version`, `id`, `source`, `detail-type`, `account`, `region`, `time`,
//! `detail`). Its `account` and `region` are set by EventBridge itself, so they are preferred over
//! anything inside `detail`.

use crate::AdapterError;
use crate::json::Obj;
use chrono::{DateTime, Utc};
use vigil_model::text::clean_opt;

/// The EventBridge event envelope's fields Vigil reads (all but `version` and `detail`).
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// `id`: EventBridge's id of this event.
    pub id: Option<String>,
    /// Cleaned for display and logs.
    pub source: String,
    /// `detail-type`, cleaned for display and logs.
    pub detail_type: String,
    /// Exactly as received: identity is decided on these, before any cleaning or case folding.
    pub source_exact: String,
    /// `detail-type` exactly as received.
    pub detail_type_exact: String,
    /// `account`: the 12-digit account that put the event, stamped by EventBridge.
    pub account: Option<String>,
    /// `region`, stamped by EventBridge.
    pub region: Option<String>,
    /// `time` (RFC 3339), when valid.
    pub time: Option<DateTime<Utc>>,
}

impl Envelope {
    /// An AWS service's event, by its exact source (only AWS can put `aws.*` sources on a bus, and
    /// the agent bus's rule passes none of them).
    pub fn is_aws_service(&self) -> bool {
        matches!(
            self.source_exact.as_str(),
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
    pub fn parse(o: &Obj<'_>, detail_type_key: &str) -> Result<Self, AdapterError> {
        Ok(Envelope {
            source_exact: o.str("source")?.unwrap_or_default().to_owned(),
            detail_type_exact: o.str(detail_type_key)?.unwrap_or_default().to_owned(),
            id: clean_opt(o.str("id")?, 128),
            source: clean_opt(o.str("source")?, 256).unwrap_or_default(),
            detail_type: clean_opt(o.str(detail_type_key)?, 256).unwrap_or_default(),
            account: clean_opt(o.text("account")?.as_deref(), 32),
            region: clean_opt(o.str("region")?, 32),
            // EventBridge always writes RFC 3339 here; a malformed value is ignored rather than fatal
            // because every source carries its own observation time.
            time: o.time("time").ok().flatten(),
        })
    }
}
