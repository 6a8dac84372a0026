//! Splitting long texts into chunks the server accepts.
//!
//! The official client declares a text limit of 4000 characters per message
//! and the server refuses texts of roughly 5000 characters and more, so a long
//! reply has to go out as several messages. [`split_text`] cuts a text into
//! slices of the original that each fit the limit, preferring the places a
//! person would cut at (paragraphs, then lines, then sentences, then spaces).
//!
//! # Why the limit counts UTF-16 code units
//!
//! The official client is JavaScript, and its "4000 characters" is
//! `string.length`, which counts UTF-16 code units: a Chinese character is
//! one unit, an emoji outside the Basic Multilingual Plane is two, and an
//! emoji ZWJ sequence such as 👨‍👩‍👧 is eight. Counting Rust `char`s would
//! under-count emoji and let chunks through that the official client would
//! itself have split; counting bytes would over-count CJK text threefold.
//! [`text_units`] gives the same number as JavaScript's `.length`.
//!
//! # Example
//!
//! ```
//! use ilink_core::chunk::split_text;
//!
//! let text = "First paragraph, quite long.\n\nSecond one.";
//! let chunks = split_text(text, 35);
//! assert_eq!(chunks, ["First paragraph, quite long.\n\n", "Second one."]);
//! assert_eq!(chunks.concat(), text);
//! ```

use unicode_segmentation::UnicodeSegmentation;

/// The text limit of one message, in UTF-16 code units, as declared by the
/// official client (and used by the seed SDK when it splits).
pub const DEFAULT_CHUNK_LIMIT: usize = 4000;

