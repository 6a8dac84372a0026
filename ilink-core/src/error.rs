//! Typed errors of the protocol client.
//!
//! Transport failures, HTTP status failures and application errors (`ret`,
//! `errcode`) stay apart, so a caller can retry the first, report the second
//! and act on the third:
//!
//! ```
//! use ilink_core::{Error, ApiCode};
//! fn should_retry(e: &Error) -> bool {
//!     match e {
//!         Error::Transport { .. } => true,
//!         Error::HttpStatus { status, .. } => *status >= 500,
//!         Error::Api(api) => api.code() == ApiCode::Rejected && false,
//!         _ => false,
//!     }
//! }
//! # let _ = should_retry;
//! ```

use std::fmt;

use crate::endpoint::Endpoint;
use crate::secret::redact;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The `ret`/`errcode` that means the bot token is stale.
pub const SESSION_EXPIRED_CODE: i64 = -14;

/// Everything that can go wrong talking to the iLink server or its CDN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request did not complete: connect, timeout, TLS, reset.
    #[error("{endpoint}: {kind} error: {message}")]
    Transport {
        /// The call that failed.
        endpoint: Endpoint,
        /// What kind of transport failure.
        kind: TransportKind,
        /// Details from the HTTP stack (URLs with secrets removed).
        message: String,
    },
    /// The server answered with a non-2xx HTTP status.
    #[error("{endpoint}: HTTP {status}: {body}")]
    HttpStatus {
        /// The call that failed.
        endpoint: Endpoint,
        /// The HTTP status code.
        status: u16,
        /// A truncated, redacted excerpt of the body (or `x-error-message`).
        body: String,
    },
    /// The server answered 2xx with a non-zero `ret` or `errcode`.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// `-14`: the bot token is stale. The account must pause or log in again.
    #[error("{endpoint}: session expired (ret {ret}, errcode {errcode:?}): log in again or wait")]
    SessionExpired {
        /// The call that revealed it.
        endpoint: Endpoint,
        /// `ret` as sent.
        ret: i64,
        /// `errcode` as sent.
        errcode: Option<i64>,
        /// `errmsg` as sent.
        errmsg: Option<String>,
    },
    /// The body was not the JSON this crate expected.
    #[error("{endpoint}: could not decode the response ({message}); body: {body}")]
    Decode {
        /// The call whose response was unreadable.
        endpoint: Endpoint,
        /// What the decoder said.
        message: String,
        /// A truncated, redacted excerpt of the body.
        body: String,
    },
    /// An API answer was larger than `ApiConfig::max_response_bytes`; it
    /// was abandoned without being read further.
    #[error(
        "{endpoint}: the response body is larger than {limit} bytes; raise max_response_bytes (ApiConfig or ClientBuilder) if the server legitimately sends more"
    )]
    BodyTooLarge {
        /// The call whose answer was too large.
        endpoint: Endpoint,
        /// The limit in bytes.
        limit: u64,
    },
    /// A CDN download was larger than `ApiConfig::max_download_bytes`; it
    /// was abandoned without being read further.
    #[error(
        "cdn download: the media is larger than {limit} bytes; raise max_download_bytes (ApiConfig or ClientBuilder) to accept it"
    )]
    DownloadTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Media could not be encrypted, decrypted or described.
    #[error("media: {0}")]
    Media(String),
    /// A call was refused before it was sent, because its input is unusable.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// No typing ticket for the user: fetching one failed recently and is
    /// not tried again before `retry_in`.
    #[error("no typing ticket for {user}: getconfig failed; next try in {}s", retry_in.as_secs())]
    TypingTicketUnavailable {
        /// The user.
        user: String,
        /// Until the next fetch may be tried.
        retry_in: std::time::Duration,
    },
    /// Reading a local file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the error says the account's token is stale (`-14`).
    pub fn is_session_expired(&self) -> bool {
        matches!(self, Self::SessionExpired { .. })
    }

    /// Whether trying the same request again may succeed: transport errors and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::HttpStatus { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// The application error, when the server returned one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Builds the error for a response status; `-14` in either field becomes
    /// [`Error::SessionExpired`]. Returns `None` when both are zero/absent.
    pub fn from_status(
        endpoint: Endpoint,
        ret: i64,
        errcode: Option<i64>,
        errmsg: Option<&str>,
    ) -> Option<Self> {
        let errcode_nonzero = errcode.filter(|c| *c != 0);
        if ret == 0 && errcode_nonzero.is_none() {
            return None;
        }
        if ret == SESSION_EXPIRED_CODE || errcode == Some(SESSION_EXPIRED_CODE) {
            return Some(Self::SessionExpired {
                endpoint,
                ret,
                errcode,
                errmsg: errmsg.map(str::to_owned),
            });
        }
        Some(Self::Api(ApiError {
            endpoint,
            ret,
            errcode,
            errmsg: errmsg.map(str::to_owned),
        }))
    }
}

