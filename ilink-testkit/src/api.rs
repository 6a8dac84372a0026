//! Bot API endpoints other than `sendmessage` (see [`send`](crate::send)) and
//! `getuploadurl` (see [`cdn`](crate::cdn)): the `getupdates` long-poll with its cursor and
//! poller takeover, `getconfig`/`sendtyping` with typing tickets, and the notify calls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ilink_core::Secret;
use ilink_core::types::WeixinMessage;
use serde_json::{Value, json};

use crate::auth::{check_bot_request, expired_response, header_str, ret_error};
use crate::polls::InFlightPoll;
use crate::records::{ConfigCall, NotifyEvent, NotifyKind, TypingEvent, ViolationKind};
use crate::state::{ExpiryMode, Shared};

/// Routes of this module.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/ilink/bot/getupdates", post(getupdates))
        .route("/ilink/bot/sendmessage", post(crate::send::sendmessage))
        .route("/ilink/bot/getconfig", post(getconfig))
        .route("/ilink/bot/sendtyping", post(sendtyping))
        .route("/ilink/bot/getuploadurl", post(crate::cdn::getuploadurl))
        .route("/ilink/bot/msg/notifystart", post(notifystart))
        .route("/ilink/bot/msg/notifystop", post(notifystop))
}

enum PollEnd {
    Messages(Vec<WeixinMessage>, String),
    /// A raw `msgs` array a test queued, and the cursor.
    Raw(String, String),
    TakenOver,
    Gone,
    Expired(ExpiryMode),
}

/// Counts a `getupdates` out of the [`PollBook`](crate::polls::PollBook) when dropped:
/// when the handler returns, and also when hyper drops the handler because the client
/// hung up mid-poll, which no code after an `.await` would see.
struct InFlight {
    sh: Arc<Shared>,
    bot_id: String,
    id: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.sh.with(|i| i.polls.end(&self.bot_id, self.id));
    }
}

