//! `WeixinMessage` and its items, as they travel on the wire.
//!
//! Every field is optional because the server omits what it does not use.
//! Fields this crate does not know are kept in `extra` and written back
//! unchanged, so a message can be stored and replayed without loss, and an
//! item of an unknown type passes through untouched.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::enums::{ItemType, MessageState, MessageType};
use super::items::{
    FileItem, ImageItem, RefMsg, TextItem, ToolCallResultItem, ToolCallStartItem, VideoItem,
    VoiceItem,
};
use super::lenient;
use crate::Secret;

/// One message, inbound (from a user) or outbound (from the bot).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WeixinMessage {
    /// Server sequence number.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub seq: Option<i64>,
    /// Server message id (u64, exceeds 2^53).
    #[serde(
        default,
        with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<u64>,
    /// Sender; `""` on outbound messages (the server fills it in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_user_id: Option<String>,
    /// Recipient; for outbound messages the conversation peer, byte-exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_user_id: Option<String>,
    /// Client-chosen unique id; the server drops a repeated one silently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Creation time, milliseconds since the epoch.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time_ms: Option<i64>,
    /// Last update time, milliseconds since the epoch.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub update_time_ms: Option<i64>,
    /// Deletion time, milliseconds since the epoch.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub delete_time_ms: Option<i64>,
    /// Server session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Group chat id, when the message was written in a group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Who wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<MessageType>,
    /// Lifecycle state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_state: Option<MessageState>,
    /// The content; the official client sends one item per message.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub item_list: Vec<MessageItem>,
    /// Token that must be echoed when replying; a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_token: Option<Secret>,
    /// Groups the messages of one generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Fields this crate does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl WeixinMessage {
    /// The concatenated text of all text items (and voice transcripts are not included).
    pub fn text(&self) -> Option<String> {
        let parts: Vec<&str> = self
            .item_list
            .iter()
            .filter_map(|i| i.text_item.as_ref().and_then(|t| t.text.as_deref()))
            .collect();
        if parts.is_empty() {
            None
        } else {
            Some(parts.concat())
        }
    }
}

/// One entry of `item_list`.
///
/// The payloads other than text are boxed: inline they made every item
/// (text ones included) 1.6 KB, moved and allocated at that size on every
/// message's path; boxed, an item is a few hundred bytes.
///
/// Decoding never fails on a well-formed JSON object: a known field whose
/// value has an unexpected shape is kept, untouched, in [`MessageItem::extra`]
/// instead of failing the whole batch, and unknown item types keep all their
/// fields there.
#[derive(Clone, Default, PartialEq)]
pub struct MessageItem {
    /// Kind of item.
    pub item_type: ItemType,
    /// Creation time, milliseconds since the epoch.
    pub create_time_ms: Option<i64>,
    /// Update time, milliseconds since the epoch.
    pub update_time_ms: Option<i64>,
    /// Whether the item is complete.
    pub is_completed: Option<bool>,
    /// Item id (u64).
    pub msg_id: Option<u64>,
    /// The quoted message, if this item quotes one.
    pub ref_msg: Option<Box<RefMsg>>,
    /// Text payload.
    pub text_item: Option<TextItem>,
    /// Image payload.
    pub image_item: Option<Box<ImageItem>>,
    /// Voice payload.
    pub voice_item: Option<Box<VoiceItem>>,
    /// File payload.
    pub file_item: Option<Box<FileItem>>,
    /// Video payload.
    pub video_item: Option<Box<VideoItem>>,
    /// Tool-call start payload.
    pub tool_call_start_item: Option<Box<ToolCallStartItem>>,
    /// Tool-call result payload.
    pub tool_call_result_item: Option<Box<ToolCallResultItem>>,
    /// Everything else, verbatim (unknown keys and unreadable known ones).
    pub extra: Map<String, Value>,
}

impl std::fmt::Debug for MessageItem {
    /// As derived, except that [`MessageItem::extra`] shows its JSON with
    /// the values of secret keys redacted at any depth: a payload that did
    /// not decode lands there whole, AES keys and CDN parameters included.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extra = serde_json::to_string(&self.extra).unwrap_or_default();
        f.debug_struct("MessageItem")
            .field("item_type", &self.item_type)
            .field("create_time_ms", &self.create_time_ms)
            .field("update_time_ms", &self.update_time_ms)
            .field("is_completed", &self.is_completed)
            .field("msg_id", &self.msg_id)
            .field("ref_msg", &self.ref_msg)
            .field("text_item", &self.text_item)
            .field("image_item", &self.image_item)
            .field("voice_item", &self.voice_item)
            .field("file_item", &self.file_item)
            .field("video_item", &self.video_item)
            .field("tool_call_start_item", &self.tool_call_start_item)
            .field("tool_call_result_item", &self.tool_call_result_item)
            .field(
                "extra",
                &format_args!("{}", crate::error::redact_json_secrets(&extra)),
            )
            .finish()
    }
}

impl MessageItem {
    /// A text item.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            item_type: ItemType::Text,
            text_item: Some(TextItem {
                text: Some(text.into()),
                extra: Map::new(),
            }),
            ..Self::default()
        }
    }

    /// An image item.
    pub fn image(image: ImageItem) -> Self {
        Self {
            item_type: ItemType::Image,
            image_item: Some(Box::new(image)),
            ..Self::default()
        }
    }

    /// A file item.
    pub fn file(file: FileItem) -> Self {
        Self {
            item_type: ItemType::File,
            file_item: Some(Box::new(file)),
            ..Self::default()
        }
    }

    /// A video item.
    pub fn video(video: VideoItem) -> Self {
        Self {
            item_type: ItemType::Video,
            video_item: Some(Box::new(video)),
            ..Self::default()
        }
    }

    /// A voice item.
    pub fn voice(voice: VoiceItem) -> Self {
        Self {
            item_type: ItemType::Voice,
            voice_item: Some(Box::new(voice)),
            ..Self::default()
        }
    }
}

