//! How every kind of failure maps to a typed error, timeouts included, and
//! that neither errors nor logs reveal secrets.

mod common;

use std::time::Duration;

use common::{MockServer, Reply, api_at, closed_port};
use ilink_core::types::WeixinMessage;
use ilink_core::{ApiCode, Endpoint, Error, TransportKind};
use serde_json::json;

async fn send_with_reply(reply: Reply) -> Error {
    let server = MockServer::start(move |_, _| reply.clone()).await;
    api_at(&server.url)
        .send_message(WeixinMessage::default())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn http_500_is_an_http_status_error() {
    let err = send_with_reply(Reply::status(500, "upstream exploded")).await;
    match &err {
        Error::HttpStatus {
            endpoint,
            status,
            body,
        } => {
            assert_eq!(*endpoint, Endpoint::SendMessage);
            assert_eq!(*status, 500);
            assert!(body.contains("upstream exploded"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.is_retryable());
}

#[tokio::test]
async fn non_zero_ret_maps_to_api_codes() {
    for (ret, code) in [
        (-1, ApiCode::Refused),
        (-2, ApiCode::Rejected),
        (-3, ApiCode::InvalidArguments),
        (-4, ApiCode::NoContext),
    ] {
        let err = send_with_reply(Reply::json(json!({"ret": ret, "errmsg": "nope"}))).await;
        let api = err.api().unwrap_or_else(|| panic!("ret {ret}: {err:?}"));
        assert_eq!(api.code(), code);
        assert_eq!(api.errmsg.as_deref(), Some("nope"));
        assert!(!err.is_retryable());
    }
    let err = send_with_reply(Reply::json(json!({"ret": 0, "errcode": -3}))).await;
    assert_eq!(err.api().unwrap().code(), ApiCode::InvalidArguments);
}

#[tokio::test]
async fn minus_fourteen_in_ret_or_errcode_is_session_expired() {
    let err = send_with_reply(Reply::json(json!({"ret": -14}))).await;
    assert!(err.is_session_expired(), "{err:?}");
    let err = send_with_reply(Reply::json(
        json!({"ret": 0, "errcode": -14, "errmsg": "x"}),
    ))
    .await;
    assert!(err.is_session_expired(), "{err:?}");
    let err = send_with_reply(Reply::json(json!({"ret": -1, "errcode": -14}))).await;
    assert!(err.is_session_expired(), "{err:?}");
}

#[tokio::test]
async fn garbage_body_is_a_decode_error_with_a_redacted_excerpt() {
    let body = br#"<html>oops {"context_token":"ctx-secret-value-123456"} </html>"#;
    let err = send_with_reply(Reply::raw(body)).await;
    match &err {
        Error::Decode { endpoint, body, .. } => {
            assert_eq!(*endpoint, Endpoint::SendMessage);
            assert!(body.contains("<html>oops"), "{body}");
            assert!(!body.contains("secret-value"), "{body}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Valid JSON of the wrong shape is a decode error too, not a panic.
    let err = send_with_reply(Reply::json(json!({"ret": "zero", "message_id": [1]}))).await;
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    let err = send_with_reply(Reply::json(json!([1, 2]))).await;
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn unknown_fields_and_missing_optionals_are_fine() {
    let server = MockServer::start(|_, _| Reply::json(json!({"brand_new": {"x": 1}}))).await;
    let resp = api_at(&server.url)
        .send_message(WeixinMessage::default())
        .await
        .unwrap();
    assert_eq!(resp.message_id, None);
}

#[tokio::test]
async fn connection_refused_is_a_connect_transport_error() {
    let port = closed_port().await;
    let err = api_at(&format!("http://127.0.0.1:{port}"))
        .notify_start()
        .await
        .unwrap_err();
    match &err {
        Error::Transport {
            endpoint,
            kind,
            message,
        } => {
            assert_eq!(*endpoint, Endpoint::NotifyStart);
            assert_eq!(*kind, TransportKind::Connect, "{message}");
            assert!(!message.contains("127.0.0.1"), "URL stripped: {message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn per_endpoint_timeout_applies() {
    let err = send_with_reply(Reply::hang()).await;
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Timeout,
                endpoint: Endpoint::SendMessage,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn long_poll_timeout_is_an_empty_batch_with_the_old_cursor() {
    let server = MockServer::start(|_, _| Reply::hang()).await;
    let resp = api_at(&server.url)
        .get_updates("cursor-1", Some(Duration::from_millis(200)))
        .await
        .unwrap();
    assert!(resp.msgs.is_empty());
    assert_eq!(resp.get_updates_buf.as_deref(), Some("cursor-1"));
    assert_eq!(resp.ret, 0);
}

#[tokio::test]
async fn a_connect_that_times_out_is_a_poll_error_not_an_empty_batch() {
    // A host that takes the connection and never answers the handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let config = ilink_core::ApiConfig::builder()
        .base_url(format!("https://127.0.0.1:{port}"))
        .token("t")
        .build()
        .unwrap();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let polled = ilink_core::Api::with_http(http, config)
        .get_updates("cursor-1", Some(Duration::from_secs(5)))
        .await;
    match polled {
        Err(Error::Transport { kind, .. }) => assert_ne!(kind, TransportKind::Timeout),
        other => panic!("an unreachable server read as {other:?}"),
    }
    held.abort();
}
