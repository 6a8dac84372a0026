//! Read-only `/mock/*` listings of what the simulator recorded: sent messages, uploaded
//! media, QR sessions, violations, typing, getconfig and notify calls, requests, and who
//! polls each account.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ilink_core::crypto::md5_hex;
use serde_json::{Value, json};

use crate::polls::{InFlightPoll, PollStats};
use crate::records::SendOutcome;
use crate::state::Shared;

type Shr = State<Arc<Shared>>;

pub(super) async fn sent(State(sh): Shr, Query(q): Query<HashMap<String, String>>) -> Response {
    let list: Vec<Value> = sh.read(|i| {
        i.log
            .sent
            .iter()
            .filter(|s| q.get("bot_id").is_none_or(|b| *b == s.bot_id))
            .filter(|s| q.get("recipient").is_none_or(|r| *r == s.to_user_id))
            .map(|s| {
                let (ret, message_id) = match &s.outcome {
                    SendOutcome::Delivered { message_id } => (0, Some(*message_id)),
                    SendOutcome::Duplicate => (0, None),
                    SendOutcome::Rejected { ret, .. } => (*ret, None),
                };
                let ts =
                    s.at.duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0);
                json!({
                    "bot_id": s.bot_id,
                    "recipient": s.to_user_id,
                    "text": s.text(),
                    "context_token": s.context_token,
                    "client_id": s.client_id,
                    "items": s.message.item_list,
                    "timestamp": ts,
                    "ret": ret,
                    "message_id": message_id,
                    "outcome": s.outcome,
                })
            })
            .collect()
    });
    Json(list).into_response()
}

pub(super) async fn media(State(sh): Shr) -> Response {
    let list: Vec<Value> = sh.read(|i| {
        i.cdn
            .uploads
            .iter()
            .map(|u| {
                json!({
                    "bot_id": u.bot_id,
                    "to_user_id": u.to_user_id,
                    "media_type": u.media_type,
                    "filekey": u.filekey,
                    "size": u.plaintext.len(),
                    "md5": md5_hex(&u.plaintext),
                    "data": BASE64.encode(&u.plaintext),
                    "download_param": u.download_param,
                    "via_full_url": u.via_full_url,
                })
            })
            .collect()
    });
    Json(list).into_response()
}

pub(super) async fn qr_sessions(State(sh): Shr) -> Response {
    let list: Vec<Value> = sh.read(|i| {
        i.qr.sessions
            .iter()
            .map(|s| json!({ "qrcode": s.qrcode, "status": s.status.as_str() }))
            .collect()
    });
    Json(list).into_response()
}

pub(super) async fn qr_page(Query(q): Query<HashMap<String, String>>) -> Response {
    let code = q.get("qrcode").cloned().unwrap_or_default();
    format!("ilink-sim QR code {code}: POST /mock/qr/scan then /mock/qr/confirm").into_response()
}

pub(super) async fn violations(State(sh): Shr) -> Response {
    Json(sh.read(|i| i.log.violations.clone())).into_response()
}

fn epoch_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(super) async fn typing(State(sh): Shr) -> Response {
    let list: Vec<Value> = sh.read(|i| {
        i.log
            .typing
            .iter()
            .map(|t| {
                json!({
                    "bot_id": t.bot_id, "user_id": t.user_id, "status": t.status,
                    "ticket_ok": t.ticket_ok, "ret": t.ret, "timestamp": epoch_ms(t.at),
                })
            })
            .collect()
    });
    Json(list).into_response()
}

pub(super) async fn config_calls(State(sh): Shr) -> Response {
    let list: Vec<Value> = sh.read(|i| {
        i.log
            .configs
            .iter()
            .map(|c| {
                json!({
                    "bot_id": c.bot_id, "user_id": c.user_id, "context_token": c.context_token,
                    "ret": c.ret, "timestamp": epoch_ms(c.at),
                })
            })
            .collect()
    });
    Json(list).into_response()
}

pub(super) async fn notify(State(sh): Shr) -> Response {
    let list: Vec<Value> = sh.read(|i| {
        i.log
            .notifies
            .iter()
            .map(|n| {
                json!({
                    "bot_id": n.bot_id, "kind": n.kind, "timestamp": epoch_ms(n.at),
                })
            })
            .collect()
    });
    Json(list).into_response()
}

pub(super) async fn requests(State(sh): Shr) -> Response {
    let list: Vec<Value> = sh.read(|i| {
        i.log
            .requests
            .iter()
            .map(|r| {
                let headers: serde_json::Map<String, Value> = r
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        let v = if k == "authorization" {
                            "<redacted>"
                        } else {
                            v.to_str().unwrap_or("<binary>")
                        };
                        (k.to_string(), Value::from(v))
                    })
                    .collect();
                json!({
                    "method": r.method, "path": r.path, "endpoint": r.endpoint.map(|e| e.name()),
                    "headers": headers, "body_len": r.body_len, "timestamp": epoch_ms(r.at),
                })
            })
            .collect()
    });
    Json(list).into_response()
}

fn poll_json(p: &InFlightPoll) -> Value {
    json!({
        "peer": p.peer, "timestamp": epoch_ms(p.started),
        "user_agent": p.user_agent, "bot_agent": p.bot_agent,
    })
}

fn poll_stats_json(s: &PollStats) -> Value {
    let overlaps: Vec<Value> = s
        .overlaps
        .iter()
        .map(|o| {
            let others: Vec<Value> = o.others.iter().map(poll_json).collect();
            json!({ "poll": poll_json(&o.poll), "others": others })
        })
        .collect();
    let polls: Vec<Value> = s.polls.iter().map(poll_json).collect();
    json!({
        "in_flight": s.in_flight, "max_in_flight": s.max_in_flight, "started": s.started,
        "overlaps": overlaps, "after_hang_ups": s.after_hang_ups,
        "connections": s.connections, "polls": polls,
    })
}

/// Every account (or the one `bot_id` names) with how it was polled.
pub(super) async fn polls(State(sh): Shr, Query(q): Query<HashMap<String, String>>) -> Response {
    let (accounts, concurrently) = sh.read(|i| {
        let mut ids: Vec<&String> = i.accounts.keys().collect();
        let all = i.polls.all();
        // Polls of a removed account stay on record until a reset.
        ids.extend(all.keys().filter(|id| !i.accounts.contains_key(*id)));
        let accounts: serde_json::Map<String, Value> = ids
            .into_iter()
            .filter(|id| q.get("bot_id").is_none_or(|b| b == *id))
            .map(|id| (id.clone(), poll_stats_json(&i.polls.stats(id))))
            .collect();
        (accounts, i.polls.polled_concurrently())
    });
    Json(json!({ "accounts": accounts, "polled_concurrently": concurrently })).into_response()
}
