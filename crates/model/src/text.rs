//! Text hygiene for strings that come from untrusted events: control characters and ANSI escapes are
//! removed (they would corrupt logs and consoles), and lengths are capped on UTF-8 character boundaries.

use std::borrow::Cow;

/// Cuts `s` to at most `max_bytes` bytes without splitting a UTF-8 character.
pub fn truncate_utf8(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Cuts `s` to at most `max_chars` Unicode scalar values (ASFF limits count characters).
pub fn truncate_chars(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((idx, _)) => &s[..idx],
        None => s,
    }
}

/// Removes ANSI escape sequences and control characters (keeping `\n` and `\t` when `keep_newlines`),
/// trims surrounding white space, and caps the result at `max_chars` characters.
pub fn clean(s: &str, max_chars: usize, keep_newlines: bool) -> String {
    clean_cow(s, max_chars, keep_newlines).into_owned()
}

/// Like [`clean`], borrowing `s` when it needs no change (the common case: printable ASCII, no
/// surrounding spaces, within the cap), so callers that only read the result do not allocate.
pub fn clean_cow(s: &str, max_chars: usize, keep_newlines: bool) -> Cow<'_, str> {
    let b = s.as_bytes();
    // Fast path, same result as the general one below: printable ASCII has no control characters,
    // its only white space is ' ', and one byte is one character.
    if b.iter().all(|c| (0x20..0x7f).contains(c)) {
        let trimmed = s.trim_matches(' ');
        return Cow::Borrowed(&trimmed[..trimmed.len().min(max_chars)]);
    }
    let needs_work = s.chars().any(|c| c.is_control()) || s.trim().len() != s.len();
    if !needs_work {
        return Cow::Borrowed(truncate_chars(s, max_chars));
    }
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            skip_escape_sequence(&mut chars);
            continue;
        }
        if c.is_control() {
            if keep_newlines && (c == '\n' || c == '\t') {
                out.push(c);
            } else if c == '\n' || c == '\t' || c == '\r' {
                out.push(' ');
            }
            continue;
        }
        out.push(c);
    }
    Cow::Owned(truncate_chars(out.trim(), max_chars).to_owned())
}

/// Like [`clean`] for a single-line field; an empty result becomes `None`.
pub fn clean_opt(s: Option<&str>, max_chars: usize) -> Option<String> {
    let cleaned = clean_cow(s?, max_chars, false);
    (!cleaned.is_empty()).then(|| cleaned.into_owned())
}

/// Skips one ANSI escape: CSI (`ESC [ … final`), OSC (`ESC ] … BEL|ESC \`) or a two-character escape.
fn skip_escape_sequence(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.peek() {
        Some('[') => {
            chars.next();
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        }
        Some(']') => {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '\u{07}' {
                    break;
                }
                if c == '\u{1b}' {
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                    }
                    break;
                }
            }
        }
        Some(_) => {
            chars.next();
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strips_ansi_and_controls() {
        assert_eq!(
            clean("\u{1b}[31mred\u{1b}[0m text\u{7}", 100, false),
            "red text"
        );
        assert_eq!(clean("a\nb\tc\rd", 100, false), "a b c d");
        assert_eq!(clean("a\nb", 100, true), "a\nb");
        assert_eq!(clean("\u{1b}]0;title\u{7}after", 100, false), "after");
        assert_eq!(clean("  padded  ", 100, false), "padded");
        assert_eq!(clean("\u{9b}c1 control", 100, false), "c1 control");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(clean("ééé", 2, false), "éé");
    }

    /// `clean` as it was before its fast path: the fast path must give the same output.
    fn clean_reference(s: &str, max_chars: usize, keep_newlines: bool) -> String {
        let needs_work = s.chars().any(|c| c.is_control()) || s.trim().len() != s.len();
        if !needs_work {
            return truncate_chars(s, max_chars).to_owned();
        }
        let mut out = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                skip_escape_sequence(&mut chars);
                continue;
            }
            if c.is_control() {
                if keep_newlines && (c == '\n' || c == '\t') {
                    out.push(c);
                } else if c == '\n' || c == '\t' || c == '\r' {
                    out.push(' ');
                }
                continue;
            }
            out.push(c);
        }
        truncate_chars(out.trim(), max_chars).to_owned()
    }

    proptest! {
        #[test]
        fn fast_path_matches_reference(
            s in prop_oneof![any::<String>(), "[ -~]{0,40}", " {0,3}[ -~\t\u{7f}é]{0,20} {0,3}"],
            cap in 0usize..48,
            keep in any::<bool>(),
        ) {
            prop_assert_eq!(clean(&s, cap, keep), clean_reference(&s, cap, keep));
            prop_assert_eq!(clean_opt(Some(&s), cap), Some(clean_reference(&s, cap, false)).filter(|c| !c.is_empty()));
        }

        #[test]
        fn clean_never_emits_controls_and_respects_cap(s in any::<String>(), cap in 0usize..64) {
            let out = clean(&s, cap, false);
            prop_assert!(out.chars().count() <= cap);
            prop_assert!(!out.chars().any(|c| c.is_control()));
        }

        #[test]
        fn truncate_utf8_is_a_valid_prefix(s in any::<String>(), cap in 0usize..64) {
            let out = truncate_utf8(&s, cap);
            prop_assert!(out.len() <= cap);
            prop_assert!(s.starts_with(out));
        }
    }
}
