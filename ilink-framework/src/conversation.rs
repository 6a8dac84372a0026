//! Conversations: which inbound messages belong together and are handled in
//! order by one session.
//!
//! The default key is the group id when the message came from a group, else
//! the peer user id. Like teloxide's `distribution_function`, users can pass
//! their own [`KeyFn`] (e.g. one conversation per user inside groups).

use std::fmt;
use std::sync::Arc;

use crate::Message;

/// Identifies one conversation of an account. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationKey(Arc<str>);

impl ConversationKey {
    /// Wraps a key.
    pub fn new(key: impl AsRef<str>) -> Self {
        Self(Arc::from(key.as_ref()))
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConversationKey({})", &self.0)
    }
}

/// Maps a message to its conversation.
pub type KeyFn = Arc<dyn Fn(&Message) -> ConversationKey + Send + Sync>;

/// The default conversation key: `group_id` if present, else the sender.
pub fn default_key(msg: &Message) -> ConversationKey {
    match msg.group_id() {
        Some(g) => ConversationKey::new(format!("group:{g}")),
        None => ConversationKey::new(msg.sender()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ilink_core::types::WeixinMessage;

    #[test]
    fn group_wins_over_sender() {
        let m = Message::new(WeixinMessage {
            from_user_id: Some("u".into()),
            group_id: Some("g".into()),
            ..Default::default()
        });
        assert_eq!(default_key(&m).as_str(), "group:g");
        let m = Message::new(WeixinMessage {
            from_user_id: Some("u".into()),
            ..Default::default()
        });
        assert_eq!(default_key(&m).as_str(), "u");
    }
}