/// The kind of a transport failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// Could not connect (refused, DNS, unreachable).
    Connect,
    /// The client-side timeout elapsed.
    Timeout,
    /// TLS handshake or certificate failure.
    Tls,
    /// The connection broke while sending or receiving.
    Io,
    /// A redirect loop or an invalid redirect.
    Redirect,
    /// Anything else the HTTP stack reported.
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Tls => "TLS",
            Self::Io => "connection",
            Self::Redirect => "redirect",
            Self::Other => "transport",
        })
    }
}

/// A non-zero `ret`/`errcode` answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{endpoint}: server error ret {ret}{}{}{}", errcode.map(|c| format!(", errcode {c}")).unwrap_or_default(), errmsg.as_deref().map(|m| format!(": {m}")).unwrap_or_default(), self.code().hint().map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct ApiError {
    /// The call that failed.
    pub endpoint: Endpoint,
    /// `ret` as sent.
    pub ret: i64,
    /// `errcode` as sent.
    pub errcode: Option<i64>,
    /// `errmsg` as sent.
    pub errmsg: Option<String>,
}

impl ApiError {
    /// The meaning of the code, as far as [`docs/protocol.md`](https://github.com/ilink-rs/ilink-rs/blob/main/docs/protocol.md#results-and-errors)
    /// knows it.
    pub fn code(&self) -> ApiCode {
        let code = if self.ret != 0 {
            self.ret
        } else {
            self.errcode.unwrap_or(0)
        };
        ApiCode::from_code(code)
    }
}

/// Known application error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiCode {
    /// `-1`: refused (e.g. `getuploadurl` upload refused).
    Refused,
    /// `-2`: overloaded: quota exhausted, expired context, burst throttle,
    /// text too long, or a malformed request.
    Rejected,
    /// `-3`: invalid arguments (wrong `to_user_id`, TEXT and VOICE mixed…).
    InvalidArguments,
    /// `-4`: no inbound context for that user yet (`getconfig`).
    NoContext,
    /// Any other code.
    Other(i64),
}

impl ApiCode {
    /// Maps a wire code.
    pub fn from_code(code: i64) -> Self {
        match code {
            -1 => Self::Refused,
            -2 => Self::Rejected,
            -3 => Self::InvalidArguments,
            -4 => Self::NoContext,
            other => Self::Other(other),
        }
    }

    /// What a person should know about the code.
    pub fn hint(self) -> Option<&'static str> {
        match self {
            Self::Refused => Some("refused by the server"),
            Self::Rejected => Some(
                "quota of ~10 replies per inbound message used up, context expired, \
                 sends too fast, or text too long",
            ),
            Self::InvalidArguments => {
                Some("invalid arguments: check to_user_id is byte-exact and items are not mixed")
            }
            Self::NoContext => Some("the user has not written to the bot yet"),
            Self::Other(_) => None,
        }
    }
}

/// How many bytes of a body an error keeps.
pub const BODY_EXCERPT_LEN: usize = 256;

/// A body excerpt safe for logs: truncated at a character boundary, with the
/// values of secret-bearing JSON keys replaced by their redacted description.
pub fn body_excerpt(body: &[u8]) -> String {
    // Only what can reach the excerpt is redacted: a body may be megabytes
    // (up to `max_response_bytes`) and redaction looks at every character.
    // The slack keeps a secret that begins in the excerpt whole enough to
    // be recognised and described.
    let seen = &body[..body.len().min(BODY_EXCERPT_LEN * 16)];
    let text = String::from_utf8_lossy(seen);
    let redacted = redact_json_secrets(&text);
    if redacted.len() <= BODY_EXCERPT_LEN && seen.len() == body.len() {
        return redacted;
    }
    let mut end = BODY_EXCERPT_LEN.min(redacted.len());
    while !redacted.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…({} bytes)", &redacted[..end], body.len())
}

/// Keys whose string values are secrets wherever they appear in a body.
pub const SECRET_KEYS: &[&str] = &[
    "bot_token",
    "context_token",
    "qrcode",
    "qrcode_img_content",
    "typing_ticket",
    "encrypt_query_param",
    "aes_key",
    "aeskey",
    "full_url",
    "upload_param",
    "thumb_upload_param",
    "upload_full_url",
    "local_token_list",
    "Authorization",
];

