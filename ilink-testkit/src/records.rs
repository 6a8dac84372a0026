//! What the simulator observed, as plain values a test can inspect: messages the bot sent
//! (with the answer it got), typing events, getconfig calls, notify calls, every HTTP
//! request, and protocol violations.

use std::fmt;
use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderValue};
use ilink_core::Endpoint;
use ilink_core::Secret;
use ilink_core::types::WeixinMessage;
use serde::Serialize;

/// The answer the simulator gave to one `sendmessage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SendOutcome {
    /// Accepted and delivered: `ret 0` with this `message_id`.
    Delivered {
        /// The id the server returned.
        message_id: u64,
    },
    /// A repeated `client_id`: `ret 0` without `message_id`, silently dropped.
    Duplicate,
    /// Refused with this `ret`.
    Rejected {
        /// The `ret` code (-2 quota/throttle/expired, -3 invalid arguments, -14 session).
        ret: i64,
        /// The `errmsg` sent back.
        errmsg: String,
    },
}

/// One `sendmessage` request the bot made, decoded.
#[derive(Clone, Debug)]
pub struct SentMessage {
    /// The bot account that sent it.
    pub bot_id: String,
    /// `to_user_id` as sent.
    pub to_user_id: String,
    /// `client_id` as sent.
    pub client_id: Option<String>,
    /// `context_token` the bot echoed.
    pub context_token: Option<Secret>,
    /// The whole message as decoded.
    pub message: WeixinMessage,
    /// What the simulator answered.
    pub outcome: SendOutcome,
    /// When it arrived.
    pub at: SystemTime,
}

impl SentMessage {
    /// Whether this send was delivered (`ret 0` with a `message_id`).
    pub fn delivered(&self) -> bool {
        matches!(self.outcome, SendOutcome::Delivered { .. })
    }

    /// The delivered `message_id`, if any.
    pub fn message_id(&self) -> Option<u64> {
        match self.outcome {
            SendOutcome::Delivered { message_id } => Some(message_id),
            _ => None,
        }
    }

    /// The concatenated text items, if any.
    pub fn text(&self) -> Option<String> {
        self.message.text()
    }
}

/// One `sendtyping` request.
#[derive(Clone, Debug)]
pub struct TypingEvent {
    /// The bot account.
    pub bot_id: String,
    /// `ilink_user_id` as sent (empty when missing).
    pub user_id: String,
    /// `status` as sent (1 typing, 2 cancel).
    pub status: i64,
    /// Whether the ticket matched the one `getconfig` issued.
    pub ticket_ok: bool,
    /// The `ret` answered.
    pub ret: i64,
    /// When it arrived.
    pub at: SystemTime,
}

/// One `getconfig` request.
#[derive(Clone, Debug)]
pub struct ConfigCall {
    /// The bot account.
    pub bot_id: String,
    /// `ilink_user_id` as sent (empty when missing).
    pub user_id: String,
    /// `context_token` as sent.
    pub context_token: Option<Secret>,
    /// The `ret` answered (0, -2 or -4).
    pub ret: i64,
    /// When it arrived.
    pub at: SystemTime,
}

/// Which notify endpoint was called.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    /// `msg/notifystart`.
    Start,
    /// `msg/notifystop`.
    Stop,
}

/// One `notifystart`/`notifystop` request.
#[derive(Clone, Debug)]
pub struct NotifyEvent {
    /// The bot account.
    pub bot_id: String,
    /// Start or stop.
    pub kind: NotifyKind,
    /// When it arrived.
    pub at: SystemTime,
}

/// One HTTP request as received, before any fault was applied.
#[derive(Clone)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The query string; it carries CDN parameters, so it is kept as a secret.
    pub query: Secret,
    /// The endpoint the path maps to, if any.
    pub endpoint: Option<Endpoint>,
    /// All request headers (including `Authorization`; `Debug` shows only names).
    pub headers: HeaderMap,
    /// Body length in bytes.
    pub body_len: usize,
    /// When it arrived.
    pub at: SystemTime,
}

