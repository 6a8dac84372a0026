//! A message handled again after a crash sends nothing twice: sends of a
//! handler run carry `client_id`s derived from the inbox entry and their
//! position, the sends the server acknowledged are journaled, and a replay
//! returns the journaled answers instead of sending; saved conversation
//! state survives a restart and is stored with the message that changed it.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ilink_core::SentMessage;
use ilink_framework::ConversationKey;
use ilink_framework::prelude::*;
use ilink_framework::store::{MemoryStore, SqliteStore, StateStore, StoreError};
use tokio::sync::mpsc;

const USER: &str = "u@im.wechat";

/// Replies "one", a long "two" (several chunks), then "three"; a run marked
/// to stall stops after "two", as a process killed at that point would.
struct ThreeReplies {
    stall: AtomicBool,
    /// What each run's sends returned, in order.
    returned: Mutex<Vec<Vec<SentMessage>>>,
    reached: mpsc::UnboundedSender<()>,
}

fn long_two() -> String {
    "two ".repeat(10)
}

#[async_trait]
impl Handler for ThreeReplies {
    async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
        let mut sent = ctx.reply("one").await?;
        sent.extend(ctx.reply(long_two()).await?);
        self.returned.lock().unwrap().push(sent.clone());
        if self.stall.load(Ordering::SeqCst) {
            let _ = self.reached.send(());
            std::future::pending::<()>().await;
        }
        sent.extend(ctx.reply("three").await?);
        self.returned.lock().unwrap().push(sent);
        Ok(())
    }
}

fn options() -> BotOptions {
    // "two " × 10 is sent as four chunks.
    fast_options()
        .chunk_limit(12)
        .shutdown_deadline(Duration::from_millis(200))
}

