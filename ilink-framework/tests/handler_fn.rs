//! Closure handlers (`handler_fn`) end to end, against the simulator on
//! 127.0.0.1: replies, "typing…", and errors through the default hook.

use std::sync::Arc;
use std::time::Duration;

use ilink_framework::prelude::*;
use ilink_framework::store::MemoryStore;
use ilink_testkit::{BotAccount, SimConfig, Simulator};

/// Only a guard against a stuck bot; nothing is asserted about time.
const WAIT: Duration = Duration::from_secs(60);
const ALICE: &str = "alice@im.wechat";

async fn start(sim: &Simulator, bot: &BotAccount, handler: impl Handler) -> BotHandle {
    let options = BotOptions::default()
        .poll_timeout(Duration::from_secs(1))
        .typing_interval(Duration::from_millis(100));
    Bot::builder(handler)
        .account(
            Credentials::new(bot.bot_id.as_str(), bot.token.clone())
                .with_base_url(sim.base_url())
                .with_cdn_base_url(sim.cdn_base_url()),
        )
        .options(options)
        .store(Arc::new(MemoryStore::new()))
        .build()
        .expect("bot builds")
        .start()
        .await
        .expect("bot starts")
}

fn texts_to(sim: &Simulator, bot: &BotAccount, user: &str) -> Vec<String> {
    sim.delivered_to(bot, user)
        .iter()
        .filter_map(|m| m.text())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_replies_and_types_until_it_returns() {
    let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
    let bot = sim.add_account("closure");
    // Each run thinks until "typing…" is shown (a handler that answers
    // before it went out shows none).
    let shown = Arc::new(tokio::sync::Semaphore::new(0));
    let echo = handler_fn({
        let shown = shown.clone();
        move |chat: Chat, msg: Message| {
            let shown = shown.clone();
            async move {
                chat.typing();
                shown.acquire().await?.forget();
                let text = msg.text().unwrap_or_default();
                chat.reply(format!("Echo from {}: {text}", chat.account()))
                    .await?;
                Ok(())
            }
        }
    });
    let handle = start(&sim, &bot, echo).await;

    for (said, typed) in [("hello", 1), ("你好", 2)] {
        sim.user(&bot, ALICE).say(said).await;
        sim.wait_for_state("typing shown", WAIT, |r| {
            let shown = r
                .typing
                .iter()
                .filter(|t| t.user_id == ALICE && t.status == 1);
            (shown.count() >= typed).then_some(())
        })
        .await
        .unwrap();
        shown.add_permits(1);
    }
    sim.wait_for_sent_to(&bot, ALICE, 2, WAIT).await.unwrap();
    assert_eq!(
        texts_to(&sim, &bot, ALICE),
        [
            "Echo from closure@im.bot: hello",
            "Echo from closure@im.bot: 你好"
        ]
    );
    // Started by the closure, cancelled when its future ended.
    sim.wait_for_state("typing shown and cancelled", WAIT, |r| {
        let mine = || r.typing.iter().filter(|t| t.user_id == ALICE);
        (mine().any(|t| t.status == 1) && mine().any(|t| t.status == 2)).then_some(())
    })
    .await
    .unwrap();

    let report = handle.shutdown().await;
    assert_eq!((report.unhandled, report.unsent), (0, 0));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_error_reaches_the_default_error_hook() {
    let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
    let bot = sim.add_account("failing");
    let failing = handler_fn(|_chat: Chat, msg: Message| async move {
        let n: i64 = msg.text().unwrap_or_default().parse()?;
        Err(format!("{n} is not welcome").into())
    });
    let handle = start(&sim, &bot, failing).await;

    sim.user(&bot, ALICE).say("not a number").await;
    sim.user(&bot, ALICE).say("13").await;
    sim.wait_for_sent_to(&bot, ALICE, 2, WAIT).await.unwrap();
    assert_eq!(
        texts_to(&sim, &bot, ALICE),
        [
            "Sorry, something went wrong while handling your message.",
            "Sorry, something went wrong while handling your message."
        ]
    );
    handle.shutdown().await;
    sim.shutdown().await;
}
