//! Request and response bodies of every endpoint in the protocol.
//!
//! Responses ignore fields they do not list and accept missing ones;
//! [`ApiStatus`] gives uniform access to `ret`/`errcode`/`errmsg`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::enums::{QrStatus, TypingStatus, UploadMediaType};
use super::lenient;
use super::message::WeixinMessage;
use super::rejected::RejectedMessage;
use crate::Secret;

/// `base_info`, carried by every bot POST.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseInfo {
    /// Client version string, e.g. `1.0.11`.
    #[serde(default)]
    pub channel_version: String,
    /// User-Agent-like product list; observability only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_agent: Option<String>,
}

/// Uniform access to the status fields that every response carries.
pub trait ApiStatus {
    /// `ret`; 0 on success.
    fn ret(&self) -> i64;
    /// `errcode`, when present.
    fn errcode(&self) -> Option<i64>;
    /// `errmsg`, when present.
    fn errmsg(&self) -> Option<&str>;
}

/// Declares a response body: its own fields plus the `ret`/`errcode`/`errmsg`
/// status every response carries, and its [`ApiStatus`] impl.
macro_rules! response {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            /// 0 on success (for sendmessage: accepted, not necessarily delivered).
            #[serde(default, with = "lenient::i64_or_zero")]
            pub ret: i64,
            /// Application error code.
            #[serde(default, with = "lenient::opt_i64", skip_serializing_if = "Option::is_none")]
            pub errcode: Option<i64>,
            /// Application error message.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub errmsg: Option<String>,
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl ApiStatus for $name {
            fn ret(&self) -> i64 {
                self.ret
            }
            fn errcode(&self) -> Option<i64> {
                self.errcode
            }
            fn errmsg(&self) -> Option<&str> {
                self.errmsg.as_deref()
            }
        }
    };
}

/// Body of `ilink/bot/getupdates`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GetUpdatesRequest {
    /// Opaque cursor; `""` the first time or after a reset.
    #[serde(default)]
    pub get_updates_buf: String,
    /// Client description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_info: Option<BaseInfo>,
}

/// Response of `ilink/bot/getupdates`.
///
/// The envelope is decoded first, then each message on its own: a message
/// that does not decode lands in [`rejected`](Self::rejected) and costs
/// nothing to the rest of its batch. A `msgs` that is not an array (or null)
/// fails the whole answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "GetUpdatesEnvelope")]
pub struct GetUpdatesResponse {
    /// 0 on success.
    #[serde(with = "lenient::i64_or_zero")]
    pub ret: i64,
    /// Application error code.
    #[serde(with = "lenient::opt_i64", skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
    /// Application error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errmsg: Option<String>,
    /// New messages, in batch order, without the rejected ones.
    pub msgs: Vec<WeixinMessage>,
    /// The JSON text each message of [`msgs`](Self::msgs) was decoded
    /// from, in the same order, so that a store can keep a message as it
    /// came instead of writing it out again. Empty when the answer was not
    /// decoded from JSON (built in code); never serialized.
    #[serde(skip)]
    pub msgs_json: Vec<MessageJson>,
    /// Messages of the batch that did not decode (never serialized).
    #[serde(skip)]
    pub rejected: Vec<RejectedMessage>,
    /// The next cursor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub get_updates_buf: Option<String>,
    /// Deprecated alias of the cursor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_buf: Option<String>,
    /// Timeout the server wants for the next poll.
    #[serde(with = "lenient::opt_u64", skip_serializing_if = "Option::is_none")]
    pub longpolling_timeout_ms: Option<u64>,
}

/// The answer of `getupdates` with each message still undecoded.
#[derive(Deserialize)]
struct GetUpdatesEnvelope {
    #[serde(default, with = "lenient::i64_or_zero")]
    ret: i64,
    #[serde(default, with = "lenient::opt_i64")]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
    #[serde(default)]
    msgs: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    get_updates_buf: Option<String>,
    #[serde(default)]
    sync_buf: Option<String>,
    #[serde(default, with = "lenient::opt_u64")]
    longpolling_timeout_ms: Option<u64>,
}

impl From<GetUpdatesEnvelope> for GetUpdatesResponse {
    fn from(envelope: GetUpdatesEnvelope) -> Self {
        let raw = envelope.msgs.unwrap_or_default();
        let mut msgs = Vec::with_capacity(raw.len());
        let mut msgs_json = Vec::with_capacity(raw.len());
        let mut rejected = Vec::new();
        for (index, raw) in raw.into_iter().enumerate() {
            match serde_json::from_str::<WeixinMessage>(raw.get()) {
                Ok(msg) => {
                    msgs.push(msg);
                    msgs_json.push(MessageJson(raw.into()));
                }
                Err(err) => {
                    let raw: Box<str> = raw.into();
                    rejected.push(RejectedMessage::new(index, raw.into(), &err));
                }
            }
        }
        Self {
            ret: envelope.ret,
            errcode: envelope.errcode,
            errmsg: envelope.errmsg,
            msgs,
            msgs_json,
            rejected,
            get_updates_buf: envelope.get_updates_buf,
            sync_buf: envelope.sync_buf,
            longpolling_timeout_ms: envelope.longpolling_timeout_ms,
        }
    }
}

