//! `WeixinMessage` and its items, as they travel on the wire.
//!
//! Every field is optional because the server omits what it does not use.
//! Fields this crate does not know are kept in `extra` and written back
//! unchanged, so a message can be stored and replayed without loss, and an
//! item of an unknown type passes through untouched.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::enums::{ItemType, MessageState, MessageType, VoiceEncoding};
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

/// CDN reference of an encrypted media blob.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CdnMedia {
    /// Download parameter; a secret (it grants access).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt_query_param: Option<Secret>,
    /// AES key: base64 of 16 raw bytes, or base64 of a 32-char hex string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aes_key: Option<Secret>,
    /// Encryption scheme; 1 = AES-128-ECB.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub encrypt_type: Option<i64>,
    /// A complete download URL, preferred over the constructed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_url: Option<Secret>,
    /// Fields this crate does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `text_item`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TextItem {
    /// The text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Fields this crate does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `image_item`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageItem {
    /// The full image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<CdnMedia>,
    /// The thumbnail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_media: Option<CdnMedia>,
    /// AES key as 32 hex chars; preferred for decryption when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aeskey: Option<Secret>,
    /// Legacy URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Ciphertext size of the image.
    #[serde(
        default,
        with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub mid_size: Option<u64>,
    /// Ciphertext size of the thumbnail.
    #[serde(
        default,
        with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub thumb_size: Option<u64>,
    /// Thumbnail height in pixels.
    #[serde(
        default,
        with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub thumb_height: Option<u64>,
    /// Thumbnail width in pixels.
    #[serde(
        default,
        with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub thumb_width: Option<u64>,
    /// Size of the HD version.
    #[serde(
        default,
        with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub hd_size: Option<u64>,
    /// Fields this crate does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `voice_item`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VoiceItem {
    /// The audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<CdnMedia>,
    /// Codec; mostly SILK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encode_type: Option<VoiceEncoding>,
    /// Bits per sample.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub bits_per_sample: Option<i64>,
    /// Sample rate in Hz.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub sample_rate: Option<i64>,
    /// Duration in milliseconds.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub playtime: Option<i64>,
    /// Speech-to-text transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Fields this crate does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `file_item`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileItem {
    /// The file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<CdnMedia>,
    /// File name as shown to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Hex MD5 of the plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// Plaintext size as a decimal string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<String>,
    /// Fields this crate does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `video_item`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoItem {
    /// The video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<CdnMedia>,
    /// Ciphertext size.
    #[serde(
        default,
        with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub video_size: Option<u64>,
    /// Duration.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub play_length: Option<i64>,
    /// Hex MD5 of the video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_md5: Option<String>,
    /// The thumbnail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_media: Option<CdnMedia>,
    /// Ciphertext size of the thumbnail.
    #[serde(
        default,
        with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub thumb_size: Option<u64>,
    /// Thumbnail height in pixels.
    #[serde(
        default,
        with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub thumb_height: Option<u64>,
    /// Thumbnail width in pixels.
    #[serde(
        default,
        with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub thumb_width: Option<u64>,
    /// Fields this crate does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `tool_call_start_item`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallStartItem {
    /// Name of the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Id pairing start and result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Fields this crate does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `tool_call_result_item`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallResultItem {
    /// Name of the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Id pairing start and result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Outcome as the server sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// Fields this crate does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `partial_text` of a quote: which part of the quoted text was selected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartialText {
    /// Start offset.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub start: Option<i64>,
    /// End offset.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub end: Option<i64>,
    /// Start index.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub startindex: Option<i64>,
    /// End index.
    #[serde(
        default,
        with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub endindex: Option<i64>,
    /// MD5 of the quoted text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotemd5: Option<String>,
    /// Fields this crate does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `ref_msg`: the message being quoted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RefMsg {
    /// Summary shown above the quote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The quoted item (older clients only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_item: Option<Box<MessageItem>>,
    /// Server id of the quoted message (u64).
    #[serde(
        default,
        with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub svr_id: Option<u64>,
    /// The selected part of the quoted text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_text: Option<PartialText>,
    /// Fields this crate does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `item_list`.
///
/// Decoding never fails on a well-formed JSON object: a known field whose
/// value has an unexpected shape is kept, untouched, in [`MessageItem::extra`]
/// instead of failing the whole batch, and unknown item types keep all their
/// fields there.
#[derive(Clone, Debug, Default, PartialEq)]
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
    pub ref_msg: Option<RefMsg>,
    /// Text payload.
    pub text_item: Option<TextItem>,
    /// Image payload.
    pub image_item: Option<ImageItem>,
    /// Voice payload.
    pub voice_item: Option<VoiceItem>,
    /// File payload.
    pub file_item: Option<FileItem>,
    /// Video payload.
    pub video_item: Option<VideoItem>,
    /// Tool-call start payload.
    pub tool_call_start_item: Option<ToolCallStartItem>,
    /// Tool-call result payload.
    pub tool_call_result_item: Option<ToolCallResultItem>,
    /// Everything else, verbatim (unknown keys and unreadable known ones).
    pub extra: Map<String, Value>,
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
            image_item: Some(image),
            ..Self::default()
        }
    }

    /// A file item.
    pub fn file(file: FileItem) -> Self {
        Self {
            item_type: ItemType::File,
            file_item: Some(file),
            ..Self::default()
        }
    }

    /// A video item.
    pub fn video(video: VideoItem) -> Self {
        Self {
            item_type: ItemType::Video,
            video_item: Some(video),
            ..Self::default()
        }
    }

    /// A voice item.
    pub fn voice(voice: VoiceItem) -> Self {
        Self {
            item_type: ItemType::Voice,
            voice_item: Some(voice),
            ..Self::default()
        }
    }
}

fn take<T: for<'de> Deserialize<'de>>(map: &mut Map<String, Value>, key: &str) -> Option<T> {
    let value = map.remove(key)?;
    if value.is_null() {
        return None;
    }
    match serde_json::from_value::<T>(value.clone()) {
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
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let mut map = Map::new();
        let mut put = |key: &str, v: Result<Value, serde_json::Error>| -> Result<(), S::Error> {
            let v = v.map_err(S::Error::custom)?;
            map.insert(key.to_owned(), v);
            Ok(())
        };
        put("type", Ok(Value::from(self.item_type.code())))?;
        if let Some(v) = self.create_time_ms {
            put("create_time_ms", Ok(Value::from(v)))?;
        }
        if let Some(v) = self.update_time_ms {
            put("update_time_ms", Ok(Value::from(v)))?;
        }
        if let Some(v) = self.is_completed {
            put("is_completed", Ok(Value::from(v)))?;
        }
        if let Some(v) = self.msg_id {
            put("msg_id", Ok(Value::from(v)))?;
        }
        macro_rules! opt {
            ($($field:ident),*) => {$(
                if let Some(v) = &self.$field {
                    put(stringify!($field), serde_json::to_value(v))?;
                }
            )*};
        }
        opt!(
            ref_msg,
            text_item,
            image_item,
            voice_item,
            file_item,
            video_item,
            tool_call_start_item,
            tool_call_result_item
        );
        for (k, v) in &self.extra {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
        map.serialize(s)
    }
}
