//! Turning attacker-controlled bytes into text that is safe inside one log line.
//!
//! A user name may hold anything: CR/LF to start a forged line, ESC sequences for a terminal, bidi
//! controls to mislead a reader, invalid UTF-8, megabytes of padding. It is still logged (the
//! attempt must count), but escaped, folded and capped, so that the line stays one line and the
//! address that follows it is the last thing on it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters (or escapes) of a user name kept before it is cut. WordPress logins are at most
/// 60 characters and e-mail logins 100; anything longer is padding.
pub const MAX_USER_CHARS: usize = 128;

/// Marks a name that was cut at [`MAX_USER_CHARS`].
pub const TRUNCATION_MARK: &str = "...";

/// Characters that can start or shape markup: escaped as `\xHH` so that a log file a browser (or
/// a log viewer that pastes lines into a page) shows as HTML can never hold a tag, an entity or
/// a quote that ends an attribute. `<` and `>` open and close tags, `&` starts an entity, `"` and
/// `'` end attribute values.
pub const MARKUP_CHARS: &[char] = &['<', '>', '&', '"', '\''];

/// Escapes, folds and caps an untrusted user name.
///
/// - `\` becomes `\\`, so that every escape below is unambiguous;
/// - the [`MARKUP_CHARS`] `<`, `>`, `&`, `"` and `'` become `\x3c`, `\x3e`, `\x26`, `\x22`, `\x27`;
/// - C0 controls (CR, LF, NUL, ESC, …), DEL and bytes that are not UTF-8 become `\xHH`;
/// - C1 controls, the Unicode line and paragraph separators, and invisible format characters
///   (bidi overrides, zero-width characters, BOM) become `\uHHHH`;
/// - runs of other white space (space, tab, no-break and wide spaces) fold into one space, and
///   white space at either end is dropped;
/// - after [`MAX_USER_CHARS`] characters or escapes the rest is replaced by `...`.
pub fn sanitize_user(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_USER_CHARS * 2));
    let mut units = 0usize;
    let mut space_pending = false;
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_foldable_space(c) {
                space_pending = units > 0;
                continue;
            }
            if !push_unit(&mut out, &mut units, &mut space_pending, |o| escape_char(o, c)) {
                return out;
            }
        }
        for &b in chunk.invalid() {
            if !push_unit(&mut out, &mut units, &mut space_pending, |o| {
                let _ = write!(o, "\\x{b:02x}");
            }) {
                return out;
            }
        }
    }
    out
}

/// [`sanitize_user`] without a copy when the name needs no change: printable ASCII without white
/// space, backslashes or markup characters, within the cap (the common case, on the request path).
pub fn sanitize_user_cow(raw: &[u8]) -> Cow<'_, str> {
    if raw.len() <= MAX_USER_CHARS
        && raw.iter().all(|&b| b.is_ascii_graphic() && b != b'\\' && !MARKUP_CHARS.contains(&char::from(b)))
    {
        if let Ok(s) = std::str::from_utf8(raw) {
            return Cow::Borrowed(s);
        }
    }
    Cow::Owned(sanitize_user(raw))
}

/// Appends one unit (a character or an escape); false once the cap is reached.
fn push_unit(out: &mut String, units: &mut usize, space_pending: &mut bool, push: impl FnOnce(&mut String)) -> bool {
    let needed = if *space_pending { 2 } else { 1 };
    if *units + needed > MAX_USER_CHARS {
        out.push_str(TRUNCATION_MARK);
        return false;
    }
    if *space_pending {
        out.push(' ');
        *space_pending = false;
        *units += 1;
    }
    push(out);
    *units += 1;
    true
}

fn is_foldable_space(c: char) -> bool {
    // Line breaks are white space too, but they are escaped (they are evidence of an attack).
    c.is_whitespace() && !matches!(c, '\n' | '\r' | '\x0b' | '\x0c' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{80}'..='\u{9f}'
        | '\u{ad}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}')
}

fn escape_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        c if (c as u32) < 0x20 || c == '\x7f' || MARKUP_CHARS.contains(&c) => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if is_invisible_format(c) => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

/// Why a site host cannot be used in the syslog ident.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentHostError {
    #[error("the site host is longer than 253 characters")]
    TooLong,
    #[error("the site host '{0}' may only hold letters, digits, '.', '-', ':' and an IPv6 literal in brackets")]
    BadCharacter(String),
}

