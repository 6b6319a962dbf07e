//! Timestamps as sources write them: RFC 3339 strings (any precision) or epoch numbers whose unit
//! (seconds, milliseconds, microseconds, nanoseconds) is told by their magnitude.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};

/// Parses an RFC 3339 / ISO 8601 timestamp with an offset or `Z`.
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    let s = crate::text::trim(s);
    parse_utc_common(s).or_else(|| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// The shape nearly every source writes, `YYYY-MM-DDTHH:MM:SS[.F]Z` with at most nine fraction
/// digits, read directly (chrono's general parser costs several times as much, and every event
/// has a time or two); `None` for anything else (other separators or offsets, leap seconds,
/// longer fractions, invalid dates), which chrono then reads as before.
fn parse_utc_common(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[b.len() - 1] != b'Z'
    {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            number(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let (hour, minute, second) = (
        number(&b[11..13])?,
        number(&b[14..16])?,
        number(&b[17..19])?,
    );
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let year = i32::try_from(number(&b[0..4])?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(&b[5..7])?, number(&b[8..10])?)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time).and_utc())
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

    /// chrono's reading, which [`parse_rfc3339`] must give for every string.
    fn chrono_reading(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    proptest::proptest! {
        #[test]
        fn common_shape_reads_as_chrono_reads_it(
            (y, mo, d, h, mi, sec) in (0u32..10_000, 0u32..14, 0u32..33, 0u32..26, 0u32..62, 0u32..62),
            fraction in "(\\.[0-9]{0,11})?",
            end in "(Z|z|\\+00:00|-01:30|)",
            sep in "(T|t| )",
        ) {
            let s = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{sec:02}{fraction}{end}");
            proptest::prop_assert_eq!(parse_rfc3339(&s), chrono_reading(&s), "{}", s);
        }

        #[test]
        fn any_text_reads_as_chrono_reads_it(
            s in proptest::prop_oneof![
                proptest::prelude::any::<String>(),
                "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.Z+-]{8,16}",
            ]
        ) {
            proptest::prop_assert_eq!(parse_rfc3339(&s), chrono_reading(&s));
        }
    }

    #[test]
    fn the_common_shape_is_read_directly() {
        for s in [
            "2020-01-23T17:58:21Z",
            "2020-01-23T17:58:20.000000000Z",
            "2021-01-14T23:39:44.834631763Z",
            "2024-02-29T00:00:00.5Z",
        ] {
            assert!(parse_utc_common(s).is_some(), "{s}");
            assert_eq!(parse_utc_common(s), chrono_reading(s), "{s}");
        }
        for s in [
            "2023-02-29T00:00:00Z",
            "2020-01-23T17:58:60Z",
            "2020-01-23t17:58:20Z",
            "2020-01-23T17:58:20.1234567890Z",
            "2020-01-23T17:58:20+00:00",
        ] {
            assert!(parse_utc_common(s).is_none(), "{s}");
        }
    }

    #[test]
    fn nanosecond_rfc3339() {
        let t = parse_rfc3339("2021-01-14T23:39:44.834631763Z").unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 834_631_763);
    }
}
