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

use crate::chunk::split_text;
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
