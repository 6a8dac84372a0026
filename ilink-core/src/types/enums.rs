//! Numeric and string enums of the protocol. Each keeps values it does not
//! know (`Unknown(..)`) so a newer server never breaks decoding and a message
//! passes through unchanged.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of the crate does not know; kept as sent.
            Unknown(i64),
        }

        impl $name {
            /// The wire value.
            pub fn code(self) -> i64 {
                match self {
                    $( Self::$variant => $value, )+
                    Self::Unknown(v) => v,
                }
            }

            /// The variant for a wire value (never fails).
            pub fn from_code(code: i64) -> Self {
                match code {
                    $( $value => Self::$variant, )+
                    other => Self::Unknown(other),
                }
            }
        }

        impl From<i64> for $name {
            fn from(code: i64) -> Self {
                Self::from_code(code)
            }
        }

        impl From<$name> for i64 {
            fn from(v: $name) -> i64 {
                v.code()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i64(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let code = super::lenient::opt_i64::deserialize(d)?.unwrap_or(0);
                Ok(Self::from_code(code))
            }
        }
    };
}

open_enum! {
    /// Who wrote a message (`message_type`).
    #[derive(Default)]
    MessageType { /** Not set. */ #[default] None = 0, /** A person. */ User = 1, /** A bot. */ Bot = 2 }
}

open_enum! {
    /// Lifecycle of a message (`message_state`).
    #[derive(Default)]
    MessageState {
        /** A new message. */ #[default] New = 0,
        /** Still being generated (streaming; unreliable on the real server). */ Generating = 1,
        /** Complete. */ Finish = 2,
    }
}

open_enum! {
    /// Kind of a message item (`type` of an `item_list` entry).
    #[derive(Default)]
    ItemType {
        /** Not set. */ #[default] None = 0,
        /** Text. */ Text = 1,
        /** Image. */ Image = 2,
        /** Voice note. */ Voice = 3,
        /** File attachment. */ File = 4,
        /** Video. */ Video = 5,
        /** A tool call started. */ ToolCallStart = 11,
        /** A tool call finished. */ ToolCallResult = 12,
    }
}

open_enum! {
    /// `status` of `sendtyping`.
    TypingStatus { /** Show "typing…". */ Typing = 1, /** Hide it. */ Cancel = 2 }
}

open_enum! {
    /// `media_type` of `getuploadurl`.
    UploadMediaType { /** Image. */ Image = 1, /** Video. */ Video = 2, /** File. */ File = 3, /** Voice. */ Voice = 4 }
}

open_enum! {
    /// `encode_type` of a voice item.
    VoiceEncoding {
        /** Raw PCM. */ Pcm = 1,
        /** ADPCM. */ Adpcm = 2,
        /** Feature stream. */ Feature = 3,
        /** Speex. */ Speex = 4,
        /** AMR. */ Amr = 5,
        /** SILK (most inbound voice). */ Silk = 6,
        /** MP3. */ Mp3 = 7,
        /** Ogg Speex. */ OggSpeex = 8,
    }
}

/// `status` of `get_qrcode_status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum QrStatus {
    /// Not scanned yet: keep polling.
    #[default]
    Wait,
    /// Scanned; waiting for confirmation on the phone.
    Scanned,
    /// The phone shows a number the person must type in.
    NeedVerifyCode,
    /// Too many wrong codes: refresh the QR code.
    VerifyCodeBlocked,
    /// The QR code expired: refresh it.
    Expired,
    /// Keep polling at `https://<redirect_host>`.
    ScannedButRedirect,
    /// The bot is already bound here: success without new credentials.
    BindedRedirect,
    /// Login done; the response carries the credentials.
    Confirmed,
    /// A status this crate does not know; kept as sent.
    Unknown(String),
}

impl QrStatus {
    /// The wire spelling (note the server's own `scaned`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Wait => "wait",
            Self::Scanned => "scaned",
            Self::NeedVerifyCode => "need_verifycode",
            Self::VerifyCodeBlocked => "verify_code_blocked",
            Self::Expired => "expired",
            Self::ScannedButRedirect => "scaned_but_redirect",
            Self::BindedRedirect => "binded_redirect",
            Self::Confirmed => "confirmed",
            Self::Unknown(s) => s,
        }
    }

    /// Parses the wire spelling; unknown strings are kept.
    pub fn parse(s: &str) -> Self {
        match s {
            "wait" | "" => Self::Wait,
            "scaned" => Self::Scanned,
            "need_verifycode" => Self::NeedVerifyCode,
            "verify_code_blocked" => Self::VerifyCodeBlocked,
            "expired" => Self::Expired,
            "scaned_but_redirect" => Self::ScannedButRedirect,
            "binded_redirect" => Self::BindedRedirect,
            "confirmed" => Self::Confirmed,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

impl Serialize for QrStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for QrStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(Self::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_survive_a_round_trip() {
        let t: ItemType = serde_json::from_str("42").unwrap();
        assert_eq!(t, ItemType::Unknown(42));
        assert_eq!(serde_json::to_string(&t).unwrap(), "42");
        let k: ItemType = serde_json::from_str("11").unwrap();
        assert_eq!(k, ItemType::ToolCallStart);
    }

    #[test]
    fn qr_status_keeps_the_server_spelling() {
        let s: QrStatus = serde_json::from_str("\"scaned_but_redirect\"").unwrap();
        assert_eq!(s, QrStatus::ScannedButRedirect);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            "\"scaned_but_redirect\""
        );
        let u: QrStatus = serde_json::from_str("\"brand_new\"").unwrap();
        assert_eq!(u.as_str(), "brand_new");
    }
}
