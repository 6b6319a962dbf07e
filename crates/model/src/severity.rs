//! One severity scale for every source: the ASFF labels with a 0–100 normalized score that always lies
//! inside the ASFF band of its label (INFORMATIONAL 0, LOW 1–39, MEDIUM 40–69, HIGH 70–89, CRITICAL 90–100).

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::VariantArray,
)]
/// The ASFF `Severity.Label` values, lowest first.
#[serde(rename_all = "UPPERCASE")]
#[strum(serialize_all = "UPPERCASE", ascii_case_insensitive)]
pub enum SeverityLabel {
    /// Normalized 0.
    Informational,
    /// Normalized 1–39.
    Low,
    /// Normalized 40–69.
    Medium,
    /// Normalized 70–89.
    High,
    /// Normalized 90–100.
    Critical,
}

impl SeverityLabel {
    /// Every label, lowest first.
    pub const ALL: &'static [SeverityLabel] = <Self as strum::VariantArray>::VARIANTS;

    /// The inclusive ASFF normalized band of this label.
    pub const fn band(self) -> (u8, u8) {
        match self {
            SeverityLabel::Informational => (0, 0),
            SeverityLabel::Low => (1, 39),
            SeverityLabel::Medium => (40, 69),
            SeverityLabel::High => (70, 89),
            SeverityLabel::Critical => (90, 100),
        }
    }

    /// The ASFF label (`INFORMATIONAL` … `CRITICAL`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The label whose ASFF band holds a normalized score (scores over 100 are CRITICAL).
    pub const fn from_normalized(normalized: u8) -> Self {
        match normalized {
            0 => SeverityLabel::Informational,
            1..=39 => SeverityLabel::Low,
            40..=69 => SeverityLabel::Medium,
            70..=89 => SeverityLabel::High,
            _ => SeverityLabel::Critical,
        }
    }

    /// Parses an ASFF label, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        s.trim().parse().ok()
    }
}

/// A severity in ASFF terms (`Severity.Label`, `Severity.Normalized`, `Severity.Original`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity {
    /// The ASFF label.
    pub label: SeverityLabel,
    /// 0–100, inside the ASFF band of `label`.
    pub normalized: u8,
    /// The source's own value, as the source wrote it (e.g. `Notice`, `8.0`, `2`).
    pub original: String,
}

impl Severity {
    /// Builds a severity, clamping `normalized` into the band of `label` so the pair is always consistent.
    pub fn new(label: SeverityLabel, normalized: u8, original: impl Into<String>) -> Self {
        let (lo, hi) = label.band();
        Severity {
            label,
            normalized: normalized.clamp(lo, hi),
            original: original.into(),
        }
    }

    /// Falco priorities, case-insensitive, with the `Info` alias Falco itself accepts.
    pub fn from_falco_priority(priority: &str) -> Option<Self> {
        let p = priority.trim();
        let (label, normalized) = match () {
            _ if p.eq_ignore_ascii_case("emergency") => (SeverityLabel::Critical, 100),
            _ if p.eq_ignore_ascii_case("alert") => (SeverityLabel::Critical, 95),
            _ if p.eq_ignore_ascii_case("critical") => (SeverityLabel::Critical, 90),
            _ if p.eq_ignore_ascii_case("error") => (SeverityLabel::High, 70),
            _ if p.eq_ignore_ascii_case("warning") => (SeverityLabel::Medium, 40),
            _ if p.eq_ignore_ascii_case("notice") => (SeverityLabel::Low, 20),
            _ if p.eq_ignore_ascii_case("informational") || p.eq_ignore_ascii_case("info") => {
                (SeverityLabel::Informational, 0)
            }
            _ if p.eq_ignore_ascii_case("debug") => (SeverityLabel::Informational, 0),
            _ => return None,
        };
        Some(Severity::new(label, normalized, p))
    }

    /// GuardDuty's 1.0–10.0 score: <4 LOW, <7 MEDIUM, <9 HIGH, ≥9 CRITICAL; normalized is score × 10,
    /// kept inside the label's band.
    pub fn from_guardduty(score: f64) -> Option<Self> {
        if !score.is_finite() || !(0.0..=10.0).contains(&score) {
            return None;
        }
        let label = if score < 4.0 {
            SeverityLabel::Low
        } else if score < 7.0 {
            SeverityLabel::Medium
        } else if score < 9.0 {
            SeverityLabel::High
        } else {
            SeverityLabel::Critical
        };
        let normalized = (score * 10.0).round() as u8;
        Some(Severity::new(label, normalized, format_score(score)))
    }

