//! Text hygiene for strings that come from untrusted events: control characters and ANSI escapes are
//! removed (they would corrupt logs and consoles), so are invisible formatting characters (bidi
//! overrides, zero-width characters: they make text read differently from what it is), and lengths are
//! capped on UTF-8 character boundaries.

use std::borrow::Cow;

/// `s.trim()`, answered without decoding characters when both ends are visible ASCII (the common
/// case: `str::trim` decodes a character at each end to test it for Unicode white space).
pub fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        [only] if only.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

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

/// Cuts `s` to at most `max_chars` Unicode scalar values: how AWS APIs count a string's length.
/// Their models are Smithy, whose `@length` on a string counts Unicode scalar values (not bytes,
/// not UTF-16 units); the ASFF and ECS (`StopTask` reason, tag values) docs say "characters".
pub fn truncate_chars(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((idx, _)) => &s[..idx],
        None => s,
    }
}

/// Whether [`clean`] removes `c` (or, for line and paragraph separators, replaces it): control
/// characters (C0, DEL, C1) and the invisible formatting characters that change how text reads
/// without being seen — bidi embeddings, overrides, isolates and marks (the "Trojan Source" trick:
/// `U+202E` shows `exe.txt` as `txt.exe`), zero-width spaces and joiners, word joiner and invisible
/// operators, the byte-order mark, soft hyphen, and the tag characters used to smuggle hidden ASCII.
/// `U+2028`/`U+2029` end a line in JavaScript and many log viewers, so they count as newlines.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{61c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// Removes ANSI escape sequences, control characters and invisible formatting characters (see
/// [`is_unsafe_char`]; `\n` and `\t` are kept when `keep_newlines`, other line breaks become `\n`
/// then, else a space), trims surrounding white space, and caps the result at `max_chars` characters
/// (trimmed again).
pub fn clean(s: &str, max_chars: usize, keep_newlines: bool) -> String {
    clean_cow(s, max_chars, keep_newlines).into_owned()
}

/// Like [`clean`], borrowing `s` when it needs no change (the common case: printable ASCII, no
/// surrounding spaces, within the cap), so callers that only read the result do not allocate.
///
/// The fast path is inlined where it is called (some fifty times per event); the general one is
/// kept apart, so that the call, with its register saves, is paid only by text that needs it.
#[inline]
pub fn clean_cow(s: &str, max_chars: usize, keep_newlines: bool) -> Cow<'_, str> {
    // Fast path, same result as the general one below: printable ASCII has no control characters,
    // its only white space is ' ', and one byte is one character.
    if is_printable_ascii(s) {
        let trimmed = trim_spaces(s);
        return Cow::Borrowed(trim_spaces(&trimmed[..trimmed.len().min(max_chars)]));
    }
    clean_general(s, max_chars, keep_newlines)
}

/// [`clean_cow`] of text that is not all printable ASCII.
#[inline(never)]
fn clean_general(s: &str, max_chars: usize, keep_newlines: bool) -> Cow<'_, str> {
    let needs_work = s.chars().any(is_unsafe_char) || s.trim().len() != s.len();
    if !needs_work {
        return Cow::Borrowed(truncate_chars(s, max_chars).trim_end());
    }
    // Stops once `max_chars` are kept: a 200 KB field costs no more than its cap.
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    let mut kept = 0;
    let mut chars = s.chars().peekable();
    while kept < max_chars {
        let Some(mut c) = chars.next() else { break };
        if c == '\u{1b}' {
            skip_escape_sequence(&mut chars);
            continue;
        }
        if is_unsafe_char(c) {
            match replacement(c, keep_newlines) {
                Some(r) => c = r,
                None => continue,
            }
        }
        if kept == 0 && c.is_whitespace() {
            continue;
        }
        out.push(c);
        kept += 1;
    }
    out.truncate(out.trim_end().len());
    Cow::Owned(out)
}