async fn getupdates(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match check_bot_request(&sh, "getupdates", &headers, &body) {
        Ok(c) => c,
        Err(res) => return res,
    };
    let cursor_in = match crate::request::updates_cursor(&call.body) {
        Some(cursor) => cursor,
        None => {
            sh.with(|i| {
                i.violation(
                    Some(&call.bot_id),
                    Some("getupdates"),
                    ViolationKind::MalformedBody,
                    "get_updates_buf is not a string",
                )
            });
            return ret_error(-3, "get_updates_buf must be a string");
        }
    };
    let bot = call.bot_id;
    let poll = InFlightPoll {
        bot_id: bot.clone(),
        peer,
        started: SystemTime::now(),
        user_agent: header_str(&headers, "user-agent").map(str::to_owned),
        bot_agent: call.body["base_info"]["bot_agent"]
            .as_str()
            .map(str::to_owned),
    };
    let Some((generation, timeout, id)) = sh.with(|i| {
        let timeout = i.config.longpoll_timeout;
        let acct = i.accounts.get_mut(&bot)?;
        acct.poll_gen += 1;
        let id = i
            .polls
            .start(poll, |other| crate::peer_closed::peer_closed(other.peer));
        Some((acct.poll_gen, timeout, id))
    }) else {
        return ret_error(-14, "account removed");
    };
    let _in_flight = InFlight {
        sh: sh.clone(),
        bot_id: bot.clone(),
        id,
    };
    let end = sh
        .wait_until(timeout, |i| {
            let Some(acct) = i.accounts.get_mut(&bot) else {
                return Some(PollEnd::Gone);
            };
            if acct.poll_gen != generation {
                return Some(PollEnd::TakenOver);
            }
            if let Some(mode) = acct.expired {
                return Some(PollEnd::Expired(mode));
            }
            if let Some(raw) = acct.raw_batches.pop_front() {
                return Some(PollEnd::Raw(raw, acct.next_cursor(&mut i.rng)));
            }
            if acct.queue.is_empty() {
                return None;
            }
            let msgs = std::mem::take(&mut acct.queue);
            Some(PollEnd::Messages(msgs, acct.next_cursor(&mut i.rng)))
        })
        .await;
    let timeout_ms = timeout.as_millis() as u64;
    match end {
        Some(PollEnd::Messages(msgs, cursor)) => Json(json!({
            "ret": 0,
            "msgs": msgs,
            "get_updates_buf": cursor,
            "longpolling_timeout_ms": timeout_ms,
        }))
        .into_response(),
        Some(PollEnd::Raw(msgs, cursor)) => {
            // Written by hand: `msgs` goes out as the test wrote it, valid JSON or not.
            let body = format!(
                r#"{{"ret":0,"msgs":{msgs},"get_updates_buf":{},"longpolling_timeout_ms":{timeout_ms}}}"#,
                Value::from(cursor)
            );
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Some(PollEnd::Expired(mode)) => expired_response(mode),
        Some(PollEnd::Gone) => ret_error(-14, "account removed"),
        // The replaced poller gets an empty batch and keeps its cursor.
        Some(PollEnd::TakenOver) => Json(json!({
            "ret": 0,
            "msgs": [],
            "get_updates_buf": cursor_in,
            "longpolling_timeout_ms": timeout_ms,
        }))
        .into_response(),
        None => {
            let cursor = sh.with(|i| {
                let rng = &mut i.rng;
                i.accounts.get_mut(&bot).map(|a| a.next_cursor(rng))
            });
            Json(json!({
                "ret": 0,
                "msgs": [],
                "get_updates_buf": cursor.unwrap_or(cursor_in),
                "longpolling_timeout_ms": timeout_ms,
            }))
            .into_response()
        }
    }
}

fn user_id_of(body: &Value) -> String {
    body.get("ilink_user_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

async fn getconfig(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let call = match check_bot_request(&sh, "getconfig", &headers, &body) {
        Ok(c) => c,
        Err(res) => return res,
    };
    let user = user_id_of(&call.body);
    let context_token = call
        .body
        .get("context_token")
        .and_then(Value::as_str)
        .map(Secret::from);
    sh.with(|i| {
        let fresh = format!("tk-{}", i.random_token(18));
        let (ret, ticket) = match i.accounts.get_mut(&call.bot_id) {
            _ if user.is_empty() => (-2, None),
            None => (-14, None),
            Some(acct) if !acct.latest_context.contains_key(&user) => (-4, None),
            Some(acct) => {
                let ticket = acct.typing_tickets.entry(user.clone()).or_insert(fresh);
                (0, Some(BASE64.encode(ticket.as_bytes())))
            }
        };
        i.log.configs.push(ConfigCall {
            bot_id: call.bot_id.clone(),
            user_id: user.clone(),
            context_token,
            ret,
            at: SystemTime::now(),
        });
        match ticket {
            Some(t) => Json(json!({ "ret": 0, "typing_ticket": t })).into_response(),
            None if ret == -4 => ret_error(-4, "no context for this user"),
            None => ret_error(ret, "ilink_user_id required"),
        }
    })
}

async fn sendtyping(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let call = match check_bot_request(&sh, "sendtyping", &headers, &body) {
        Ok(c) => c,
        Err(res) => return res,
    };
    let user = user_id_of(&call.body);
    let ticket = call
        .body
        .get("typing_ticket")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let status = call.body.get("status").and_then(Value::as_i64).unwrap_or(0);
    sh.with(|i| {
        let expected = i
            .accounts
            .get(&call.bot_id)
            .and_then(|a| a.typing_tickets.get(&user))
            .map(|t| BASE64.encode(t.as_bytes()));
        let ticket_ok = expected.as_deref() == Some(ticket.as_str());
        let ret = if user.is_empty() {
            -2
        } else if !ticket_ok {
            i.violation(
                Some(&call.bot_id),
                Some("sendtyping"),
                ViolationKind::BadTypingTicket,
                "typing_ticket was not issued by getconfig for this user",
            );
            -3
        } else if status != 1 && status != 2 {
            i.violation(
                Some(&call.bot_id),
                Some("sendtyping"),
                ViolationKind::MalformedBody,
                format!("typing status {status} is neither 1 nor 2"),
            );
            -3
        } else {
            0
        };
        i.log.typing.push(TypingEvent {
            bot_id: call.bot_id.clone(),
            user_id: user.clone(),
            status,
            ticket_ok,
            ret,
            at: SystemTime::now(),
        });
        if ret == 0 {
            Json(json!({ "ret": 0 })).into_response()
        } else {
            ret_error(ret, "invalid typing request")
        }
    })
}

async fn notify(sh: Arc<Shared>, headers: HeaderMap, body: Bytes, kind: NotifyKind) -> Response {
    let ep = match kind {
        NotifyKind::Start => "notifystart",
        NotifyKind::Stop => "notifystop",
    };
    let call = match check_bot_request(&sh, ep, &headers, &body) {
        Ok(c) => c,
        Err(res) => return res,
    };
    sh.with(|i| {
        i.log.notifies.push(NotifyEvent {
            bot_id: call.bot_id,
            kind,
            at: SystemTime::now(),
        })
    });
    Json(json!({ "ret": 0 })).into_response()
}

async fn notifystart(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    notify(sh, headers, body, NotifyKind::Start).await
}

async fn notifystop(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    notify(sh, headers, body, NotifyKind::Stop).await
}
