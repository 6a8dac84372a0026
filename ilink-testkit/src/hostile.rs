//! Answer bodies of the hostile faults: a body of a given size, generated while it is
//! sent so that the simulator never holds it, and an answer dribbled out slowly.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures::stream::{self, Stream, StreamExt as _};
use ilink_core::Endpoint;

/// The pieces a generated body is sent in.
const PIECE: usize = 64 * 1024;
static FILL: [u8; PIECE] = [b'a'; PIECE];

/// The shortest JSON answer, padded with spaces below the size of a padded one.
const MINIMAL_JSON: &[u8] = b"{\"ret\":0}";
const PADDED_HEAD: &[u8] = b"{\"ret\":0,\"padding\":\"";
const PADDED_TAIL: &[u8] = b"\"}";

/// A 200 answer of exactly `bytes` bytes; see `FaultAction::SizedBody`.
pub(crate) fn sized_body(endpoint: Endpoint, bytes: u64, chunked: bool) -> Response {
    let cdn = matches!(endpoint, Endpoint::CdnDownload | Endpoint::CdnUpload);
    let (head, fill, tail): (&'static [u8], u64, Vec<u8>) = if cdn {
        (b"", bytes, Vec::new())
    } else if bytes >= (PADDED_HEAD.len() + PADDED_TAIL.len()) as u64 {
        let fill = bytes - (PADDED_HEAD.len() + PADDED_TAIL.len()) as u64;
        (PADDED_HEAD, fill, PADDED_TAIL.to_vec())
    } else {
        let mut small = MINIMAL_JSON.to_vec();
        small.resize(usize::try_from(bytes).unwrap_or(0), b' ');
        (b"", 0, small)
    };
    let pieces = fill / PIECE as u64;
    let rest = (fill % PIECE as u64) as usize;
    let body = stream::iter([Bytes::from_static(head)])
        .chain(stream::iter((0..pieces).map(|_| Bytes::from_static(&FILL))))
        .chain(stream::iter([
            Bytes::from_static(&FILL[..rest]),
            Bytes::from(tail),
        ]))
        .filter(|piece| std::future::ready(!piece.is_empty()));
    let content_type = if cdn {
        "application/octet-stream"
    } else {
        "application/json"
    };
    let mut res = Response::new(streamed(body));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if !chunked {
        res.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes));
    }
    res
}

/// `res` with its body sent `chunk_bytes` at a time, one piece every `interval`.
pub(crate) async fn trickle(res: Response, chunk_bytes: u64, interval: Duration) -> Response {
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let size = usize::try_from(chunk_bytes).unwrap_or(usize::MAX).max(1);
    let pieces: Vec<Bytes> = (0..bytes.len())
        .step_by(size)
        .map(|at| bytes.slice(at..bytes.len().min(at + size)))
        .collect();
    let body = stream::iter(pieces.into_iter().enumerate()).then(move |(n, piece)| async move {
        if n > 0 {
            tokio::time::sleep(interval).await;
        }
        piece
    });
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Response::from_parts(parts, streamed(body))
}

/// A body sent as `pieces` yields it.
fn streamed(pieces: impl Stream<Item = Bytes> + Send + 'static) -> Body {
    Body::from_stream(pieces.map(Ok::<_, std::convert::Infallible>))
}
