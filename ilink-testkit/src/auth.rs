//! Strict checks every bot POST goes through before its endpoint runs: headers
//! (`AuthorizationType`, `Authorization`, `X-WECHAT-UIN`, `iLink-App-Id`,
//! `iLink-App-ClientVersion`, `Content-Type`), the JSON body and its `base_info`, and the
//! account's session state (`-14`).

// Error paths return the finished HTTP answer; they are cold, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::records::ViolationKind;
use crate::request::BodyError;
use crate::state::{ExpiryMode, Inner, Shared};

/// A bot request that passed the checks.
pub(crate) struct BotCall {
    pub bot_id: String,
    pub body: Value,
}

/// An application error answer (`HTTP 200`, non-zero `ret`).
pub(crate) fn ret_error(ret: i64, errmsg: &str) -> Response {
    Json(json!({ "ret": ret, "errmsg": errmsg })).into_response()
}

/// The `-14` answer in the configured shape.
pub(crate) fn expired_response(mode: ExpiryMode) -> Response {
    let body = match mode {
        ExpiryMode::Ret => json!({ "ret": -14, "errmsg": "session timeout" }),
        ExpiryMode::Errcode => json!({ "errcode": -14, "errmsg": "session timeout" }),
        ExpiryMode::Both => json!({ "ret": -14, "errcode": -14, "errmsg": "session timeout" }),
    };
    Json(body).into_response()
}

fn unauthorized(msg: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "ret": -1, "errmsg": msg })),
    )
        .into_response()
}

/// Checks `iLink-App-Id` and `iLink-App-ClientVersion`, which every request carries.
/// Missing ones are recorded but tolerated, as the real server does not refuse them.
pub(crate) fn check_app_headers(
    inner: &mut Inner,
    headers: &HeaderMap,
    bot_id: Option<&str>,
    ep: &'static str,
) {
    if header_str(headers, "ilink-app-id").is_none_or(str::is_empty) {
        inner.violation(
            bot_id,
            Some(ep),
            ViolationKind::MissingAppId,
            "no iLink-App-Id header",
        );
    }
    let version_ok =
        header_str(headers, "ilink-app-clientversion").is_some_and(|v| v.parse::<u32>().is_ok());
    if !version_ok {
        inner.violation(
            bot_id,
            Some(ep),
            ViolationKind::MissingClientVersion,
            "iLink-App-ClientVersion missing or not a decimal number",
        );
    }
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `X-WECHAT-UIN` must be base64 of the decimal string of a u32.
fn uin_ok(value: Option<&str>) -> bool {
    value
        .and_then(|v| BASE64.decode(v.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .is_some_and(|s| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u32>().is_ok()
        })
}

/// Runs every check of a bot POST; on failure returns the answer to send.
pub(crate) fn check_bot_request(
    sh: &Arc<Shared>,
    ep: &'static str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<BotCall, Response> {
    sh.with(|inner| {
        let token = header_str(headers, header::AUTHORIZATION.as_str())
            .and_then(|v| v.trim().strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let bot_id = token.and_then(|t| inner.account_by_token(t).map(|a| a.bot_id.clone()));
        check_app_headers(inner, headers, bot_id.as_deref(), ep);

        if header_str(headers, "authorizationtype") != Some("ilink_bot_token") {
            inner.violation(
                bot_id.as_deref(),
                Some(ep),
                ViolationKind::BadAuthorizationType,
                "AuthorizationType missing or not ilink_bot_token",
            );
            return Err(unauthorized("AuthorizationType must be ilink_bot_token"));
        }
        let Some(token) = token else {
            inner.violation(
                None,
                Some(ep),
                ViolationKind::MissingToken,
                "no Bearer token",
            );
            return Err(unauthorized("missing bot token"));
        };
        let Some(bot_id) = bot_id else {
            if let Some(old) = inner.retired_tokens.get(token).cloned() {
                // A token replaced by a re-login is stale, not unknown.
                return Err(expired_response_for(inner, &old));
            }
            inner.violation(
                None,
                Some(ep),
                ViolationKind::UnknownToken,
                "token not issued by the simulator",
            );
            return Err(unauthorized("unknown bot token"));
        };
        if !uin_ok(header_str(headers, "x-wechat-uin")) {
            inner.violation(
                Some(&bot_id),
                Some(ep),
                ViolationKind::BadUin,
                "X-WECHAT-UIN missing or not base64 of a decimal u32",
            );
            return Err(unauthorized("bad X-WECHAT-UIN"));
        }
        let json_type = header_str(headers, header::CONTENT_TYPE.as_str())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json_type {
            inner.violation(
                Some(&bot_id),
                Some(ep),
                ViolationKind::BadContentType,
                "Content-Type is not application/json",
            );
        }
        let body = match crate::request::bot_body(body) {
            Ok(body) => body,
            Err(BodyError::NotAnObject) => {
                inner.violation(
                    Some(&bot_id),
                    Some(ep),
                    ViolationKind::MalformedBody,
                    "body is not a JSON object",
                );
                return Err(ret_error(-3, "invalid request body"));
            }
            Err(BodyError::NoBaseInfo) => {
                inner.violation(
                    Some(&bot_id),
                    Some(ep),
                    ViolationKind::MissingBaseInfo,
                    "no base_info object",
                );
                return Err(ret_error(-3, "missing base_info"));
            }
        };
        if body.bad_agent {
            inner.violation(
                Some(&bot_id),
                Some(ep),
                ViolationKind::MissingBaseInfo,
                "bot_agent longer than 256 bytes or not ASCII",
            );
        }
        if let Some(mode) = inner.accounts.get(&bot_id).and_then(|a| a.expired) {
            return Err(expired_response(mode));
        }
        Ok(BotCall {
            bot_id,
            body: body.value,
        })
    })
}

fn expired_response_for(inner: &Inner, bot_id: &str) -> Response {
    let mode = inner
        .accounts
        .get(bot_id)
        .and_then(|a| a.expired)
        .unwrap_or_default();
    expired_response(mode)
}
