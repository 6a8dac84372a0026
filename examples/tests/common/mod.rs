//! Set-up of the examples' end-to-end tests: the example's handler on a simulator at
//! 127.0.0.1, its script played, and a clean shutdown. The timeout is the one every
//! crate's tests share, `ilink_testkit::harness::WAIT`.

#![allow(dead_code)]

#[cfg(unix)]
pub mod cluster;
#[cfg(unix)]
pub mod echoes;
#[cfg(unix)]
pub mod process;
#[cfg(target_os = "linux")]
pub mod small_disk;

use std::sync::Arc;
use std::time::Duration;

use ilink_examples::playground::{Playground, Script, Transcript};
use ilink_framework::prelude::*;
use ilink_framework::store::{MemoryStore, StateStore};
use ilink_testkit::SimConfig;
use ilink_testkit::harness::WAIT;

/// Short polls and backoffs; pacing stays on, as in the examples.
pub fn fast_options() -> BotOptions {
    BotOptions::default()
        .poll_timeout(Duration::from_secs(1))
        .poll_backoff_initial(Duration::from_millis(50))
        .poll_backoff_max(Duration::from_millis(200))
        .send_retry_backoff(Duration::from_millis(20))
        .typing_interval(Duration::from_millis(100))
        .shutdown_deadline(Duration::from_secs(10))
}

/// A simulator with fast long-polls and an account per name.
pub async fn playground(names: &[&str]) -> Playground {
    Playground::start(SimConfig::for_tests(), names)
        .await
        .expect("simulator starts")
}

/// Starts `handler` on every account of `playground`.
pub async fn start(playground: &Playground, handler: impl Handler) -> BotHandle {
    start_with_store(playground, handler, Arc::new(MemoryStore::new())).await
}

/// Starts `handler` on every account of `playground`, with its state in `store`.
pub async fn start_with_store(
    playground: &Playground,
    handler: impl Handler,
    store: Arc<dyn StateStore>,
) -> BotHandle {
    Bot::builder(handler)
        .accounts(playground.credentials())
        .options(fast_options())
        .store(store)
        .build()
        .expect("bot builds")
        .start()
        .await
        .expect("bot starts")
}

/// Starts `handler` on one account and plays `script` against it.
pub async fn run(handler: impl Handler, script: &Script) -> (Playground, BotHandle, Transcript) {
    let playground = playground(&["demo"]).await;
    let handle = start(&playground, handler).await;
    let transcript = playground.play(script).await;
    assert!(transcript.complete, "missing replies:\n{transcript}");
    (playground, handle, transcript)
}

/// Shuts down as ctrl-c would and checks the bot said notifystop and broke
/// no protocol rule on the way.
pub async fn stop(playground: Playground, handle: BotHandle) {
    let report = handle.shutdown().await;
    assert_eq!(report.unhandled, 0);
    assert_eq!(report.unsent, 0);
    assert!(playground.saw_notifystop(), "no notifystop");
    let violations = playground.sim().violations();
    assert!(violations.is_empty(), "{violations:?}");
    playground.shutdown().await;
}

/// Whether the bot showed "typing…" to `user` and cancelled it afterwards.
/// The cancel goes out as the handler returns, which may be just after its
/// last reply was recorded, so this waits for it.
pub async fn typed_to(playground: &Playground, user: &str) -> bool {
    playground
        .sim()
        .wait_for_state(
            &format!("typing shown to {user} and cancelled"),
            WAIT,
            |r| {
                let mine = || r.typing.iter().filter(|e| e.user_id == user);
                (mine().any(|e| e.status == 1) && mine().any(|e| e.status == 2)).then_some(())
            },
        )
        .await
        .is_ok()
}
