//! Timestamps as sources write them: RFC 3339 strings (any precision) or epoch numbers whose unit
//! (seconds, milliseconds, microseconds, nanoseconds) is told by their magnitude.

use chrono::{DateTime, TimeZone, Utc};

/// Parses an RFC 3339 / ISO 8601 timestamp with an offset or `Z`.
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(crate::text::trim(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Interprets an epoch number by magnitude. Accepts only plausible instants (1970 to 2200).
/// The integer and fractional parts are scaled separately so that `1579802254.402` seconds stays
/// exactly `.402` (GuardDuty writes fractional epoch seconds).
pub fn from_epoch(value: f64) -> Option<DateTime<Utc>> {
    if !value.is_finite() || !(0.0..1e19).contains(&value) {
        return None;
    }
    let whole = value.trunc();
    let frac = value - whole;
    let whole = whole as i128;
    let unit_ns: i128 = if whole >= 100_000_000_000_000_000 {
        1
    } else if whole >= 100_000_000_000_000 {
        1_000
    } else if whole >= 100_000_000_000 {
        1_000_000
    } else {
        1_000_000_000
    };
    // Round the fraction to microseconds: f64 cannot carry more than that for current epochs.
    let frac_ns = ((frac * unit_ns as f64) / 1_000.0).round() as i128 * 1_000;
    let nanos = whole * unit_ns + frac_ns;
    if nanos > 7_260_000_000_000_000_000 {
        return None;
    }
    Some(Utc.timestamp_nanos(i64::try_from(nanos).ok()?))
}

/// Interprets an integer epoch exactly (nanosecond integers exceed f64's 53-bit precision).
pub fn from_epoch_int(value: i128) -> Option<DateTime<Utc>> {
    if value < 0 {
        return None;
    }
    let nanos: i128 = if value >= 100_000_000_000_000_000 {
        value
    } else if value >= 100_000_000_000_000 {
        value * 1_000
    } else if value >= 100_000_000_000 {
        value * 1_000_000
    } else {
        value * 1_000_000_000
    };
    if nanos > 7_260_000_000_000_000_000 {
        return None;
    }
    Some(Utc.timestamp_nanos(i64::try_from(nanos).ok()?))
}

/// Accepts either form from a JSON value: a string (RFC 3339, or digits) or a number.
pub fn from_json(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    match value {
        serde_json::Value::String(s) => from_json_str(s),
        serde_json::Value::Number(n) => from_json_number(n),
        _ => None,
    }
}

/// [`from_json`] of a JSON string: RFC 3339, or an epoch written in digits.
pub fn from_json_str(s: &str) -> Option<DateTime<Utc>> {
    parse_rfc3339(s).or_else(|| {
        let s = s.trim();
        s.parse::<i128>().ok().map_or_else(
            || s.parse::<f64>().ok().and_then(from_epoch),
            from_epoch_int,
        )
    })
}

/// [`from_json`] of a JSON number: an epoch, integers exactly.
pub fn from_json_number(n: &serde_json::Number) -> Option<DateTime<Utc>> {
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => from_epoch_int(i128::from(u)),
        (None, Some(i)) => from_epoch_int(i128::from(i)),
        _ => n.as_f64().and_then(from_epoch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_units_by_magnitude() {
        let expected = parse_rfc3339("2020-01-23T17:57:34.402Z").unwrap();
        assert_eq!(from_epoch(1_579_802_254_402.0), Some(expected));
        assert_eq!(from_epoch(1_579_802_254_402_000.0), Some(expected));
        assert_eq!(from_epoch(1_579_802_254.402), Some(expected));
        assert_eq!(
            from_json(&serde_json::json!(1579802254402_u64)),
            Some(expected)
        );
        assert_eq!(
            from_json(&serde_json::json!("2020-01-23T17:57:34.402Z")),
            Some(expected)
        );
        assert_eq!(
            from_json(&serde_json::json!("1579802254402")),
            Some(expected)
        );
        assert!(from_epoch(-1.0).is_none());
        assert!(from_epoch(f64::INFINITY).is_none());
        assert!(from_json(&serde_json::json!(true)).is_none());
        let ns = from_json(&serde_json::json!(1_579_802_300_123_456_789_u64)).unwrap();
        assert_eq!(ns.timestamp_subsec_nanos(), 123_456_789);
        assert!(from_epoch_int(i128::from(u64::MAX)).is_none());
    }

    #[test]
    fn nanosecond_rfc3339() {
        let t = parse_rfc3339("2021-01-14T23:39:44.834631763Z").unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 834_631_763);
    }
}
