//! Shared set-up of the end-to-end tests: a simulator on loopback and a bot
//! running the real actors against it.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use ilink_framework::prelude::*;
use ilink_framework::store::{MemoryStore, StateStore};
use ilink_testkit::{BotAccount, SimConfig, Simulator};

/// Generous: the CI machine is small and shared.
pub const WAIT: Duration = Duration::from_secs(20);

/// Options for fast tests: short polls and backoffs, pacing out of the way.
pub fn fast_options() -> BotOptions {
    BotOptions::default()
        .poll_timeout(Duration::from_secs(1))
        .poll_backoff_initial(Duration::from_millis(50))
        .poll_backoff_max(Duration::from_millis(200))
        .send_retry_backoff(Duration::from_millis(20))
        .pacing_burst(1000)
        .pacing_window(Duration::from_millis(1))
        .session_probe_interval(Duration::from_millis(200))
        .shutdown_deadline(Duration::from_secs(10))
}

pub async fn sim() -> Simulator {
    Simulator::start_with(SimConfig::for_tests())
        .await
        .expect("simulator starts")
}

pub fn creds(sim: &Simulator, bot: &BotAccount) -> Credentials {
    Credentials::new(bot.bot_id.as_str(), bot.token.clone())
        .with_base_url(sim.base_url())
        .with_cdn_base_url(sim.cdn_base_url())
}

/// Starts `handler` on `bot` with `options` and a fresh memory store.
pub async fn start(
    sim: &Simulator,
    bot: &BotAccount,
    handler: impl Handler,
    options: BotOptions,
) -> BotHandle {
    start_with_store(sim, bot, handler, options, Arc::new(MemoryStore::new())).await
}

pub async fn start_with_store(
    sim: &Simulator,
    bot: &BotAccount,
    handler: impl Handler,
    options: BotOptions,
    store: Arc<dyn StateStore>,
) -> BotHandle {
    Bot::builder(handler)
        .account(creds(sim, bot))
        .options(options)
        .store(store)
        .build()
        .expect("bot builds")
        .start()
        .await
        .expect("bot starts")
}

/// Texts of what the bot delivered to `user`, in order.
pub fn texts_to(sim: &Simulator, bot: &BotAccount, user: &str) -> Vec<String> {
    sim.delivered_to(bot, user)
        .iter()
        .filter_map(|m| m.text())
        .collect()
}

/// Waits for an account event matching `pred`.
pub async fn wait_event(
    rx: &mut tokio::sync::broadcast::Receiver<AccountEvent>,
    pred: impl Fn(&AccountEvent) -> bool,
) -> AccountEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event channel closed: {e}"),
            }
        }
    })
    .await
    .expect("event arrives in time")
}
