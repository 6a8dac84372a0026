//! `sendmessage`: argument checks (`ret -3`), the silent drop of a repeated `client_id`,
//! and the delivery policies of the real server (`ret -2`): per-context-token quota,
//! context expiry, text length, per-user burst throttling.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use ilink_core::types::{ItemType, MessageState, MessageType, WeixinMessage};
use serde_json::json;

use crate::auth::{check_bot_request, ret_error};
use crate::records::{SendOutcome, SentMessage, ViolationKind};
use crate::state::{FOREVER, Inner};

const EP: &str = "sendmessage";

pub(crate) async fn sendmessage(
    State(sh): State<Arc<crate::state::Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match check_bot_request(&sh, EP, &headers, &body) {
        Ok(c) => c,
        Err(res) => return res,
    };
    let Some(msg) = crate::request::send_message(&call.body) else {
        sh.with(|i| {
            i.violation(
                Some(&call.bot_id),
                Some(EP),
                ViolationKind::MalformedBody,
                "msg missing or not a WeixinMessage",
            )
        });
        return ret_error(-3, "invalid msg");
    };
    sh.with(|i| {
        let outcome = decide(i, &call.bot_id, &msg);
        i.log.sent.push(SentMessage {
            bot_id: call.bot_id.clone(),
            to_user_id: msg.to_user_id.clone().unwrap_or_default(),
            client_id: msg.client_id.clone(),
            context_token: msg.context_token.clone(),
            message: msg,
            outcome: outcome.clone(),
            at: SystemTime::now(),
        });
        match outcome {
            SendOutcome::Delivered { message_id } => {
                Json(json!({ "ret": 0, "message_id": message_id })).into_response()
            }
            SendOutcome::Duplicate => Json(json!({ "ret": 0 })).into_response(),
            SendOutcome::Rejected { ret, errmsg } => ret_error(ret, &errmsg),
        }
    })
}

fn rejected(ret: i64, errmsg: impl Into<String>) -> SendOutcome {
    SendOutcome::Rejected {
        ret,
        errmsg: errmsg.into(),
    }
}

/// Applies every rule in the order the real server appears to, and books a delivery.
fn decide(i: &mut Inner, bot_id: &str, msg: &WeixinMessage) -> SendOutcome {
    let invalid = |i: &mut Inner, kind: ViolationKind, detail: String| {
        i.violation(Some(bot_id), Some(EP), kind, detail.clone());
        rejected(-3, detail)
    };
    if msg.from_user_id.as_deref().is_some_and(|f| !f.is_empty()) {
        return invalid(
            i,
            ViolationKind::NonEmptyFromUser,
            "from_user_id must be empty".into(),
        );
    }
    let Some(client_id) = msg.client_id.clone().filter(|c| !c.is_empty()) else {
        return invalid(
            i,
            ViolationKind::MissingClientId,
            "client_id is required".into(),
        );
    };
    if msg.message_type != Some(MessageType::Bot) {
        return invalid(
            i,
            ViolationKind::WrongMessageType,
            format!(
                "message_type must be 2, got {:?}",
                msg.message_type.map(|t| t.code())
            ),
        );
    }
    let to = msg.to_user_id.clone().unwrap_or_default();
    let Some(acct) = i.accounts.get(bot_id) else {
        return rejected(-14, "account removed");
    };
    if !acct.contacts.contains(&to) {
        let near = acct
            .contacts
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&to) || to.ends_with(c.as_str()));
        let detail = if near {
            format!("to_user_id {to:?} is not byte-exact (case-changed or prefixed)")
        } else {
            format!("unknown to_user_id {to:?}")
        };
        return invalid(i, ViolationKind::WrongRecipient, detail);
    }
    let has = |t: ItemType| msg.item_list.iter().any(|it| it.item_type == t);
    if has(ItemType::Text) && has(ItemType::Voice) {
        return invalid(
            i,
            ViolationKind::TextWithVoice,
            "TEXT and VOICE in one item_list".into(),
        );
    }
    if msg.message_state == Some(MessageState::Generating) && msg.item_list.is_empty() {
        return rejected(-2, "message_state 1 with an empty item_list");
    }
    let fingerprint = content_fingerprint(&to, msg);
    if let Some(earlier) = acct.client_ids.get(&client_id) {
        if *earlier != fingerprint {
            // Answered as the server does (a repeat, dropped), but a client
            // whose ids collide loses a message: it is recorded.
            i.violation(
                Some(bot_id),
                Some(EP),
                ViolationKind::ClientIdReused,
                format!("client_id {client_id:?} already carried another message"),
            );
        }
        return SendOutcome::Duplicate;
    }
    let max = i.config.max_text_chars;
    let longest = msg
        .item_list
        .iter()
        .filter_map(|it| it.text_item.as_ref()?.text.as_ref())
        .map(|t| t.chars().count())
        .max()
        .unwrap_or(0);
    if max.is_some_and(|m| longest > m) {
        return rejected(-2, format!("text of {longest} characters is too long"));
    }
    let (quota, ttl, burst) = (i.config.context_quota, i.config.context_ttl, i.config.burst);
    let now = Instant::now();
    let Some(acct) = i.accounts.get_mut(bot_id) else {
        return rejected(-14, "account removed");
    };
    let token = msg.context_token.as_ref().map(|t| t.expose().to_owned());
    let Some(ctx) = token.as_ref().and_then(|t| acct.contexts.get_mut(t)) else {
        return rejected(-2, "no valid context_token for this user");
    };
    if ctx.user_id != to {
        return rejected(-2, "context_token belongs to another user");
    }
    if ttl.is_some_and(|ttl| now.duration_since(ctx.issued) > ttl) {
        return rejected(-2, "context_token expired");
    }
    if quota.is_some_and(|q| ctx.sends >= q) {
        return rejected(
            -2,
            format!(
                "send quota of {} exhausted for this context_token",
                ctx.sends
            ),
        );
    }
    if let Some(limit) = burst {
        if acct
            .blocked_until
            .get(&to)
            .is_some_and(|until| now < *until)
        {
            return rejected(-2, "prepare failed: sending to this user is blocked");
        }
        let recent = acct.recent_sends.entry(to.clone()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > limit.window)
        {
            recent.pop_front();
        }
        if recent.len() + 1 >= limit.sends as usize {
            if !limit.block.is_zero() {
                let until = now.checked_add(limit.block).unwrap_or(now + FOREVER);
                acct.blocked_until.insert(to.clone(), until);
            }
            return rejected(-2, "prepare failed: too many messages in a short time");
        }
        recent.push_back(now);
    }
    ctx.sends += 1;
    acct.client_ids.insert(client_id, fingerprint);
    let message_id = i.new_message_id();
    SendOutcome::Delivered { message_id }
}

/// What a message carries (its recipient and items), as a hash: a retry
/// repeats it, a different message with the same `client_id` does not.
fn content_fingerprint(to: &str, msg: &WeixinMessage) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    to.hash(&mut h);
    serde_json::to_string(&msg.item_list)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}
