//! The payloads of message items (`text_item`, `image_item`, …), the CDN
//! reference of media, and quotes (`ref_msg`).
//!
//! Each struct keeps fields it does not know in `extra`, so an item passes
//! through unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::enums::VoiceEncoding;
use super::lenient;
use super::message::MessageItem;
use crate::Secret;

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
    /// Plaintext size as a decimal string (a number is read as its text).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "lenient::opt_decimal_string"
    )]
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
