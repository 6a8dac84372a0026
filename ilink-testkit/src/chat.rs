//! The web chat page: a person picks a bot account and a user id, writes (text, an image
//! or a file) and sees the bot's replies, so a bot can be tried in a browser against the
//! simulator. The page is one HTML file with vanilla JS, embedded at compile time; it
//! writes through `POST /mock/inbound` and polls `GET /mock/chat/messages`, which merges
//! what the user sent and what the bot sent into one conversation.
//!
//! ```text
//! cargo run -p ilink-testkit --bin ilink-sim -- --port 18080
//! open http://127.0.0.1:18080/chat
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use ilink_core::types::{ItemType, MessageItem, WeixinMessage};
use serde_json::{Value, json};

use crate::records::SendOutcome;
use crate::state::{Inner, Shared};

/// The page itself: no build step, no external assets.
const PAGE: &str = include_str!("chat.html");

/// How long a typing indicator stays shown without a refresh (the phone fades it too).
const TYPING_SHOWN_FOR: Duration = Duration::from_secs(10);

/// Conversation entries returned at most; older ones are left out.
const MAX_ENTRIES: usize = 300;

/// Routes of this module.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/chat") }))
        .route("/chat", get(page))
        .route("/mock/chat/messages", get(messages))
        .route("/mock/chat/media", get(media))
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

