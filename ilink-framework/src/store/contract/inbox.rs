//! The received side: cursor, inbox, dedup keys, quarantine, and a batch
//! that fails as a whole.

use super::fixtures::*;
use crate::account::AccountId;
use crate::store::{QUARANTINE_CAP, StateStore, StoreError};

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

/// The last entry id covers what the inbox holds and what recorded dedup
/// keys point to, after the entries are handled too; accounts are separate.
pub async fn last_entry_id_covers_the_inbox_and_the_recorded_keys(s: &dyn StateStore) {
    let a = AccountId::new("a");
    assert_eq!(s.last_entry_id(&a).await.unwrap(), None);
    commit(
        s,
        &a,
        batch(vec![received(5, &["m:5"]), received(3, &["m:3"])], 0),
    )
    .await;
    assert_eq!(s.last_entry_id(&a).await.unwrap(), Some(5));
    // Handled, it leaves the inbox; its key still names it.
    s.mark_handled(&a, 5, &[]).await.unwrap();
    assert_eq!(ids(s, &a).await, vec![3]);
    assert_eq!(s.last_entry_id(&a).await.unwrap(), Some(5));
    // An entry without keys counts while it is in the inbox.
    commit(s, &a, batch(vec![received(9, &[])], 0)).await;
    assert_eq!(s.last_entry_id(&a).await.unwrap(), Some(9));
    s.inbox_remove(&a, &[9]).await.unwrap();
    assert_eq!(s.last_entry_id(&a).await.unwrap(), Some(5));
    assert_eq!(
        s.last_entry_id(&AccountId::new("other")).await.unwrap(),
        None
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
