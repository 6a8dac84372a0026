//! Store errors while running lose nothing: a received batch that cannot be
//! stored is retried before it is handled or polled past, and marking a
//! handled message or recording a sent one that fails is retried, each with
//! an account event. One test holds a real SQLite database's write lock
//! from a second connection; the last two restart the account's actors
//! while the store is slow or failing.

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

/// Fails the second read of the inbox (the first after the account's
/// actors restart) once, as a database unreachable for a moment would.
#[derive(Default)]
struct SecondInboxReadFails {
    reads: AtomicU32,
}

#[async_trait]
impl StoreHooks for SecondInboxReadFails {
    async fn before(&self, call: Call<'_>) -> Result<(), StoreError> {
        match call {
            Call::InboxLoad if self.reads.fetch_add(1, Ordering::SeqCst) == 1 => {
                Err(StoreError::Busy {
                    path: "ilink.db".into(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// A Recorder bot over `store` whose grouping of messages panics once, on
/// "boom": the Router fails and the account's actors restart, with "boom"
/// stored in the inbox. The flag says whether it panicked.
async fn start_panicking_once<H: StoreHooks>(
    sim: &ilink_testkit::Simulator,
    bot: &ilink_testkit::BotAccount,
    store: Arc<HookedStore<H>>,
    recorder: Arc<Recorder>,
) -> (BotHandle, Arc<std::sync::atomic::AtomicBool>) {
    let panicked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let key = {
        let panicked = panicked.clone();
        move |msg: &Message| {
            if msg.text() == Some("boom") && !panicked.swap(true, Ordering::SeqCst) {
                panic!("a grouping bug");
            }
            ilink_framework::default_key(msg)
        }
    };
    let handle = Bot::builder(recorder)
        .account(creds(sim, bot))
        .options(fast_options())
        .store(store)
        .conversation_key(key)
        .build()
        .expect("bot builds")
        .start()
        .await
        .expect("bot starts");
    (handle, panicked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_unreadable_when_the_actors_restart_is_read_again_and_handled() {
    let sim = sim().await;
    let bot = sim.add_account("restart-read");
    let store = Arc::new(HookedStore::new(SecondInboxReadFails::default()));
    let recorder = Arc::new(Recorder::default());
    let (handle, panicked) =
        start_panicking_once(&sim, &bot, store.clone(), recorder.clone()).await;
    let user = sim.user(&bot, USER);
    user.say("boom").await;
    // The restarted Router's first read fails; it is read again, and the
    // message left in it is handled.
    sim.wait_for_sent_to(&bot, USER, 1, WAIT).await.unwrap();
    assert!(panicked.load(Ordering::SeqCst));
    assert!(store.hooks.reads.load(Ordering::SeqCst) >= 3);
    user.say("after").await;
    sim.wait_for_sent_to(&bot, USER, 2, WAIT).await.unwrap();
    let report = handle.shutdown().await;
    assert_eq!(report.unhandled, 0);
    assert_eq!(*recorder.handled.lock().unwrap(), ["boom", "after"]);
    assert_eq!(texts_to(&sim, &bot, USER), ["got boom", "got after"]);
}

/// Holds the first handled mark until the inbox is read a second time (the
/// actors restarted), or for at most 3 s: a store slow to take it.
#[derive(Default)]
struct SlowFirstMark {
    reads: AtomicU32,
    second_read: tokio::sync::Notify,
    marks: AtomicU32,
}

#[async_trait]
impl StoreHooks for SlowFirstMark {
    async fn before(&self, call: Call<'_>) -> Result<(), StoreError> {
        match call {
            Call::InboxLoad if self.reads.fetch_add(1, Ordering::SeqCst) == 1 => {
                self.second_read.notify_one();
            }
            Call::MarkHandled(..) if self.marks.fetch_add(1, Ordering::SeqCst) == 0 => {
                let read = self.second_read.notified();
                let _ = tokio::time::timeout(std::time::Duration::from_secs(3), read).await;
            }
            _ => {}
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_actors_do_not_run_again_a_message_whose_handled_mark_was_still_queued() {
    let sim = sim().await;
    let bot = sim.add_account("restart-queued");
    let store = Arc::new(HookedStore::new(SlowFirstMark::default()));
    let recorder = Arc::new(Recorder::default());
    let (handle, panicked) =
        start_panicking_once(&sim, &bot, store.clone(), recorder.clone()).await;
    let user = sim.user(&bot, USER);
    user.say("first").await;
    sim.wait_for_sent_to(&bot, USER, 1, WAIT).await.unwrap();
    // "first" is handled; its mark waits in the slow store while the
    // actors restart. (Until the store sees the mark, the Router may not
    // have queued it: failing before, it would rightly run "first" again.)
    within("the first mark reaches the store", async {
        while store.hooks.marks.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    user.say("boom").await;
    sim.wait_for_sent_to(&bot, USER, 2, WAIT).await.unwrap();
    assert!(panicked.load(Ordering::SeqCst));
    let report = handle.shutdown().await;
    assert_eq!(report.unhandled, 0);
    assert_eq!(
        *recorder.handled.lock().unwrap(),
        ["first", "boom"],
        "the restarted Router read the inbox once the mark was stored"
    );
    assert_eq!(texts_to(&sim, &bot, USER), ["got first", "got boom"]);
}
