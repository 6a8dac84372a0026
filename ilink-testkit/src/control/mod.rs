//! The `/mock/*` JSON control API, for tests in any language: a superset of the Go
//! mock's convention (`/mock/inbound`, `/mock/sent`, `/mock/media`, `/mock/qr/scan`,
//! `/mock/qr/confirm`, `/mock/session/expire`, `/mock/reset`) plus accounts, raw batches, faults,
//! violations, the other records and who polls each account. `docs/testing.md` has curl examples.

// Error paths return the finished HTTP answer; they are cold, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ilink_core::types::{MessageItem, MessageState, RefMsg};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::{KeyEncoding, SimConfig};
use crate::faults::{Fault, FaultAction, parse_endpoint};
use crate::login::apply;
use crate::qr::QrAction;
use crate::state::{ExpiryMode, Overrides, Shared};
use crate::users::ScriptedUser;

mod inspect;

use inspect::{
    config_calls, media, notify, polls, qr_page, qr_sessions, requests, sent, typing, violations,
};

type Shr = State<Arc<Shared>>;

/// Routes of this module.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/mock/accounts", get(list_accounts).post(add_account))
        .route("/mock/accounts/{bot_id}", delete(remove_account))
        .route("/mock/inbound", post(inbound))
        .route("/mock/raw_batch", post(raw_batch))
        .route("/mock/sent", get(sent))
        .route("/mock/media", get(media))
        .route("/mock/qr", get(qr_sessions))
        .route("/mock/qr/page", get(qr_page))
        .route("/mock/qr/{action}", post(qr_action))
        .route("/mock/session/expire", post(expire))
        .route("/mock/session/clear", post(clear_expiry))
        .route("/mock/reset", post(reset))
        .route(
            "/mock/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/mock/violations", get(violations))
        .route("/mock/typing", get(typing))
        .route("/mock/config_calls", get(config_calls))
        .route("/mock/notify", get(notify))
        .route("/mock/requests", get(requests))
        .route("/mock/polls", get(polls))
        .route("/mock/polls/reset", post(reset_polls))
        .route("/mock/redeliver", post(redeliver))
        .route("/mock/config", get(get_config).post(set_config))
}

fn err(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({ "error": msg.into() }))).into_response()
}

/// A JSON request body, read leniently: an empty body is `{}` (a `curl -X
/// POST` without `-d`), a bad one is a 400 with the parser's message.
struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let raw = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let raw = if raw.iter().all(u8::is_ascii_whitespace) {
            b"{}".as_slice()
        } else {
            &raw
        };
        serde_json::from_slice(raw)
            .map(JsonBody)
            .map_err(|e| err(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")))
    }
}

/// The named account, or the first one when no name is given.
fn resolve_bot(sh: &Shared, bot_id: Option<&str>) -> Result<String, Response> {
    sh.read(|i| match bot_id {
        Some(id) => i.accounts.contains_key(id).then(|| id.to_owned()),
        None => i.accounts.keys().next().cloned(),
    })
    .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such bot account"))
}

async fn list_accounts(State(sh): Shr) -> Response {
    let list: Vec<Value> = sh.read(|i| {
        i.accounts
            .values()
            .map(|a| json!({ "bot_id": a.bot_id, "token": a.token }))
            .collect()
    });
    Json(list).into_response()
}

#[derive(Deserialize)]
struct AddAccount {
    #[serde(alias = "name")]
    bot_id: Option<String>,
    token: Option<String>,
}

async fn add_account(State(sh): Shr, JsonBody(req): JsonBody<AddAccount>) -> Response {
    let bot_id = req.bot_id.unwrap_or_else(|| {
        let n = sh.read(|i| i.accounts.len()) + 1;
        format!("bot-{n}@im.bot")
    });
    let bot_id = if bot_id.ends_with("@im.bot") {
        bot_id
    } else {
        format!("{bot_id}@im.bot")
    };
    let token = sh.with(|i| i.upsert_account(&bot_id, req.token));
    Json(json!({ "bot_id": bot_id, "token": token })).into_response()
}

async fn remove_account(State(sh): Shr, Path(bot_id): Path<String>) -> Response {
    match sh.with(|i| i.accounts.remove(&bot_id)) {
        Some(_) => Json(json!({ "ok": true })).into_response(),
        None => err(StatusCode::NOT_FOUND, "no such bot account"),
    }
}

#[derive(Deserialize)]
struct InboundItem {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    file_name: Option<String>,
    data: Option<String>,
}

