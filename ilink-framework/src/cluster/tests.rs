//! Leases and fencing against a real PostgreSQL server
//! (`ILINK_TEST_DATABASE_URL`), each test in a schema of its own; skipped,
//! saying so, without one.

use std::sync::Arc;
use std::time::Duration;

use sqlx_core::query::query;

use super::fence::Fence;
use super::leases::{self, WorkerRow};
use crate::account::{AccountId, Credentials};
use crate::store::pg_testing::TestSchema;
use crate::store::test_support::one_message;
use crate::store::{
    ContextTokenRecord, JournaledSend, PgPoolOptions, PgStore, SentCount, StateStore, StoreError,
};

fn worker(id: &str) -> WorkerRow {
    WorkerRow {
        id: id.into(),
        host: "test".into(),
        pid: 1,
        ttl_ms: 10_000,
    }
}

/// A store whose writes `fence` guards, in `schema`.
async fn fenced_store(schema: &TestSchema, fence: &Arc<Fence>) -> PgStore {
    PgStore::connect_fenced(
        schema.options(),
        PgPoolOptions::new().max_connections(4),
        Some(fence.clone()),
    )
    .await
    .unwrap()
}

/// Makes `worker` look dead: its heartbeat an hour old.
async fn kill(store: &PgStore, worker: &str) {
    query("UPDATE workers SET heartbeat_at = now() - interval '1 hour' WHERE id = $1")
        .bind(worker)
        .execute(store.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_writes_nothing_for_the_account() {
    let Some(schema) =
        TestSchema::create("a_worker_that_lost_its_lease_writes_nothing_for_the_account").await
    else {
        return;
    };
    let account = AccountId::new("b@im.bot");
    let old = Arc::new(Fence::new("old", Duration::from_secs(10)));
    let store = fenced_store(&schema, &old).await;
    store
        .save_credentials(&Credentials::new("b@im.bot", "t"))
        .await
        .unwrap();
    let pool = store.pool().clone();
    leases::heartbeat(&pool, &worker("old")).await.unwrap();
    let epoch = leases::claim(&pool, "old", "b@im.bot").await.unwrap();
    assert_eq!(epoch, Some(1));
    old.insert(account.clone(), 1);
    store
        .commit_received(&account, &one_message(1))
        .await
        .unwrap();

    // The old worker stops heartbeating; another takes the account over.
    kill(&store, "old").await;
    leases::heartbeat(&pool, &worker("new")).await.unwrap();
    assert_eq!(
        leases::claim(&pool, "new", "b@im.bot").await.unwrap(),
        Some(2)
    );
    assert_eq!(leases::claim(&pool, "old", "b@im.bot").await.unwrap(), None);

    let fenced = |r: Result<(), StoreError>, what: &str| {
        assert!(
            matches!(&r, Err(StoreError::Fenced { account }) if account == "b@im.bot"),
            "{what}: {r:?}"
        );
    };
    let mut next = one_message(2);
    next.cursor = Some("from-the-old-worker".into());
    fenced(
        store.commit_received(&account, &next).await.map(drop),
        "received batch",
    );
    fenced(store.inbox_remove(&account, &[1]).await, "inbox removal");
    fenced(store.mark_handled(&account, 1, &[]).await, "handled entry");
    let sent = ilink_core::SentMessage {
        client_id: "c-1".into(),
        message_id: Some(7),
    };
    fenced(
        store
            .record_sent(
                &account,
                &[SentCount {
                    user: "u@im.wechat".into(),
                    token: "ctx".into(),
                    sent: 1,
                }],
                &[JournaledSend {
                    entry: 1,
                    position: 0,
                    chunk: 0,
                    sent,
                }],
            )
            .await,
        "send record",
    );
    let token = ContextTokenRecord {
        token: "other".into(),
        received_at_ms: 5,
        sent: 0,
    };
    fenced(
        store
            .put_context_token(&account, "u@im.wechat", &token)
            .await,
        "context token",
    );

    // Nothing of it was written: the state is what the old worker left.
    assert_eq!(
        store.load_cursor(&account).await.unwrap().as_deref(),
        Some("c-1")
    );
    let inbox = store.inbox_load(&account).await.unwrap();
    assert_eq!(inbox.iter().map(|e| e.id).collect::<Vec<_>>(), [1]);
    assert!(store.journal(&account, 1).await.unwrap().is_empty());
    let kept = store
        .context_token(&account, "u@im.wechat")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((kept.token.expose(), kept.sent), ("ctx", 0));

    // The new holder writes under its own epoch.
    let new = Arc::new(Fence::new("new", Duration::from_secs(10)));
    new.insert(account.clone(), 2);
    let new_store = fenced_store(&schema, &new).await;
    new_store.mark_handled(&account, 1, &[]).await.unwrap();
    assert!(new_store.inbox_load(&account).await.unwrap().is_empty());
}

#[tokio::test]
async fn writes_for_accounts_never_held_are_refused_and_others_in_the_group_commit() {
    let Some(schema) = TestSchema::create(
        "writes_for_accounts_never_held_are_refused_and_others_in_the_group_commit",
    )
    .await
    else {
        return;
    };
    let fence = Arc::new(Fence::new("w", Duration::from_secs(10)));
    let store = fenced_store(&schema, &fence).await;
    for id in ["held@im.bot", "stale@im.bot"] {
        store
            .save_credentials(&Credentials::new(id, "t"))
            .await
            .unwrap();
    }
    let pool = store.pool().clone();
    leases::heartbeat(&pool, &worker("w")).await.unwrap();
    let held = AccountId::new("held@im.bot");
    let stale = AccountId::new("stale@im.bot");
    fence.insert(
        held.clone(),
        leases::claim(&pool, "w", "held@im.bot")
            .await
            .unwrap()
            .unwrap(),
    );
    // An epoch the database never gave: as after a takeover and back.
    fence.insert(stale.clone(), 99);
    leases::claim(&pool, "w", "stale@im.bot").await.unwrap();

    let never = AccountId::new("never@im.bot");
    let batches = [one_message(1), one_message(2), one_message(3)];
    let (a, b, c) = tokio::join!(
        store.commit_received(&held, &batches[0]),
        store.commit_received(&stale, &batches[1]),
        store.commit_received(&never, &batches[2]),
    );
    assert_eq!(a.unwrap(), vec![None]);
    assert!(matches!(b, Err(StoreError::Fenced { .. })), "{b:?}");
    assert!(matches!(c, Err(StoreError::Fenced { .. })), "{c:?}");
    assert_eq!(store.inbox_load(&held).await.unwrap().len(), 1);
    assert!(store.inbox_load(&stale).await.unwrap().is_empty());
    assert!(store.inbox_load(&never).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_lease_is_free_once_its_worker_is_dead_or_released_it_and_each_taking_raises_the_epoch() {
    let Some(schema) = TestSchema::create("a_lease_is_free_once_its_worker_is_dead").await else {
        return;
    };
    let store = schema.store().await;
    store
        .save_credentials(&Credentials::new("b@im.bot", "t"))
        .await
        .unwrap();
    let pool = store.pool().clone();
    for w in ["a", "b"] {
        leases::heartbeat(&pool, &worker(w)).await.unwrap();
    }
    assert_eq!(
        leases::claimable(&pool, "a", 10).await.unwrap(),
        ["b@im.bot"]
    );
    assert_eq!(
        leases::claim(&pool, "a", "b@im.bot").await.unwrap(),
        Some(1)
    );
    assert!(leases::claimable(&pool, "b", 10).await.unwrap().is_empty());
    assert_eq!(leases::claim(&pool, "b", "b@im.bot").await.unwrap(), None);
    assert_eq!(leases::active_workers(&pool).await.unwrap(), 2);

    assert!(leases::release(&pool, "a", "b@im.bot", 1).await.unwrap());
    assert_eq!(
        leases::claim(&pool, "b", "b@im.bot").await.unwrap(),
        Some(2)
    );
    // A release under an old epoch changes nothing.
    assert!(!leases::release(&pool, "a", "b@im.bot", 1).await.unwrap());

    kill(&store, "b").await;
    assert_eq!(leases::active_workers(&pool).await.unwrap(), 1);
    assert_eq!(
        leases::claim(&pool, "a", "b@im.bot").await.unwrap(),
        Some(3)
    );
    // A worker deleted as dead comes back as a new row.
    query("DELETE FROM workers WHERE id = 'b'")
        .execute(&pool)
        .await
        .unwrap();
    assert!(leases::heartbeat(&pool, &worker("b")).await.unwrap());
    assert!(!leases::heartbeat(&pool, &worker("b")).await.unwrap());
    assert_eq!(
        leases::held(&pool, "a").await.unwrap(),
        [("b@im.bot".to_owned(), 3)]
    );
}

#[tokio::test]
async fn a_worker_paused_inside_a_transaction_does_not_block_the_takeover() {
    use sqlx_core::connection::{ConnectOptions as _, Connection as _};
    let Some(schema) =
        TestSchema::create("a_worker_paused_inside_a_transaction_does_not_block_the_takeover")
            .await
    else {
        return;
    };
    let ttl = Duration::from_secs(1);
    let options = super::worker_connect_options(schema.options(), ttl);
    let store = PgStore::connect_with(options.clone(), PgPoolOptions::new().max_connections(2))
        .await
        .unwrap();
    store
        .save_credentials(&Credentials::new("b@im.bot", "t"))
        .await
        .unwrap();
    let pool = store.pool().clone();
    leases::heartbeat(&pool, &worker("paused")).await.unwrap();
    assert_eq!(
        leases::claim(&pool, "paused", "b@im.bot").await.unwrap(),
        Some(1)
    );

    // The paused worker's connection: a transaction that checked its lease
    // and then stopped, never ending.
    let mut paused = options.connect().await.unwrap();
    let mut tx = paused.begin().await.unwrap();
    let held = leases::confirm(&mut tx, "paused", &[("b@im.bot", 1)])
        .await
        .unwrap();
    assert_eq!(held.len(), 1);

    kill(&store, "paused").await;
    leases::heartbeat(&pool, &worker("new")).await.unwrap();
    // The server ends the idle transaction after half the TTL, so the
    // takeover waits at most that long (a lock timeout may fail one try).
    let takeover = async {
        loop {
            if let Ok(Some(epoch)) = leases::claim(&pool, "new", "b@im.bot").await {
                return epoch;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let epoch = tokio::time::timeout(Duration::from_secs(30), takeover)
        .await
        .expect("the takeover does not wait for the paused transaction");
    assert_eq!(epoch, 2);
    assert!(
        tx.commit().await.is_err(),
        "the paused transaction was ended"
    );
}

#[tokio::test]
async fn a_lease_whose_worker_renewed_it_while_the_claim_waited_stays() {
    use sqlx_core::connection::{ConnectOptions as _, Connection as _};
    let Some(schema) = TestSchema::create("a_lease_whose_worker_renewed_it_stays").await else {
        return;
    };
    let store = schema.store().await;
    store
        .save_credentials(&Credentials::new("b@im.bot", "t"))
        .await
        .unwrap();
    let pool = store.pool().clone();
    leases::heartbeat(&pool, &worker("a")).await.unwrap();
    leases::heartbeat(&pool, &worker("b")).await.unwrap();
    assert_eq!(
        leases::claim(&pool, "a", "b@im.bot").await.unwrap(),
        Some(1)
    );
    // "a" comes back from a pause just past its TTL: its committer has
    // checked its lease (FOR SHARE) and is about to commit...
    kill(&store, "a").await;
    let mut committer = schema.options().connect().await.unwrap();
    let mut tx = committer.begin().await.unwrap();
    leases::confirm(&mut tx, "a", &[("b@im.bot", 1)])
        .await
        .unwrap();
    // ...when "b" tries to take the lease, and waits for that transaction.
    let claim = tokio::spawn({
        let pool = pool.clone();
        async move { leases::claim(&pool, "b", "b@im.bot").await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile "a" renews its heartbeat and still holds the lease, so it
    // goes on polling.
    leases::heartbeat(&pool, &worker("a")).await.unwrap();
    assert_eq!(
        leases::held(&pool, "a").await.unwrap(),
        [("b@im.bot".to_owned(), 1)]
    );
    tx.commit().await.unwrap();
    assert_eq!(
        claim.await.unwrap().unwrap(),
        None,
        "the lease of a worker that renewed it is not taken"
    );
    assert_eq!(
        leases::held(&pool, "a").await.unwrap(),
        [("b@im.bot".to_owned(), 1)]
    );
}
