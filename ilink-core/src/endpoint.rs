//! The endpoints of the protocol: their paths and official client timeouts.

use std::fmt;
use std::time::Duration;

/// One remote operation; used for routing, timeouts, errors and tracing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST ilink/bot/getupdates` (long-poll).
    GetUpdates,
    /// `POST ilink/bot/sendmessage`.
    SendMessage,
    /// `POST ilink/bot/getconfig`.
    GetConfig,
    /// `POST ilink/bot/sendtyping`.
    SendTyping,
    /// `POST ilink/bot/getuploadurl`.
    GetUploadUrl,
    /// `POST ilink/bot/msg/notifystart`.
    NotifyStart,
    /// `POST ilink/bot/msg/notifystop`.
    NotifyStop,
    /// `POST ilink/bot/get_bot_qrcode?bot_type=3`.
    GetBotQrcode,
    /// `GET ilink/bot/get_qrcode_status` (long-poll).
    GetQrcodeStatus,
    /// `POST <cdn>/upload` or `upload_full_url`.
    CdnUpload,
    /// `GET <cdn>/download` or `full_url`.
    CdnDownload,
}

impl Endpoint {
    /// Path relative to the API base URL (no leading slash), without query.
    /// CDN endpoints return their path relative to the CDN base URL.
    pub fn path(self) -> &'static str {
        match self {
            Self::GetUpdates => "ilink/bot/getupdates",
            Self::SendMessage => "ilink/bot/sendmessage",
            Self::GetConfig => "ilink/bot/getconfig",
            Self::SendTyping => "ilink/bot/sendtyping",
            Self::GetUploadUrl => "ilink/bot/getuploadurl",
            Self::NotifyStart => "ilink/bot/msg/notifystart",
            Self::NotifyStop => "ilink/bot/msg/notifystop",
            Self::GetBotQrcode => "ilink/bot/get_bot_qrcode",
            Self::GetQrcodeStatus => "ilink/bot/get_qrcode_status",
            Self::CdnUpload => "upload",
            Self::CdnDownload => "download",
        }
    }

    /// The official client's timeout for this call.
    pub fn default_timeout(self) -> Duration {
        match self {
            Self::GetUpdates | Self::GetQrcodeStatus => Duration::from_secs(35),
            Self::SendMessage | Self::GetUploadUrl => Duration::from_secs(15),
            Self::GetConfig
            | Self::SendTyping
            | Self::NotifyStart
            | Self::NotifyStop
            | Self::GetBotQrcode => Duration::from_secs(10),
            Self::CdnUpload | Self::CdnDownload => Duration::from_secs(60),
        }
    }

    /// A short name for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::GetUpdates => "getupdates",
            Self::SendMessage => "sendmessage",
            Self::GetConfig => "getconfig",
            Self::SendTyping => "sendtyping",
            Self::GetUploadUrl => "getuploadurl",
            Self::NotifyStart => "notifystart",
            Self::NotifyStop => "notifystop",
            Self::GetBotQrcode => "get_bot_qrcode",
            Self::GetQrcodeStatus => "get_qrcode_status",
            Self::CdnUpload => "cdn upload",
            Self::CdnDownload => "cdn download",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
