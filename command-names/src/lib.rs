//! How command names compare, defined once for the `#[commands]` macro
//! (which refuses two names that would collide) and the runtime of
//! `ilink-framework` (which matches what users type). Both call these
//! functions, so a name the macro accepts is matched exactly as it promised.
//!
//! The rules, chosen for what people type on a phone with a Chinese input
//! method:
//!
//! - **Words end at whitespace**: any character with Unicode's `White_Space`
//!   property ([`char::is_whitespace`]): the ASCII space, tabs and newlines,
//!   the no-break space, and the ideographic space U+3000 that Chinese input
//!   methods type. A command name never contains one.
//! - **Width**: the full-width forms U+FF01–U+FF5E count as their ASCII
//!   counterparts U+0021–U+007E (`／ｈｅｌｐ` is `/help`), and every whitespace
//!   character counts as a space. This applies to the prefix and the name.
//! - **Case**: names (not prefixes) compare without case. Each character is
//!   upper-cased, then lower-cased, until that changes nothing: every
//!   upper/lower/title-case pair Unicode defines lands on one key, including
//!   the ones plain lower-casing keeps apart (`Σ`, `σ` and the final `ς`;
//!   `ß`, `ẞ` and `SS`; `ſ` and `s`; `µ` and `μ`).
//!
//! ```
//! use ilink_command_names::{name_key, split_word, strip_prefix};
//!
//! assert_eq!(name_key("ＡＤＤ"), name_key("add"));
//! assert_eq!(name_key("Straße"), name_key("STRASSE"));
//! let after = strip_prefix("／ping\u{3000}now", "/").unwrap();
//! assert_eq!(split_word(after), ("ping", "\u{3000}now"));
//! ```

/// Whether `c` ends a command word: Unicode whitespace, U+3000 included.
pub fn is_separator(c: char) -> bool {
    c.is_whitespace()
}

/// A full-width form as its ASCII counterpart, any whitespace as a space,
/// every other character as it is.
pub fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        c if is_separator(c) => ' ',
        c => c,
    }
}

/// The key a name is compared by: width folded, then case folded (see the
/// [crate docs](crate)). Two names are the same command name exactly when
/// their keys are equal.
pub fn name_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for c in name.chars() {
        push_case_folded(&mut key, fold_width(c));
    }
    key
}

/// Appends the case-folded form of `c`: upper-cased then lower-cased,
/// repeated until stable. One round is not always enough: `ẞ` lower-cases
/// to `ß`, whose upper case is `SS`.
fn push_case_folded(key: &mut String, c: char) {
    if c.is_ascii() {
        key.push(c.to_ascii_lowercase());
        return;
    }
    let round = |s: &str| -> String {
        s.chars()
            .flat_map(char::to_uppercase)
            .flat_map(char::to_lowercase)
            .collect()
    };
    let mut folded = round(c.encode_utf8(&mut [0; 4]));
    // Two rounds suffice for every character Rust knows (`ẞ` is the only
    // one that needs the second; the tests check all of them); the bound
    // only keeps a future table from looping.
    for _ in 0..4 {
        let next = round(&folded);
        if next == folded {
            break;
        }
        folded = next;
    }
    key.push_str(&folded);
}

/// `text` after `prefix`, comparing width-folded characters (so `／` and
/// `！` match the prefixes `/` and `!`); `None` if `text` does not start with
/// the prefix. The prefix is not case folded.
pub fn strip_prefix<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let mut rest = text.chars();
    for expected in prefix.chars() {
        if rest.next().map(fold_width) != Some(fold_width(expected)) {
            return None;
        }
    }
    Some(rest.as_str())
}

/// Splits `text` at its first whitespace: the word, and everything from the
/// whitespace on.
pub fn split_word(text: &str) -> (&str, &str) {
    text.split_at(text.find(is_separator).unwrap_or(text.len()))
}

/// Whether `name` can be a command name: not empty, no whitespace.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(is_separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_chars() -> impl Iterator<Item = char> {
        (0..=u32::from(char::MAX)).filter_map(char::from_u32)
    }

    #[test]
    fn every_whitespace_character_ends_a_word_and_folds_to_a_space() {
        let whitespace: Vec<char> = all_chars().filter(|c| c.is_whitespace()).collect();
        assert!(whitespace.contains(&'\u{3000}') && whitespace.contains(&'\u{A0}'));
        for c in whitespace {
            let text = format!("ping{c}now");
            assert_eq!(
                split_word(&text),
                ("ping", &text[4..]),
                "U+{:04X}",
                c as u32
            );
            assert_eq!(fold_width(c), ' ', "U+{:04X}", c as u32);
            assert!(!is_valid_name(&format!("a{c}b")), "U+{:04X}", c as u32);
            assert_eq!(strip_prefix(&format!("bot{c}ping"), "bot "), Some("ping"));
        }
    }

    #[test]
    fn other_characters_stay_in_the_word() {
        for c in all_chars().filter(|c| !c.is_whitespace()) {
            let text = format!("a{c}b");
            assert_eq!(split_word(&text), (text.as_str(), ""), "U+{:04X}", c as u32);
            assert!(is_valid_name(&text));
        }
        assert!(!is_valid_name(""));
    }

    #[test]
    fn full_width_forms_are_ascii() {
        for c in '\u{FF01}'..='\u{FF5E}' {
            let ascii = fold_width(c);
            assert!(ascii.is_ascii_graphic(), "U+{:04X}", c as u32);
            assert_eq!(name_key(&c.to_string()), name_key(&ascii.to_string()));
        }
        assert_eq!(fold_width('／'), '/');
        assert_eq!(fold_width('￠'), '￠');
        assert_eq!(strip_prefix("！ping", "!"), Some("ping"));
        assert_eq!(strip_prefix("BOT，ping", "bot,"), None);
    }

    #[test]
    fn every_case_pair_has_one_key() {
        let mut pairs = 0;
        for c in all_chars() {
            let key = name_key(&c.to_string());
            let upper: String = c.to_uppercase().collect();
            let lower: String = c.to_lowercase().collect();
            assert_eq!(
                name_key(&upper),
                key,
                "U+{:04X} and its upper case",
                c as u32
            );
            assert_eq!(
                name_key(&lower),
                key,
                "U+{:04X} and its lower case",
                c as u32
            );
            // Folding twice changes nothing.
            assert_eq!(name_key(&key), key, "U+{:04X}", c as u32);
            pairs += usize::from(upper != lower);
        }
        // Unicode 15 has well over a thousand cased letters.
        assert!(pairs > 1000, "{pairs}");
    }

    #[test]
    fn the_pairs_lower_casing_alone_misses() {
        for (a, b) in [("ΟΔΟΣ", "οδος"), ("οδοσ", "οδος"), ("Straße", "STRASSE")] {
            assert_eq!(name_key(a), name_key(b), "{a} {b}");
        }
        for (a, b) in [("ẞ", "ss"), ("ſ", "s"), ("µ", "μ"), ("Ａｄｄ", "add")] {
            assert_eq!(name_key(a), name_key(b), "{a} {b}");
        }
        assert_ne!(name_key("add"), name_key("ad"));
    }
}

/// The README shown on crates.io: its examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
