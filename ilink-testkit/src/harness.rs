//! Helpers the workspace's integration tests share: one timeout ([`WAIT`]), waiting
//! with it, and an `ilink-core` client pointed at a [`Simulator`].
//!
//! [`WAIT`] only guards against a hung test. No test asserts how long something took,
//! because CI machines are small and shared; a generous bound costs nothing when the
//! code works. The helpers panic when it passes, as a failed assertion would, and say
//! what they were waiting for.
//!
//! ```no_run
//! use ilink_testkit::Simulator;
//! use ilink_testkit::harness::{core_client, core_poll, texts_to};
//!
//! # async fn demo() {
//! let sim = Simulator::start().await;
//! let bot = sim.add_account("bot-a");
//! let client = core_client(&sim, &bot);
//! sim.user(&bot, "alice@im.wechat").say("hi").await;
//! let msgs = core_poll(&client, 1).await;
//! assert_eq!(msgs[0].from_user_id.as_deref(), Some("alice@im.wechat"));
//! assert!(texts_to(&sim, &bot, "alice@im.wechat").is_empty());
//! # }
//! ```

use std::future::IntoFuture;
use std::time::Duration;

use ilink_core::types::WeixinMessage;
use ilink_core::{ClientBuilder, ILinkClient};
use tokio::sync::broadcast;

use crate::simulator::{BotAccount, Simulator};

/// How long a test waits for anything before it fails.
pub const WAIT: Duration = Duration::from_secs(60);

/// Awaits `fut`, for at most [`WAIT`].
///
/// # Panics
/// When [`WAIT`] passes first; the message names `what`.
pub async fn within<F: IntoFuture>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Receives from `rx` until a value matches `pred` and returns it; values that do not
/// match, and the gap a lagging receiver reports, are skipped.
///
/// # Panics
/// When [`WAIT`] passes first or the channel closes.
pub async fn wait_event<T: Clone>(rx: &mut broadcast::Receiver<T>, pred: impl Fn(&T) -> bool) -> T {
    within("a matching event", async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event channel closed: {e}"),
            }
        }
    })
    .await
}

/// Texts of what the bot delivered to `user`, in order.
pub fn texts_to(sim: &Simulator, bot: &BotAccount, user: &str) -> Vec<String> {
    sim.delivered_to(bot, user)
        .iter()
        .filter_map(|m| m.text())
        .collect()
}

/// An `ilink-core` client of `bot`, pointed at the simulator's API and CDN.
///
/// # Panics
/// If the client cannot be built (the simulator's URLs are always valid).
pub fn core_client(sim: &Simulator, bot: &BotAccount) -> ILinkClient {
    core_client_builder(sim, bot)
        .build()
        .expect("a client of the simulator builds")
}

/// The builder of [`core_client`], for tests that change a setting (e.g. a limit).
pub fn core_client_builder(sim: &Simulator, bot: &BotAccount) -> ClientBuilder {
    ILinkClient::builder(sim.base_url(), bot.token.clone()).cdn_base_url(sim.cdn_base_url())
}

/// Polls with `client` until at least `n` messages arrived, and returns them all.
///
/// # Panics
/// When a poll fails or [`WAIT`] passes first.
pub async fn core_poll(client: &ILinkClient, n: usize) -> Vec<WeixinMessage> {
    let mut msgs = Vec::new();
    within(&format!("{n} messages"), async {
        while msgs.len() < n {
            msgs.extend(client.poll().await.expect("getupdates succeeds").msgs);
        }
    })
    .await;
    msgs
}
