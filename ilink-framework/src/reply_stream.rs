//! Streamed answers: a language model's text deltas sent as they come, as a
//! few messages within the sender's quota.
//!
//! [`StreamCutter`] decides, delta by delta, which messages are ready; the
//! [`Context`](crate::Context) methods send them. The plan: the first
//! paragraph goes out as soon as it is complete (the user sees the answer
//! start), later messages are each about four times as long as the one
//! before (up to the message limit), so a short answer takes two messages
//! and so a long answer still fits the quota, and
//! the last message allowed is held until the stream ends so that
//! everything left goes into it, or, when it does not fit, as much as fits
//! and a note saying the answer was cut. Text is only cut between
//! paragraphs (or, with Markdown, whole blocks: a code block or a list is
//! never split across messages while it fits in one).

use std::collections::VecDeque;

use ilink_core::SentMessage;
use ilink_core::chunk::{split_text, text_units};
use ilink_core::markdown;
use ilink_core::outgoing::Outgoing;

/// How a streamed reply is sent.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StreamOptions {
    /// The text is Markdown: rendered as readable text (see
    /// [`Context::reply_markdown`](crate::Context::reply_markdown)) and cut
    /// between whole blocks.
    pub markdown: bool,
    /// Ends the last message when the answer needs more messages than the
    /// quota allows.
    pub cut_note: String,
    /// Sent (in the one message kept in reserve) when the stream fails
    /// midway; `{error}` is replaced by the stream's error.
    pub error_note: String,
    /// The first message goes out once a paragraph of at least this many
    /// UTF-16 units is complete.
    pub first_message_units: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            markdown: false,
            cut_note: "… (the answer was too long to send whole; ask me to continue)".into(),
            error_note: "(the answer was interrupted: {error})".into(),
            first_message_units: 40,
        }
    }
}

impl StreamOptions {
    /// Options for a Markdown stream (see [`StreamOptions::markdown`]).
    pub fn markdown() -> Self {
        Self {
            markdown: true,
            ..Self::default()
        }
    }

    /// Sets [`StreamOptions::cut_note`].
    pub fn cut_note(mut self, note: impl Into<String>) -> Self {
        self.cut_note = note.into();
        self
    }

    /// Sets [`StreamOptions::error_note`].
    pub fn error_note(mut self, note: impl Into<String>) -> Self {
        self.error_note = note.into();
        self
    }
}

/// What a streamed reply sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamReport {
    /// The messages sent, in order (the error notice included).
    pub sent: Vec<SentMessage>,
    /// The quota did not allow the whole answer: the last message ends with
    /// the cut note.
    pub cut: bool,
    /// The stream failed midway with this error (what it had produced until
    /// then was sent, then the error note).
    pub error: Option<String>,
}

impl StreamReport {
    /// Whether the whole answer reached the user.
    pub fn complete(&self) -> bool {
        !self.cut && self.error.is_none()
    }
}

/// Between two blocks packed into one message.
const GAP: &str = "\n\n";

/// Turns a stream of text deltas into the messages to send, in order.
#[derive(Debug)]
pub(crate) struct StreamCutter {
    options: StreamOptions,
    /// Units per message.
    limit: usize,
    /// Messages still allowed, the reserve for an error notice included.
    budget: usize,
    /// Received text not yet rendered: its last block may still grow.
    raw: String,
    /// The reference definitions (`[1]: https://…`) of the text rendered so
    /// far, rendered again with later text so its links still resolve.
    definitions: String,
    /// Rendered blocks (each within the limit) not yet sent.
    ready: VecDeque<String>,
    /// Messages handed out so far.
    emitted: usize,
}

impl StreamCutter {
    /// A cutter for messages of `limit` units, `budget` of them at most.
    pub(crate) fn new(options: StreamOptions, limit: usize, budget: usize) -> Self {
        Self {
            options,
            limit: limit.max(1),
            budget,
            raw: String::new(),
            definitions: String::new(),
            ready: VecDeque::new(),
            emitted: 0,
        }
    }

    /// The size the next message should reach before it goes out: the
    /// first paragraph early, each later message four times the one before.
    fn target(&self) -> usize {
        let grown = self
            .options
            .first_message_units
            .max(1)
            .saturating_mul(1 << (2 * self.emitted.min(16)));
        grown.min(self.limit)
    }

