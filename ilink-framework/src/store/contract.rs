//! The behaviour every [`StateStore`] must show, as checks any store
//! implementation can run (feature `contract-tests`).
//!
//! Each check gets a fresh, empty store from the factory and panics, naming
//! itself, when the store gets something wrong:
//!
//! ```no_run
//! use ilink_framework::store::{MemoryStore, contract};
//!
//! # async fn in_a_tokio_test() {
//! contract::run_all(|| async { MemoryStore::new() }).await;
//! # }
//! ```
//!
//! A store whose factory needs clean-up (a temporary directory, a test
//! database) can return a wrapper that holds it and implements
//! [`StateStore`] by delegation, or run the checks one by one.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use ilink_core::types::{MessageItem, WeixinMessage};

use ilink_core::SentMessage;

use super::{
    ContextTokenRecord, InboxEntry, JournaledSend, ObservedToken, QUARANTINE_CAP,
    QuarantinedMessage, ReceivedBatch, ReceivedEntry, SentCount, StateChange, StateStore,
    StoreError,
};
use crate::account::{AccountId, Credentials};
use crate::dedup::DedupKey;

/// One check of the contract.
pub type Check = for<'a> fn(&'a dyn StateStore) -> BoxFuture<'a, ()>;

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("cursor_round_trip", |s| cursor_round_trip(s).boxed()),
    ("inbox_keeps_id_order_and_removes", |s| {
        inbox_keeps_id_order_and_removes(s).boxed()
    }),
    ("concurrent_removals_all_land", |s| {
        concurrent_removals_all_land(s).boxed()
    }),
    ("context_tokens_per_user", |s| {
        context_tokens_per_user(s).boxed()
    }),
    ("dedup_recognizes_other_entries_only_within_window", |s| {
        dedup_recognizes_other_entries_only_within_window(s).boxed()
    }),
    (
        "a_batch_is_checked_in_order_against_itself_and_earlier_entries",
        |s| a_batch_is_checked_in_order_against_itself_and_earlier_entries(s).boxed(),
    ),
    ("received_tokens_follow_after_inbound", |s| {
        received_tokens_follow_after_inbound(s).boxed()
    }),
    ("send_counts_only_rise_and_only_for_the_same_token", |s| {
        send_counts_only_rise_and_only_for_the_same_token(s).boxed()
    }),
    (
        "journal_keeps_acknowledged_sends_while_the_entry_waits",
        |s| journal_keeps_acknowledged_sends_while_the_entry_waits(s).boxed(),
    ),
    (
        "handled_entries_take_their_journal_and_save_state_together",
        |s| handled_entries_take_their_journal_and_save_state_together(s).boxed(),
    ),
    (
        "quarantine_keeps_what_cannot_be_handled_with_its_batch",
        |s| quarantine_keeps_what_cannot_be_handled_with_its_batch(s).boxed(),
    ),
    ("a_failed_batch_writes_nothing", |s| {
        a_failed_batch_writes_nothing(s).boxed()
    }),
    ("credentials_list_sorted_replace_and_remove", |s| {
        credentials_list_sorted_replace_and_remove(s).boxed()
    }),
    (
        "forgetting_an_account_keeps_only_its_credentials_and_other_accounts",
        |s| forgetting_an_account_keeps_only_its_credentials_and_other_accounts(s).boxed(),
    ),
];

/// Runs every check, each on a fresh store from `new_store`; a failure
/// panics with the check's name and the assertion that failed.
pub async fn run_all<S, F, Fut>(mut new_store: F)
where
    S: StateStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    for (name, check) in CHECKS {
        let store = new_store().await;
        if let Err(panic) = AssertUnwindSafe(check(&store)).catch_unwind().await {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("store contract check `{name}` failed: {message}");
        }
    }
}

fn key(text: &str) -> DedupKey {
    DedupKey::parse(text).expect("a valid key")
}