/// Length of `s` in UTF-16 code units: what JavaScript's `s.length` returns,
/// and the unit in which the message limit is expressed.
///
/// ```
/// use ilink_core::chunk::text_units;
///
/// assert_eq!(text_units("abc"), 3);
/// assert_eq!(text_units("你好"), 2);
/// assert_eq!(text_units("👍"), 2);
/// ```
pub fn text_units(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Splits `text` into consecutive slices of at most `max_units` UTF-16 code
/// units each (see [`text_units`] for why UTF-16).
///
/// Guarantees:
///
/// - the chunks, concatenated, are exactly `text`, and none is empty; an
///   empty `text` gives no chunks;
/// - no chunk is longer than `max_units`;
/// - no chunk boundary falls inside a UTF-8 character or an extended grapheme
///   cluster (so an emoji with its skin tone, a ZWJ family or a letter with
///   its combining accents stays whole);
/// - the one exception: a single grapheme cluster longer than the limit on
///   its own (a letter with thousands of combining marks, say) is split
///   between its `char`s, because the limit wins over keeping it whole.
///
/// Where to cut is chosen among the boundaries that keep the chunk at least
/// half full (`max_units / 2` units), so that one early newline does not
/// produce a tiny chunk. Among those, the last boundary of the most preferred
/// kind wins, in this order:
///
/// 1. a paragraph break: after two consecutive line breaks (`\n\n`,
///    `\r\n\r\n`, …), after the last one of the run;
/// 2. a line break: after `\n`, `\r\n` or `\r`;
/// 3. a sentence end: after `。`, `！`, `？` or the half-width `｡`, or
///    after the whitespace following `.`, `!`, `?` or `…` (so that `3.14`
///    is not a sentence end and the next chunk starts with a word);
/// 4. whitespace: after any whitespace character, including U+3000;
/// 5. any grapheme boundary, as late as possible.
///
/// # Limits below 2
///
/// `max_units == 0` is treated as 1, so the function always makes progress
/// and never panics. With a limit of 1, a character outside the Basic
/// Multilingual Plane (2 units) cannot fit without being cut in half, which
/// is never done: such a character becomes a chunk of its own, the only case
/// where a chunk exceeds `max_units`.
///
/// Runs in time linear in the length of `text`.
///
/// ```
/// use ilink_core::chunk::{split_text, text_units, DEFAULT_CHUNK_LIMIT};
///
/// let long = "这是一句话。".repeat(1000);
/// let chunks = split_text(&long, DEFAULT_CHUNK_LIMIT);
/// assert_eq!(chunks.len(), 2);
/// assert!(chunks.iter().all(|c| text_units(c) <= DEFAULT_CHUNK_LIMIT));
/// assert!(chunks[0].ends_with('。'));
/// assert_eq!(chunks.concat(), long);
/// ```
pub fn split_text(text: &str, max_units: usize) -> Vec<&str> {
    let max = max_units.max(1);
    // Most replies fit whole: no need to walk their grapheme clusters. A
    // byte length within the limit is enough (a UTF-16 unit takes at least
    // one byte of UTF-8).
    if text.len() <= max || text_units(text) <= max {
        return if text.is_empty() {
            Vec::new()
        } else {
            vec![text]
        };
    }
    let mut chunks = Vec::new();
    let mut start = 0;
    // The last grapheme before `start`: a chunk that begins with a line
    // break may complete a paragraph break begun by the chunk before.
    let mut before = "";
    while start < text.len() {
        let rest = &text[start..];
        match next_cut(rest, before, max) {
            Cut::At(len) => {
                chunks.push(&rest[..len]);
                before = rest[..len].graphemes(true).next_back().unwrap_or("");
                start += len;
            }
            Cut::Oversized(len) => {
                split_chars(&rest[..len], max, &mut chunks);
                before = &rest[..len];
                start += len;
            }
        }
    }
    chunks
}

/// Where the next chunk of a text ends.
enum Cut {
    /// A normal chunk of this many bytes, ending on a grapheme boundary.
    At(usize),
    /// The text starts with a grapheme cluster of this many bytes that alone
    /// exceeds the limit.
    Oversized(usize),
}

/// Kinds of boundary, most preferred first; the index into `Candidates`.
const PARAGRAPH: usize = 0;
const LINE: usize = 1;
const SENTENCE: usize = 2;
const SPACE: usize = 3;

/// Finds the end of the chunk that starts at the beginning of `rest`;
/// `before` is the grapheme cluster that precedes `rest` in the text.
///
/// Restarting the grapheme segmentation at `rest` is sound because `rest`
/// always begins at a grapheme boundary of the whole text (or right after an
/// oversized cluster), and segmentation started at a boundary finds the same
/// later boundaries: the rules that look backwards (emoji ZWJ sequences,
/// regional-indicator pairs, Indic conjuncts) never reach across a boundary.
fn next_cut(rest: &str, before: &str, max: usize) -> Cut {
    let min_fill = max / 2;
    // Byte offset of the last boundary of each kind with at least `min_fill`
    // units before it.
    let mut candidates: [Option<usize>; 4] = [None; 4];
    let mut units = 0;
    let mut prev = before;
    for (offset, grapheme) in rest.grapheme_indices(true) {
        let width = text_units(grapheme);
        if units + width > max {
            if offset == 0 {
                return Cut::Oversized(grapheme.len());
            }
            let preferred = candidates.iter().flatten().next().copied();
            return Cut::At(preferred.unwrap_or(offset));
        }
        units += width;
        let end = offset + grapheme.len();
        let line_break = is_line_break(grapheme);
        if units >= min_fill {
            if line_break && is_line_break(prev) {
                candidates[PARAGRAPH] = Some(end);
            }
            if line_break {
                candidates[LINE] = Some(end);
            } else if is_sentence_end(prev, grapheme) {
                candidates[SENTENCE] = Some(end);
            }
            if grapheme.chars().all(char::is_whitespace) {
                candidates[SPACE] = Some(end);
            }
        }
        prev = grapheme;
    }
    Cut::At(rest.len())
}

/// Splits one oversized grapheme cluster greedily between its `char`s.
fn split_chars<'a>(cluster: &'a str, max: usize, chunks: &mut Vec<&'a str>) {
    let mut start = 0;
    let mut units = 0;
    for (offset, ch) in cluster.char_indices() {
        let width = ch.len_utf16();
        if units + width > max && offset > start {
            chunks.push(&cluster[start..offset]);
            start = offset;
            units = 0;
        }
        units += width;
    }
    if start < cluster.len() {
        chunks.push(&cluster[start..]);
    }
}