impl RequestRecord {
    /// A copy of `headers` that owns its bytes, to keep in a record. The
    /// values hyper parses share the connection's read buffer, so a plain
    /// clone kept every request's whole buffer alive (about 12 KB each:
    /// 3.6 GB after the 300,000 messages of a benchmark) and made hyper
    /// allocate, and the kernel zero, a fresh buffer for every request.
    pub(crate) fn detached_headers(headers: &HeaderMap) -> HeaderMap {
        let mut copy = HeaderMap::with_capacity(headers.len());
        for (name, value) in headers {
            // Every value hyper accepted is a valid one.
            if let Ok(mut owned) = HeaderValue::from_bytes(value.as_bytes()) {
                owned.set_sensitive(value.is_sensitive());
                copy.append(name.clone(), owned);
            }
        }
        copy
    }

    /// A header value as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl fmt::Debug for RequestRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values hold the bot token; list the names only.
        let names: Vec<&str> = self.headers.keys().map(|k| k.as_str()).collect();
        f.debug_struct("RequestRecord")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("endpoint", &self.endpoint)
            .field("headers", &names)
            .field("body_len", &self.body_len)
            .finish()
    }
}

/// The rule a client broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// No `Authorization` header.
    MissingToken,
    /// A token the simulator never issued (or of a removed account).
    UnknownToken,
    /// `AuthorizationType` missing or not `ilink_bot_token`.
    BadAuthorizationType,
    /// `X-WECHAT-UIN` missing or not base64 of a decimal u32.
    BadUin,
    /// No `iLink-App-Id` header.
    MissingAppId,
    /// No `iLink-App-ClientVersion` header, or not a decimal number.
    MissingClientVersion,
    /// A POST without `Content-Type: application/json`.
    BadContentType,
    /// A body that is not the expected JSON.
    MalformedBody,
    /// No `base_info` in a bot POST body, or an invalid `bot_agent`.
    MissingBaseInfo,
    /// `from_user_id` not empty on an outgoing message.
    NonEmptyFromUser,
    /// No `client_id` on an outgoing message.
    MissingClientId,
    /// `message_type` other than 2 on an outgoing message.
    WrongMessageType,
    /// `to_user_id` unknown or not byte-exact (case-changed, prefixed).
    WrongRecipient,
    /// TEXT and VOICE items in one `item_list`.
    TextWithVoice,
    /// A `sendtyping` ticket that `getconfig` did not issue.
    BadTypingTicket,
    /// A `getuploadurl` or CDN upload that does not match what was announced.
    BadUpload,
    /// A `client_id` the server had already accepted, on a message with other
    /// content: the server drops it as a repeat, so the new message is lost.
    ClientIdReused,
}

/// A protocol violation by the client, recorded when the simulator answered with an
/// error (or would have on the real server).
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    /// The bot account, when known.
    pub bot_id: Option<String>,
    /// The endpoint.
    pub endpoint: Option<&'static str>,
    /// The rule.
    pub kind: ViolationKind,
    /// A human-readable detail (never a secret).
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;
    use axum::http::header::AUTHORIZATION;

    use super::*;

    #[test]
    fn a_recorded_request_keeps_its_own_copy_of_the_headers_not_the_read_buffer() {
        // As hyper parses them: values are slices of the connection's buffer.
        let buffer = Bytes::from(vec![b'x'; 8192]);
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_maybe_shared(buffer.slice(0..10)).unwrap();
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.append(
            "x-custom",
            HeaderValue::from_maybe_shared(buffer.slice(10..20)).unwrap(),
        );

        let copy = RequestRecord::detached_headers(&headers);

        let within = |v: &HeaderValue| buffer.as_ptr_range().contains(&v.as_bytes().as_ptr());
        assert_eq!(copy.len(), 2);
        for (name, value) in &headers {
            let kept = &copy[name];
            assert_eq!(kept.as_bytes(), value.as_bytes());
            assert_eq!(kept.is_sensitive(), value.is_sensitive());
            assert!(within(value), "the original shares the buffer");
            assert!(!within(kept), "{name} still points into the read buffer");
        }
    }
}