    /// Sysdig Secure's 0–7 scale (0 is the most severe): 0–3 HIGH, 4–5 MEDIUM, 6 LOW, 7 INFORMATIONAL.
    pub fn from_sysdig(level: u8) -> Option<Self> {
        let (label, normalized) = match level {
            0 => (SeverityLabel::High, 89),
            1 => (SeverityLabel::High, 84),
            2 => (SeverityLabel::High, 78),
            3 => (SeverityLabel::High, 72),
            4 => (SeverityLabel::Medium, 60),
            5 => (SeverityLabel::Medium, 45),
            6 => (SeverityLabel::Low, 20),
            7 => (SeverityLabel::Informational, 0),
            _ => return None,
        };
        Some(Severity::new(label, normalized, level.to_string()))
    }
}

fn format_score(score: f64) -> String {
    if score.fract() == 0.0 {
        format!("{score:.1}")
    } else {
        score.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn falco_priorities_map_case_insensitively() {
        for (p, label) in [
            ("Emergency", SeverityLabel::Critical),
            ("ALERT", SeverityLabel::Critical),
            ("critical", SeverityLabel::Critical),
            ("Error", SeverityLabel::High),
            ("warning", SeverityLabel::Medium),
            ("Notice", SeverityLabel::Low),
            ("Informational", SeverityLabel::Informational),
            ("Info", SeverityLabel::Informational),
            ("INFO", SeverityLabel::Informational),
            ("Debug", SeverityLabel::Informational),
        ] {
            assert_eq!(
                Severity::from_falco_priority(p).unwrap().label,
                label,
                "{p}"
            );
        }
        assert!(Severity::from_falco_priority("Urgent").is_none());
        assert!(Severity::from_falco_priority("").is_none());
    }

    #[test]
    fn guardduty_thresholds() {
        let label = |s| Severity::from_guardduty(s).unwrap().label;
        assert_eq!(label(1.0), SeverityLabel::Low);
        assert_eq!(label(3.9), SeverityLabel::Low);
        assert_eq!(label(4.0), SeverityLabel::Medium);
        assert_eq!(label(6.9), SeverityLabel::Medium);
        assert_eq!(label(7.0), SeverityLabel::High);
        assert_eq!(label(8.9), SeverityLabel::High);
        assert_eq!(label(9.0), SeverityLabel::Critical);
        assert_eq!(label(10.0), SeverityLabel::Critical);
        assert_eq!(Severity::from_guardduty(8.0).unwrap().normalized, 80);
        assert_eq!(Severity::from_guardduty(8.0).unwrap().original, "8.0");
        assert!(Severity::from_guardduty(f64::NAN).is_none());
        assert!(Severity::from_guardduty(11.0).is_none());
    }

    #[test]
    fn every_normalized_score_has_the_label_whose_band_holds_it() {
        for n in 0..=100u8 {
            let label = SeverityLabel::from_normalized(n);
            let (lo, hi) = label.band();
            assert!(lo <= n && n <= hi, "{n} -> {label}");
        }
        assert_eq!(SeverityLabel::from_normalized(255), SeverityLabel::Critical);
    }

    #[test]
    fn sysdig_levels() {
        let label = |s| Severity::from_sysdig(s).unwrap().label;
        assert_eq!(label(0), SeverityLabel::High);
        assert_eq!(label(3), SeverityLabel::High);
        assert_eq!(label(4), SeverityLabel::Medium);
        assert_eq!(label(5), SeverityLabel::Medium);
        assert_eq!(label(6), SeverityLabel::Low);
        assert_eq!(label(7), SeverityLabel::Informational);
        assert!(Severity::from_sysdig(8).is_none());
    }

    proptest! {
        #[test]
        fn normalized_always_inside_band(score in 0.0f64..=10.0, level in 0u8..=7) {
            for s in [Severity::from_guardduty(score).unwrap(), Severity::from_sysdig(level).unwrap()] {
                let (lo, hi) = s.label.band();
                prop_assert!(s.normalized >= lo && s.normalized <= hi);
            }
        }
    }
}
