//! What the poller stores, against the real actors: received input no
//! store can hold, on PostgreSQL (`ILINK_TEST_DATABASE_URL`; skipped, saying
//! so, without one), whose text has no NUL character, where each such
//! message costs only itself; and a message stored as it came, on SQLite.

use std::sync::Arc;
use std::time::Duration;

use ilink_core::types::WeixinMessage;
use ilink_testkit::{BotAccount, SimConfig, Simulator};

use crate::BotBuilder;
use crate::prelude::*;
use crate::store::pg_testing::TestSchema;
use crate::store::{PgStore, StateStore};

/// Generous: only reached when something is broken.
const WAIT: Duration = Duration::from_secs(30);

const GOOD: &str = r#"{"message_id":"7489534892789344264","from_user_id":"alice@im.wechat","context_token":"ctx-alice","message_type":1,"item_list":[{"type":1,"text_item":{"text":"good"}}]}"#;

/// Echoes text.
struct Echo;

#[async_trait::async_trait]
impl Handler for Echo {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        ctx.reply(format!("echo {}", msg.text().unwrap_or_default()))
            .await?;
        Ok(())
    }
}

/// A bot running `handler` on `bot`, polling briefly, with `options` on
/// top of that.
fn builder(
    sim: &Simulator,
    bot: &BotAccount,
    handler: impl Handler,
    options: impl FnOnce(BotOptions) -> BotOptions,
) -> BotBuilder {
    Bot::builder(handler)
        .account(
            Credentials::new(bot.bot_id.as_str(), bot.token.clone())
                .with_base_url(sim.base_url())
                .with_cdn_base_url(sim.cdn_base_url()),
        )
        .options(options(
            BotOptions::default().poll_timeout(Duration::from_secs(1)),
        ))
}

/// `Echo` on `bot` with `store`.
async fn start_echo(sim: &Simulator, bot: &BotAccount, store: Arc<dyn StateStore>) -> BotHandle {
    let builder = builder(sim, bot, Echo, |o| o).store(store);
    builder.build().unwrap().start().await.unwrap()
}

