//! [`Outgoing`]: one message to send, with the `client_id` it keeps across
//! retries, and the one place where a text becomes such messages.
//!
//! The server drops a message whose `client_id` it has already accepted, so
//! sending the same [`Outgoing`] again can never deliver it twice. A long
//! text becomes several messages, cut by [`crate::chunk::split_text`], each
//! with its own `client_id`.
//!
//! ```
//! use ilink_core::Outgoing;
//!
//! let parts = Outgoing::text_chunks(&"a".repeat(25), 10);
//! assert_eq!(parts.len(), 3);
//! assert_eq!(parts[2].text(), Some("aaaaa"));
//! assert_ne!(parts[0].client_id(), parts[1].client_id());
//! ```

use rand::RngCore as _;

use crate::chunk::{split_text, text_units};
use crate::types::MessageItem;

/// A fresh `client_id`: `ilink-rs:` and 32 random hex characters.
pub fn new_client_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("ilink-rs:{}", hex::encode(bytes))
}

/// One message to send: its item and its `client_id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    client_id: String,
    item: MessageItem,
}

impl Outgoing {
    /// A message with a fresh `client_id`.
    pub fn new(item: MessageItem) -> Self {
        Self::with_client_id(item, new_client_id())
    }

    /// A message with a given `client_id` (e.g. of an earlier attempt).
    pub fn with_client_id(item: MessageItem, client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            item,
        }
    }

    /// The messages a text is sent as, in order: chunks of at most
    /// `max_units` UTF-16 units (as [`split_text`] cuts them), one fresh
    /// `client_id` each. An empty text gives none.
    pub fn text_chunks(text: &str, max_units: usize) -> Vec<Self> {
        split_text(text, max_units)
            .into_iter()
            .map(|chunk| Self::new(MessageItem::text(chunk)))
            .collect()
    }

    /// The messages Markdown is sent as: rendered as plain text and cut
    /// between blocks by [`markdown::to_chunks`](crate::markdown::to_chunks),
    /// one fresh `client_id` each.
    ///
    /// ```
    /// use ilink_core::outgoing::Outgoing;
    ///
    /// let parts = Outgoing::markdown_chunks("**Done.** See `log.txt`.", 4000);
    /// assert_eq!(parts[0].text(), Some("Done. See log.txt."));
    /// ```
    pub fn markdown_chunks(markdown: &str, max_units: usize) -> Vec<Self> {
        crate::markdown::to_chunks(markdown, max_units)
            .into_iter()
            .map(|chunk| Self::new(MessageItem::text(chunk)))
            .collect()
    }

    /// At most `max_messages` of the messages [`Outgoing::text_chunks`]
    /// makes of `text`: when it needs more, the last one kept is cut short
    /// so that `note` (e.g. "… (cut: write again for more)") ends it within
    /// `max_units` (alone, when not even the first character left fits beside
    /// it). A note as long as a whole message is left out. Returns
    /// the messages and whether the text was cut.
    ///
    /// ```
    /// use ilink_core::Outgoing;
    ///
    /// let (parts, cut) = Outgoing::text_chunks_within(&"a".repeat(100), 10, 3, "…");
    /// assert!(cut);
    /// assert_eq!(parts.len(), 3);
    /// assert_eq!(parts[2].text(), Some("aaaaaaaaa…"));
    /// ```
    pub fn text_chunks_within(
        text: &str,
        max_units: usize,
        max_messages: usize,
        note: &str,
    ) -> (Vec<Self>, bool) {
        let parts = split_text(text, max_units);
        if parts.len() <= max_messages {
            let all = parts
                .into_iter()
                .map(|chunk| Self::new(MessageItem::text(chunk)))
                .collect();
            return (all, false);
        }
        let Some(last) = max_messages.checked_sub(1) else {
            return (Vec::new(), true);
        };
        let mut kept: Vec<Self> = parts[..last]
            .iter()
            .map(|chunk| Self::new(MessageItem::text(*chunk)))
            .collect();
        let note_units = note.encode_utf16().count();
        let end = if note_units >= max_units.max(1) {
            parts[last].to_owned()
        } else {
            let budget = max_units - note_units;
            // `split_text` lets a character wider than a small budget through
            // on its own; the note then goes alone rather than overflow.
            let head = split_text(parts[last], budget)
                .first()
                .copied()
                .filter(|head| text_units(head) <= budget)
                .unwrap_or_default();
            format!("{head}{note}")
        };
        kept.push(Self::new(MessageItem::text(end)));
        (kept, true)
    }

    /// The `client_id` every attempt of this message carries.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The item sent.
    pub fn item(&self) -> &MessageItem {
        &self.item
    }

    /// The item, without its `client_id` (to send it under another one).
    pub fn into_item(self) -> MessageItem {
        self.item
    }

    /// The text, when the message is text.
    pub fn text(&self) -> Option<&str> {
        self.item.text_item.as_ref()?.text.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_a_budget_the_text_is_cut_and_ends_with_the_note() {
        let text = "one two three four five six seven eight nine ten";
        let (all, cut) = Outgoing::text_chunks_within(text, 10, 100, "…");
        assert!(!cut);
        assert_eq!(all.len(), Outgoing::text_chunks(text, 10).len());

        let (two, cut) = Outgoing::text_chunks_within(text, 10, 2, " [cut]");
        assert!(cut);
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].text(), all[0].text());
        let end = two[1].text().unwrap();
        assert!(
            end.ends_with(" [cut]") && end.encode_utf16().count() <= 10,
            "{end}"
        );
        assert!(
            all[1].text().unwrap().starts_with(&end[..end.len() - 6]),
            "{end}"
        );

        let (none, cut) = Outgoing::text_chunks_within(text, 10, 0, "…");
        assert!(cut && none.is_empty());
        // A note too long for a message is left out rather than overflow.
        let (one, _) = Outgoing::text_chunks_within(text, 10, 1, "0123456789ab");
        assert_eq!(one[0].text(), all[0].text());
        let ids: std::collections::HashSet<_> =
            two.iter().map(|o| o.client_id().to_owned()).collect();
        assert_eq!(ids.len(), 2);
    }

    #[test]
    fn a_head_too_wide_for_the_budget_leaves_the_note_alone() {
        // Found by fuzzing: with one unit left beside the note, the head was
        // a 2-unit emoji and the message 11 units long for a limit of 10.
        let (parts, cut) = Outgoing::text_chunks_within(&"👍".repeat(20), 10, 1, "123456789");
        assert!(cut);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].text(), Some("123456789"));
    }

    #[test]
    fn client_ids_are_unique_and_prefixed() {
        let a = new_client_id();
        let b = new_client_id();
        assert_ne!(a, b);
        assert!(a.starts_with("ilink-rs:") && a.len() == 9 + 32, "{a}");
    }

    #[test]
    fn chunks_keep_the_text_and_its_order() {
        let text = "one. two. three. four.";
        let parts = Outgoing::text_chunks(text, 10);
        let joined: String = parts.iter().filter_map(Outgoing::text).collect();
        assert_eq!(joined, text);
        assert!(parts.len() > 1);
        assert!(Outgoing::text_chunks("", 10).is_empty());
    }
}
