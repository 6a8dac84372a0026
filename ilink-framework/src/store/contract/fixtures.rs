//! What the checks build their batches and rows from, and read back with.

use ilink_core::SentMessage;
use ilink_core::types::{MessageItem, WeixinMessage};

use crate::account::AccountId;
use crate::dedup::DedupKey;
use crate::store::{
    InboxEntry, JournaledSend, ObservedToken, QuarantinedMessage, ReceivedBatch, ReceivedEntry,
    StateChange, StateStore,
};

pub(super) fn key(text: &str) -> DedupKey {
    DedupKey::parse(text).expect("a valid key")
}

pub(super) fn entry(id: u64, text: &str) -> InboxEntry {
    InboxEntry {
        id,
        msg: WeixinMessage {
            item_list: vec![MessageItem::text(text)],
            ..Default::default()
        }
        .into(),
        received_at_ms: 1,
    }
}

pub(super) fn received(id: u64, keys: &[&str]) -> ReceivedEntry {
    ReceivedEntry {
        entry: entry(id, &format!("message {id}")),
        dedup_keys: keys.iter().map(|k| key(k)).collect(),
        context_token: None,
        json: None,
    }
}

pub(super) fn with_token(
    mut r: ReceivedEntry,
    user: &str,
    token: &str,
    at_ms: i64,
) -> ReceivedEntry {
    r.context_token = Some(ObservedToken {
        user: user.into(),
        token: token.into(),
        at_ms,
    });
    r
}

pub(super) fn batch(entries: Vec<ReceivedEntry>, now_ms: i64) -> ReceivedBatch {
    ReceivedBatch {
        entries,
        quarantined: Vec::new(),
        cursor: None,
        now_ms,
        dedup_window_ms: 100,
    }
}

pub(super) fn cursor_batch(cursor: &str) -> ReceivedBatch {
    ReceivedBatch {
        cursor: Some(cursor.into()),
        ..Default::default()
    }
}

pub(super) async fn commit(
    s: &dyn StateStore,
    a: &AccountId,
    b: ReceivedBatch,
) -> Vec<Option<u64>> {
    s.commit_received(a, &b).await.expect("batch committed")
}

pub(super) async fn ids(s: &dyn StateStore, a: &AccountId) -> Vec<u64> {
    s.inbox_load(a)
        .await
        .expect("inbox loads")
        .iter()
        .map(|e| e.id)
        .collect()
}

pub(super) fn journaled(
    entry: u64,
    position: u32,
    chunk: u32,
    message_id: Option<u64>,
) -> JournaledSend {
    JournaledSend {
        entry,
        position,
        chunk,
        sent: SentMessage {
            client_id: format!("c-{entry}-{position}-{chunk}"),
            message_id,
        },
    }
}

pub(super) fn change(conversation: &str, key: &str, value: Option<&str>) -> StateChange {
    StateChange {
        conversation: conversation.into(),
        key: key.into(),
        value: value.map(Into::into),
    }
}

pub(super) fn quarantined(account: &str, id: u64) -> QuarantinedMessage {
    QuarantinedMessage {
        account: AccountId::new(account),
        id,
        received_at_ms: 5,
        reason: format!("reason {id}"),
        raw: format!(r#"{{"message_id":"bad {id}"}}"#),
    }
}
