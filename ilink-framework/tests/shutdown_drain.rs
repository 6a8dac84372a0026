//! A shutdown that begins while a received batch is being stored waits for
//! that batch: it is stored, dispatched and handled before the bot stops,
//! and the report counts nothing unhandled.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use ilink_framework::prelude::*;
use ilink_framework::store::{StateStore, StoreError};
use tokio::sync::{Notify, Semaphore};

const USER: &str = "u@im.wechat";

/// Holds the first commit of a batch with messages until released.
struct Gate {
    seen: AtomicBool,
    held: Notify,
    release: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            seen: AtomicBool::new(false),
            held: Notify::new(),
            release: Semaphore::new(0),
        }
    }
}

#[async_trait]
impl StoreHooks for Gate {
    async fn before(&self, call: Call<'_>) -> Result<(), StoreError> {
        if let Call::CommitReceived(batch) = call {
            if !batch.entries.is_empty() && !self.seen.swap(true, Ordering::SeqCst) {
                self.held.notify_one();
                let _ = self.release.acquire().await;
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_being_stored_when_shutdown_begins_is_handled_before_the_bot_stops() {
    let r = start_recorder("drain", Gate::default()).await;
    r.sim.user(&r.bot, USER).say("one").await;
    tokio::time::timeout(WAIT, r.store.hooks.held.notified())
        .await
        .expect("the batch's commit began");

    let stopping = r.handle.clone();
    let shutdown = tokio::spawn(async move { stopping.shutdown().await });
    // The shutdown has stopped polling and waits for the Poller, which
    // waits for the commit.
    tokio::time::sleep(Duration::from_millis(100)).await;
    r.store.hooks.release.add_permits(1);
    let report = shutdown.await.unwrap();

    // Dispatched by the Poller as it stopped, the batch could still be in
    // the Router's mailbox when the shutdown counted what was left to
    // handle: it must be counted, and handled, all the same.
    assert_eq!(report.unhandled, 0);
    assert_eq!(r.handled(), ["one"]);
    assert_eq!(texts_to(&r.sim, &r.bot, USER), ["got one"]);
    let inbox = r.store.inner.inbox_load(&r.account()).await.unwrap();
    assert!(inbox.is_empty());
}