    /// Adds a delta; returns the messages ready to go out now.
    pub(crate) fn push(&mut self, delta: &str) -> Vec<String> {
        self.raw.push_str(delta);
        let stable = if self.options.markdown {
            markdown::stable_prefix_len(&self.raw)
        } else {
            // Whole paragraphs: up to the last blank line.
            self.raw.rfind(GAP).map_or(0, |at| at + GAP.len())
        };
        if stable > 0 {
            // The definitions received so far, also those after the text
            // rendered now: its links resolve to them (`stable_prefix_len`
            // held the text back until they came).
            let ahead = if self.options.markdown {
                markdown::reference_definitions(markdown::complete_lines(&self.raw[stable..]))
            } else {
                String::new()
            };
            let blocks = self.render_with(&self.raw[..stable], &ahead);
            self.ready.extend(blocks);
            if self.options.markdown {
                let kept = markdown::reference_definitions(&self.raw[..stable]);
                self.definitions.push_str(&kept);
            }
            self.raw.drain(..stable);
        }
        let mut out = Vec::new();
        // The last message allowed waits for the end; one more stays in
        // reserve for an error notice.
        while self.budget.saturating_sub(self.emitted) > 2 {
            let (message, taken) = self.pack();
            // Long enough, or the blocks after it did not fit beside it.
            if taken == 0 || (text_units(&message) < self.target() && taken == self.ready.len()) {
                break;
            }
            self.ready.drain(..taken);
            out.push(message);
            self.emitted += 1;
        }
        out
    }

    /// The next message from the ready blocks: as many as fit in one, and
    /// how many that is.
    fn pack(&self) -> (String, usize) {
        let mut message = String::new();
        let mut units = 0;
        let mut taken = 0;
        for block in &self.ready {
            let gap = if message.is_empty() { 0 } else { GAP.len() };
            let block_units = text_units(block);
            if taken > 0 && units + gap + block_units > self.limit {
                break;
            }
            if gap > 0 {
                message.push_str(GAP);
            }
            message.push_str(block);
            units += gap + block_units;
            taken += 1;
        }
        (message, taken)
    }

    /// Renders received text as blocks within the limit.
    fn render(&self, raw: &str) -> Vec<String> {
        self.render_with(raw, "")
    }

    /// Renders received text with the reference definitions kept so far
    /// and `ahead` (definitions render to nothing; before the text, its
    /// links resolve to them).
    fn render_with(&self, raw: &str, ahead: &str) -> Vec<String> {
        if self.options.markdown {
            if self.definitions.is_empty() && ahead.is_empty() {
                return markdown::to_chunks(raw, self.limit);
            }
            let text = format!("{}{ahead}\n{raw}", self.definitions);
            markdown::to_chunks(&text, self.limit)
        } else {
            split_text(raw.trim_end(), self.limit)
                .into_iter()
                .map(|c| c.trim_end_matches('\n').to_owned())
                .filter(|c| !c.trim().is_empty())
                .collect()
        }
    }

    /// The stream ended: everything left, in the messages left (the last
    /// one ending with the cut note when it does not fit). Returns the
    /// messages and whether the answer was cut.
    pub(crate) fn finish(&mut self) -> (Vec<String>, bool) {
        let raw = std::mem::take(&mut self.raw);
        let blocks = self.render(&raw);
        self.ready.extend(blocks);
        let mut messages = Vec::new();
        while !self.ready.is_empty() {
            let (message, taken) = self.pack();
            self.ready.drain(..taken);
            messages.push(message);
        }
        let left = self.budget.saturating_sub(self.emitted);
        if messages.len() <= left {
            self.emitted += messages.len();
            return (messages, false);
        }
        let text = messages.join(GAP);
        let (within, cut) =
            Outgoing::text_chunks_within(&text, self.limit, left, &self.options.cut_note);
        let messages: Vec<String> = within
            .iter()
            .filter_map(|o| o.text().map(str::to_owned))
            .collect();
        self.emitted += messages.len();
        (messages, cut)
    }

