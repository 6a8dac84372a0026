//! Store errors while running lose nothing: a received batch that cannot be
//! stored is retried before it is handled or polled past, and marking a
//! handled message or recording a sent one that fails is retried, each with
//! an account event. The last test holds a real SQLite database's write
//! lock from a second connection.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use ilink_framework::prelude::*;
use ilink_framework::store::{DATABASE_FILE, SqliteStore, StateStore, StoreError};

const USER: &str = "u@im.wechat";

/// Hooks that fail `commit_received` (of batches with messages), the
/// marking of handled messages and the recording of sent ones as often as
/// told before they work again, as a full disk would.
#[derive(Default)]
struct Failures {
    commit: AtomicU32,
    mark_handled: AtomicU32,
    record_sent: AtomicU32,
    /// The message counts of the batches with messages that were stored.
    committed: Mutex<Vec<usize>>,
}

/// Fails the next `n` calls of a kind.
fn fail(counter: &AtomicU32) -> Result<(), StoreError> {
    let failing = counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        Err(StoreError::Full {
            path: "ilink.db".into(),
        })
    } else {
        Ok(())
    }
}

#[async_trait]
impl StoreHooks for Failures {
    async fn before(&self, call: Call<'_>) -> Result<(), StoreError> {
        match call {
            Call::CommitReceived(batch) if !batch.entries.is_empty() => fail(&self.commit),
            Call::MarkHandled(..) => fail(&self.mark_handled),
            Call::RecordSent(..) => fail(&self.record_sent),
            _ => Ok(()),
        }
    }
    async fn after(&self, call: Call<'_>) {
        if let Call::CommitReceived(batch) = call {
            if !batch.entries.is_empty() {
                self.committed.lock().unwrap().push(batch.entries.len());
            }
        }
    }
}

fn is_store_error(e: &AccountEvent, n: u32) -> bool {
    matches!(&e.kind, AccountEventKind::StoreError { consecutive, error }
        if *consecutive == n && error.contains("ilink.db"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_store_refuses_is_retried_not_handled_from_memory() {
    let r = start_recorder(
        "full",
        Failures {
            commit: 3.into(),
            ..Failures::default()
        },
    )
    .await;
    let mut events = r.handle.events();
    let user = r.sim.user(&r.bot, USER);
    user.say("one").await;

    // Three failures, each reported, then the commit holds.
    for n in 1..=3 {
        wait_event(&mut events, |e| is_store_error(e, n)).await;
        assert!(r.handled().is_empty(), "handled before it was stored");
    }
    wait_event(&mut events, |e| {
        matches!(e.kind, AccountEventKind::StoreRecovered)
    })
    .await;
    r.sim.wait_for_sent_to(&r.bot, USER, 1, WAIT).await.unwrap();

    // Later messages still flow, after the retried batch.
    user.say("two").await;
    r.sim.wait_for_sent_to(&r.bot, USER, 2, WAIT).await.unwrap();
    assert_eq!(r.handled(), ["one", "two"]);
    // The retried batch reached the store once, whole, then the next.
    assert_eq!(*r.store.hooks.committed.lock().unwrap(), [1, 1]);
    assert_eq!(texts_to(&r.sim, &r.bot, USER), ["got one", "got two"]);
    r.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marking_handled_that_the_store_refuses_is_retried_and_the_message_handled_once() {
    let r = start_recorder(
        "remove",
        Failures {
            mark_handled: 2.into(),
            ..Failures::default()
        },
    )
    .await;
    let mut events = r.handle.events();
    let user = r.sim.user(&r.bot, USER);
    user.say("one").await;
    wait_event(&mut events, |e| is_store_error(e, 2)).await;
    wait_event(&mut events, |e| {
        matches!(e.kind, AccountEventKind::StoreRecovered)
    })
    .await;
    let account = r.account();
    assert!(
        r.store.inner.inbox_load(&account).await.unwrap().is_empty(),
        "the handled message left the inbox"
    );

    user.say("two").await;
    r.sim.wait_for_sent_to(&r.bot, USER, 2, WAIT).await.unwrap();
    let report = r.handle.shutdown().await;
    assert_eq!(report.unhandled, 0);
    assert_eq!(r.handled(), ["one", "two"]);
    assert_eq!(texts_to(&r.sim, &r.bot, USER), ["got one", "got two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_a_sent_message_that_the_store_refuses_is_retried_and_the_message_sent_once() {
    let r = start_recorder(
        "record",
        Failures {
            record_sent: 2.into(),
            ..Failures::default()
        },
    )
    .await;
    let mut events = r.handle.events();
    r.sim.user(&r.bot, USER).say("one").await;
    wait_event(&mut events, |e| is_store_error(e, 2)).await;
    wait_event(&mut events, |e| {
        matches!(e.kind, AccountEventKind::StoreRecovered)
    })
    .await;
    // The send's count reached the store once the store worked again.
    let account = r.account();
    let token = r.store.inner.context_token(&account, USER).await.unwrap();
    assert_eq!(token.expect("the message's context token").sent, 1);
    let report = r.handle.shutdown().await;
    assert_eq!((report.unhandled, report.unsent), (0, 0));
    assert_eq!(r.handled(), ["one"]);
    assert_eq!(texts_to(&r.sim, &r.bot, USER), ["got one"]);
}

/// Another process holds the SQLite database's write lock for longer than
/// a write waits for it (an operator's `sqlite3` shell left in a
/// transaction): the received batch is reported as locked, naming the file
/// and what to do, retried, and handled once the lock is released. A real
/// database and a real second connection, not a hook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_another_process_keeps_locked_is_waited_for_and_nothing_is_lost() {
    let sim = sim().await;
    let bot = sim.add_account("locked");
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let recorder = Arc::new(Recorder::default());
    let handle =
        start_with_store(&sim, &bot, recorder.clone(), fast_options(), store.clone()).await;
    let mut events = handle.events();

    let db = dir.path().join(DATABASE_FILE);
    let shell = rusqlite::Connection::open(&db).unwrap();
    shell.execute_batch("BEGIN IMMEDIATE").unwrap();
    let user = sim.user(&bot, USER);
    user.say("while locked").await;
    let locked = wait_event(&mut events, |e| {
        matches!(&e.kind, AccountEventKind::StoreError { .. })
    })
    .await;
    let AccountEventKind::StoreError { error, .. } = &locked.kind else {
        unreachable!()
    };
    assert!(
        error.contains(&format!(
            "state database {} is locked by another process",
            db.display()
        )) && error.contains("end that transaction"),
        "{error}"
    );
    assert!(recorder.handled.lock().unwrap().is_empty());

    shell.execute_batch("COMMIT").unwrap();
    wait_event(&mut events, |e| {
        matches!(e.kind, AccountEventKind::StoreRecovered)
    })
    .await;
    sim.wait_for_sent_to(&bot, USER, 1, WAIT).await.unwrap();
    let report = handle.shutdown().await;
    assert_eq!(report.unhandled, 0);
    assert_eq!(*recorder.handled.lock().unwrap(), ["while locked"]);
    assert_eq!(texts_to(&sim, &bot, USER), ["got while locked"]);
    store.close().await;
}