/// Like [`clean`] for a string the caller owns: returned as it is (no copy) when it needs no
/// change, cut in place when it only needs trimming or capping.
pub fn clean_into(mut s: String, max_chars: usize, keep_newlines: bool) -> String {
    let (start, len) = match clean_cow(&s, max_chars, keep_newlines) {
        Cow::Owned(cleaned) => return cleaned,
        Cow::Borrowed("") => (0, 0),
        // A borrowed result is a slice of `s`.
        Cow::Borrowed(kept) => (kept.as_ptr() as usize - s.as_ptr() as usize, kept.len()),
    };
    s.truncate(start + len);
    s.drain(..start);
    s
}

/// `s` without the ASCII spaces around it.
#[inline]
fn trim_spaces(s: &str) -> &str {
    let b = s.as_bytes();
    let Some(start) = b.iter().position(|&c| c != b' ') else {
        return &s[..0];
    };
    let end = b.iter().rposition(|&c| c != b' ').map_or(start, |i| i + 1);
    // Both ends sit next to a space or at an end of `s`: character boundaries.
    &s[start..end]
}

/// Whether every byte of `s` is printable ASCII (`' '` to `'~'`), checked eight bytes at a time.
#[inline]
pub fn is_printable_ascii(s: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let bytes = s.as_bytes();
    if bytes.len() < 8 {
        return bytes.iter().all(|c| (0x20..0x7f).contains(c));
    }
    let word = |w: &[u8]| u64::from_le_bytes(w.try_into().expect("eight bytes"));
    // The top bit of each byte of `w` outside the range, or of a byte above one that is.
    let unprintable = |w: u64| {
        // Some byte below 0x20: subtracting 0x20 from it borrows, and its own top bit is clear.
        let below = w.wrapping_sub(ONES * 0x20) & !w & TOPS;
        // Some byte from 0x7f up: adding 1 to 0x7f sets the top bit, which 0x80-0xff already have.
        let above = (w.wrapping_add(ONES) | w) & TOPS;
        below | above
    };
    // No early exit: most text is printable, and one test at the end is cheaper than one a word.
    let mut found = 0;
    for w in bytes.chunks_exact(8) {
        found |= unprintable(word(w));
    }
    // The last eight bytes, overlapping words already checked: the tail without a byte loop.
    found |= unprintable(word(&bytes[bytes.len() - 8..]));
    found == 0
}

