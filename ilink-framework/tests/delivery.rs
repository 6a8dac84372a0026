//! Inbound guarantees: duplicates, the durable inbox, cursors across
//! restarts, queue caps and idle eviction.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ilink_framework::ShutdownReport;
use ilink_framework::prelude::*;
use ilink_framework::store::{
    InboxEntry, MemoryStore, ReceivedBatch, ReceivedEntry, SqliteStore, StateStore, StoreError,
    now_ms,
};
use tokio::sync::Notify;

#[derive(Default)]
struct Counter {
    handled: Mutex<Vec<String>>,
}

#[async_trait]
impl Handler for Counter {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        let text = msg.text().unwrap_or_default().to_owned();
        self.handled.lock().unwrap().push(text.clone());
        ctx.reply(format!("got {text}")).await?;
        Ok(())
    }
}

impl Counter {
    fn handled(&self) -> Vec<String> {
        self.handled.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_reach_the_handler_once() {
    let sim = sim().await;
    let bot = sim.add_account("dup");
    let counter = Arc::new(Counter::default());
    let handle = start(&sim, &bot, counter.clone(), fast_options()).await;
    let user = sim.user(&bot, "u@im.wechat");
    let original = user.say("once").await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 1, WAIT)
        .await
        .unwrap();
    sim.redeliver(&bot, &original, Duration::from_millis(10), false);
    sim.redeliver(&bot, &original, Duration::from_millis(300), true);
    // A marker after the redeliveries: once it is answered, they were polled too.
    tokio::time::sleep(Duration::from_millis(400)).await;
    user.say("marker").await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 2, WAIT)
        .await
        .unwrap();
    assert_eq!(counter.handled(), vec!["once", "marker"]);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_saved_cursor_and_remembers_duplicates() {
    let sim = sim().await;
    let bot = sim.add_account("restart");
    let dir = tempfile::tempdir().unwrap();
    let user = sim.user(&bot, "u@im.wechat");

    let first = Arc::new(Counter::default());
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let handle = start_with_store(&sim, &bot, first.clone(), fast_options(), store).await;
    let original = user.say("one").await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 1, WAIT)
        .await
        .unwrap();
    handle.shutdown().await;

    // While the bot is down: a new message, and a late redelivery of the old one.
    user.say("two").await;
    sim.redeliver(&bot, &original, Duration::from_millis(1), true);
    tokio::time::sleep(Duration::from_millis(50)).await;

    let second = Arc::new(Counter::default());
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let handle = start_with_store(&sim, &bot, second.clone(), fast_options(), store).await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 2, WAIT)
        .await
        .unwrap();
    user.say("three").await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 3, WAIT)
        .await
        .unwrap();
    assert_eq!(first.handled(), vec!["one"]);
    assert_eq!(second.handled(), vec!["two", "three"]);
    handle.shutdown().await;
}

/// Hooks that make `inbox_load` wait (up to a second) for the first batch
/// with messages: a Router that reads the inbox after the Poller has
/// started would see the Poller's first batch there.
struct LateInboxLoad {
    put: tokio::sync::watch::Sender<bool>,
}

impl Default for LateInboxLoad {
    fn default() -> Self {
        Self {
            put: tokio::sync::watch::channel(false).0,
        }
    }
}