/// The JSON text of one received message, exactly as it decoded.
///
/// It holds the message's context token, so its `Debug` shows only its
/// length.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageJson(Box<str>);

impl MessageJson {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JSON text, owned (without a copy).
    pub fn into_string(self) -> String {
        self.0.into()
    }
}

impl std::fmt::Debug for MessageJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MessageJson(<{} bytes>)", self.0.len())
    }
}

impl ApiStatus for GetUpdatesResponse {
    fn ret(&self) -> i64 {
        self.ret
    }
    fn errcode(&self) -> Option<i64> {
        self.errcode
    }
    fn errmsg(&self) -> Option<&str> {
        self.errmsg.as_deref()
    }
}

impl GetUpdatesResponse {
    /// The next cursor: `get_updates_buf`, else the deprecated `sync_buf`.
    pub fn cursor(&self) -> Option<&str> {
        self.get_updates_buf.as_deref().or(self.sync_buf.as_deref())
    }
}

/// Body of `ilink/bot/sendmessage`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SendMessageRequest {
    /// The message to send.
    pub msg: WeixinMessage,
    /// Client description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_info: Option<BaseInfo>,
}

response! {
    /// Response of `ilink/bot/sendmessage`.
    pub struct SendMessageResponse {
        /// Server id of the delivered message; absent for messages never delivered.
        #[serde(
            default,
            with = "lenient::opt_u64",
            skip_serializing_if = "Option::is_none"
        )]
        pub message_id: Option<u64>,
    }
}

/// Body of `ilink/bot/getconfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GetConfigRequest {
    /// The user the config is for.
    pub ilink_user_id: String,
    /// Context token of that user's last message, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_token: Option<Secret>,
    /// Client description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_info: Option<BaseInfo>,
}

response! {
    /// Response of `ilink/bot/getconfig`.
    pub struct GetConfigResponse {
        /// Ticket for `sendtyping` (base64).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub typing_ticket: Option<Secret>,
    }
}

/// Body of `ilink/bot/sendtyping`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendTypingRequest {
    /// The user who sees the indicator.
    pub ilink_user_id: String,
    /// Ticket from `getconfig`.
    pub typing_ticket: Secret,
    /// Show or cancel.
    pub status: TypingStatus,
    /// Client description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_info: Option<BaseInfo>,
}

/// Body of `getuploadurl`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GetUploadUrlRequest {
    /// Random 32 hex chars naming the upload.
    pub filekey: String,
    /// What is uploaded.
    pub media_type: Option<UploadMediaType>,
    /// Recipient of the message that will carry the media.
    pub to_user_id: String,
    /// Plaintext size.
    pub rawsize: u64,
    /// Hex MD5 of the plaintext.
    pub rawfilemd5: String,
    /// Ciphertext size: `(rawsize / 16 + 1) * 16`.
    pub filesize: u64,
    /// True when no thumbnail is uploaded.
    #[serde(default)]
    pub no_need_thumb: bool,
    /// The AES key as 32 hex chars.
    pub aeskey: Secret,
    /// Thumbnail plaintext size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_rawsize: Option<u64>,
    /// Thumbnail plaintext MD5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_rawfilemd5: Option<String>,
    /// Thumbnail ciphertext size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_filesize: Option<u64>,
    /// Client description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_info: Option<BaseInfo>,
}

response! {
    /// Response of `getuploadurl`.
    pub struct GetUploadUrlResponse {
        /// Query parameter for `<cdn>/upload`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub upload_param: Option<Secret>,
        /// Query parameter for the thumbnail upload.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub thumb_upload_param: Option<Secret>,
        /// Complete upload URL; preferred when present.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub upload_full_url: Option<Secret>,
    }
}

/// Body of the calls that carry nothing but `base_info` (notifystart/notifystop).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BaseRequest {
    /// Client description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_info: Option<BaseInfo>,
}

response! {
    /// Response of the calls that return only a status.
    pub struct BaseResponse {}
}

/// Body of `get_bot_qrcode`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GetBotQrcodeRequest {
    /// Up to the 10 newest locally stored bot tokens.
    #[serde(default)]
    pub local_token_list: Vec<Secret>,
}

response! {
    /// Response of `get_bot_qrcode`.
    pub struct GetBotQrcodeResponse {
        /// The QR value to poll the status with; a secret.
        #[serde(default)]
        pub qrcode: Secret,
        /// What to render as a QR code (a URL); a secret.
        #[serde(default)]
        pub qrcode_img_content: Secret,
    }
}

response! {
    /// Response of `get_qrcode_status`.
    pub struct QrStatusResponse {
        /// Login state.
        #[serde(default)]
        pub status: QrStatus,
        /// The bot token (on `confirmed`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bot_token: Option<Secret>,
        /// The bot account id (on `confirmed`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ilink_bot_id: Option<String>,
        /// API base URL to use from now on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub baseurl: Option<String>,
        /// The person who scanned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ilink_user_id: Option<String>,
        /// Host to keep polling at (on `scaned_but_redirect`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub redirect_host: Option<String>,
    }
}