fn err(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Describes one item for the page; media becomes a URL of its decrypted content.
fn item_json(item: &MessageItem, media_ref: String) -> Value {
    let url = format!("/mock/chat/media?ref={media_ref}");
    let mut v = match item.item_type {
        ItemType::Text => json!({
            "type": "text",
            "text": item.text_item.as_ref().and_then(|t| t.text.clone()).unwrap_or_default(),
        }),
        ItemType::Image => json!({ "type": "image", "url": url }),
        ItemType::Video => json!({ "type": "video", "url": url }),
        ItemType::File => {
            let f = item.file_item.as_ref();
            json!({
                "type": "file",
                "url": url,
                "file_name": f.and_then(|f| f.file_name.clone()),
                "len": f.and_then(|f| f.len.clone()),
            })
        }
        ItemType::Voice => json!({
            "type": "voice",
            "url": url,
            "text": item.voice_item.as_ref().and_then(|v| v.text.clone()),
        }),
        other => json!({ "type": "other", "code": other.code() }),
    };
    if let Some(r) = &item.ref_msg {
        let quoted = r
            .message_item
            .as_ref()
            .and_then(|m| m.text_item.as_ref()?.text.clone())
            .or_else(|| r.title.clone());
        v["quote"] = quoted.into();
    }
    v
}

fn items_json(msg: &WeixinMessage, prefix: &str) -> Vec<Value> {
    msg.item_list
        .iter()
        .enumerate()
        .map(|(j, item)| item_json(item, format!("{prefix}-{j}")))
        .collect()
}

/// The conversation of `bot` with `user`, oldest first: the user's messages and every
/// `sendmessage` of the bot to that user (rejected ones too, so the page can show why).
fn conversation(i: &Inner, bot: &str, user: &str) -> Vec<(i64, Value)> {
    let mut entries: Vec<(i64, Value)> = Vec::new();
    if let Some(acct) = i.accounts.get(bot) {
        for m in acct
            .history
            .iter()
            .filter(|m| m.from_user_id.as_deref() == Some(user))
        {
            let id = m.message_id.unwrap_or_default();
            let at = m.create_time_ms.unwrap_or_default();
            entries.push((
                at,
                json!({
                    "key": format!("in-{id}"),
                    "from": "user",
                    "at_ms": at,
                    "group_id": m.group_id,
                    "status": "delivered",
                    "items": items_json(m, &format!("in-{id}")),
                }),
            ));
        }
    }
    for (n, s) in i.log.sent.iter().enumerate() {
        if s.bot_id != bot || s.to_user_id != user {
            continue;
        }
        let at = epoch_ms(s.at);
        let (status, error) = match &s.outcome {
            SendOutcome::Delivered { .. } => ("delivered", None),
            SendOutcome::Duplicate => ("duplicate", Some("repeated client_id: dropped".into())),
            SendOutcome::Rejected { ret, errmsg } => {
                ("rejected", Some(format!("ret {ret}: {errmsg}")))
            }
        };
        entries.push((
            at,
            json!({
                "key": format!("out-{n}"),
                "from": "bot",
                "at_ms": at,
                "status": status,
                "error": error,
                "items": items_json(&s.message, &format!("out-{n}")),
            }),
        ));
    }
    // Stable: on equal times the user's message stays before the bot's answer.
    entries.sort_by_key(|(at, _)| *at);
    let skip = entries.len().saturating_sub(MAX_ENTRIES);
    entries.drain(..skip);
    entries
}

async fn messages(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(user) = q.get("user").filter(|u| !u.is_empty()) else {
        return err(StatusCode::BAD_REQUEST, "user is required");
    };
    sh.read(|i| {
        let bot = match q.get("bot_id").filter(|b| !b.is_empty()) {
            Some(b) if i.accounts.contains_key(b) => b.clone(),
            Some(_) => return err(StatusCode::NOT_FOUND, "no such bot account"),
            None => match i.accounts.keys().next() {
                Some(b) => b.clone(),
                None => return err(StatusCode::NOT_FOUND, "no bot account"),
            },
        };
        let typing = i
            .log
            .typing
            .iter()
            .rev()
            .find(|t| t.bot_id == bot && &t.user_id == user && t.ret == 0)
            .is_some_and(|t| {
                t.status == 1 && t.at.elapsed().is_ok_and(|age| age < TYPING_SHOWN_FOR)
            });
        let messages: Vec<Value> = conversation(i, &bot, user)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        Json(json!({ "bot_id": bot, "user": user, "typing": typing, "messages": messages }))
            .into_response()
    })
}

/// Finds the item a media reference (`in-<message_id>-<item>` or `out-<send>-<item>`)
/// points at.
fn find_item<'a>(i: &'a Inner, media_ref: &str) -> Option<&'a MessageItem> {
    let mut parts = media_ref.split('-');
    let (kind, id, item) = (parts.next()?, parts.next()?, parts.next()?);
    let item: usize = item.parse().ok()?;
    let msg = match kind {
        "in" => {
            let id: u64 = id.parse().ok()?;
            i.accounts
                .values()
                .flat_map(|a| a.history.iter())
                .find(|m| m.message_id == Some(id))?
        }
        "out" => &i.log.sent.get(id.parse::<usize>().ok()?)?.message,
        _ => return None,
    };
    msg.item_list.get(item)
}

/// A content type from the first bytes, so the browser shows images and plays videos.
fn sniff(data: &[u8]) -> &'static str {
    match data {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xff, 0xd8, 0xff, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => "image/webp",
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => "video/mp4",
        _ => "application/octet-stream",
    }
}

async fn media(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let media_ref = q.get("ref").map(String::as_str).unwrap_or_default();
    let found = sh.read(|i| {
        let item = find_item(i, media_ref)?;
        let name = item.file_item.as_ref().and_then(|f| f.file_name.clone());
        Some(i.cdn.decrypt_item(item).map(|data| (data, name)))
    });
    match found {
        None => err(StatusCode::NOT_FOUND, "no such media"),
        Some(Err(e)) => err(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
        Some(Ok((data, name))) => {
            let mut res = ([(header::CONTENT_TYPE, sniff(&data))], data).into_response();
            if let Some(name) = name {
                // Only a safe subset of the name goes into the header.
                let safe: String = name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                if let Ok(v) = format!("attachment; filename=\"{safe}\"").parse() {
                    res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
                }
            }
            res
        }
    }
}