fn delivered_texts(sim: &ilink_testkit::Simulator, bot: &ilink_testkit::BotAccount) -> Vec<String> {
    texts_to(sim, bot, USER)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_message_returns_acknowledged_sends_instead_of_sending_them_again() {
    let sim = sim().await;
    let bot = sim.add_account("replay");
    let dir = tempfile::tempdir().unwrap();
    let (reached, mut reached_rx) = mpsc::unbounded_channel();
    let handler = Arc::new(ThreeReplies {
        stall: AtomicBool::new(true),
        returned: Mutex::default(),
        reached,
    });

    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let first = start_with_store(&sim, &bot, handler.clone(), options(), store.clone()).await;
    sim.user(&bot, USER).say("hi").await;
    within("the first run stalls", reached_rx.recv()).await;
    let report = first.shutdown().await;
    assert_eq!(report.unhandled, 1, "the stalled run was cut short");
    store.close().await;
    drop(store);
    let two = long_two();
    let chunks = ilink_core::chunk::split_text(&two, 12);
    assert!(chunks.len() > 1, "{chunks:?}");
    assert_eq!(sim.sent(&bot).len(), 1 + chunks.len());

    // Restart on the same file: the message is handled again.
    handler.stall.store(false, Ordering::SeqCst);
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let account = AccountId::new(bot.bot_id.as_str());
    assert_eq!(store.inbox_load(&account).await.unwrap().len(), 1);
    let entry = store.inbox_load(&account).await.unwrap()[0].id;
    let journal = store.journal(&account, entry).await.unwrap();
    assert_eq!(journal.len(), 1 + chunks.len(), "{journal:?}");
    let second = start_with_store(&sim, &bot, handler.clone(), options(), store.clone()).await;
    let all = 2 + chunks.len();
    sim.wait_for_sent_to(&bot, USER, all, WAIT).await.unwrap();
    second.shutdown().await;

    // Only "three" went out in the second run; the user got each once.
    let requests = sim.sent(&bot);
    assert_eq!(requests.len(), all, "nothing was sent twice: {requests:?}");
    let mut expected = vec!["one".to_owned()];
    expected.extend(chunks.iter().map(|c| c.to_string()));
    expected.push("three".into());
    assert_eq!(delivered_texts(&sim, &bot), expected);
    // The replayed sends returned what the first run got.
    let returned = handler.returned.lock().unwrap().clone();
    assert_eq!(returned.len(), 3, "{returned:?}");
    assert_eq!(returned[1], returned[0], "replay returned the journal");
    let ids: Vec<_> = requests
        .iter()
        .filter_map(|r| r.client_id.clone())
        .collect();
    let got: Vec<_> = returned[2].iter().map(|s| s.client_id.clone()).collect();
    assert_eq!(ids, got, "each message kept its client_id");
    // The quota counted each message once.
    let token = store.context_token(&account, USER).await.unwrap().unwrap();
    assert_eq!(token.sent as usize, all);
    // Handled: the entry and its journal rows are gone.
    assert!(store.inbox_load(&account).await.unwrap().is_empty());
}

/// Loses the journal write of the run's second send once, as a process
/// killed between the server's answer and the store's commit would: the
/// server accepted the message, but the journal does not know.
#[derive(Default)]
struct LoseSecondJournalRow {
    failed: AtomicBool,
    /// Notified once the first send's row is stored.
    first_stored: tokio::sync::Notify,
}

#[async_trait]
impl StoreHooks for LoseSecondJournalRow {
    async fn before(&self, call: Call<'_>) -> Result<(), StoreError> {
        if let Call::RecordSent(rows) = call {
            if rows.iter().any(|r| r.position == 1) && !self.failed.swap(true, Ordering::SeqCst) {
                return Err(StoreError::Closed);
            }
        }
        Ok(())
    }

    async fn after(&self, call: Call<'_>) {
        if let Call::RecordSent(rows) = call {
            if rows.iter().any(|r| r.position == 0) {
                self.first_stored.notify_one();
            }
        }
    }
}

/// Replies "one" and "two"; a stalling run stops after trying "two".
struct TwoReplies {
    stall: AtomicBool,
    reached: mpsc::UnboundedSender<Result<(), SendError>>,
    /// The stalling run sends "two" only once "one"'s journal row is
    /// stored: written behind, the two rows could otherwise go to the
    /// store in one call, which the hook would fail whole.
    journal: Arc<LoseSecondJournalRow>,
}

#[async_trait]
impl Handler for TwoReplies {
    async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
        ctx.reply("one").await?;
        if self.stall.load(Ordering::SeqCst) {
            self.journal.first_stored.notified().await;
        }
        let second = ctx.reply("two").await.map(drop);
        if self.stall.load(Ordering::SeqCst) {
            let _ = self.reached.send(second);
            std::future::pending::<()>().await;
            unreachable!("a stalled run never ends");
        }
        second?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_missing_from_the_journal_goes_out_with_its_first_client_id() {
    let sim = sim().await;
    let bot = sim.add_account("unjournaled");
    let store = Arc::new(HookedStore::new(LoseSecondJournalRow::default()));
    let (reached, mut reached_rx) = mpsc::unbounded_channel();
    let handler = Arc::new(TwoReplies {
        stall: AtomicBool::new(true),
        reached,
        journal: store.hooks.clone(),
    });
    let first = start_with_store(&sim, &bot, handler.clone(), options(), store.clone()).await;
    sim.user(&bot, USER).say("hi").await;
    let second_send = within("the first run stalls", reached_rx.recv())
        .await
        .unwrap();
    // The message went out: its send succeeded whatever the journal got.
    assert!(second_send.is_ok(), "{second_send:?}");
    first.shutdown().await;

    handler.stall.store(false, Ordering::SeqCst);
    let second = start_with_store(&sim, &bot, handler.clone(), options(), store.clone()).await;
    let account = AccountId::new(bot.bot_id.as_str());
    within("the replayed message is handled", async {
        while !store.inner.inbox_load(&account).await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    second.shutdown().await;

    // "one" was journaled and not sent again; "two" was sent again with
    // the same client_id, which the server dropped.
    let requests = sim.sent(&bot);
    let texts: Vec<_> = requests
        .iter()
        .map(|r| {
            r.message.item_list[0]
                .text_item
                .as_ref()
                .unwrap()
                .text
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(texts, ["one", "two", "two"]);
    assert_eq!(requests[1].client_id, requests[2].client_id);
    assert!(requests[1].delivered() && !requests[2].delivered());
    assert_eq!(texts_to(&sim, &bot, USER), ["one", "two"]);
}

/// Keeps the texts of each conversation in saved state; counts the
/// conversations that ended (were evicted).
#[derive(Default)]
struct Counter {
    ended: std::sync::atomic::AtomicUsize,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Seen {
    texts: Vec<String>,
}

#[async_trait]
impl Handler for Counter {
    async fn on_conversation_end(&self, _account: &AccountId, _key: &ConversationKey) {
        self.ended.fetch_add(1, Ordering::SeqCst);
    }

    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        let text = msg.text().unwrap_or_default().to_owned();
        if text == "forget" {
            ctx.clear_saved_state("seen");
            ctx.reply("forgotten").await?;
            return Ok(());
        }
        let seen = ctx.saved_state::<Seen>("seen").await?;
        seen.texts.push(text);
        let summary = seen.texts.join(",");
        ctx.reply(summary).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_state_survives_a_restart_and_idle_eviction() {
    let sim = sim().await;
    let bot = sim.add_account("saved");
    let dir = tempfile::tempdir().unwrap();
    let user = sim.user(&bot, USER);
    let options = fast_options().idle_timeout(Duration::from_millis(100));

    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let counter = Arc::new(Counter::default());
    let handle =
        start_with_store(&sim, &bot, counter.clone(), options.clone(), store.clone()).await;
    user.say("a").await;
    sim.wait_for_sent_to(&bot, USER, 1, WAIT).await.unwrap();
    // Evicted when idle: the next message loads the state again.
    within("the idle conversation is evicted", async {
        while counter.ended.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    user.say("b").await;
    sim.wait_for_sent_to(&bot, USER, 2, WAIT).await.unwrap();
    handle.shutdown().await;
    store.close().await;
    drop(store);

    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let handle = start_with_store(&sim, &bot, Counter::default(), options, store.clone()).await;
    user.say("c").await;
    sim.wait_for_sent_to(&bot, USER, 3, WAIT).await.unwrap();
    user.say("forget").await;
    sim.wait_for_sent_to(&bot, USER, 4, WAIT).await.unwrap();
    user.say("d").await;
    sim.wait_for_sent_to(&bot, USER, 5, WAIT).await.unwrap();
    handle.shutdown().await;
    assert_eq!(
        texts_to(&sim, &bot, USER),
        ["a", "a,b", "a,b,c", "forgotten", "d"]
    );
    let account = AccountId::new(bot.bot_id.as_str());
    let stored = store.load_state(&account, USER, "seen").await.unwrap();
    assert_eq!(stored.as_deref(), Some(r#"{"texts":["d"]}"#));
}

/// Holds the first handled mark of [`OTHER`] until released, so that the
/// next round of writes gathers both of `USER`'s, and fails those as often
/// as `failures` says (by the state they store), as a store that comes back
/// after a passing error would.
#[derive(Default)]
struct HeldThenFailing {
    release: tokio::sync::Notify,
    failures: Mutex<std::collections::HashMap<String, u32>>,
}

const OTHER: &str = "other@im.wechat";

#[async_trait]
impl StoreHooks for HeldThenFailing {
    async fn before(&self, call: Call<'_>) -> Result<(), StoreError> {
        let Call::MarkHandled(_, changes) = call else {
            return Ok(());
        };
        let Some(change) = changes.first() else {
            return Ok(());
        };
        if change.conversation == OTHER {
            self.release.notified().await;
            return Ok(());
        }
        let value = change.value.clone().unwrap_or_default();
        let mut failures = self.failures.lock().unwrap();
        match failures.get_mut(&value) {
            Some(left) if *left > 0 => {
                *left -= 1;
                Err(StoreError::Busy {
                    path: "ilink.db".into(),
                })
            }
            _ => Ok(()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_state_retried_after_a_failed_commit_is_stored_in_the_order_of_the_runs() {
    let sim = sim().await;
    let bot = sim.add_account("in-order");
    let first = r#"{"texts":["c1"]}"#;
    let second = r#"{"texts":["c1","c2"]}"#;
    // The first run's mark fails twice, the second's once: retried side by
    // side, the second would be stored first and the first over it.
    let hooks = HeldThenFailing::default();
    hooks
        .failures
        .lock()
        .unwrap()
        .extend([(first.to_owned(), 2), (second.to_owned(), 1)]);
    let store = Arc::new(HookedStore::new(hooks));
    let handle = start_with_store(
        &sim,
        &bot,
        Counter::default(),
        fast_options(),
        store.clone(),
    )
    .await;
    sim.user(&bot, OTHER).say("held").await;
    sim.wait_for_sent_to(&bot, OTHER, 1, WAIT).await.unwrap();
    let user = sim.user(&bot, USER);
    user.say("c1").await;
    sim.wait_for_sent_to(&bot, USER, 1, WAIT).await.unwrap();
    user.say("c2").await;
    sim.wait_for_sent_to(&bot, USER, 2, WAIT).await.unwrap();
    // The second run's handled mark is queued once the bot has read the
    // server's answer to its reply, just after the simulator recorded it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.hooks.release.notify_one();
    // Shutting down waits for every queued write.
    let report = handle.shutdown().await;
    assert_eq!(report.unhandled, 0);
    let account = AccountId::new(bot.bot_id.as_str());
    assert!(store.inner.inbox_load(&account).await.unwrap().is_empty());
    let stored = store
        .inner
        .load_state(&account, USER, "seen")
        .await
        .unwrap();
    assert_eq!(
        stored.as_deref(),
        Some(second),
        "the later run's state stays"
    );
    assert!(
        store
            .hooks
            .failures
            .lock()
            .unwrap()
            .values()
            .all(|n| *n == 0),
        "every planned failure happened"
    );
}

/// Reads saved state under a key as the wrong type.
struct WrongType;

#[async_trait]
impl Handler for WrongType {
    async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
        match ctx.saved_state::<u32>("seen").await {
            Ok(_) => ctx.reply("decoded").await?,
            Err(e) => ctx.reply(e.to_string()).await?,
        };
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_state_of_another_shape_is_a_clear_error_not_a_reset() {
    let sim = sim().await;
    let bot = sim.add_account("shape");
    let store = Arc::new(MemoryStore::new());
    let account = AccountId::new(bot.bot_id.as_str());
    let change = ilink_framework::store::StateChange {
        conversation: USER.into(),
        key: "seen".into(),
        value: Some(r#"{"texts":["kept"]}"#.into()),
    };
    store.mark_handled(&account, 1, &[change]).await.unwrap();
    let handle = start_with_store(&sim, &bot, WrongType, fast_options(), store.clone()).await;
    sim.user(&bot, USER).say("x").await;
    let sent = sim.wait_for_sent_to(&bot, USER, 1, WAIT).await.unwrap();
    handle.shutdown().await;
    let text = sent[0].message.item_list[0]
        .text_item
        .as_ref()
        .unwrap()
        .text
        .clone()
        .unwrap();
    assert!(
        text.contains("saved state `seen`") && text.contains("u32"),
        "{text}"
    );
    // The stored value was left alone.
    let stored = store.load_state(&account, USER, "seen").await.unwrap();
    assert_eq!(stored.as_deref(), Some(r#"{"texts":["kept"]}"#));
}
