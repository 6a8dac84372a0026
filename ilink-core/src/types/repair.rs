//! Decoding response bodies as leniently as the official client does.
//!
//! The official client is JavaScript: `JSON.parse` keeps an unpaired UTF-16
//! surrogate escape (`"\ud800"`, what a client produces when it cuts an emoji
//! in half), and the body is read as text with invalid UTF-8 replaced. serde
//! refuses both, so the raw bytes are repaired before parsing: every unpaired
//! surrogate escape and every other invalid escape inside a string becomes
//! U+FFFD, and so does every invalid UTF-8 sequence. A raw control character
//! inside a string (a NUL byte, a tab), which JSON forbids and `JSON.parse`
//! refuses with the whole body, is written as its `\u00XX` escape instead:
//! the message keeps the character, and one bad message no longer costs
//! its batch.
//!
//! ```
//! use ilink_core::types::repair::{from_slice_lenient, repair_escapes};
//! assert_eq!(&*repair_escapes(br#""a\ud800b""#), "\"a\u{fffd}b\"".as_bytes());
//! // A valid pair is kept as it is.
//! assert_eq!(&*repair_escapes(br#""\ud83d\ude00""#), br#""\ud83d\ude00""#);
//! let text: String = from_slice_lenient(br#""cut \ud83d""#).unwrap();
//! assert_eq!(text, "cut \u{fffd}");
//! ```

use std::borrow::Cow;

use serde::de::DeserializeOwned;

/// U+FFFD REPLACEMENT CHARACTER in UTF-8.
const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

/// Replaces unpaired surrogate escapes and other invalid escapes with U+FFFD.
///
/// Borrows the input when nothing needs repair, which is the normal case: the
/// cost is then one `memchr` pass over the backslashes of the body. Valid
/// escapes, including surrogate pairs, are left untouched, so a body that
/// serde accepts comes back unchanged.
pub fn repair_escapes(body: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    // `body[..copied]` is already in `out`.
    let mut copied = 0;
    let mut at = 0;
    while let Some(offset) = memchr::memchr(b'\\', &body[at..]) {
        let start = at + offset;
        let escape = escape_at(body, start);
        if !escape.valid {
            let out = out.get_or_insert_with(|| Vec::with_capacity(body.len()));
            out.extend_from_slice(&body[copied..start]);
            out.extend_from_slice(REPLACEMENT);
            copied = start + escape.len;
        }
        at = start + escape.len;
    }
    match out {
        None => Cow::Borrowed(body),
        Some(mut out) => {
            out.extend_from_slice(&body[copied..]);
            Cow::Owned(out)
        }
    }
}

/// Parses JSON after [`repair_escapes`]; a body that is not UTF-8 is read with
/// invalid sequences replaced, as the official client reads it.
///
/// The UTF-8 repair only runs after a failed parse, since serde checks UTF-8
/// itself: a valid body costs one parse.
pub fn from_slice_lenient<T: DeserializeOwned>(body: &[u8]) -> serde_json::Result<T> {
    let escaped = repair_escapes(body);
    let err = match serde_json::from_slice(&escaped) {
        Err(err) => err,
        ok => return ok,
    };
    // The repairs below only run after a failed parse: serde checks UTF-8
    // and control characters itself, so a valid body costs one parse.
    let text = repaired_text(body);
    if text.as_bytes() == &*escaped {
        return Err(err);
    }
    serde_json::from_str(&text).map_err(|_| err)
}

/// The body as [`from_slice_lenient`] parses it: escapes repaired, invalid
/// UTF-8 replaced, raw control characters inside strings escaped.
pub fn repaired_text(body: &[u8]) -> String {
    let body = repair_escapes(body);
    let text = String::from_utf8_lossy(&body);
    escape_controls_in_strings(&text).into_owned()
}

