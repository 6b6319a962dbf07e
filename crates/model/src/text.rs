//! Text hygiene for strings that come from untrusted events: control characters and ANSI escapes are
//! removed (they would corrupt logs and consoles), and lengths are capped on UTF-8 character boundaries.

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
    let needs_work = s.chars().any(|c| c.is_control()) || s.trim().len() != s.len();
    if !needs_work {
        return truncate_chars(s, max_chars).to_owned();
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
    truncate_chars(out.trim(), max_chars).to_owned()
}

/// Like [`clean`] for a single-line field; an empty result becomes `None`.
pub fn clean_opt(s: Option<&str>, max_chars: usize) -> Option<String> {
    s.map(|s| clean(s, max_chars, false))
        .filter(|s| !s.is_empty())
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

    proptest! {
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