#[derive(Deserialize)]
struct QuoteReq {
    svr_id: Option<u64>,
    title: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct Inbound {
    sender: String,
    #[serde(alias = "bot_id")]
    recipient: Option<String>,
    text: Option<String>,
    #[serde(default)]
    items: Vec<InboundItem>,
    group_id: Option<String>,
    context_token: Option<String>,
    session_id: Option<String>,
    message_state: Option<i64>,
    key_encoding: Option<KeyEncoding>,
    quote: Option<QuoteReq>,
}

fn build_item(user: &ScriptedUser, it: &InboundItem) -> Result<MessageItem, Response> {
    let data = match &it.data {
        Some(d) => BASE64
            .decode(d)
            .map_err(|_| err(StatusCode::BAD_REQUEST, "item data is not base64"))?,
        None => Vec::new(),
    };
    Ok(match it.kind.as_str() {
        "text" => MessageItem::text(it.text.clone().unwrap_or_default()),
        "image" => user.image_item(&data),
        "video" => user.video_item(&data),
        "file" => user.file_item(
            it.file_name.clone().unwrap_or_else(|| "file.bin".into()),
            &data,
        ),
        "voice" => user.voice_item(&data, it.text.as_deref()),
        other => {
            return Err(err(
                StatusCode::BAD_REQUEST,
                format!("unknown item type {other:?}"),
            ));
        }
    })
}

async fn inbound(State(sh): Shr, JsonBody(req): JsonBody<Inbound>) -> Response {
    let bot = match resolve_bot(&sh, req.recipient.as_deref()) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let mut user = ScriptedUser::new(sh.clone(), bot, req.sender.clone());
    if let Some(g) = req.group_id {
        user = user.in_group(g);
    }
    if let Some(enc) = req.key_encoding {
        user = user.with_key_encoding(enc);
    }
    let mut items = Vec::new();
    if let Some(t) = req.text {
        items.push(MessageItem::text(t));
    }
    for it in &req.items {
        match build_item(&user, it) {
            Ok(item) => items.push(item),
            Err(e) => return e,
        }
    }
    if let (Some(q), Some(first)) = (req.quote, items.first_mut()) {
        first.ref_msg = Some(Box::new(RefMsg {
            title: q.title,
            message_item: q.text.map(|t| Box::new(MessageItem::text(t))),
            svr_id: q.svr_id,
            ..RefMsg::default()
        }));
    }
    let overrides = Overrides {
        context_token: req.context_token,
        session_id: req.session_id,
        message_state: req.message_state.map(MessageState::from_code),
    };
    let msg = user.send_with(items, overrides);
    Json(msg).into_response()
}

#[derive(Deserialize)]
struct RawBatch {
    bot_id: Option<String>,
    /// A string is sent as it is; any other JSON value as its JSON text.
    msgs: Value,
}

async fn raw_batch(State(sh): Shr, JsonBody(req): JsonBody<RawBatch>) -> Response {
    let bot = match resolve_bot(&sh, req.bot_id.as_deref()) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let msgs = match req.msgs {
        Value::String(text) => text,
        other => other.to_string(),
    };
    sh.with(|i| i.push_raw_batch(&bot, msgs));
    Json(json!({ "ok": true, "bot_id": bot })).into_response()
}

async fn qr_action(
    State(sh): Shr,
    Path(action): Path<String>,
    JsonBody(mut fields): JsonBody<serde_json::Map<String, Value>>,
) -> Response {
    let qrcode = fields
        .remove("qrcode")
        .and_then(|v| v.as_str().map(str::to_owned));
    fields.insert("action".into(), action.replace('-', "_").into());
    let action: QrAction = match serde_json::from_value(Value::Object(fields)) {
        Ok(a) => a,
        Err(e) => return err(StatusCode::BAD_REQUEST, format!("bad QR action: {e}")),
    };
    let base = sh.base_url();
    let alt = sh
        .urls
        .get()
        .map(|u| u.alt.trim_start_matches("http://").to_owned())
        .unwrap_or_default();
    match sh.with(|i| apply(i, qrcode.as_deref(), action, &base, &alt)) {
        None => err(StatusCode::NOT_FOUND, "no such QR session"),
        Some(Some(c)) => Json(json!({
            "ok": true,
            "bot_token": c.bot_token,
            "ilink_bot_id": c.bot_id,
            "baseurl": c.baseurl,
            "ilink_user_id": c.user_id,
        }))
        .into_response(),
        Some(None) => Json(json!({ "ok": true })).into_response(),
    }
}

#[derive(Deserialize)]
struct Expire {
    bot_id: Option<String>,
    #[serde(default)]
    mode: ExpiryMode,
}

async fn expire(State(sh): Shr, JsonBody(req): JsonBody<Expire>) -> Response {
    set_expiry(&sh, req.bot_id.as_deref(), Some(req.mode))
}

async fn clear_expiry(State(sh): Shr, JsonBody(req): JsonBody<Expire>) -> Response {
    set_expiry(&sh, req.bot_id.as_deref(), None)
}

fn set_expiry(sh: &Shared, bot_id: Option<&str>, mode: Option<ExpiryMode>) -> Response {
    let bot = match resolve_bot(sh, bot_id) {
        Ok(b) => b,
        Err(e) => return e,
    };
    sh.with(|i| {
        if let Some(a) = i.accounts.get_mut(&bot) {
            a.expired = mode;
        }
    });
    Json(json!({ "ok": true, "bot_id": bot })).into_response()
}

async fn reset(State(sh): Shr) -> Response {
    sh.with(crate::state::Inner::reset);
    Json(json!({ "ok": true })).into_response()
}

#[derive(Deserialize)]
struct ResetPolls {
    bot_id: Option<String>,
}

/// Unlike most calls, no `bot_id` means every account: a cluster test resets them all.
async fn reset_polls(State(sh): Shr, JsonBody(req): JsonBody<ResetPolls>) -> Response {
    sh.with(|i| i.polls.reset(req.bot_id.as_deref()));
    Json(json!({ "ok": true })).into_response()
}

#[derive(Deserialize)]
struct FaultReq {
    endpoint: Option<String>,
    action: FaultAction,
    times: Option<u32>,
    probability: Option<f64>,
}

async fn add_fault(State(sh): Shr, JsonBody(req): JsonBody<FaultReq>) -> Response {
    let endpoint = match req.endpoint.as_deref() {
        None | Some("any") | Some("*") => None,
        Some(name) => match parse_endpoint(name) {
            Some(e) => Some(e),
            None => {
                return err(
                    StatusCode::BAD_REQUEST,
                    format!("unknown endpoint {name:?}"),
                );
            }
        },
    };
    let mut fault = Fault {
        endpoint,
        action: req.action,
        times: req.times.unwrap_or(1),
        probability: None,
    };
    if let Some(p) = req.probability {
        fault = fault.with_probability(p);
    }
    sh.with(|i| i.faults.rules.push(fault));
    Json(json!({ "ok": true })).into_response()
}

async fn list_faults(State(sh): Shr) -> Response {
    let list: Vec<Value> = sh.read(|i| {
        i.faults
            .rules
            .iter()
            .map(|f| {
                json!({
                    "endpoint": f.endpoint.map(|e| e.name()),
                    "action": f.action,
                    "times": f.times,
                    "probability": f.probability,
                })
            })
            .collect()
    });
    Json(list).into_response()
}

async fn clear_faults(State(sh): Shr) -> Response {
    sh.with(|i| {
        let seed = i.config.fault_seed;
        i.faults.clear(seed)
    });
    Json(json!({ "ok": true })).into_response()
}

#[derive(Deserialize)]
struct RedeliverReq {
    bot_id: Option<String>,
    message_id: u64,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    new_id: bool,
}

async fn redeliver(State(sh): Shr, JsonBody(req): JsonBody<RedeliverReq>) -> Response {
    let bot = match resolve_bot(&sh, req.bot_id.as_deref()) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let known = sh.read(|i| {
        i.accounts.get(&bot).is_some_and(|a| {
            a.history
                .iter()
                .any(|m| m.message_id == Some(req.message_id))
        })
    });
    if !known {
        return err(StatusCode::NOT_FOUND, "no such inbound message");
    }
    let sh2 = sh.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(req.delay_ms)) => {
                sh2.with(|i| i.redeliver(&bot, req.message_id, req.new_id));
            }
            _ = sh2.shutdown_signal() => {}
        }
    });
    Json(json!({ "ok": true })).into_response()
}

async fn get_config(State(sh): Shr) -> Response {
    Json(sh.read(|i| i.config.clone())).into_response()
}

/// Merges the given fields into the configuration (`port` is ignored while running).
async fn set_config(
    State(sh): Shr,
    JsonBody(patch): JsonBody<serde_json::Map<String, Value>>,
) -> Response {
    let current = sh.read(|i| serde_json::to_value(&i.config).unwrap_or(Value::Null));
    let Value::Object(mut merged) = current else {
        return err(StatusCode::INTERNAL_SERVER_ERROR, "config not serializable");
    };
    merged.extend(patch);
    match serde_json::from_value::<SimConfig>(Value::Object(merged)) {
        Ok(c) => {
            sh.with(|i| i.config = c.clone());
            Json(c).into_response()
        }
        Err(e) => err(StatusCode::BAD_REQUEST, format!("bad config: {e}")),
    }
}
