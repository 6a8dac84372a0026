//! The middleware every route passes through: it records the request, then applies the
//! first matching [`Fault`](crate::Fault) rule instead of (or around) the endpoint.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;

use crate::faults::{FaultAction, endpoint_of};
use crate::hostile::{sized_body, trickle};
use crate::records::RequestRecord;
use crate::state::Shared;

/// Lets a handler drop its own TCP connection.
#[derive(Clone, Default)]
pub(crate) struct ConnKill(pub Arc<Notify>);

/// Middleware on every route: records the request, then applies a matching fault.
pub(crate) async fn intercept(State(sh): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let endpoint = endpoint_of(&path);
    let body_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let record = RequestRecord {
        method: req.method().to_string(),
        path: path.clone(),
        query: req.uri().query().unwrap_or_default().into(),
        endpoint,
        headers: RequestRecord::detached_headers(req.headers()),
        body_len,
        at: std::time::SystemTime::now(),
    };
    let Some(endpoint) = endpoint else {
        // The control API and the chat page are the tester's, not the bot's traffic.
        let tester = path.starts_with("/mock") || path == "/" || path == "/chat";
        if !tester {
            sh.with(|i| i.log.requests.push(record));
        }
        return next.run(req).await;
    };
    let (action, hang) = sh.with(|i| {
        i.log.requests.push(record);
        (i.faults.take(endpoint), i.config.hang_duration)
    });
    let Some(action) = action else {
        return next.run(req).await;
    };
    tracing::debug!(%endpoint, ?action, "ilink-sim: injecting fault");
    match action {
        FaultAction::Status { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, format!("injected fault: HTTP {}", status.as_u16())).into_response()
        }
        FaultAction::LostResponse { status } => {
            // Let the request take effect, then throw the answer away.
            let _ = next.run(req).await;
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            (
                status,
                format!("injected fault: answer lost, HTTP {}", status.as_u16()),
            )
                .into_response()
        }
        FaultAction::Delay { ms } => {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => next.run(req).await,
                _ = sh.shutdown_signal() => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            }
        }
        FaultAction::Hang => {
            tokio::select! {
                _ = tokio::time::sleep(hang) => {}
                _ = sh.shutdown_signal() => {}
            }
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        FaultAction::Reset => {
            if let Some(kill) = req.extensions().get::<ConnKill>() {
                kill.0.notify_one();
            }
            // The connection task drops this future together with the socket.
            sh.shutdown_signal().await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        FaultAction::Malformed => json_body("{\"ret\":0,\"msgs\":[{\"seq\":1,}".into()),
        FaultAction::Truncated => {
            let res = next.run(req).await;
            let (parts, body) = res.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let cut = bytes.slice(..bytes.len() / 2);
            let mut res = Response::from_parts(parts, Body::from(cut));
            res.headers_mut().remove(header::CONTENT_LENGTH);
            res
        }
        FaultAction::SizedBody { bytes, chunked } => sized_body(endpoint, bytes, chunked),
        FaultAction::Trickle {
            chunk_bytes,
            interval_ms,
        } => {
            let res = next.run(req).await;
            trickle(res, chunk_bytes, Duration::from_millis(interval_ms)).await
        }
        FaultAction::Api {
            ret,
            errcode,
            errmsg,
        } => {
            let mut body = serde_json::Map::new();
            if let Some(r) = ret {
                body.insert("ret".into(), r.into());
            }
            if let Some(c) = errcode {
                body.insert("errcode".into(), c.into());
            }
            if let Some(m) = errmsg {
                body.insert("errmsg".into(), m.into());
            }
            json_body(serde_json::Value::Object(body).to_string())
        }
    }
}

fn json_body(body: String) -> Response {
    let mut res = Response::new(Body::from(body));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