/// Checks the site host that goes into the ident `wordpress(<host>)`.
///
/// It comes from the site's configured URL, never from a request header; still, it must not be
/// able to close the parenthesis or add a space, which would shift what the filter reads. Nor may
/// it hold a `:`: syslog daemons end the tag at the first colon, which would cut the ident in two.
/// So a port is dropped (`example.com:8080` gives `example.com`), and an IPv6 literal, which
/// cannot be written without colons, gives the bare ident `wordpress` (an empty host).
/// Returned in lower case.
pub fn sanitize_ident_host(host: &str) -> Result<String, IdentHostError> {
    if host.len() > 253 {
        return Err(IdentHostError::TooLong);
    }
    let ok = host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    if !ok {
        return Err(IdentHostError::BadCharacter(host.escape_default().to_string()));
    }
    if host.starts_with('[') {
        return Ok(String::new());
    }
    let name = match host.split_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return Ok(String::new()),
        None => host,
    };
    if name.contains(['[', ']']) {
        return Err(IdentHostError::BadCharacter(host.escape_default().to_string()));
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_unchanged() {
        assert_eq!(sanitize_user(b"admin"), "admin");
        assert_eq!(sanitize_user("j\u{f6}rg".as_bytes()), "j\u{f6}rg");
        assert_eq!(sanitize_user(b"user@example.com"), "user@example.com");
    }

    #[test]
    fn line_breaks_and_controls_are_escaped() {
        assert_eq!(sanitize_user(b"a\r\nb"), "a\\x0d\\x0ab");
        assert_eq!(sanitize_user(b"\x1b[31mred"), "\\x1b[31mred");
        assert_eq!(sanitize_user(b"nul\0x"), "nul\\x00x");
        assert_eq!(sanitize_user("a\u{2028}b\u{85}c\u{202e}d".as_bytes()), "a\\u2028b\\u0085c\\u202ed");
        assert_eq!(sanitize_user(b"back\\slash"), "back\\\\slash");
    }

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            sanitize_user(b"<script>alert('x')</script>"),
            "\\x3cscript\\x3ealert(\\x27x\\x27)\\x3c/script\\x3e"
        );
        assert_eq!(sanitize_user(b"a&amp;\"b"), "a\\x26amp;\\x22b");
        for &c in MARKUP_CHARS {
            let raw = format!("x{c}y");
            let want = format!("x\\x{:02x}y", c as u32);
            assert_eq!(sanitize_user(raw.as_bytes()), want);
            assert_eq!(sanitize_user_cow(raw.as_bytes()), want);
        }
    }

    #[test]
    fn invalid_utf8_is_escaped_bytewise() {
        assert_eq!(sanitize_user(b"ab\xff\xfecd"), "ab\\xff\\xfecd");
        assert_eq!(sanitize_user(b"\xe2\x80"), "\\xe2\\x80");
    }

    #[test]
    fn white_space_folds() {
        assert_eq!(sanitize_user(b"  a \t\t b  "), "a b");
        assert_eq!(sanitize_user("a\u{a0}\u{3000}b".as_bytes()), "a b");
        assert_eq!(sanitize_user(b" \t "), "");
    }

    #[test]
    fn long_names_are_capped_on_a_character_boundary() {
        let long = "\u{e9}".repeat(1000);
        let out = sanitize_user(long.as_bytes());
        assert!(out.ends_with(TRUNCATION_MARK));
        assert_eq!(out.chars().count(), MAX_USER_CHARS + TRUNCATION_MARK.len());
        let escapes = sanitize_user(&[b'\n'; 1000]);
        assert_eq!(escapes, format!("{}{}", "\\x0a".repeat(MAX_USER_CHARS), TRUNCATION_MARK));
        assert_eq!(sanitize_user(&[b'x'; MAX_USER_CHARS]), "x".repeat(MAX_USER_CHARS));
    }

    #[test]
    fn ident_host() {
        assert_eq!(sanitize_ident_host("Example.COM").unwrap(), "example.com");
        assert_eq!(sanitize_ident_host("Example.com:8080").unwrap(), "example.com");
        assert_eq!(sanitize_ident_host("[2001:db8::1]:8080").unwrap(), "");
        assert_eq!(sanitize_ident_host("[2001:db8::1]").unwrap(), "");
        assert_eq!(sanitize_ident_host("2001:db8::1").unwrap(), "");
        assert_eq!(sanitize_ident_host("").unwrap(), "");
        for bad in ["a b", "x)y", "evil\n", "h\u{e9}", "a]b"] {
            assert!(sanitize_ident_host(bad).is_err(), "accepted {bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn output_is_one_printable_line(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let out = sanitize_user(&raw);
            proptest::prop_assert!(!out.chars().any(|c| c.is_control() || is_invisible_format(c)));
            proptest::prop_assert!(!out.starts_with(' ') && !out.ends_with(' '));
            // An escape (`\\uHHHH` at most) stands for one character.
            proptest::prop_assert!(out.len() <= MAX_USER_CHARS * 6 + TRUNCATION_MARK.len());
        }

        #[test]
        fn the_shortcut_changes_nothing(
            raw in proptest::collection::vec(proptest::sample::select(b"ab Z9\\\t\x7f~!<>&'\"".to_vec()), 0..140),
            any in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            proptest::prop_assert_eq!(sanitize_user_cow(&raw), sanitize_user(&raw));
            proptest::prop_assert_eq!(sanitize_user_cow(&any), sanitize_user(&any));
        }
    }
}