#[async_trait]
impl StoreHooks for LateInboxLoad {
    async fn before(&self, call: Call<'_>) -> Result<(), StoreError> {
        if let Call::InboxLoad = call {
            let mut put = self.put.subscribe();
            let _ = tokio::time::timeout(Duration::from_secs(1), put.wait_for(|p| *p)).await;
        }
        Ok(())
    }
    async fn after(&self, call: Call<'_>) {
        if let Call::CommitReceived(batch) = call {
            if !batch.entries.is_empty() {
                self.put.send_replace(true);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_received_at_start_up_is_handled_once() {
    let sim = sim().await;
    let bot = sim.add_account("startup");
    let user = sim.user(&bot, "u@im.wechat");
    // Waiting when the bot starts: its first poll returns it at once.
    user.say("early").await;
    let counter = Arc::new(Counter::default());
    let store = Arc::new(HookedStore::new(LateInboxLoad::default()));
    let handle = start_with_store(&sim, &bot, counter.clone(), fast_options(), store).await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 1, WAIT)
        .await
        .unwrap();
    // A second copy would be handled right behind the first; the marker
    // comes after it in the same conversation.
    user.say("marker").await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 2, WAIT)
        .await
        .unwrap();
    assert_eq!(counter.handled(), vec!["early", "marker"]);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_left_in_the_inbox_by_a_crash_are_handled_first() {
    let sim = sim().await;
    let bot = sim.add_account("crash");
    let user = sim.user(&bot, "u@im.wechat");
    // The crash: a message was received (inbox, cursor) but never handled.
    let received = user.say("before the crash").await;
    let store = Arc::new(MemoryStore::new());
    let account = AccountId::new(&bot.bot_id);
    let crashed = ReceivedBatch {
        entries: vec![ReceivedEntry {
            entry: InboxEntry {
                id: 1,
                msg: received.into(),
                received_at_ms: now_ms(),
            },
            dedup_keys: Vec::new(),
            context_token: None,
            json: None,
        }],
        ..Default::default()
    };
    store.commit_received(&account, &crashed).await.unwrap();
    // Skip what the simulator still queues for the bot: the crashed run had polled it.
    let drained = ilink_core::ILinkClient::new(sim.base_url(), bot.token.clone()).unwrap();
    let batch = drained.poll().await.unwrap();
    let cursor = ReceivedBatch {
        cursor: Some(drained.cursor().as_str().to_owned()),
        ..Default::default()
    };
    store.commit_received(&account, &cursor).await.unwrap();
    assert_eq!(batch.msgs.len(), 1);

    let counter = Arc::new(Counter::default());
    let handle = start_with_store(&sim, &bot, counter.clone(), fast_options(), store.clone()).await;
    user.say("after the restart").await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 2, WAIT)
        .await
        .unwrap();
    assert_eq!(
        counter.handled(),
        vec!["before the crash", "after the restart"]
    );
    handle.shutdown().await;
    assert!(
        store.inbox_load(&account).await.unwrap().is_empty(),
        "handled entries leave the inbox"
    );
}

struct Slow {
    started: Notify,
    finished: AtomicUsize,
}

#[async_trait]
impl Handler for Slow {
    async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
        self.started.notify_one();
        tokio::time::sleep(Duration::from_millis(500)).await;
        ctx.reply("finished after shutdown began").await?;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_running_handler_finish_and_says_notifystop() {
    let sim = sim().await;
    let bot = sim.add_account("drain");
    let slow = Arc::new(Slow {
        started: Notify::new(),
        finished: AtomicUsize::new(0),
    });
    let store = Arc::new(MemoryStore::new());
    let handle = start_with_store(&sim, &bot, slow.clone(), fast_options(), store.clone()).await;
    let mut events = handle.events();
    sim.user(&bot, "u@im.wechat").say("take your time").await;
    tokio::time::timeout(WAIT, slow.started.notified())
        .await
        .unwrap();
    let report = handle.shutdown().await;
    assert_eq!(report, ShutdownReport::default());
    assert_eq!(slow.finished.load(Ordering::SeqCst), 1);
    assert_eq!(sim.delivered_to(&bot, "u@im.wechat").len(), 1);
    let account = AccountId::new(&bot.bot_id);
    assert!(
        store.load_cursor(&account).await.unwrap().is_some(),
        "cursor persisted"
    );
    assert!(store.inbox_load(&account).await.unwrap().is_empty());
    let notes: Vec<_> = sim.notifications().into_iter().map(|n| n.kind).collect();
    assert_eq!(
        notes,
        vec![
            ilink_testkit::NotifyKind::Start,
            ilink_testkit::NotifyKind::Stop
        ]
    );
    wait_event(&mut events, |e| e.kind == AccountEventKind::Stopped).await;
}

/// Never finishes "stuck"; records that it started and whether its run was
/// torn down (its future dropped) rather than left running.
#[derive(Default)]
struct Stuck {
    started: Notify,
    torn_down: AtomicUsize,
}

struct TornDown<'a>(&'a AtomicUsize);

impl Drop for TornDown<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Handler for Stuck {
    async fn handle(&self, _ctx: &mut Context, _msg: Message) -> HandlerResult {
        let _guard = TornDown(&self.torn_down);
        self.started.notify_one();
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_still_running_at_the_shutdown_deadline_is_handled_at_the_next_start() {
    let sim = sim().await;
    let bot = sim.add_account("deadline");
    let store = Arc::new(MemoryStore::new());
    let account = AccountId::new(&bot.bot_id);
    let stuck = Arc::new(Stuck::default());
    let options = fast_options().shutdown_deadline(Duration::from_millis(300));
    let handle = start_with_store(&sim, &bot, stuck.clone(), options, store.clone()).await;
    sim.user(&bot, "u@im.wechat").say("never done").await;
    tokio::time::timeout(WAIT, stuck.started.notified())
        .await
        .unwrap();
    let report = handle.shutdown().await;
    assert_eq!(report.unhandled, 1);
    // The run was stopped with the account, not left running behind it.
    assert_eq!(stuck.torn_down.load(Ordering::SeqCst), 1);
    let left: Vec<String> = store
        .inbox_load(&account)
        .await
        .unwrap()
        .into_iter()
        .map(|e| Message::new(e.msg).text().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(left, vec!["never done"]);

    let counter = Arc::new(Counter::default());
    let handle = start_with_store(&sim, &bot, counter.clone(), fast_options(), store.clone()).await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 1, WAIT)
        .await
        .unwrap();
    assert_eq!(counter.handled(), vec!["never done"]);
    assert_eq!(texts_to(&sim, &bot, "u@im.wechat"), vec!["got never done"]);
    handle.shutdown().await;
    assert!(store.inbox_load(&account).await.unwrap().is_empty());
}

struct Blocked {
    release: Notify,
}

#[async_trait]
impl Handler for Blocked {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        if msg.text() == Some("first") {
            self.release.notified().await;
        }
        ctx.reply(format!("handled {}", msg.text().unwrap_or_default()))
            .await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_conversation_queue_refuses_visibly() {
    let sim = sim().await;
    let bot = sim.add_account("cap");
    let blocked = Arc::new(Blocked {
        release: Notify::new(),
    });
    let options = fast_options()
        .session_queue_cap(2)
        .overflow_reply(Some("busy".into()));
    let handle = start(&sim, &bot, blocked.clone(), options).await;
    let mut events = handle.events();
    let user = sim.user(&bot, "u@im.wechat");
    user.say("first").await;
    user.say("second").await;
    user.say("third").await;
    let dropped = wait_event(&mut events, |e| {
        matches!(e.kind, AccountEventKind::MessageDropped { .. })
    })
    .await;
    assert_eq!(dropped.account.as_str(), bot.bot_id);
    sim.wait_for_sent_to(&bot, "u@im.wechat", 1, WAIT)
        .await
        .unwrap();
    blocked.release.notify_one();
    sim.wait_for_sent_to(&bot, "u@im.wechat", 3, WAIT)
        .await
        .unwrap();
    let texts = texts_to(&sim, &bot, "u@im.wechat");
    assert_eq!(texts, vec!["busy", "handled first", "handled second"]);
    handle.shutdown().await;
}

#[derive(Default)]
struct Lifecycle {
    log: Mutex<Vec<String>>,
}

#[async_trait]
impl Handler for Lifecycle {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        #[derive(Default)]
        struct Seen(u32);
        ctx.state::<Seen>().0 += 1;
        let n = ctx.state::<Seen>().0;
        self.log
            .lock()
            .unwrap()
            .push(format!("msg {} #{n}", msg.text().unwrap_or_default()));
        ctx.reply(format!("#{n}")).await?;
        Ok(())
    }

    async fn on_conversation_start(&self, ctx: &mut Context) -> HandlerResult {
        self.log
            .lock()
            .unwrap()
            .push(format!("start {}", ctx.conversation()));
        Ok(())
    }

    async fn on_conversation_end(
        &self,
        _account: &AccountId,
        conversation: &ilink_framework::ConversationKey,
    ) {
        self.log.lock().unwrap().push(format!("end {conversation}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_evicted_with_their_state() {
    let sim = sim().await;
    let bot = sim.add_account("idle");
    let life = Arc::new(Lifecycle::default());
    let options = fast_options().idle_timeout(Duration::from_millis(200));
    let handle = start(&sim, &bot, life.clone(), options).await;
    let user = sim.user(&bot, "u@im.wechat");
    user.say("a").await;
    user.say("b").await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 2, WAIT)
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        while !life
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("end"))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    user.say("c").await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 3, WAIT)
        .await
        .unwrap();
    let log = life.log.lock().unwrap().clone();
    assert_eq!(
        log,
        vec![
            "start u@im.wechat",
            "msg a #1",
            "msg b #2",
            "end u@im.wechat",
            "start u@im.wechat",
            "msg c #1"
        ]
    );
    handle.shutdown().await;
}