/// Replaces the string values of [`SECRET_KEYS`] in JSON-ish text, without
/// requiring the text to be valid JSON (it may be truncated or malformed).
pub fn redact_json_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for key in SECRET_KEYS.iter().filter(|_| rest.starts_with('"')) {
            let after_key = rest[1..]
                .strip_prefix(key)
                .and_then(|after| after.strip_prefix('"'));
            if let Some(after_key) = after_key {
                out.push('"');
                out.push_str(key);
                out.push('"');
                let trimmed = after_key.trim_start();
                if let Some(after_colon) = trimmed.strip_prefix(':') {
                    let value = after_colon.trim_start();
                    if let Some(inner) = value.strip_prefix('"') {
                        let end = find_string_end(inner);
                        let secret = &inner[..end];
                        out.push_str(":\"");
                        out.push_str(&redact(secret));
                        out.push('"');
                        rest = inner.get(end + 1..).unwrap_or("");
                        continue 'outer;
                    }
                }
                rest = after_key;
                continue 'outer;
            }
        }
        let ch = rest.chars().next().unwrap_or_default();
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

/// Leaves out the quoted parts of a decoder's message: serde quotes (and
/// escapes, as `Debug` does) the string values it refuses, which may be secrets.
pub(crate) fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    let mut escaped = false;
    for c in message.chars() {
        if inside {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    out.push_str("…\"");
                    inside = false;
                }
                _ => {}
            }
        } else {
            out.push(c);
            inside = c == '"';
        }
    }
    out
}

fn find_string_end(s: &str) -> usize {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return i,
            _ => escaped = false,
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minus_fourteen_in_either_field_is_session_expired() {
        let a = Error::from_status(Endpoint::GetUpdates, -14, None, None).unwrap();
        let b = Error::from_status(Endpoint::GetUpdates, 0, Some(-14), Some("expired")).unwrap();
        assert!(a.is_session_expired());
        assert!(b.is_session_expired());
        assert!(Error::from_status(Endpoint::GetUpdates, 0, Some(0), None).is_none());
    }

    #[test]
    fn codes_map_to_variants() {
        for (code, want) in [
            (-1, ApiCode::Refused),
            (-2, ApiCode::Rejected),
            (-3, ApiCode::InvalidArguments),
            (-4, ApiCode::NoContext),
            (-9, ApiCode::Other(-9)),
        ] {
            let e = Error::from_status(Endpoint::SendMessage, code, None, Some("x")).unwrap();
            assert_eq!(e.api().unwrap().code(), want);
        }
        let e = Error::from_status(Endpoint::SendMessage, 0, Some(-3), None).unwrap();
        assert_eq!(e.api().unwrap().code(), ApiCode::InvalidArguments);
    }

    #[test]
    fn api_error_message_is_helpful() {
        let e =
            Error::from_status(Endpoint::SendMessage, -2, None, Some("prepare failed")).unwrap();
        let s = e.to_string();
        assert!(s.contains("sendmessage"), "{s}");
        assert!(s.contains("-2"), "{s}");
        assert!(s.contains("prepare failed"), "{s}");
        assert!(s.contains("quota"), "{s}");
    }

    #[test]
    fn excerpts_hide_secrets_and_truncate() {
        let body = br#"{"ret":0,"bot_token":"abcdefgh@im.bot:supersecretsupersecret","x":1}"#;
        let s = body_excerpt(body);
        assert!(!s.contains("supersecret"), "{s}");
        assert!(s.contains("\"x\":1"), "{s}");
        let long = "é".repeat(1000);
        let s = body_excerpt(long.as_bytes());
        assert!(s.len() < 300, "{}", s.len());
        assert!(s.ends_with("(2000 bytes)"), "{s}");
    }

    #[test]
    fn a_huge_body_is_excerpted_from_its_start_with_a_long_secret_there_hidden() {
        // A secret that begins in the excerpt and runs past what is redacted.
        let mut body = br#"{"context_token":""#.to_vec();
        body.extend(std::iter::repeat_n(b's', 1 << 20));
        body.extend(br#"","tail":1}"#);
        let s = body_excerpt(&body);
        assert!(s.starts_with(r#"{"context_token":""#), "{s}");
        // At most a four-character prefix of a secret is shown.
        assert!(!s.contains("sssss"), "{s}");
        assert!(s.ends_with(&format!("({} bytes)", body.len())), "{s}");
        assert!(s.len() < 300, "{}", s.len());
    }

    #[test]
    fn decode_errors_do_not_repeat_string_values() {
        let s = redact_quoted(r#"invalid type: string "secret-value", expected u64 at line 1"#);
        assert_eq!(s, r#"invalid type: string "…", expected u64 at line 1"#);
        // An escaped quote does not end the string early.
        let s = redact_quoted(r#"string "ab\"secret\\" is bad"#);
        assert_eq!(s, r#"string "…" is bad"#);
    }

    #[test]
    fn redaction_survives_truncated_json() {
        let s = redact_json_secrets(r#"{"context_token":"unterminated-secret-value-here"#);
        assert!(!s.contains("unterminated-secret"), "{s}");
        let s = redact_json_secrets(r#"{"context_token": 5, "qrcode"#);
        assert_eq!(s, r#"{"context_token": 5, "qrcode"#);
    }
}