    /// The stream failed: what is left (within the messages left, one kept
    /// for the notice), then the notice.
    pub(crate) fn fail(&mut self, error: &str) -> Vec<String> {
        if self.budget <= self.emitted {
            return Vec::new();
        }
        let notice = self.options.error_note.replace("{error}", error);
        let notice = split_text(&notice, self.limit)
            .first()
            .map_or_else(String::new, |n| (*n).to_owned());
        self.budget -= 1;
        let (mut messages, _) = self.finish();
        if !notice.is_empty() {
            messages.push(notice);
            self.emitted += 1;
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(cutter: &mut StreamCutter, text: &str, step: usize) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::new();
        for delta in chars.chunks(step) {
            out.extend(cutter.push(&delta.iter().collect::<String>()));
        }
        out
    }

    fn paragraphs(n: usize, len: usize) -> String {
        (0..n)
            .map(|i| format!("{i:02} {}.", "word ".repeat(len / 5).trim_end()))
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// `md` streamed `step` characters at a time, as the messages read.
    fn streamed_markdown(md: &str, step: usize) -> String {
        let mut c = StreamCutter::new(StreamOptions::markdown(), 4000, 9);
        let mut all = feed(&mut c, md, step);
        all.extend(c.finish().0);
        all.join("\n\n")
    }

    #[test]
    fn a_streamed_indented_code_block_keeps_its_indentation_and_its_text() {
        let md =
            "Intro paragraph, long enough to go first.\n\n    if x:\n        y = a*b*c\n\nDone.";
        for step in [1, 3, 7, 1000] {
            assert_eq!(
                streamed_markdown(md, step),
                markdown::to_text(md),
                "step {step}"
            );
        }
    }

    #[test]
    fn a_streamed_reference_link_keeps_its_target_wherever_its_definition_is() {
        let after =
            "See [the docs][1] for every detail of it.\n\nMore.\n\n[1]: https://example.com/docs\n";
        let before = "[1]: https://example.com/docs\n\nIntro, long enough to go on its own.\n\nSee [the docs][1] for every detail of it.\n\nMore.";
        for md in [after, before] {
            for step in [1, 5, 1000] {
                let got = streamed_markdown(md, step);
                assert!(
                    got.contains("https://example.com/docs"),
                    "step {step}: {got:?}"
                );
                assert!(!got.contains("[1]"), "step {step}: {got:?}");
            }
        }
    }

    #[test]
    fn the_first_paragraph_goes_out_before_the_stream_ends() {
        let mut c = StreamCutter::new(StreamOptions::default(), 4000, 9);
        let early = feed(
            &mut c,
            "First paragraph of the answer, long enough.\n\nSecond",
            3,
        );
        assert_eq!(early, ["First paragraph of the answer, long enough."]);
        let (rest, cut) = c.finish();
        assert_eq!(rest, ["Second"]);
        assert!(!cut);
    }

    #[test]
    fn the_whole_answer_is_sent_in_order_and_within_the_limit() {
        let text = paragraphs(20, 300);
        let mut c = StreamCutter::new(StreamOptions::default(), 1000, 9);
        let mut sent = feed(&mut c, &text, 7);
        let (rest, cut) = c.finish();
        sent.extend(rest);
        assert!(!cut);
        assert!(sent.len() <= 9, "{} messages", sent.len());
        assert!(sent.iter().all(|m| text_units(m) <= 1000));
        let squash = |s: &str| s.split_whitespace().collect::<String>();
        assert_eq!(squash(&sent.concat()), squash(&text));
        // Messages grow: a quick first one, larger later ones.
        assert!(text_units(&sent[0]) < text_units(&sent[4]), "{sent:?}");
    }

    #[test]
    fn an_answer_longer_than_the_quota_ends_with_the_cut_note() {
        let text = paragraphs(100, 300);
        let mut c = StreamCutter::new(StreamOptions::default().cut_note("[cut]"), 500, 4);
        let mut sent = feed(&mut c, &text, 50);
        let (rest, cut) = c.finish();
        sent.extend(rest);
        assert!(cut);
        assert_eq!(sent.len(), 4);
        assert!(sent[3].ends_with("[cut]"), "{:?}", sent[3]);
        assert!(sent.iter().all(|m| text_units(m) <= 500));
    }

    #[test]
    fn a_failed_stream_sends_what_it_had_and_the_notice_in_the_reserve() {
        let mut c = StreamCutter::new(
            StreamOptions::default().error_note("sorry: {error}"),
            100,
            3,
        );
        let mut sent = feed(&mut c, &paragraphs(20, 60), 10);
        // One message allowed while streaming: the other two are the last
        // message and the reserve.
        assert_eq!(sent.len(), 1);
        sent.extend(c.fail("timeout"));
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[2], "sorry: timeout");
    }

    #[test]
    fn markdown_is_rendered_and_a_code_block_is_never_split_while_streaming() {
        let md = "Here is the code, explained in a short intro:\n\n```\nline 1\n\nline 3\n```\n\n**Done.**";
        let mut c = StreamCutter::new(StreamOptions::markdown(), 4000, 9);
        let early = feed(&mut c, md, 2);
        // The intro went early; the code block only once it was closed and
        // followed by another block.
        assert_eq!(early[0], "Here is the code, explained in a short intro:");
        let (rest, _) = c.finish();
        let all: Vec<String> = early.into_iter().chain(rest).collect();
        assert!(
            all.iter().any(|m| m.contains("line 1\n\nline 3")),
            "{all:?}"
        );
        assert!(all.iter().all(|m| !m.contains("```") && !m.contains("**")));
    }

    #[test]
    fn no_quota_sends_nothing() {
        let mut c = StreamCutter::new(StreamOptions::default(), 100, 0);
        assert!(feed(&mut c, &paragraphs(5, 100), 5).is_empty());
        let (rest, cut) = c.finish();
        assert!(rest.is_empty() && cut);
        assert!(c.fail("x").is_empty());
    }
}