fn take<T: for<'de> Deserialize<'de>>(map: &mut Map<String, Value>, key: &str) -> Option<T> {
    let value = map.remove(key)?;
    if value.is_null() {
        return None;
    }
    match T::deserialize(&value) {
        Ok(v) => Some(v),
        Err(_) => {
            // Keep what we could not read instead of losing it.
            map.insert(key.to_owned(), value);
            None
        }
    }
}

fn take_with<T>(
    map: &mut Map<String, Value>,
    key: &str,
    parse: impl FnOnce(&Value) -> Result<Option<T>, serde_json::Error>,
) -> Option<T> {
    let value = map.remove(key)?;
    match parse(&value) {
        Ok(v) => v,
        Err(_) => {
            map.insert(key.to_owned(), value);
            None
        }
    }
}

impl<'de> Deserialize<'de> for MessageItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(d)?;
        let item_type = take_with(&mut map, "type", |v| {
            lenient::opt_i64::deserialize(v).map(|c| c.map(ItemType::from_code))
        })
        .unwrap_or_default();
        Ok(Self {
            item_type,
            create_time_ms: take_with(&mut map, "create_time_ms", |v| {
                lenient::opt_i64::deserialize(v)
            }),
            update_time_ms: take_with(&mut map, "update_time_ms", |v| {
                lenient::opt_i64::deserialize(v)
            }),
            is_completed: take(&mut map, "is_completed"),
            msg_id: take_with(&mut map, "msg_id", |v| lenient::opt_u64::deserialize(v)),
            ref_msg: take(&mut map, "ref_msg"),
            text_item: take(&mut map, "text_item"),
            image_item: take(&mut map, "image_item"),
            voice_item: take(&mut map, "voice_item"),
            file_item: take(&mut map, "file_item"),
            video_item: take(&mut map, "video_item"),
            tool_call_start_item: take(&mut map, "tool_call_start_item"),
            tool_call_result_item: take(&mut map, "tool_call_result_item"),
            extra: map,
        })
    }
}

impl Serialize for MessageItem {
    /// Writes the item as one JSON object with its keys in sorted order (as
    /// a `serde_json::Map` holds them), known fields and `extra` merged: a
    /// key in `extra` that is also a known field present is left out. The
    /// bytes are what they have always been, since the dedup fingerprint of
    /// a stored message is computed from them; only the way there changed,
    /// without building a `Value` per field for the common items.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        fn payload<T: Serialize, E: Error>(v: &Option<T>) -> Result<Option<Field<'_>>, E> {
            v.as_ref()
                .map(|v| serde_json::to_value(v).map(Field::Value).map_err(E::custom))
                .transpose()
        }
        // A `type` that could not be read is kept in `extra` and the item's
        // type is the default: written back as received, so the item reads
        // back the same (from the inbox after a restart, say).
        let unread_type = self.item_type == ItemType::default() && self.extra.contains_key("type");
        let text = match &self.text_item {
            Some(t) if t.extra.is_empty() => Some(Field::Text(t)),
            other => payload(other)?,
        };
        // In sorted order (a test checks it).
        let known: [(&str, Option<Field<'_>>); 13] = [
            ("create_time_ms", self.create_time_ms.map(Field::I64)),
            ("file_item", payload(&self.file_item)?),
            ("image_item", payload(&self.image_item)?),
            ("is_completed", self.is_completed.map(Field::Bool)),
            ("msg_id", self.msg_id.map(Field::U64)),
            ("ref_msg", payload(&self.ref_msg)?),
            ("text_item", text),
            (
                "tool_call_result_item",
                payload(&self.tool_call_result_item)?,
            ),
            ("tool_call_start_item", payload(&self.tool_call_start_item)?),
            (
                "type",
                (!unread_type).then(|| Field::I64(self.item_type.code())),
            ),
            ("update_time_ms", self.update_time_ms.map(Field::I64)),
            ("video_item", payload(&self.video_item)?),
            ("voice_item", payload(&self.voice_item)?),
        ];
        let present = |key: &str| known.iter().any(|(k, f)| *k == key && f.is_some());
        let len = known.iter().filter(|(_, f)| f.is_some()).count()
            + self.extra.keys().filter(|k| !present(k)).count();
        let mut map = s.serialize_map(Some(len))?;
        let mut extra = self.extra.iter().peekable();
        for (key, field) in &known {
            while let Some((k, v)) = extra.next_if(|(k, _)| k.as_str() < *key) {
                map.serialize_entry(k, v)?;
            }
            if let Some(field) = field {
                map.serialize_entry(key, field)?;
                // The known field wins over an `extra` entry of its name.
                extra.next_if(|(k, _)| k.as_str() == *key);
            }
        }
        for (k, v) in extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A known field of a [`MessageItem`], as it is written.
enum Field<'a> {
    I64(i64),
    U64(u64),
    Bool(bool),
    /// A text item without unknown fields: its derived form has its one key.
    Text(&'a TextItem),
    /// Any other payload, through a `Value` so that its keys come out sorted
    /// (with unknown fields among them) as they always have.
    Value(Value),
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::I64(v) => s.serialize_i64(*v),
            Field::U64(v) => s.serialize_u64(*v),
            Field::Bool(v) => s.serialize_bool(*v),
            Field::Text(t) => t.serialize(s),
            Field::Value(v) => v.serialize(s),
        }
    }
}
