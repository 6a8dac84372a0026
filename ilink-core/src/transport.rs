//! Turning HTTP exchanges into this crate's typed errors, shared by the API
//! and the CDN: transport failures, HTTP status, and body decoding.
//!
//! Error messages never carry a URL, since URLs of the QR and CDN calls hold
//! secrets in their query.

use std::error::Error as _;

use serde::de::DeserializeOwned;

use crate::endpoint::Endpoint;
use crate::error::{Error, TransportKind, body_excerpt, redact_quoted};
use crate::types::ApiStatus;
use crate::types::repair::from_slice_lenient;

/// Maps a `reqwest` failure to [`Error::Transport`], with the URL removed.
pub(crate) fn transport_error(endpoint: Endpoint, err: reqwest::Error) -> Error {
    let kind = transport_kind(&err);
    let err = err.without_url();
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Error::Transport {
        endpoint,
        kind,
        message: crate::error::redact_json_secrets(&strip_urls(&message)),
    }
}

fn transport_kind(err: &reqwest::Error) -> TransportKind {
    if chain_mentions(err, &["certificate", "tls", "handshake"]) {
        return TransportKind::Tls;
    }
    // Before the timeout: a connection that timed out is the server being
    // unreachable, not a long poll that ended with no messages.
    if err.is_connect() {
        return TransportKind::Connect;
    }
    if err.is_timeout() {
        TransportKind::Timeout
    } else if err.is_redirect() {
        TransportKind::Redirect
    } else if err.is_body() || err.is_decode() || err.is_request() {
        TransportKind::Io
    } else {
        TransportKind::Other
    }
}

fn chain_mentions(err: &reqwest::Error, words: &[&str]) -> bool {
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string().to_ascii_lowercase();
        if words.iter().any(|w| text.contains(w)) {
            return true;
        }
        source = s.source();
    }
    false
}

/// Removes anything that looks like a URL; lower layers sometimes embed one.
fn strip_urls(text: &str) -> String {
    text.split(' ')
        .map(|word| if word.contains("://") { "<url>" } else { word })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How much of an error answer's body is read: enough for an excerpt.
const ERROR_BODY_PREFIX: usize = 4096;

/// Reads a body of at most `limit` bytes, or fails with `too_large()`.
///
/// An announced `Content-Length` over the limit fails before reading;
/// otherwise the body is read chunk by chunk and abandoned as soon as it
/// passes the limit, so nothing past it is ever buffered.
pub(crate) async fn read_limited(
    endpoint: Endpoint,
    mut response: reqwest::Response,
    limit: u64,
    too_large: impl Fn() -> Error,
) -> Result<Vec<u8>, Error> {
    let announced = response.content_length();
    if announced.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let capacity = announced.unwrap_or(0).min(limit);
    let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(endpoint, e))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error of a non-2xx answer, with a redacted excerpt of the start of
/// its body (`header`, e.g. the CDN's `x-error-message`, when given). The
/// rest of the body is not read: an error page has no size limit of its own.
pub(crate) async fn status_error(
    endpoint: Endpoint,
    status: u16,
    mut response: reqwest::Response,
    header: Option<String>,
) -> Error {
    let body = match header {
        Some(text) => text,
        None => {
            let mut prefix = Vec::new();
            // A body that breaks off still leaves what was read for the excerpt.
            while let Ok(Some(chunk)) = response.chunk().await {
                prefix.extend_from_slice(&chunk);
                if prefix.len() >= ERROR_BODY_PREFIX {
                    prefix.truncate(ERROR_BODY_PREFIX);
                    break;
                }
            }
            body_excerpt(&prefix)
        }
    };
    Error::HttpStatus {
        endpoint,
        status,
        body,
    }
}

/// Decodes a JSON body and turns a non-zero `ret`/`errcode` into an error.
pub(crate) fn decode_checked<T: DeserializeOwned + ApiStatus>(
    endpoint: Endpoint,
    body: &[u8],
) -> Result<T, Error> {
    // serde would accept a JSON array as a struct (fields in order); the
    // server only ever sends objects, so anything else is unreadable.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(Error::Decode {
            endpoint,
            message: "expected a JSON object".into(),
            body: body_excerpt(body),
        });
    }
    let value: T = from_slice_lenient(body).map_err(|e| Error::Decode {
        endpoint,
        message: redact_quoted(&e.to_string()),
        body: body_excerpt(body),
    })?;
    match Error::from_status(endpoint, value.ret(), value.errcode(), value.errmsg()) {
        Some(err) => Err(err),
        None => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_removed() {
        assert_eq!(
            strip_urls("error sending request for http://h/x?qrcode=abc now"),
            "error sending request for <url> now"
        );
    }
}