fn entry(id: u64, text: &str) -> InboxEntry {
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

fn received(id: u64, keys: &[&str]) -> ReceivedEntry {
    ReceivedEntry {
        entry: entry(id, &format!("message {id}")),
        dedup_keys: keys.iter().map(|k| key(k)).collect(),
        context_token: None,
        json: None,
    }
}

fn with_token(mut r: ReceivedEntry, user: &str, token: &str, at_ms: i64) -> ReceivedEntry {
    r.context_token = Some(ObservedToken {
        user: user.into(),
        token: token.into(),
        at_ms,
    });
    r
}

fn batch(entries: Vec<ReceivedEntry>, now_ms: i64) -> ReceivedBatch {
    ReceivedBatch {
        entries,
        quarantined: Vec::new(),
        cursor: None,
        now_ms,
        dedup_window_ms: 100,
    }
}

fn cursor_batch(cursor: &str) -> ReceivedBatch {
    ReceivedBatch {
        cursor: Some(cursor.into()),
        ..Default::default()
    }
}

async fn commit(s: &dyn StateStore, a: &AccountId, b: ReceivedBatch) -> Vec<Option<u64>> {
    s.commit_received(a, &b).await.expect("batch committed")
}

async fn ids(s: &dyn StateStore, a: &AccountId) -> Vec<u64> {
    s.inbox_load(a)
        .await
        .expect("inbox loads")
        .iter()
        .map(|e| e.id)
        .collect()
}

/// A cursor saved with a batch reads back; the newest one wins; accounts
/// are separate.
pub async fn cursor_round_trip(s: &dyn StateStore) {
    let a = AccountId::new("a@im.bot");
    assert_eq!(s.load_cursor(&a).await.unwrap(), None);
    commit(s, &a, cursor_batch("one")).await;
    commit(s, &a, cursor_batch("two")).await;
    assert_eq!(s.load_cursor(&a).await.unwrap().as_deref(), Some("two"));
    assert_eq!(s.load_cursor(&AccountId::new("other")).await.unwrap(), None);
    // A batch without a cursor leaves it alone.
    commit(s, &a, batch(vec![received(1, &["m:1"])], 0)).await;
    assert_eq!(s.load_cursor(&a).await.unwrap().as_deref(), Some("two"));
}

/// The inbox returns entries in id order (not arrival order), whole, and
/// removal takes only the ids named.
pub async fn inbox_keeps_id_order_and_removes(s: &dyn StateStore) {
    let a = AccountId::new("a");
    commit(s, &a, batch(vec![received(12, &[]), received(3, &[])], 0)).await;
    commit(s, &a, batch(vec![received(40, &[])], 0)).await;
    s.inbox_remove(&a, &[12, 999]).await.unwrap();
    s.inbox_remove(&AccountId::new("other"), &[3])
        .await
        .unwrap();
    assert_eq!(ids(s, &a).await, vec![3, 40]);
    let first = &s.inbox_load(&a).await.unwrap()[0];
    assert_eq!(first, &entry(3, "message 3"));
    s.inbox_remove(&a, &[]).await.unwrap();
    s.inbox_remove(&a, &[3, 40]).await.unwrap();
    assert!(ids(s, &a).await.is_empty());
}

/// Removals from many callers at once (what a store may group-commit)
/// each take effect, and each call returns only once its removal did.
pub async fn concurrent_removals_all_land(s: &dyn StateStore) {
    let a = AccountId::new("a");
    let entries = (1..=40).map(|id| received(id, &[])).collect();
    commit(s, &a, batch(entries, 0)).await;
    let removals = (1..=30).map(|id| async move {
        s.inbox_remove(&AccountId::new("a"), &[id]).await?;
        // Already gone for this caller, whatever the others are doing.
        let left = s.inbox_load(&AccountId::new("a")).await?;
        assert!(left.iter().all(|e| e.id != id), "entry {id} still there");
        Ok::<_, StoreError>(())
    });
    for result in futures::future::join_all(removals).await {
        result.unwrap();
    }
    assert_eq!(ids(s, &a).await, (31..=40).collect::<Vec<_>>());
}

/// Tokens are kept per account and user; user ids are case-sensitive.
pub async fn context_tokens_per_user(s: &dyn StateStore) {
    let a = AccountId::new("a");
    let rec = ContextTokenRecord {
        token: "t1".into(),
        received_at_ms: 5,
        sent: 2,
    };
    s.put_context_token(&a, "u@im.wechat", &rec).await.unwrap();
    assert_eq!(
        s.context_token(&a, "u@im.wechat").await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(
        s.context_token(&a, "U@im.wechat").await.unwrap(),
        None,
        "ids are case-sensitive"
    );
    assert_eq!(
        s.context_token(&AccountId::new("b"), "u@im.wechat")
            .await
            .unwrap(),
        None
    );
    let newer = ContextTokenRecord {
        token: "t2".into(),
        received_at_ms: 9,
        sent: 0,
    };
    s.put_context_token(&a, "u@im.wechat", &newer)
        .await
        .unwrap();
    assert_eq!(
        s.context_token(&a, "u@im.wechat").await.unwrap(),
        Some(newer)
    );
}

/// A key seen on another entry within the window makes a duplicate, which
/// is not stored; any shared key is enough; after the window it is not.
pub async fn dedup_recognizes_other_entries_only_within_window(s: &dyn StateStore) {
    let a = AccountId::new("a");
    // An entry repeating its own key is not its own duplicate.
    assert_eq!(
        commit(s, &a, batch(vec![received(1, &["m:1", "m:1"])], 0)).await,
        vec![None]
    );
    assert_eq!(
        commit(s, &a, batch(vec![received(2, &["m:1"])], 20)).await,
        vec![Some(1)]
    );
    assert_eq!(
        commit(s, &a, batch(vec![received(3, &["m:9", "m:1"])], 30)).await,
        vec![Some(1)]
    );
    assert_eq!(ids(s, &a).await, vec![1], "duplicates are not stored");
    // After the window the key is forgotten.
    assert_eq!(
        commit(s, &a, batch(vec![received(4, &["m:1"])], 500)).await,
        vec![None]
    );
    assert_eq!(ids(s, &a).await, vec![1, 4]);
    // Other accounts have their own keys.
    assert_eq!(
        commit(
            s,
            &AccountId::new("b"),
            batch(vec![received(5, &["m:1"])], 500)
        )
        .await,
        vec![None]
    );
}

/// Within a batch each entry is checked against earlier batches and the
/// entries before it; a duplicate records none of its keys.
pub async fn a_batch_is_checked_in_order_against_itself_and_earlier_entries(s: &dyn StateStore) {
    let a = AccountId::new("a@im.bot");
    assert_eq!(
        commit(s, &a, batch(vec![received(1, &["m:1"])], 0)).await,
        vec![None]
    );
    let entries = vec![
        received(2, &["m:2"]),
        received(3, &["m:3", "m:2"]),
        received(4, &["m:1"]),
    ];
    assert_eq!(
        commit(s, &a, batch(entries, 10)).await,
        vec![None, Some(2), Some(1)]
    );
    assert_eq!(ids(s, &a).await, vec![1, 2]);
    // Entry 3 was a duplicate: its other key was not recorded.
    assert_eq!(
        commit(s, &a, batch(vec![received(5, &["m:3"])], 20)).await,
        vec![None]
    );
    // And entry 2's key counts from now on.
    assert_eq!(
        commit(s, &a, batch(vec![received(6, &["m:2"])], 30)).await,
        vec![Some(2)]
    );
}

/// Tokens of a received batch follow [`ContextTokenRecord::after_inbound`]
/// in order, and a duplicate's token is not recorded.
pub async fn received_tokens_follow_after_inbound(s: &dyn StateStore) {
    let a = AccountId::new("a");
    let u = "u@im.wechat";
    let first = with_token(received(1, &["m:1"]), u, "t1", 1_000);
    commit(s, &a, batch(vec![first], 0)).await;
    s.record_sent(
        &a,
        &[SentCount {
            user: u.into(),
            token: "t1".into(),
            sent: 4,
        }],
        &[],
    )
    .await
    .unwrap();
    let expect = |token: &str, at: i64, sent: u32| ContextTokenRecord {
        token: token.into(),
        received_at_ms: at,
        sent,
    };
    // The same token again keeps its count; an older message does not win.
    let again = with_token(received(2, &["m:2"]), u, "t1", 1_500);
    let older = with_token(received(3, &["m:3"]), u, "t0", 500);
    commit(s, &a, batch(vec![again, older], 1)).await;
    assert_eq!(
        s.context_token(&a, u).await.unwrap(),
        Some(expect("t1", 1_000, 4))
    );
    // A duplicate's token is dropped with it.
    let dup = with_token(received(4, &["m:1"]), u, "t9", 9_000);
    assert_eq!(commit(s, &a, batch(vec![dup], 2)).await, vec![Some(1)]);
    assert_eq!(
        s.context_token(&a, u).await.unwrap(),
        Some(expect("t1", 1_000, 4))
    );
    // Newer tokens restart the count; the last of a batch wins.
    let t2 = with_token(received(5, &["m:5"]), u, "t2", 2_000);
    let t3 = with_token(received(6, &["m:6"]), u, "t3", 3_000);
    commit(s, &a, batch(vec![t2, t3], 3)).await;
    assert_eq!(
        s.context_token(&a, u).await.unwrap(),
        Some(expect("t3", 3_000, 0))
    );
    // A user going back to an earlier token, in a later batch.
    let back = with_token(received(7, &["m:7"]), u, "t2", 4_000);
    commit(s, &a, batch(vec![back], 4)).await;
    assert_eq!(
        s.context_token(&a, u).await.unwrap(),
        Some(expect("t2", 4_000, 0))
    );
}

/// Send counts rise for the user's current token, never fall, and ignore a
/// token that has been replaced or a user without one.
pub async fn send_counts_only_rise_and_only_for_the_same_token(s: &dyn StateStore) {
    let a = AccountId::new("a");
    let rec = ContextTokenRecord {
        token: "t1".into(),
        received_at_ms: 5,
        sent: 0,
    };
    s.put_context_token(&a, "u", &rec).await.unwrap();
    let sent = |user: &str, token: &str, sent: u32| SentCount {
        user: user.into(),
        token: token.into(),
        sent,
    };
    s.record_sent(&a, &[sent("u", "t1", 3), sent("nobody", "t1", 7)], &[])
        .await
        .unwrap();
    s.record_sent(&a, &[sent("u", "t1", 2)], &[]).await.unwrap();
    s.record_sent(&a, &[sent("u", "old", 9)], &[])
        .await
        .unwrap();
    s.record_sent(&AccountId::new("b"), &[sent("u", "t1", 9)], &[])
        .await
        .unwrap();
    s.record_sent(&a, &[], &[]).await.unwrap();
    let got = s.context_token(&a, "u").await.unwrap().expect("a token");
    assert_eq!(got.sent, 3);
    assert_eq!(s.context_token(&a, "nobody").await.unwrap(), None);
}

fn journaled(entry: u64, position: u32, chunk: u32, message_id: Option<u64>) -> JournaledSend {
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

fn change(conversation: &str, key: &str, value: Option<&str>) -> StateChange {
    StateChange {
        conversation: conversation.into(),
        key: key.into(),
        value: value.map(Into::into),
    }
}

/// Sends are journaled (with their count, in one call) while their entry is
/// in the inbox, read back by position and chunk, per account; a send of an
/// entry that is not (or no longer) in the inbox leaves no row; a refused
/// entry's removal takes its rows.
pub async fn journal_keeps_acknowledged_sends_while_the_entry_waits(s: &dyn StateStore) {
    let a = AccountId::new("a");
    commit(s, &a, batch(vec![received(7, &[]), received(8, &[])], 0)).await;
    s.put_context_token(
        &a,
        "u",
        &ContextTokenRecord {
            token: "t".into(),
            received_at_ms: 1,
            sent: 0,
        },
    )
    .await
    .unwrap();
    let count = SentCount {
        user: "u".into(),
        token: "t".into(),
        sent: 1,
    };
    s.record_sent(&a, &[count], &[journaled(7, 1, 0, Some(11))])
        .await
        .unwrap();
    s.record_sent(
        &a,
        &[],
        &[
            journaled(7, 0, 1, None),
            journaled(7, 0, 0, Some(u64::MAX)),
            journaled(8, 0, 0, Some(3)),
            // Entry 9 was never received: nothing to replay it for.
            journaled(9, 0, 0, Some(4)),
        ],
    )
    .await
    .unwrap();
    assert_eq!(s.context_token(&a, "u").await.unwrap().unwrap().sent, 1);
    assert_eq!(
        s.journal(&a, 7).await.unwrap(),
        vec![
            journaled(7, 0, 0, Some(u64::MAX)),
            journaled(7, 0, 1, None),
            journaled(7, 1, 0, Some(11)),
        ]
    );
    assert!(s.journal(&a, 9).await.unwrap().is_empty());
    assert!(s.journal(&AccountId::new("b"), 7).await.unwrap().is_empty());
    s.inbox_remove(&a, &[8]).await.unwrap();
    assert!(s.journal(&a, 8).await.unwrap().is_empty());
    // A late send of the removed entry is not kept.
    s.record_sent(&a, &[], &[journaled(8, 1, 0, Some(5))])
        .await
        .unwrap();
    assert!(s.journal(&a, 8).await.unwrap().is_empty());
    assert_eq!(s.journal(&a, 7).await.unwrap().len(), 3);
}

/// Marking an entry handled removes it with its journal rows and applies
/// its state changes (set, replace, forget), per account and conversation;
/// forgetting the account forgets its state.
pub async fn handled_entries_take_their_journal_and_save_state_together(s: &dyn StateStore) {
    let a = AccountId::new("a");
    let b = AccountId::new("b");
    commit(s, &a, batch(vec![received(1, &[]), received(2, &[])], 0)).await;
    s.record_sent(&a, &[], &[journaled(1, 0, 0, Some(1))])
        .await
        .unwrap();
    s.mark_handled(
        &a,
        1,
        &[
            change("u1", "history", Some(r#"["hi"]"#)),
            change("u1", "count", Some("1")),
            change("u2", "history", Some("[]")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(ids(s, &a).await, vec![2]);
    assert!(s.journal(&a, 1).await.unwrap().is_empty());
    let load = |acct: AccountId, conv: &'static str, key: &'static str| async move {
        s.load_state(&acct, conv, key).await.unwrap()
    };
    assert_eq!(
        load(a.clone(), "u1", "history").await.as_deref(),
        Some(r#"["hi"]"#)
    );
    assert_eq!(load(a.clone(), "u1", "count").await.as_deref(), Some("1"));
    assert_eq!(load(a.clone(), "u2", "count").await, None);
    assert_eq!(load(b.clone(), "u1", "history").await, None);
    s.mark_handled(
        &a,
        2,
        &[
            change("u1", "history", Some(r#"["hi","again"]"#)),
            change("u1", "count", None),
        ],
    )
    .await
    .unwrap();
    assert!(ids(s, &a).await.is_empty());
    assert_eq!(
        load(a.clone(), "u1", "history").await.as_deref(),
        Some(r#"["hi","again"]"#)
    );
    assert_eq!(load(a.clone(), "u1", "count").await, None);
    // An entry already gone still gets its changes.
    s.mark_handled(&a, 99, &[change("u3", "k", Some("true"))])
        .await
        .unwrap();
    assert_eq!(load(a.clone(), "u3", "k").await.as_deref(), Some("true"));
    s.mark_handled(&b, 5, &[change("u1", "history", Some("[]"))])
        .await
        .unwrap();
    s.forget_account(&a).await.unwrap();
    assert_eq!(load(a.clone(), "u1", "history").await, None);
    assert_eq!(load(b, "u1", "history").await.as_deref(), Some("[]"));
}

fn quarantined(account: &str, id: u64) -> QuarantinedMessage {
    QuarantinedMessage {
        account: AccountId::new(account),
        id,
        received_at_ms: 5,
        reason: format!("reason {id}"),
        raw: format!(r#"{{"message_id":"bad {id}"}}"#),
    }
}

/// Quarantined messages are stored with their batch (not with a failed
/// one), listed per account or for all, removed one by one, capped per
/// account (oldest dropped) and forgotten with the account.
pub async fn quarantine_keeps_what_cannot_be_handled_with_its_batch(s: &dyn StateStore) {
    let a = AccountId::new("a");
    let b = AccountId::new("b");
    let mut first = batch(vec![received(1, &["m:1"])], 0);
    first.quarantined = vec![quarantined("a", 3), quarantined("a", 2)];
    first.cursor = Some("c1".into());
    commit(s, &a, first).await;
    let mut other = batch(vec![], 0);
    other.quarantined = vec![quarantined("b", 9)];
    commit(s, &b, other).await;
    assert_eq!(
        s.quarantine_list(Some(&a)).await.unwrap(),
        vec![quarantined("a", 2), quarantined("a", 3)]
    );
    let all = s.quarantine_list(None).await.unwrap();
    let keys: Vec<_> = all.iter().map(|m| (m.account.as_str(), m.id)).collect();
    assert_eq!(keys, [("a", 2), ("a", 3), ("b", 9)]);

    // A batch that fails keeps nothing of its quarantine.
    let mut failing = batch(vec![received(1, &["m:7"])], 1);
    failing.quarantined = vec![quarantined("a", 4)];
    assert!(s.commit_received(&a, &failing).await.is_err());
    assert_eq!(s.quarantine_list(Some(&a)).await.unwrap().len(), 2);

    assert!(s.quarantine_remove(&a, 2).await.unwrap());
    assert!(!s.quarantine_remove(&a, 2).await.unwrap());
    assert!(!s.quarantine_remove(&b, 3).await.unwrap());
    assert_eq!(
        s.quarantine_list(Some(&a)).await.unwrap(),
        vec![quarantined("a", 3)]
    );

    // The newest QUARANTINE_CAP are kept.
    let mut flood = batch(vec![], 2);
    flood.quarantined = (100..100 + QUARANTINE_CAP as u64 + 5)
        .map(|id| quarantined("a", id))
        .collect();
    commit(s, &a, flood).await;
    let kept = s.quarantine_list(Some(&a)).await.unwrap();
    assert_eq!(kept.len(), QUARANTINE_CAP);
    assert_eq!(kept[0].id, 105);

    s.forget_account(&a).await.unwrap();
    assert!(s.quarantine_list(Some(&a)).await.unwrap().is_empty());
    assert_eq!(s.quarantine_list(None).await.unwrap().len(), 1);
}

/// An entry id already in the inbox fails its whole batch, a duplicate's
/// included: no entry, key, token or cursor of it is stored.
pub async fn a_failed_batch_writes_nothing(s: &dyn StateStore) {
    let a = AccountId::new("a");
    let mut first = batch(vec![received(1, &["m:1"])], 0);
    first.cursor = Some("c1".into());
    commit(s, &a, first).await;
    let mut failing = batch(
        vec![
            with_token(received(2, &["m:2"]), "u", "t2", 10),
            received(1, &["m:7"]),
        ],
        1,
    );
    failing.cursor = Some("c2".into());
    let err = s.commit_received(&a, &failing).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert_eq!(ids(s, &a).await, vec![1]);
    assert_eq!(s.load_cursor(&a).await.unwrap().as_deref(), Some("c1"));
    assert_eq!(s.context_token(&a, "u").await.unwrap(), None);
    // Neither key nor token of the failed batch was recorded.
    let retry = batch(
        vec![
            with_token(received(2, &["m:2"]), "u", "t2", 10),
            received(3, &["m:7"]),
        ],
        2,
    );
    assert_eq!(commit(s, &a, retry).await, vec![None, None]);
    assert_eq!(
        s.context_token(&a, "u").await.unwrap().map(|r| r.token),
        Some("t2".into())
    );
    // A duplicate (of entry 2) under a taken id fails its batch too.
    let taken_duplicate = batch(vec![received(4, &["m:4"]), received(1, &["m:2"])], 3);
    let err = s.commit_received(&a, &taken_duplicate).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert_eq!(ids(s, &a).await, vec![1, 2, 3]);
    let again = batch(vec![received(4, &["m:4"])], 4);
    assert_eq!(commit(s, &a, again).await, vec![None]);
}

/// Credentials are listed sorted by account, saved again replace, and
/// removal says whether there were any.
pub async fn credentials_list_sorted_replace_and_remove(s: &dyn StateStore) {
    s.save_credentials(&Credentials::new("b", "tok-b"))
        .await
        .unwrap();
    s.save_credentials(&Credentials::new("a", "tok-a").with_base_url("http://127.0.0.1:1"))
        .await
        .unwrap();
    s.save_credentials(&Credentials::new("b", "tok-b2"))
        .await
        .unwrap();
    let all = s.list_credentials().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|c| c.account_id.as_str()).collect();
    assert_eq!(ids, vec!["a", "b"]);
    assert_eq!(all[0].base_url.as_deref(), Some("http://127.0.0.1:1"));
    assert_eq!(all[1].bot_token.expose(), "tok-b2");
    assert!(s.remove_credentials(&AccountId::new("a")).await.unwrap());
    assert!(!s.remove_credentials(&AccountId::new("a")).await.unwrap());
    assert_eq!(s.list_credentials().await.unwrap().len(), 1);
}

/// Forgetting an account clears its cursor, inbox, tokens and dedup keys,
/// and nothing of other accounts or any credentials.
pub async fn forgetting_an_account_keeps_only_its_credentials_and_other_accounts(
    s: &dyn StateStore,
) {
    let a = AccountId::new("a");
    let b = AccountId::new("b");
    for acct in [&a, &b] {
        let mut one = batch(vec![with_token(received(1, &["m:1"]), "u", "t", 1)], 0);
        one.cursor = Some("c".into());
        commit(s, acct, one).await;
    }
    s.save_credentials(&Credentials::new("a", "tok-a"))
        .await
        .unwrap();
    s.forget_account(&a).await.unwrap();
    s.forget_account(&AccountId::new("never-seen"))
        .await
        .unwrap();
    assert_eq!(s.load_cursor(&a).await.unwrap(), None);
    assert!(ids(s, &a).await.is_empty());
    assert_eq!(s.context_token(&a, "u").await.unwrap(), None);
    assert_eq!(
        commit(s, &a, batch(vec![received(2, &["m:1"])], 10)).await,
        vec![None]
    );
    assert_eq!(s.list_credentials().await.unwrap().len(), 1);
    assert_eq!(s.load_cursor(&b).await.unwrap().as_deref(), Some("c"));
    assert!(s.context_token(&b, "u").await.unwrap().is_some());
    assert_eq!(
        commit(s, &b, batch(vec![received(2, &["m:1"])], 10)).await,
        vec![Some(1)]
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn memory_store_keeps_the_contract() {
        run_all(|| async { MemoryStore::new() }).await;
    }

    /// A store that forgets removals: the contract must catch it.
    struct ForgetsRemovals(MemoryStore);

    #[async_trait::async_trait]
    impl StateStore for ForgetsRemovals {
        async fn load_cursor(&self, a: &AccountId) -> Result<Option<String>, StoreError> {
            self.0.load_cursor(a).await
        }
        async fn inbox_load(&self, a: &AccountId) -> Result<Vec<InboxEntry>, StoreError> {
            self.0.inbox_load(a).await
        }
        async fn commit_received(
            &self,
            a: &AccountId,
            b: &ReceivedBatch,
        ) -> Result<Vec<Option<u64>>, StoreError> {
            self.0.commit_received(a, b).await
        }
        async fn inbox_remove(&self, _: &AccountId, _: &[u64]) -> Result<(), StoreError> {
            Ok(())
        }
        async fn context_token(
            &self,
            a: &AccountId,
            u: &str,
        ) -> Result<Option<ContextTokenRecord>, StoreError> {
            self.0.context_token(a, u).await
        }
        async fn put_context_token(
            &self,
            a: &AccountId,
            u: &str,
            r: &ContextTokenRecord,
        ) -> Result<(), StoreError> {
            self.0.put_context_token(a, u, r).await
        }
        async fn mark_handled(
            &self,
            a: &AccountId,
            entry: u64,
            c: &[StateChange],
        ) -> Result<(), StoreError> {
            self.0.mark_handled(a, entry, c).await
        }
        async fn journal(
            &self,
            a: &AccountId,
            entry: u64,
        ) -> Result<Vec<JournaledSend>, StoreError> {
            self.0.journal(a, entry).await
        }
        async fn load_state(
            &self,
            a: &AccountId,
            c: &str,
            k: &str,
        ) -> Result<Option<String>, StoreError> {
            self.0.load_state(a, c, k).await
        }
        async fn record_sent(
            &self,
            a: &AccountId,
            s: &[SentCount],
            j: &[JournaledSend],
        ) -> Result<(), StoreError> {
            self.0.record_sent(a, s, j).await
        }
        async fn quarantine_list(
            &self,
            a: Option<&AccountId>,
        ) -> Result<Vec<QuarantinedMessage>, StoreError> {
            self.0.quarantine_list(a).await
        }
        async fn quarantine_remove(&self, a: &AccountId, id: u64) -> Result<bool, StoreError> {
            self.0.quarantine_remove(a, id).await
        }
        async fn forget_account(&self, a: &AccountId) -> Result<(), StoreError> {
            self.0.forget_account(a).await
        }
        async fn save_credentials(&self, c: &Credentials) -> Result<(), StoreError> {
            self.0.save_credentials(c).await
        }
        async fn list_credentials(&self) -> Result<Vec<Credentials>, StoreError> {
            self.0.list_credentials().await
        }
        async fn remove_credentials(&self, a: &AccountId) -> Result<bool, StoreError> {
            self.0.remove_credentials(a).await
        }
    }

    #[tokio::test]
    async fn a_store_breaking_the_contract_fails_it_by_name() {
        let result = AssertUnwindSafe(run_all(|| async { ForgetsRemovals(MemoryStore::new()) }))
            .catch_unwind()
            .await;
        let panic = result.expect_err("the contract caught the broken store");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            message.contains("inbox_keeps_id_order_and_removes"),
            "{message}"
        );
    }
}
