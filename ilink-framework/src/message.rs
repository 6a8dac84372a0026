//! [`Message`]: an inbound message with typed accessors over the raw
//! protocol message, which stays reachable through [`Message::raw`].
//!
//! ```
//! use ilink_framework::Message;
//! use ilink_framework::core::types::{MessageItem, WeixinMessage};
//! let msg = Message::new(WeixinMessage {
//!     from_user_id: Some("alice@im.wechat".into()),
//!     item_list: vec![MessageItem::text("/add 1 2")],
//!     ..Default::default()
//! });
//! assert_eq!(msg.text(), Some("/add 1 2"));
//! assert_eq!(msg.sender(), "alice@im.wechat");
//! ```

use std::sync::Arc;

use ilink_core::Secret;
use ilink_core::types::{
    FileItem, ImageItem, ItemType, MessageItem, RefMsg, VideoItem, VoiceItem, WeixinMessage,
};

/// An inbound message. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Message {
    raw: Arc<WeixinMessage>,
}

impl Message {
    /// Wraps a protocol message (or shares one already in an `Arc`).
    pub fn new(raw: impl Into<Arc<WeixinMessage>>) -> Self {
        Self { raw: raw.into() }
    }

    /// The protocol message as received.
    pub fn raw(&self) -> &WeixinMessage {
        &self.raw
    }

    /// The user who wrote it (`from_user_id`), byte-exact.
    pub fn sender(&self) -> &str {
        self.raw.from_user_id.as_deref().unwrap_or_default()
    }

    /// The group it was written in, if any.
    pub fn group_id(&self) -> Option<&str> {
        self.raw.group_id.as_deref().filter(|g| !g.is_empty())
    }

    /// Server message id.
    pub fn message_id(&self) -> Option<u64> {
        self.raw.message_id
    }

    /// The context token to echo when replying.
    pub fn context_token(&self) -> Option<&Secret> {
        self.raw.context_token.as_ref().filter(|t| !t.is_empty())
    }

    /// Creation time in milliseconds since the epoch.
    pub fn created_at_ms(&self) -> Option<i64> {
        self.raw.create_time_ms
    }

    /// All items.
    pub fn items(&self) -> &[MessageItem] {
        &self.raw.item_list
    }

    /// The text of the first text item. Use [`Message::full_text`] to join several.
    pub fn text(&self) -> Option<&str> {
        self.raw
            .item_list
            .iter()
            .find_map(|i| i.text_item.as_ref().and_then(|t| t.text.as_deref()))
    }

    /// The text of all text items, concatenated.
    pub fn full_text(&self) -> Option<String> {
        self.raw.text()
    }

    /// Image items.
    pub fn images(&self) -> Vec<&ImageItem> {
        self.raw
            .item_list
            .iter()
            .filter_map(|i| i.image_item.as_deref())
            .collect()
    }

    /// Voice items.
    pub fn voices(&self) -> Vec<&VoiceItem> {
        self.raw
            .item_list
            .iter()
            .filter_map(|i| i.voice_item.as_deref())
            .collect()
    }

    /// The first voice item whole, for downloading (`Context::download`, or
    /// `Context::download_voice_wav` with the `voice` feature).
    pub fn voice_item(&self) -> Option<&MessageItem> {
        self.raw
            .item_list
            .iter()
            .find(|i| i.item_type == ItemType::Voice && i.voice_item.is_some())
    }

    /// The speech-to-text transcript of the first voice item that has one.
    pub fn voice_text(&self) -> Option<&str> {
        self.voices().into_iter().find_map(|v| v.text.as_deref())
    }

    /// File items.
    pub fn files(&self) -> Vec<&FileItem> {
        self.raw
            .item_list
            .iter()
            .filter_map(|i| i.file_item.as_deref())
            .collect()
    }

    /// Video items.
    pub fn videos(&self) -> Vec<&VideoItem> {
        self.raw
            .item_list
            .iter()
            .filter_map(|i| i.video_item.as_deref())
            .collect()
    }

    /// Items that carry media (image, voice, file, video), for downloading.
    pub fn media_items(&self) -> Vec<&MessageItem> {
        self.raw
            .item_list
            .iter()
            .filter(|i| {
                matches!(
                    i.item_type,
                    ItemType::Image | ItemType::Voice | ItemType::File | ItemType::Video
                )
            })
            .collect()
    }

    /// The message this one quotes, if any.
    pub fn quoted(&self) -> Option<&RefMsg> {
        self.raw.item_list.iter().find_map(|i| i.ref_msg.as_deref())
    }
}

impl From<WeixinMessage> for Message {
    fn from(raw: WeixinMessage) -> Self {
        Self::new(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ilink_core::types::TextItem;

    #[test]
    fn accessors_read_each_kind() {
        let msg = Message::new(WeixinMessage {
            from_user_id: Some("u@im.wechat".into()),
            group_id: Some("g1".into()),
            context_token: Some("ctx".into()),
            item_list: vec![
                MessageItem {
                    ref_msg: Some(Box::new(RefMsg {
                        title: Some("q".into()),
                        ..Default::default()
                    })),
                    ..MessageItem::text("a")
                },
                MessageItem::text("b"),
                MessageItem::voice(VoiceItem {
                    text: Some("spoken".into()),
                    ..Default::default()
                }),
                MessageItem::file(FileItem {
                    file_name: Some("x.pdf".into()),
                    ..Default::default()
                }),
                MessageItem::image(ImageItem::default()),
                MessageItem::video(VideoItem::default()),
            ],
            ..Default::default()
        });
        assert_eq!(msg.text(), Some("a"));
        assert_eq!(msg.full_text().as_deref(), Some("ab"));
        assert_eq!(msg.voice_text(), Some("spoken"));
        assert_eq!(msg.files()[0].file_name.as_deref(), Some("x.pdf"));
        assert_eq!(msg.images().len(), 1);
        assert_eq!(msg.videos().len(), 1);
        assert_eq!(msg.media_items().len(), 4);
        assert_eq!(msg.quoted().unwrap().title.as_deref(), Some("q"));
        assert_eq!(msg.group_id(), Some("g1"));
        assert_eq!(msg.context_token().unwrap().expose(), "ctx");
    }

    #[test]
    fn empty_message_has_no_text() {
        let msg = Message::new(WeixinMessage {
            item_list: vec![MessageItem {
                text_item: Some(TextItem::default()),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(msg.text(), None);
        assert_eq!(msg.sender(), "");
        assert_eq!(msg.group_id(), None);
    }
}