/// Writes each control character (U+0000 to U+001F) that stands raw inside
/// a JSON string as its `\u00XX` escape, which is what JSON requires there;
/// the same characters between tokens (whitespace) are left alone. Borrows
/// `text` when there is none.
pub fn escape_controls_in_strings(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => in_string = !in_string,
            // An escape's next byte is never a string's end.
            b'\\' if in_string => i += 1,
            c if in_string && c < 0x20 => {
                let out = out.get_or_insert_with(|| String::with_capacity(text.len() + 16));
                out.push_str(&text[copied..i]);
                out.push_str(&format!("\\u{c:04x}"));
                copied = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

/// One escape sequence: how many bytes it spans and whether serde accepts it.
struct Escape {
    len: usize,
    valid: bool,
}

/// The escape sequence starting at `body[start]`, which is a backslash.
fn escape_at(body: &[u8], start: usize) -> Escape {
    let invalid = |len| Escape { len, valid: false };
    match body.get(start + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Escape {
            len: 2,
            valid: true,
        },
        Some(b'u') => match hex4(body, start + 2) {
            Err(digits) => invalid(2 + digits),
            Ok(0xD800..=0xDBFF) => {
                let paired = body.get(start + 6..start + 8) == Some(b"\\u".as_slice())
                    && matches!(hex4(body, start + 8), Ok(0xDC00..=0xDFFF));
                if paired {
                    Escape {
                        len: 12,
                        valid: true,
                    }
                } else {
                    invalid(6)
                }
            }
            Ok(0xDC00..=0xDFFF) => invalid(6),
            Ok(_) => Escape {
                len: 6,
                valid: true,
            },
        },
        // Only the backslash goes when a multi-byte character follows, so the
        // character itself survives.
        Some(c) if c.is_ascii() => invalid(2),
        _ => invalid(1),
    }
}

/// The four hex digits at `body[from..]`, or how many hex digits there are
/// before the first byte that is not one.
fn hex4(body: &[u8], from: usize) -> Result<u16, usize> {
    let mut value = 0u16;
    for i in 0..4 {
        let digit = body
            .get(from + i)
            .and_then(|b| char::from(*b).to_digit(16))
            .ok_or(i)?;
        value = value << 4 | digit as u16;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn repaired(s: &str) -> String {
        String::from_utf8(repair_escapes(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn unpaired_surrogates_become_replacement_characters() {
        for (input, want) in [
            (r#""\ud800""#, "\"\u{fffd}\""),
            (r#""\uDC00x""#, "\"\u{fffd}x\""),
            (r#""\ud83dabc""#, "\"\u{fffd}abc\""),
            (r#""\ud83d\u0041""#, "\"\u{fffd}\\u0041\""),
            (r#""\ud83d\ud83d\ude00""#, "\"\u{fffd}\\ud83d\\ude00\""),
            (r#""\ud83d\\ude00""#, "\"\u{fffd}\\\\ude00\""),
            (r#""end \ud83d"#, "\"end \u{fffd}"),
        ] {
            assert_eq!(repaired(input), want, "{input}");
        }
    }

    #[test]
    fn other_invalid_escapes_become_replacement_characters() {
        for (input, want) in [
            (r#""\x41""#, "\"\u{fffd}41\""),
            (r#""\u12g4""#, "\"\u{fffd}g4\""),
            (r#""\u""#, "\"\u{fffd}\""),
            ("\"\\é\"", "\"\u{fffd}é\""),
            ("\"trailing \\", "\"trailing \u{fffd}"),
        ] {
            assert_eq!(repaired(input), want, "{input}");
        }
    }

    #[test]
    fn valid_escapes_are_borrowed_unchanged() {
        let body = br#"{"a":"\ud83d\ude00 \" \\ \/ \b\f\n\r\t \u00e9 \uFFFF","b":"\\ud800"}"#;
        assert!(matches!(repair_escapes(body), Cow::Borrowed(_)));
        let v: serde_json::Value = from_slice_lenient(body).unwrap();
        assert_eq!(v["b"], "\\ud800");
        assert!(v["a"].as_str().unwrap().starts_with('😀'));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let v: serde_json::Value = from_slice_lenient(b"{\"t\":\"a\xffb\"}").unwrap();
        assert_eq!(v["t"], "a\u{fffd}b");
        // Still an error when the JSON itself is broken.
        assert!(from_slice_lenient::<serde_json::Value>(b"{\"t\":\xff").is_err());
    }

    #[test]
    fn raw_control_characters_in_strings_are_escaped() {
        let body = "{\"a\":\"x\0y\ty\u{1f}\",\n\t\"b\":\"\\\"\n\"}";
        let v: serde_json::Value = from_slice_lenient(body.as_bytes()).unwrap();
        assert_eq!(v["a"], "x\0y\ty\u{1f}");
        assert_eq!(v["b"], "\"\n");
        assert_eq!(
            escape_controls_in_strings(body),
            "{\"a\":\"x\\u0000y\\u0009y\\u001f\",\n\t\"b\":\"\\\"\\u000a\"}"
        );
        // Whitespace between tokens is no string's: left as it is.
        assert!(matches!(
            escape_controls_in_strings("{\n\"a\":\t1}\r\n"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            repaired_text(body.as_bytes()),
            escape_controls_in_strings(body)
        );
    }

    proptest! {
        #[test]
        fn what_serde_writes_comes_back_unchanged(s in any::<String>()) {
            let json = serde_json::to_string(&s).unwrap();
            // The same string with every character as `\uXXXX` escapes (pairs above U+FFFF).
            let escaped: String = s
                .encode_utf16()
                .map(|unit| format!("\\u{unit:04x}"))
                .collect();
            let escaped = format!("\"{escaped}\"");
            for body in [json, escaped] {
                prop_assert!(matches!(repair_escapes(body.as_bytes()), Cow::Borrowed(_)));
            }
        }

        #[test]
        fn any_string_body_parses_after_repair(
            parts in proptest::collection::vec(
                prop_oneof![
                    "[a-z ]{0,4}",
                    "\\\\u[0-9a-fA-F]{0,4}",
                    "\\\\[a-z\"\\\\/]",
                    Just("\\ud83d".to_owned()),
                    Just("\\ude00".to_owned()),
                ],
                0..12,
            )
        ) {
            let body = format!("\"{}\"", parts.concat());
            let parsed: Result<String, _> = from_slice_lenient(body.as_bytes());
            prop_assert!(parsed.is_ok(), "{body}: {parsed:?}");
        }
    }
}
