//! One process per account: a second bot on the same state directory and
//! account is refused while the first runs, and gets in once the account
//! stops (or, with a lock wait, as soon as it does).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ilink_framework::prelude::*;
use ilink_framework::store::MemoryStore;
use ilink_testkit::{BotAccount, Simulator};

struct Echo;

#[async_trait]
impl Handler for Echo {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        ctx.reply(format!("echo {}", msg.text().unwrap_or_default()))
            .await?;
        Ok(())
    }
}

fn builder(sim: &Simulator, bot: &BotAccount, state: &Path) -> ilink_framework::BotBuilder {
    Bot::builder(Echo)
        .account(creds(sim, bot))
        .options(fast_options())
        .state_dir(state)
}

/// Says `text` to the bot and waits for its echo: the account is polled.
async fn echoed(sim: &Simulator, bot: &BotAccount, text: &str) {
    sim.user(bot, "u@im.wechat").say(text).await;
    let want = format!("echo {text}");
    sim.wait_for_state("the echo", WAIT, |r| {
        r.sent
            .iter()
            .any(|s| {
                s.bot_id == bot.bot_id
                    && s.delivered()
                    && s.text().as_deref() == Some(want.as_str())
            })
            .then_some(())
    })
    .await
    .unwrap();
}

fn assert_locked_by_this_process(err: BotError, bot: &BotAccount) {
    let text = err.to_string();
    let BotError::AccountLocked {
        account,
        holder,
        lock_file,
    } = err
    else {
        panic!("expected AccountLocked, got {err:?}");
    };
    assert_eq!(account.as_str(), bot.bot_id.as_str());
    assert_eq!(holder.expect("holder known").pid, std::process::id());
    assert!(lock_file.ends_with(format!("locks/{}.lock", bot.bot_id)));
    assert!(
        text.contains(&format!(
            "account {} is in use by another process (pid ",
            bot.bot_id
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_bot_on_the_same_account_is_refused_until_the_first_stops() {
    let sim = sim().await;
    let bot = sim.add_account("locked");
    let state = tempfile::tempdir().unwrap();
    let first = builder(&sim, &bot, state.path())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    echoed(&sim, &bot, "one").await;

    // `run` fails before it waits for a signal.
    let err = builder(&sim, &bot, state.path())
        .build()
        .unwrap()
        .run()
        .await
        .unwrap_err();
    assert_locked_by_this_process(err, &bot);

    // The first bot is untouched by the refusal.
    echoed(&sim, &bot, "two").await;
    first.shutdown().await;

    let second = builder(&sim, &bot, state.path())
        .build()
        .unwrap()
        .start()
        .await
        .expect("the lock is free once the first bot stopped");
    echoed(&sim, &bot, "three").await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_account_is_refused_for_a_locked_account_and_allowed_after_removal() {
    let sim = sim().await;
    let a = sim.add_account("a");
    let b = sim.add_account("b");
    let state = tempfile::tempdir().unwrap();
    let first = builder(&sim, &a, state.path())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let second = builder(&sim, &b, state.path())
        .build()
        .unwrap()
        .start()
        .await
        .expect("another account of the same state directory is free");

    let err = second.add_account(creds(&sim, &a)).await.unwrap_err();
    assert_locked_by_this_process(err, &a);
    assert_eq!(second.accounts().await.len(), 1);

    first
        .remove_account(&a.bot_id.as_str().into())
        .await
        .unwrap();
    second
        .add_account(creds(&sim, &a))
        .await
        .expect("removing the account released its lock");
    echoed(&sim, &a, "moved").await;
    second.shutdown().await;
    first.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_lock_wait_the_new_bot_starts_when_the_old_one_stops() {
    let sim = sim().await;
    let bot = sim.add_account("rolling");
    let state = tempfile::tempdir().unwrap();
    let old = builder(&sim, &bot, state.path())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    echoed(&sim, &bot, "old").await;

    let new = builder(&sim, &bot, state.path())
        .lock_wait(Duration::from_secs(120))
        .build()
        .unwrap();
    let starting = tokio::spawn(new.start());
    // It cannot get in while the old bot runs, however long that takes.
    echoed(&sim, &bot, "still old").await;
    assert!(!starting.is_finished());

    old.shutdown().await;
    let new = tokio::time::timeout(Duration::from_secs(120), starting)
        .await
        .expect("the new bot starts once the lock is free")
        .unwrap()
        .expect("bot starts");
    echoed(&sim, &bot, "new").await;
    new.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_state_directory_no_lock_is_taken() {
    let sim = sim().await;
    let bot = sim.add_account("memory");
    let start = || {
        Bot::builder(Echo)
            .account(creds(&sim, &bot))
            .options(fast_options())
            .store(Arc::new(MemoryStore::new()))
            .build()
            .unwrap()
            .start()
    };
    let first = start().await.unwrap();
    let second = start().await.expect("memory-only bots take no lock");
    first.shutdown().await;
    second.shutdown().await;
}