/// `bot` answers "one" with the stored cursor, then "two" from a batch
/// whose cursor holds a NUL; returns the running bot, the cursor stored
/// before (and still stored) and the message "two".
async fn answer_past_a_nul_cursor(
    sim: &Simulator,
    bot: &BotAccount,
    store: &Arc<PgStore>,
) -> (BotHandle, Option<String>, WeixinMessage) {
    let handle = start_echo(sim, bot, store.clone()).await;
    let alice = sim.user(bot, "alice@im.wechat");
    alice.say("one").await;
    sim.wait_for_sent_to(bot, "alice@im.wechat", 1, WAIT)
        .await
        .unwrap();
    let account = AccountId::new(bot.bot_id.as_str());
    let stored = store.load_cursor(&account).await.unwrap();
    assert!(stored.is_some());

    sim.set_next_cursor(bot, "c\0d");
    let two = alice.say("two").await;
    sim.wait_for_sent_to(bot, "alice@im.wechat", 2, WAIT)
        .await
        .expect("the batch with the cursor no store can hold is handled");
    assert_eq!(store.load_cursor(&account).await.unwrap(), stored);
    (handle, stored, two)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_postgresql_cannot_hold_is_quarantined_and_the_batch_goes_on() {
    let Some(schema) = TestSchema::create("poller_nul").await else {
        return;
    };
    let cases = [
        // A NUL in the sender's id or context token, or in the group's id,
        // each an escape that decodes.
        (
            r#"{"message_id":11,"from_user_id":"bob\u0000@im.wechat","context_token":"ctx-b","item_list":[{"type":1,"text_item":{"text":"x"}}]}"#,
            Some("NUL"),
        ),
        (
            r#"{"message_id":12,"from_user_id":"bob@im.wechat","context_token":"ctx\u0000b","item_list":[{"type":1,"text_item":{"text":"x"}}]}"#,
            Some("NUL"),
        ),
        (
            r#"{"message_id":13,"from_user_id":"bob@im.wechat","group_id":"g\u0000","item_list":[{"type":1,"text_item":{"text":"x"}}]}"#,
            Some("NUL"),
        ),
        // A raw NUL byte inside a string, which JSON forbids: the body is
        // repaired (the NUL kept as its escape), so it is answered.
        (
            "{\"message_id\":14,\"from_user_id\":\"bob@im.wechat\",\"context_token\":\"ctx-b\",\"item_list\":[{\"type\":1,\"text_item\":{\"text\":\"a\0b\"}}]}",
            None,
        ),
    ];
    let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
    for (case, (bad, why)) in cases.iter().enumerate() {
        let bot = sim.add_account(&format!("nul-{case}"));
        let store = Arc::new(schema.store().await);
        let handle = start_echo(&sim, &bot, store.clone()).await;
        sim.push_raw_batch(&bot, &format!("[{bad}, {GOOD}]"));

        sim.wait_for_sent_to(&bot, "alice@im.wechat", 1, WAIT)
            .await
            .unwrap_or_else(|e| panic!("case {case}: the good message was held up: {e}"));
        let account = AccountId::new(bot.bot_id.as_str());
        let kept = store.quarantine_list(Some(&account)).await.unwrap();
        let Some(why) = why else {
            assert!(kept.is_empty(), "case {case}: {kept:?}");
            sim.wait_for_sent_to(&bot, "bob@im.wechat", 1, WAIT)
                .await
                .unwrap();
            handle.shutdown().await;
            let texts: Vec<_> = sim
                .sent(&bot)
                .iter()
                .filter(|s| s.to_user_id == "bob@im.wechat")
                .map(|s| s.text().unwrap_or_default())
                .collect();
            assert_eq!(texts, ["echo a\0b"], "case {case}");
            continue;
        };
        assert_eq!(kept.len(), 1, "case {case}: {kept:?}");
        assert!(
            kept[0].reason.contains(why),
            "case {case}: {}",
            kept[0].reason
        );
        // Kept as the same JSON value, the NUL as its escape; in fact as
        // the very text that came.
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&kept[0].raw).unwrap(),
            serde_json::from_str::<serde_json::Value>(bad).unwrap(),
            "case {case}"
        );
        assert_eq!(kept[0].raw, *bad, "case {case}");
        handle.shutdown().await;
        assert!(
            sim.sent(&bot)
                .iter()
                .all(|s| !s.to_user_id.starts_with("bob")),
            "case {case}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_postgresql_cannot_hold_is_used_but_not_stored() {
    let Some(schema) = TestSchema::create("poller_nul_cursor").await else {
        return;
    };
    let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
    let bot = sim.add_account("nul-cursor");
    let store = Arc::new(schema.store().await);
    let account = AccountId::new(bot.bot_id.as_str());
    let (handle, stored, _) = answer_past_a_nul_cursor(&sim, &bot, &store).await;
    // Polling goes on from it, and the next cursor is stored again.
    sim.user(&bot, "alice@im.wechat").say("three").await;
    sim.wait_for_sent_to(&bot, "alice@im.wechat", 3, WAIT)
        .await
        .unwrap();
    handle.shutdown().await;
    let last = store.load_cursor(&account).await.unwrap();
    assert!(last.is_some_and(|c| !c.contains('\0') && Some(&c) != stored.as_ref()));
    sim.shutdown().await;
}

/// Never finishes: its message stays in the inbox.
struct Hold(Arc<tokio::sync::Notify>);

#[async_trait::async_trait]
impl Handler for Hold {
    async fn handle(&self, _ctx: &mut Context, _msg: Message) -> HandlerResult {
        self.0.notify_one();
        std::future::pending().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_received_message_is_stored_as_it_came() {
    // Numbers in strings, an unknown field, spaces: written out again, the
    // message would read back the same but not byte for byte.
    let raw = r#"{"message_id":"7489534892789344264", "from_user_id":"alice@im.wechat","context_token":"ctx-alice","message_type":1,"future":{"a":[1]},"item_list":[{"type":1,"text_item":{"text":"as it came"}}]}"#;
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
    let bot = sim.add_account("as-it-came");
    let started = Arc::new(tokio::sync::Notify::new());
    let handle = builder(&sim, &bot, Hold(started.clone()), |o| {
        o.shutdown_deadline(Duration::from_millis(100))
    })
    .state_dir(dir.path())
    .build()
    .unwrap()
    .start()
    .await
    .unwrap();
    sim.push_raw_batch(&bot, &format!("[{raw}]"));
    tokio::time::timeout(WAIT, started.notified())
        .await
        .expect("the message is handled");
    handle.shutdown().await;
    sim.shutdown().await;

    let db = rusqlite::Connection::open(dir.path().join(crate::store::DATABASE_FILE)).unwrap();
    let stored: Vec<String> = db
        .prepare("SELECT message FROM inbox")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored, [raw]);
    // And it reads back as the message it is.
    drop(db);
    let store = crate::store::SqliteStore::open(dir.path()).await.unwrap();
    let inbox = store
        .inbox_load(&AccountId::new(bot.bot_id.as_str()))
        .await
        .unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].msg.message_id, Some(7_489_534_892_789_344_264));
    assert_eq!(
        inbox[0].msg.extra.get("future"),
        Some(&serde_json::json!({"a": [1]}))
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_an_unstored_cursor_answers_a_replay_once() {
    let Some(schema) = TestSchema::create("poller_nul_cursor_restart").await else {
        return;
    };
    let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
    let bot = sim.add_account("nul-cursor-restart");
    let store = Arc::new(schema.store().await);
    let account = AccountId::new(bot.bot_id.as_str());
    let (handle, stored, two) = answer_past_a_nul_cursor(&sim, &bot, &store).await;
    // Stopped while the cursor in use is one the store could not hold.
    handle.shutdown().await;
    assert_eq!(store.load_cursor(&account).await.unwrap(), stored);

    // A server asked from the older, stored cursor sends "two" again; the
    // dedup keys stored with it drop it.
    let handle = start_echo(&sim, &bot, store.clone()).await;
    sim.redeliver(&bot, &two, Duration::ZERO, false);
    // Queued behind the replay, so an answer to the replay would be the
    // third reply.
    tokio::time::sleep(Duration::from_millis(100)).await;
    sim.user(&bot, "alice@im.wechat").say("three").await;
    sim.wait_for_sent_to(&bot, "alice@im.wechat", 3, WAIT)
        .await
        .expect("the restarted bot answers");
    handle.shutdown().await;
    let texts: Vec<_> = sim
        .sent(&bot)
        .iter()
        .map(|s| s.text().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["echo one", "echo two", "echo three"]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_entries_get_ids_above_what_the_store_holds_whatever_the_clock_says() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("ids");
    let store = Arc::new(crate::store::MemoryStore::new());
    let account = AccountId::new(bot.bot_id.as_str());
    // An entry received an hour "later", by a process whose clock was ahead
    // of this one's, and handled there: its key still names it.
    let ahead = (crate::store::now_ms() as u64 + 3_600_000) * 1000;
    let batch = crate::store::test_support::one_message(ahead);
    store.commit_received(&account, &batch).await.unwrap();
    store.mark_handled(&account, ahead, &[]).await.unwrap();

    let handle = start_echo(&sim, &bot, store.clone()).await;
    sim.user(&bot, "u@im.wechat").say("hi").await;
    let sent = sim
        .wait_for_sent_to(&bot, "u@im.wechat", 1, WAIT)
        .await
        .unwrap();
    // ilink-rs:<account tag>:<entry>:<position>:<chunk>
    let client_id = sent[0].client_id.clone().unwrap();
    let entry: u64 = client_id.split(':').nth(2).unwrap().parse().unwrap();
    assert!(
        entry > ahead,
        "entry {entry} is not above {ahead}: its client_id could be one the server has seen"
    );
    handle.shutdown().await;
}
