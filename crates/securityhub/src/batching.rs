//! BatchImportFindings limits: at most 100 findings and 6 MB of JSON per request. A finding's size
//! is its serialized ASFF JSON (`serde_json::to_vec`); a request adds the `{"Findings":[…]}` envelope
//! and one comma between findings.

use vigil_asff::AsffFinding;

/// Most findings one `BatchImportFindings` request takes.
pub const MAX_FINDINGS_PER_CALL: usize = 100;
/// Most bytes of JSON one `BatchImportFindings` request may carry (6 MiB), counted as in [`request_size`].
pub const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;
/// `{"Findings":[]}`
const ENVELOPE_BYTES: usize = 15;

/// The serialized size of one finding.
pub fn finding_size(f: &AsffFinding) -> usize {
    serde_json::to_vec(f).map(|v| v.len()).unwrap_or(usize::MAX)
}

/// The request size of findings of these sizes.
pub fn request_size(sizes: impl IntoIterator<Item = usize>) -> usize {
    let (n, sum) = sizes
        .into_iter()
        .fold((0usize, 0usize), |(n, s), x| (n + 1, s.saturating_add(x)));
    ENVELOPE_BYTES + sum + n.saturating_sub(1)
}

/// Groups `indexes` (into `sizes`, one per finding) into requests within the limits, keeping their
/// order. Findings too large for any request are returned apart.
pub fn batches(sizes: &[usize], indexes: &[usize]) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut oversized = Vec::new();
    let (mut current, mut bytes) = (Vec::new(), ENVELOPE_BYTES);
    for &i in indexes {
        let size = sizes[i];
        if request_size([size]) > MAX_REQUEST_BYTES {
            oversized.push(i);
            continue;
        }
        let added = size + usize::from(!current.is_empty());
        if current.len() == MAX_FINDINGS_PER_CALL || bytes + added > MAX_REQUEST_BYTES {
            out.push(std::mem::take(&mut current));
            bytes = ENVELOPE_BYTES;
        }
        bytes += size + usize::from(!current.is_empty());
        current.push(i);
    }
    if !current.is_empty() {
        out.push(current);
    }
    (out, oversized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hundred_findings_per_call_in_order() {
        let sizes = vec![1000; 250];
        let idx: Vec<_> = (0..250).collect();
        let (b, over) = batches(&sizes, &idx);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [100, 100, 50]);
        assert!(over.is_empty());
        assert_eq!(b.concat(), idx, "order kept");
    }

    #[test]
    fn six_megabytes_per_call() {
        // 240 KB findings (Security Hub's per-finding maximum): 25 fit in 6 MB, 26 do not.
        let sizes = vec![240 * 1024; 60];
        let idx: Vec<_> = (0..60).collect();
        let (b, _) = batches(&sizes, &idx);
        assert!(b.len() >= 3);
        for batch in &b {
            let bytes = request_size(batch.iter().map(|&i| sizes[i]));
            assert!(bytes <= MAX_REQUEST_BYTES, "{bytes}");
        }
        assert!(b[0].len() < 26);
        assert_eq!(b.concat(), idx);
    }

    #[test]
    fn the_limit_is_exact() {
        // Two findings filling the request exactly (envelope and one comma included) share it.
        let half = (MAX_REQUEST_BYTES - ENVELOPE_BYTES - 1) / 2;
        let (b, _) = batches(&[half, half, 1], &[0, 1, 2]);
        assert_eq!(b, vec![vec![0, 1], vec![2]]);
    }

    #[test]
    fn only_the_given_indexes_are_batched() {
        let (b, _) = batches(&[10; 10], &[7, 2, 9]);
        assert_eq!(b, vec![vec![7, 2, 9]]);
    }

    #[test]
    fn oversized_findings_are_set_apart() {
        let (b, over) = batches(&[10, MAX_REQUEST_BYTES, 10], &[0, 1, 2]);
        assert_eq!(b, vec![vec![0, 2]]);
        assert_eq!(over, vec![1]);
    }

    #[test]
    fn sizes_are_serialized_json() {
        let json = serde_json::json!({
            "SchemaVersion": "2018-10-08", "Id": "x", "ProductArn": "p", "ProductName": "Vigil",
            "CompanyName": "Vigil", "Region": "us-east-1", "GeneratorId": "g", "AwsAccountId": "123456789012",
            "Types": ["t"], "FirstObservedAt": "a", "LastObservedAt": "a", "CreatedAt": "a", "UpdatedAt": "a",
            "Severity": { "Label": "LOW", "Normalized": 1, "Original": "LOW" }, "Title": "t", "Description": "d",
            "ProductFields": {}, "Resources": [], "RecordState": "ACTIVE"
        });
        let f: AsffFinding = serde_json::from_value(json).unwrap();
        assert_eq!(finding_size(&f), serde_json::to_vec(&f).unwrap().len());
    }
}
