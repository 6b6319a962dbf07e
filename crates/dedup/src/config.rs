use std::time::Duration;

#[derive(Debug, Clone)]
pub struct DedupConfig {
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
