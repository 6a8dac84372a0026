//! Context tokens, send counts, the send journal, and the saved state that
//! a handled entry takes with it.

use super::fixtures::*;
use crate::account::AccountId;
use crate::store::{ContextTokenRecord, SentCount, StateStore};

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
