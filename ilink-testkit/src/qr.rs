//! Scriptable QR login: `get_bot_qrcode` creates a session, `get_qrcode_status`
//! long-polls it and returns as soon as its status changes (or `wait`-ish on timeout).
//! Tests drive the phone side with a [`QrLogin`](crate::QrLogin) handle or the
//! `/mock/qr/*` control API: scan, confirm, expire, ask for a verify code, redirect.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ilink_core::types::QrStatus;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::check_app_headers;
use crate::records::ViolationKind;
use crate::state::{Inner, Shared};

/// Credentials a confirmed login hands out.
#[derive(Clone, Debug)]
pub(crate) struct Confirmed {
    pub bot_token: String,
    pub bot_id: String,
    pub baseurl: String,
    pub user_id: String,
}

/// One QR code and its state.
pub(crate) struct QrSession {
    pub qrcode: String,
    pub status: QrStatus,
    version: u64,
    reported: u64,
    verify_code: Option<String>,
    wrong_codes: u32,
    redirect_host: Option<String>,
    pub confirmed: Option<Confirmed>,
}

/// All QR sessions, oldest first.
#[derive(Default)]
pub(crate) struct QrStore {
    pub sessions: Vec<QrSession>,
}

/// What the person with the phone does next.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum QrAction {
    /// Scans the code: `scaned`.
    #[default]
    Scan,
    /// Confirms the login: `confirmed` and an account is created (or its token renewed).
    Confirm {
        /// Bot id; a fresh `qr-bot-N@im.bot` when absent.
        #[serde(default)]
        bot_id: Option<String>,
        /// Token; a fresh `<bot_id>:<secret>` when absent.
        #[serde(default)]
        bot_token: Option<String>,
        /// `baseurl` returned; the simulator's base URL when absent.
        #[serde(default)]
        base_url: Option<String>,
        /// `ilink_user_id` returned; `SimConfig::qr_owner_user_id` when absent.
        #[serde(default)]
        ilink_user_id: Option<String>,
    },
    /// The code expires: `expired`.
    Expire,
    /// The phone shows a number that must be entered: `need_verifycode`.
    NeedVerifyCode {
        /// The number the client must send as `verify_code`.
        code: String,
    },
    /// Too many wrong codes: `verify_code_blocked`.
    BlockVerifyCode,
    /// `scaned_but_redirect` to another host (the simulator's second listener by default).
    Redirect {
        /// `host:port` to redirect to.
        #[serde(default)]
        host: Option<String>,
    },
    /// `binded_redirect`: the bot is already bound.
    BindedRedirect,
}

/// Routes of this module.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/ilink/bot/get_bot_qrcode", post(get_bot_qrcode))
        .route("/ilink/bot/get_qrcode_status", get(get_qrcode_status))
}

impl QrSession {
    fn set(&mut self, status: QrStatus) {
        self.status = status;
        self.version += 1;
    }

    fn response(&self) -> serde_json::Value {
        let mut body = json!({ "ret": 0, "status": self.status.as_str() });
        if let Some(c) = &self.confirmed {
            body["bot_token"] = c.bot_token.clone().into();
            body["ilink_bot_id"] = c.bot_id.clone().into();
            body["baseurl"] = c.baseurl.clone().into();
            body["ilink_user_id"] = c.user_id.clone().into();
        }
        if let Some(h) = &self.redirect_host {
            body["redirect_host"] = h.clone().into();
        }
        body
    }
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
        i.qr.sessions.push(QrSession {
            qrcode: qrcode.clone(),
            status: QrStatus::Wait,
            version: 0,
            reported: 0,
            verify_code: None,
            wrong_codes: 0,
            redirect_host: None,
            confirmed: None,
        });
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
        if let (Some(s), Some(code)) = (find(i, &qrcode), code) {
            if s.status == QrStatus::NeedVerifyCode {
                if s.verify_code.as_deref() == Some(code.as_str()) {
                    s.verify_code = None;
                    s.set(QrStatus::Scanned);
                } else {
                    s.wrong_codes += 1;
                    let next = if s.wrong_codes >= max {
                        QrStatus::VerifyCodeBlocked
                    } else {
                        QrStatus::NeedVerifyCode
                    };
                    s.set(next);
                }
            }
        }
        i.config.qr_poll_timeout
    });
    let changed = sh
        .wait_until(timeout, |i| {
            let Some(s) = find(i, &qrcode) else {
                return Some(json!({ "ret": 0, "status": "expired" }));
            };
            (s.version != s.reported).then(|| {
                s.reported = s.version;
                s.response()
            })
        })
        .await;
    let body = changed.unwrap_or_else(|| {
        sh.read(|i| {
            i.qr.sessions
                .iter()
                .find(|s| s.qrcode == qrcode)
                .map(QrSession::response)
                .unwrap_or_else(|| json!({ "ret": 0, "status": "expired" }))
        })
    });
    Json(body).into_response()
}

fn find<'a>(i: &'a mut Inner, qrcode: &str) -> Option<&'a mut QrSession> {
    i.qr.sessions.iter_mut().find(|s| s.qrcode == qrcode)
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
    let idx = match qrcode {
        Some(q) => i.qr.sessions.iter().position(|s| s.qrcode == q)?,
        None => i.qr.sessions.len().checked_sub(1)?,
    };
    let mut confirmed = None;
    let status = match action {
        QrAction::Scan => QrStatus::Scanned,
        QrAction::Expire => QrStatus::Expired,
        QrAction::BlockVerifyCode => QrStatus::VerifyCodeBlocked,
        QrAction::BindedRedirect => QrStatus::BindedRedirect,
        QrAction::NeedVerifyCode { code } => {
            i.qr.sessions[idx].verify_code = Some(code);
            i.qr.sessions[idx].wrong_codes = 0;
            QrStatus::NeedVerifyCode
        }
        QrAction::Redirect { host } => {
            i.qr.sessions[idx].redirect_host = Some(host.unwrap_or_else(|| alt_host.to_owned()));
            QrStatus::ScannedButRedirect
        }
        QrAction::Confirm {
            bot_id,
            bot_token,
            base_url: url,
            ilink_user_id,
        } => {
            let n = i.accounts.len() + 1;
            let bot_id = bot_id.unwrap_or_else(|| format!("qr-bot-{n}@im.bot"));
            let token = i.upsert_account(&bot_id, bot_token);
            let c = Confirmed {
                bot_token: token,
                bot_id,
                baseurl: url.unwrap_or_else(|| base_url.to_owned()),
                user_id: ilink_user_id.unwrap_or_else(|| i.config.qr_owner_user_id.clone()),
            };
            i.qr.sessions[idx].confirmed = Some(c.clone());
            confirmed = Some(c);
            QrStatus::Confirmed
        }
    };
    i.qr.sessions[idx].set(status);
    Some(confirmed)
}