fn is_line_break(grapheme: &str) -> bool {
    matches!(grapheme, "\n" | "\r\n" | "\r")
}

/// Whether the boundary after `grapheme` (preceded by `prev`) ends a sentence.
fn is_sentence_end(prev: &str, grapheme: &str) -> bool {
    // Chinese and Japanese text has no space after the full stop.
    if matches!(grapheme, "。" | "！" | "？" | "｡") {
        return true;
    }
    // Western punctuation ends a sentence only when whitespace follows, so
    // that "3.14" or "e.g.x" is not cut; the cut goes after the space.
    matches!(prev, "." | "!" | "?" | "…") && grapheme.chars().all(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assert_valid(text: &str, max: usize) -> Vec<&str> {
        let chunks = split_text(text, max);
        assert_eq!(chunks.concat(), text);
        for chunk in &chunks {
            assert!(!chunk.is_empty());
            assert!(text_units(chunk) <= max, "{chunk:?} is over {max}");
        }
        chunks
    }

    #[test]
    fn empty_text_gives_no_chunks() {
        assert!(split_text("", 10).is_empty());
        assert!(split_text("", 0).is_empty());
    }

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(split_text("hello", 10), ["hello"]);
        assert_eq!(split_text("hello", 5), ["hello"]);
        assert_eq!(split_text("hi", DEFAULT_CHUNK_LIMIT), ["hi"]);
    }

    #[test]
    fn units_are_utf16_code_units() {
        assert_eq!(text_units(""), 0);
        assert_eq!(text_units("é"), 1);
        assert_eq!(text_units("e\u{301}"), 2);
        assert_eq!(text_units("👍🏽"), 4);
        assert_eq!(text_units("👨‍👩‍👧"), 8);
        assert_eq!(text_units("🇫🇷"), 4);
        assert_eq!(text_units("中文"), 2);
    }

    #[test]
    fn paragraph_beats_a_later_line_break() {
        let text = format!(
            "{}\n\n{}\n{}",
            "a".repeat(30),
            "b".repeat(10),
            "c".repeat(40)
        );
        let chunks = assert_valid(&text, 50);
        assert_eq!(chunks[0], format!("{}\n\n", "a".repeat(30)));
    }

    #[test]
    fn paragraph_cut_goes_after_the_whole_run_of_newlines() {
        let text = format!("{}\n\n\n{}", "a".repeat(30), "b".repeat(30));
        let chunks = assert_valid(&text, 50);
        assert_eq!(
            chunks,
            [format!("{}\n\n\n", "a".repeat(30)), "b".repeat(30)]
        );
    }

    #[test]
    fn crlf_paragraphs_are_paragraphs() {
        let text = format!(
            "{}\r\n\r\n{}\n{}",
            "a".repeat(30),
            "b".repeat(5),
            "c".repeat(40)
        );
        let chunks = assert_valid(&text, 50);
        assert_eq!(chunks[0], format!("{}\r\n\r\n", "a".repeat(30)));
    }

    #[test]
    fn a_paragraph_break_may_start_in_the_previous_chunk() {
        // The first cut falls between the two newlines; the second chunk's
        // leading newline completes a paragraph break and is preferred.
        let chunks = assert_valid("aa\n\na\na", 3);
        assert_eq!(chunks, ["aa\n", "\n", "a\na"]);
    }

    #[test]
    fn line_beats_a_later_sentence_end() {
        let text = format!("{}\n{}. {}", "a".repeat(30), "b".repeat(10), "c".repeat(40));
        let chunks = assert_valid(&text, 50);
        assert_eq!(chunks[0], format!("{}\n", "a".repeat(30)));
    }

    #[test]
    fn sentence_beats_a_later_space() {
        let text = format!("{}. {} {}", "a".repeat(30), "b".repeat(10), "c".repeat(40));
        let chunks = assert_valid(&text, 50);
        assert_eq!(chunks[0], format!("{}. ", "a".repeat(30)));
    }

    #[test]
    fn chinese_sentence_ends_need_no_space() {
        let text = format!(
            "{}。{}，{}",
            "中".repeat(30),
            "文".repeat(10),
            "字".repeat(40)
        );
        let chunks = assert_valid(&text, 50);
        assert_eq!(chunks[0], format!("{}。", "中".repeat(30)));
        for mark in ["！", "？"] {
            let text = format!("{}{mark}{}", "中".repeat(30), "文".repeat(40));
            assert_eq!(
                split_text(&text, 50)[0],
                format!("{}{mark}", "中".repeat(30))
            );
        }
    }

    #[test]
    fn a_dot_inside_a_number_is_not_a_sentence_end() {
        let text = format!("{} 3.14{}", "a".repeat(30), "b".repeat(40));
        let chunks = assert_valid(&text, 50);
        assert_eq!(chunks[0], format!("{} ", "a".repeat(30)));
    }

    #[test]
    fn space_beats_a_plain_grapheme_boundary() {
        let text = format!("{} {}", "a".repeat(30), "b".repeat(40));
        let chunks = assert_valid(&text, 50);
        assert_eq!(chunks, [format!("{} ", "a".repeat(30)), "b".repeat(40)]);
    }

    #[test]
    fn ideographic_space_is_whitespace() {
        let text = format!("{}\u{3000}{}", "中".repeat(30), "文".repeat(40));
        let chunks = assert_valid(&text, 50);
        assert_eq!(chunks[0], format!("{}\u{3000}", "中".repeat(30)));
    }

    #[test]
    fn without_any_boundary_the_chunk_is_filled() {
        let text = "a".repeat(120);
        let chunks = assert_valid(&text, 50);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [50, 50, 20]
        );
    }

    #[test]
    fn an_early_newline_does_not_make_a_tiny_chunk() {
        let text = format!("ab\n{}", "c".repeat(100));
        let chunks = assert_valid(&text, 50);
        assert_eq!(text_units(chunks[0]), 50);
    }

    #[test]
    fn boundary_at_exactly_half_is_acceptable() {
        let text = format!("{}\n{}", "a".repeat(24), "b".repeat(40));
        let chunks = assert_valid(&text, 50);
        assert_eq!(chunks[0], format!("{}\n", "a".repeat(24)));
    }

    #[test]
    fn emoji_are_never_cut_in_half() {
        let text = "👍".repeat(10);
        let chunks = assert_valid(&text, 5);
        assert!(chunks.iter().all(|c| *c == "👍👍"));
    }

    #[test]
    fn skin_tone_modifiers_stay_with_their_emoji() {
        let text = "👍🏽".repeat(5);
        let chunks = assert_valid(&text, 6);
        assert_eq!(chunks, ["👍🏽"; 5]);
    }

    #[test]
    fn zwj_sequences_stay_whole() {
        let family = "👨‍👩‍👧";
        let text = format!("aaaaa{family}{family}");
        let chunks = assert_valid(&text, 10);
        assert_eq!(chunks, ["aaaaa", family, family]);
    }

    #[test]
    fn flags_stay_whole() {
        let chunks = assert_valid("🇫🇷🇩🇪🇯🇵", 6);
        assert_eq!(chunks, ["🇫🇷", "🇩🇪", "🇯🇵"]);
    }

    #[test]
    fn combining_marks_stay_with_their_letter() {
        let text = "e\u{301}".repeat(4);
        let chunks = assert_valid(&text, 3);
        assert_eq!(chunks, ["e\u{301}"; 4]);
    }

    #[test]
    fn crlf_is_not_split() {
        let chunks = assert_valid("a\r\nb", 2);
        assert_eq!(chunks, ["a", "\r\n", "b"]);
    }

    #[test]
    fn an_oversized_grapheme_is_split_between_chars() {
        let text = format!("ab{}cd", "e\u{301}\u{301}\u{301}\u{301}");
        let chunks = assert_valid(&text, 3);
        assert_eq!(chunks, ["ab", "e\u{301}\u{301}", "\u{301}\u{301}", "cd"]);
    }

    #[test]
    fn zero_limit_is_treated_as_one() {
        assert_eq!(split_text("abc", 0), ["a", "b", "c"]);
        assert_eq!(split_text("abc", 1), ["a", "b", "c"]);
    }

    #[test]
    fn limit_one_keeps_astral_chars_whole() {
        assert_eq!(split_text("a👍b", 1), ["a", "👍", "b"]);
        assert_eq!(split_text("a👍🏽", 1), ["a", "👍", "🏽"]);
    }

    #[test]
    fn large_texts_are_split_in_linear_time() {
        // About 1 MB of mixed text; a quadratic scan would take minutes here.
        let text = "Lorem ipsum dolor sit amet. 你好，世界。👍🏽\n".repeat(20_000);
        let chunks = assert_valid(&text, DEFAULT_CHUNK_LIMIT);
        assert!(chunks.len() >= text_units(&text) / DEFAULT_CHUNK_LIMIT);
        // 100 KB cut into the smallest possible chunks.
        let text = "ab 中👍\n".repeat(10_000);
        let chunks = assert_valid(&text, 2);
        assert!(chunks.len() >= 30_000);
    }

    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "a",
            "b",
            "z",
            " ",
            "\n",
            "\n\n",
            "\r\n",
            ".",
            "!",
            "。",
            "？",
            "3.1",
            "中",
            "文",
            "\u{3000}",
            "é",
            "e\u{301}",
            "👍",
            "👍🏽",
            "👨‍👩‍👧",
            "🇫🇷",
            "\u{301}",
        ])
    }

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(piece(), 0..200).prop_map(|p| p.concat())
    }

    /// Byte offsets of the cuts between chunks.
    fn cuts(chunks: &[&str]) -> Vec<usize> {
        chunks
            .iter()
            .scan(0, |end, c| {
                *end += c.len();
                Some(*end)
            })
            .collect()
    }

    proptest! {
        #[test]
        fn concatenation_gives_back_the_input(text in text(), max in 0usize..60) {
            prop_assert_eq!(split_text(&text, max).concat(), text);
        }

        #[test]
        fn no_chunk_is_over_the_limit(text in text(), max in 2usize..60) {
            for chunk in split_text(&text, max) {
                prop_assert!(!chunk.is_empty());
                prop_assert!(text_units(chunk) <= max);
            }
        }

        #[test]
        fn limit_one_only_exceeds_for_a_single_wide_char(text in text()) {
            for chunk in split_text(&text, 1) {
                prop_assert!(text_units(chunk) <= 1 || chunk.chars().count() == 1);
            }
        }

        #[test]
        fn cuts_are_grapheme_boundaries(text in text(), max in 1usize..60) {
            let graphemes: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
            for cut in cuts(&split_text(&text, max)) {
                let inside = graphemes.iter().find(|(o, g)| *o < cut && cut < o + g.len());
                if let Some((_, g)) = inside {
                    // Only a cluster that cannot fit may be cut.
                    prop_assert!(text_units(g) > max, "cut {} inside {:?}", cut, g);
                }
            }
        }

        #[test]
        fn a_paragraph_break_in_the_window_is_chosen(text in text(), max in 2usize..60) {
            let chunks = split_text(&text, max);
            let graphemes: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
            // A paragraph break: the end of two consecutive line breaks.
            let paragraphs: Vec<usize> = graphemes
                .windows(2)
                .filter(|w| is_line_break(w[0].1) && is_line_break(w[1].1))
                .map(|w| w[1].0 + w[1].1.len())
                .collect();
            let mut start = 0;
            for chunk in &chunks[..chunks.len().saturating_sub(1)] {
                let end = start + chunk.len();
                let starts_clean = graphemes.iter().any(|(o, g)| *o == start && text_units(g) <= max);
                if starts_clean {
                    let paragraph_in_window = paragraphs.iter().any(|&p| {
                        p > start && (max / 2..=max).contains(&text_units(&text[start..p]))
                    });
                    if paragraph_in_window {
                        prop_assert!(paragraphs.contains(&end), "chunk {:?} of {:?}", chunk, chunks);
                    }
                }
                start = end;
            }
        }

        #[test]
        fn never_panics_on_arbitrary_strings(text in ".{0,300}", max in 0usize..100) {
            prop_assert_eq!(split_text(&text, max).concat(), text);
        }
    }
}
