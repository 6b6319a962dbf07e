//! The dedup store's windows and leases.

use std::time::Duration;

/// How the dedup store remembers fingerprints and when it lets a repeat through. Durations are
/// stored as whole seconds (`as_secs`): the record's TTL and window buckets are Unix epoch seconds.
#[derive(Debug, Clone)]
pub struct DedupConfig {
    /// The shared DynamoDB table (`pk`/`sk` strings, TTL on `expires_at`).
    pub table_name: String,
    /// How long a fingerprint is remembered after its last occurrence (the record's TTL).
    pub window: Duration,
    /// How long an `accepted` record may wait for Security Hub before a repeat is let through again,
    /// so a failed enrichment can never swallow a finding.
    pub lease: Duration,
    /// Repeats of a forwarded finding reach Security Hub (as count updates) at most once per interval.
    pub update_interval: Duration,
    /// Event ids remembered per fingerprint, to refuse redeliveries: two generations of this many
    /// 8-byte digests, so at least the last this many ids and at most twice as many. Also the most
    /// occurrences one write counts. 20 keeps the item under 1 KB (see `tests/item_size.rs`).
    pub remembered_event_ids: usize,
}

impl DedupConfig {
    /// The deployed defaults for `table_name`: a 24-hour window, a 120-second lease, a 15-minute
    /// update interval and 20 remembered event ids.
    pub fn new(table_name: impl Into<String>) -> Self {
        DedupConfig {
            table_name: table_name.into(),
            window: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(120),
            update_interval: Duration::from_secs(15 * 60),
            remembered_event_ids: 20,
        }
    }
}
