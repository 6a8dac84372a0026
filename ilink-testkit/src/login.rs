//! QR login over HTTP: `get_bot_qrcode` opens a session, `get_qrcode_status`
//! long-polls it and returns as soon as its status changes (or the current status on
//! timeout). Tests drive the phone side with a [`QrLogin`](crate::QrLogin) handle or the
//! `/mock/qr/*` control API through [`apply`]; the session state machine is in
//! [`qr`](crate::qr).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::auth::check_app_headers;
use crate::qr::{Confirmed, QrAction, QrSession};
use crate::records::ViolationKind;
use crate::state::{Inner, Shared};

/// Routes of this module.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/ilink/bot/get_bot_qrcode", post(get_bot_qrcode))
        .route("/ilink/bot/get_qrcode_status", get(get_qrcode_status))
}

async fn get_bot_qrcode(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let base = sh.base_url();
    sh.with(|i| {
        check_app_headers(i, &headers, None, "get_bot_qrcode");
        if q.get("bot_type").map(String::as_str) != Some("3") {
            i.violation(
                None,
                Some("get_bot_qrcode"),
                ViolationKind::MalformedBody,
                "bot_type must be 3",
            );
        }
        let list_ok = body.is_empty()
            || serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.get("local_token_list")
                        .map(|l| l.as_array().is_some_and(|a| a.len() <= 10))
                })
                .unwrap_or(true);
        if !list_ok {
            i.violation(
                None,
                Some("get_bot_qrcode"),
                ViolationKind::MalformedBody,
                "local_token_list is not a list of at most 10 tokens",
            );
        }
        let qrcode = format!("qr-{}", i.random_token(16));
        i.qr.open(qrcode.clone());
        Json(json!({
            "ret": 0,
            "qrcode": qrcode,
            "qrcode_img_content": format!("{base}/mock/qr/page?qrcode={qrcode}"),
        }))
        .into_response()
    })
}

async fn get_qrcode_status(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let qrcode = q.get("qrcode").cloned().unwrap_or_default();
    let code = q.get("verify_code").cloned();
    let timeout = sh.with(|i| {
        check_app_headers(i, &headers, None, "get_qrcode_status");
        let max = i.config.max_verify_attempts;
        if let (Some(s), Some(code)) = (i.qr.find_mut(&qrcode), code) {
            s.enter_verify_code(&code, max);
        }
        i.config.qr_poll_timeout
    });
    let changed = sh
        .wait_until(timeout, |i| {
            let Some(s) = i.qr.find_mut(&qrcode) else {
                return Some(json!({ "ret": 0, "status": "expired" }));
            };
            s.take_change()
        })
        .await;
    let body = changed.unwrap_or_else(|| {
        sh.read(|i| {
            i.qr.find(&qrcode)
                .map(QrSession::response)
                .unwrap_or_else(|| json!({ "ret": 0, "status": "expired" }))
        })
    });
    Json(body).into_response()
}

/// Applies a phone-side action to a session (the newest one when `qrcode` is `None`);
/// returns the credentials if it confirmed.
pub(crate) fn apply(
    i: &mut Inner,
    qrcode: Option<&str>,
    action: QrAction,
    base_url: &str,
    alt_host: &str,
) -> Option<Option<Confirmed>> {
    // Looked up before a confirmation creates an account, so that an unknown session
    // creates none; looked up again after, as creating it borrows the whole state.
    i.qr.find_or_newest(qrcode)?;
    let confirmed = match &action {
        QrAction::Confirm {
            bot_id,
            bot_token,
            base_url: url,
            ilink_user_id,
        } => {
            let n = i.accounts.len() + 1;
            let bot_id = bot_id
                .clone()
                .unwrap_or_else(|| format!("qr-bot-{n}@im.bot"));
            let token = i.upsert_account(&bot_id, bot_token.clone());
            Some(Confirmed {
                bot_token: token,
                bot_id,
                baseurl: url.clone().unwrap_or_else(|| base_url.to_owned()),
                user_id: ilink_user_id
                    .clone()
                    .unwrap_or_else(|| i.config.qr_owner_user_id.clone()),
            })
        }
        _ => None,
    };
    i.qr.find_or_newest(qrcode)?
        .apply(action, alt_host, confirmed.clone());
    Some(confirmed)
}
