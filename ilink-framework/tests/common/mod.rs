//! Set-up of the framework's end-to-end tests: a bot running the real actors against
//! a simulator on loopback. The timeout and the waiting helpers every crate's tests
//! share come from `ilink_testkit::harness`.

#![allow(dead_code)]

mod hooked_store;
mod recorder;

use std::sync::Arc;
use std::time::Duration;

use ilink_framework::prelude::*;
use ilink_framework::store::{MemoryStore, StateStore};
// Each test binary uses some of these.
#[allow(unused_imports)]
pub use ilink_testkit::harness::{WAIT, texts_to, wait_event, within};
use ilink_testkit::{BotAccount, Simulator};

#[allow(unused_imports)]
pub use hooked_store::{Call, HookedStore, StoreHooks};
#[allow(unused_imports)]
pub use recorder::{Recorder, RecorderBot, start_recorder};

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
    Simulator::start().await
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
