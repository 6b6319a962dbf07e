//! PutEvents limits: at most 10 entries and 256 KB per request, where an entry's size is its
//! `Source`, `DetailType`, `Detail` and `Resources` in UTF-8 bytes plus 14 bytes for `Time`.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

pub use vigil_contract::SOURCE;
/// Most entries one EventBridge `PutEvents` request takes.
pub const MAX_ENTRIES_PER_CALL: usize = 10;
/// Most bytes one `PutEvents` request may carry (256 KiB), counted as in [`VigilEvent::entry_size`].
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// One event for the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VigilEvent {
    /// The EventBridge `DetailType`, one of the names in [`vigil_contract`] (e.g. `Finding Accepted`).
    pub detail_type: String,
    /// The `detail` JSON object, serialized.
    pub detail: String,
    /// The EventBridge `Resources`: ARNs the event is about (e.g. the task ARN); may be empty, then not sent.
    pub resources: Vec<String>,
}

impl VigilEvent {
    /// An event of `detail_type` whose `detail` is `detail` serialized as JSON, with no resources.
    ///
    /// Fails when `detail` does not serialize to JSON.
    pub fn new(
        detail_type: impl Into<String>,
        detail: &impl serde::Serialize,
    ) -> Result<Self, serde_json::Error> {
        Ok(VigilEvent {
            detail_type: detail_type.into(),
            detail: serde_json::to_string(detail)?,
            resources: Vec::new(),
        })
    }

    /// The size PutEvents counts against its limit.
    pub fn entry_size(&self) -> usize {
        SOURCE.len()
            + self.detail_type.len()
            + self.detail.len()
            + self.resources.iter().map(String::len).sum::<usize>()
            + 14
    }

    /// The `PutEventsRequestEntry` for bus `bus_name` (name or ARN), with [`SOURCE`] as its `Source`.
    pub fn to_entry(&self, bus_name: &str) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(bus_name)
            .source(SOURCE)
            .detail_type(&self.detail_type)
            .detail(&self.detail)
            .set_resources((!self.resources.is_empty()).then(|| self.resources.clone()))
            .build()
    }
}

/// Groups the indexes of `events` into requests within the limits, in order. Entries too large for
/// any request are returned apart.
pub fn batches(events: &[VigilEvent], indexes: &[usize]) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut oversized = Vec::new();
    let (mut current, mut bytes) = (Vec::new(), 0usize);
    for &i in indexes {
        let size = events[i].entry_size();
        if size > MAX_REQUEST_BYTES {
            oversized.push(i);
            continue;
        }
        if current.len() == MAX_ENTRIES_PER_CALL || bytes + size > MAX_REQUEST_BYTES {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(i);
        bytes += size;
    }
    if !current.is_empty() {
        out.push(current);
    }
    (out, oversized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail_len: usize) -> VigilEvent {
        VigilEvent {
            detail_type: "Finding Accepted".into(),
            detail: "x".repeat(detail_len),
            resources: vec![],
        }
    }

    #[test]
    fn ten_entries_per_call() {
        let events: Vec<_> = (0..25).map(|_| event(10)).collect();
        let idx: Vec<_> = (0..25).collect();
        let (b, over) = batches(&events, &idx);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 10, 5]);
        assert!(over.is_empty());
        assert_eq!(b.concat(), idx, "order kept");
    }

    #[test]
    fn bytes_per_call() {
        let events: Vec<_> = (0..4).map(|_| event(100 * 1024)).collect();
        let (b, _) = batches(&events, &[0, 1, 2, 3]);
        assert_eq!(b, vec![vec![0, 1], vec![2, 3]]);
        for batch in &b {
            assert!(
                batch.iter().map(|i| events[*i].entry_size()).sum::<usize>() <= MAX_REQUEST_BYTES
            );
        }
    }

    #[test]
    fn oversized_entries_are_set_apart() {
        let events = vec![event(10), event(MAX_REQUEST_BYTES), event(10)];
        let (b, over) = batches(&events, &[0, 1, 2]);
        assert_eq!(b, vec![vec![0, 2]]);
        assert_eq!(over, vec![1]);
    }
}