/// What an unsafe character becomes: line breaks and tabs survive as white space, the rest vanish.
fn replacement(c: char, keep_newlines: bool) -> Option<char> {
    match c {
        '\n' | '\t' if keep_newlines => Some(c),
        '\u{2028}' | '\u{2029}' if keep_newlines => Some('\n'),
        '\n' | '\t' | '\r' | '\u{2028}' | '\u{2029}' => Some(' '),
        _ => None,
    }
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
        assert_eq!(clean("a    b", 3, false), "a", "trimmed after the cut too");
        assert_eq!(clean("\u{1b}[1m a\u{202e}   b", 3, false), "a");
        assert_eq!(clean("\u{9b}c1 control", 100, false), "c1 control");
        assert_eq!(clean("nul\u{0}del\u{7f}nel\u{85}", 100, false), "nuldelnel");
    }

    #[test]
    fn strips_bidi_overrides_and_invisible_characters() {
        // Trojan Source: U+202E would show this file name as "invoice_fdp.exe" reversed.
        assert_eq!(
            clean("invoice_\u{202e}fdp.exe", 100, false),
            "invoice_fdp.exe"
        );
        for c in [
            '\u{61c}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202b}',
            '\u{202c}',
            '\u{202d}',
            '\u{202e}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{2064}',
            '\u{feff}',
            '\u{ad}',
            '\u{180e}',
            '\u{e0001}',
            '\u{e0041}',
            '\u{e007f}',
            '\u{fff9}',
        ] {
            assert_eq!(
                clean(&format!("x{c}ml{c}rig"), 100, false),
                "xmlrig",
                "{c:?}"
            );
            assert_eq!(clean(&format!("{c}"), 100, true), "", "{c:?}");
            assert!(is_unsafe_char(c), "{c:?}");
        }
        // Line and paragraph separators break lines in JavaScript and log viewers.
        assert_eq!(clean("a\u{2028}b\u{2029}c", 100, false), "a b c");
        assert_eq!(clean("a\u{2028}b", 100, true), "a\nb");
        // Visible text is left alone: accents, CJK, RTL scripts, emoji.
        for ok in ["héllo", "日本語", "שלום", "مرحبا", "🦀", "x\u{fe0f}"] {
            assert_eq!(clean(ok, 100, false), ok);
        }
    }

    #[test]
    fn printable_ascii_at_every_position_of_a_word() {
        for c in (0u32..0x100).filter_map(char::from_u32) {
            for at in 0..17 {
                let mut s: String = "a".repeat(17);
                s.replace_range(at..at + 1, c.encode_utf8(&mut [0; 4]));
                let expected = s.bytes().all(|b| (0x20..0x7f).contains(&b));
                assert_eq!(is_printable_ascii(&s), expected, "{c:?} at {at}");
            }
        }
    }

    #[test]
    fn trim_matches_str_trim() {
        for s in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\u{a0}a\u{3000}",
            "\ta\n",
            "é",
            "x é\u{2028}",
            "<NA>",
        ] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(clean("ééé", 2, false), "éé");
    }

    /// `clean` without its fast path and its early stop: both must give the same output.
    fn clean_reference(s: &str, max_chars: usize, keep_newlines: bool) -> String {
        let needs_work = s.chars().any(is_unsafe_char) || s.trim().len() != s.len();
        if !needs_work {
            return truncate_chars(s, max_chars).trim_end().to_owned();
        }
        let mut out = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                skip_escape_sequence(&mut chars);
                continue;
            }
            if is_unsafe_char(c) {
                if let Some(r) = replacement(c, keep_newlines) {
                    out.push(r);
                }
                continue;
            }
            out.push(c);
        }
        truncate_chars(out.trim(), max_chars).trim_end().to_owned()
    }

    proptest! {
        #[test]
        fn fast_path_matches_reference(
            s in prop_oneof![
                any::<String>(),
                "[ -~]{0,40}",
                " {0,3}[ -~\t\u{7f}é]{0,20} {0,3}",
                "[ -~\u{1b}\u{9b}\u{202e}\u{200b}\u{2028}\u{ad}\u{e0041}\u{feff}é]{0,30}",
            ],
            cap in 0usize..48,
            keep in any::<bool>(),
        ) {
            prop_assert_eq!(clean(&s, cap, keep), clean_reference(&s, cap, keep));
            prop_assert_eq!(clean_opt(Some(&s), cap), Some(clean_reference(&s, cap, false)).filter(|c| !c.is_empty()));
        }

        #[test]
        fn clean_into_matches_clean(
            s in prop_oneof![any::<String>(), " {0,3}[ -~é]{0,20} {0,3}"],
            cap in 0usize..48,
            keep in any::<bool>(),
        ) {
            prop_assert_eq!(clean_into(s.clone(), cap, keep), clean(&s, cap, keep));
            prop_assert_eq!(is_printable_ascii(&s), s.bytes().all(|c| (0x20..0x7f).contains(&c)));
        }

        #[test]
        fn clean_never_emits_controls_and_respects_cap(s in any::<String>(), cap in 0usize..64) {
            let out = clean(&s, cap, false);
            prop_assert!(out.chars().count() <= cap);
            prop_assert_eq!(out.trim(), out.as_str());
            prop_assert!(!out.chars().any(|c| c.is_control()));
            prop_assert!(!out.chars().any(is_unsafe_char));
        }

        #[test]
        fn trim_is_str_trim(s in prop_oneof![any::<String>(), "[ -~\t\u{a0}é]{0,8}"]) {
            prop_assert_eq!(trim(&s), s.trim());
        }

        #[test]
        fn truncate_utf8_is_a_valid_prefix(s in any::<String>(), cap in 0usize..64) {
            let out = truncate_utf8(&s, cap);
            prop_assert!(out.len() <= cap);
            prop_assert!(s.starts_with(out));
        }
    }
}
