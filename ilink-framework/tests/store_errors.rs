//! Store errors while running lose nothing: a received batch that cannot be
//! stored is retried before it is handled or polled past, and a removal from
//! the inbox that fails is retried, each with an account event.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use ilink_framework::prelude::*;
use ilink_framework::store::{
    ContextTokenRecord, InboxEntry, MemoryStore, ReceivedBatch, SentCount, StateStore, StoreError,
};

const USER: &str = "u@im.wechat";

/// A [`MemoryStore`] whose `commit_received` and `inbox_remove` fail as
/// often as told before they work again, as a full disk would.
#[derive(Default)]
struct FailingStore {
    inner: MemoryStore,
    commit_failures: AtomicU32,
    remove_failures: AtomicU32,
    /// The message counts of the batches with messages that reached the
    /// inner store.
    committed: Mutex<Vec<usize>>,
}

impl FailingStore {
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
}

#[async_trait]
impl StateStore for FailingStore {
    async fn load_cursor(&self, a: &AccountId) -> Result<Option<String>, StoreError> {
        self.inner.load_cursor(a).await
    }
    async fn inbox_load(&self, a: &AccountId) -> Result<Vec<InboxEntry>, StoreError> {
        self.inner.inbox_load(a).await
    }
    async fn commit_received(
        &self,
        a: &AccountId,
        batch: &ReceivedBatch,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        if !batch.entries.is_empty() {
            Self::fail(&self.commit_failures)?;
        }
        let firsts = self.inner.commit_received(a, batch).await?;
        if !batch.entries.is_empty() {
            self.committed.lock().unwrap().push(batch.entries.len());
        }
        Ok(firsts)
    }
    async fn inbox_remove(&self, a: &AccountId, ids: &[u64]) -> Result<(), StoreError> {
        Self::fail(&self.remove_failures)?;
        self.inner.inbox_remove(a, ids).await
    }
    async fn context_token(
        &self,
        a: &AccountId,
        u: &str,
    ) -> Result<Option<ContextTokenRecord>, StoreError> {
        self.inner.context_token(a, u).await
    }
    async fn put_context_token(
        &self,
        a: &AccountId,
        u: &str,
        r: &ContextTokenRecord,
    ) -> Result<(), StoreError> {
        self.inner.put_context_token(a, u, r).await
    }
    async fn record_sent(&self, a: &AccountId, sends: &[SentCount]) -> Result<(), StoreError> {
        self.inner.record_sent(a, sends).await
    }
    async fn forget_account(&self, a: &AccountId) -> Result<(), StoreError> {
        self.inner.forget_account(a).await
    }
    async fn save_credentials(&self, c: &Credentials) -> Result<(), StoreError> {
        self.inner.save_credentials(c).await
    }
    async fn list_credentials(&self) -> Result<Vec<Credentials>, StoreError> {
        self.inner.list_credentials().await
    }
    async fn remove_credentials(&self, a: &AccountId) -> Result<bool, StoreError> {
        self.inner.remove_credentials(a).await
    }
}

/// Records what it handled and replies to it.
#[derive(Default)]
struct Recorder {
    handled: Mutex<Vec<String>>,
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        let text = msg.text().unwrap_or_default().to_owned();
        self.handled.lock().unwrap().push(text.clone());
        ctx.reply(format!("got {text}")).await?;
        Ok(())
    }
}

fn is_store_error(e: &AccountEvent, n: u32) -> bool {
    matches!(&e.kind, AccountEventKind::StoreError { consecutive, error }
        if *consecutive == n && error.contains("ilink.db"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_store_refuses_is_retried_not_handled_from_memory() {
    let sim = sim().await;
    let bot = sim.add_account("full");
    let store = Arc::new(FailingStore::default());
    store.commit_failures.store(3, Ordering::SeqCst);
    let recorder = Arc::new(Recorder::default());
    let handle =
        start_with_store(&sim, &bot, recorder.clone(), fast_options(), store.clone()).await;
    let mut events = handle.events();
    let user = sim.user(&bot, USER);
    user.say("one").await;

    // Three failures, each reported, then the commit holds.
    for n in 1..=3 {
        wait_event(&mut events, |e| is_store_error(e, n)).await;
        assert!(
            recorder.handled.lock().unwrap().is_empty(),
            "handled before it was stored"
        );
    }
    wait_event(&mut events, |e| {
        matches!(e.kind, AccountEventKind::StoreRecovered)
    })
    .await;
    sim.wait_for_sent_to(&bot, USER, 1, WAIT).await.unwrap();

    // Later messages still flow, after the retried batch.
    user.say("two").await;
    sim.wait_for_sent_to(&bot, USER, 2, WAIT).await.unwrap();
    assert_eq!(*recorder.handled.lock().unwrap(), ["one", "two"]);
    // The retried batch reached the store once, whole, then the next.
    assert_eq!(*store.committed.lock().unwrap(), [1, 1]);
    assert_eq!(texts_to(&sim, &bot, USER), ["got one", "got two"]);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_the_store_refuses_is_retried_and_the_message_handled_once() {
    let sim = sim().await;
    let bot = sim.add_account("remove");
    let store = Arc::new(FailingStore::default());
    store.remove_failures.store(2, Ordering::SeqCst);
    let recorder = Arc::new(Recorder::default());
    let handle =
        start_with_store(&sim, &bot, recorder.clone(), fast_options(), store.clone()).await;
    let mut events = handle.events();
    let user = sim.user(&bot, USER);
    user.say("one").await;
    wait_event(&mut events, |e| is_store_error(e, 2)).await;
    wait_event(&mut events, |e| {
        matches!(e.kind, AccountEventKind::StoreRecovered)
    })
    .await;
    let account = AccountId::new(bot.bot_id.as_str());
    assert!(
        store.inner.inbox_load(&account).await.unwrap().is_empty(),
        "the handled message left the inbox"
    );

    user.say("two").await;
    sim.wait_for_sent_to(&bot, USER, 2, WAIT).await.unwrap();
    let report = handle.shutdown().await;
    assert_eq!(report.unhandled, 0);
    assert_eq!(*recorder.handled.lock().unwrap(), ["one", "two"]);
    assert_eq!(texts_to(&sim, &bot, USER), ["got one", "got two"]);
}
