//! One process per account, across real processes: while `ilink tail` polls
//! an account, a second `tail` and a bot are refused (exit 6, naming the
//! holder's pid), `send` and `accounts` still work but `accounts remove` is
//! refused, and after `kill -9` of the holder the operating system has
//! released the lock for the next one.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::Env;
use ilink_framework::account_lock::{LockHolder, lock_path};
use ilink_framework::prelude::*;
use ilink_testkit::harness::WAIT;
use predicates::prelude::*;

const ALICE: &str = "alice@im.wechat";

struct Silent;

#[async_trait]
impl Handler for Silent {
    async fn handle(&self, _ctx: &mut Context, _msg: Message) -> HandlerResult {
        Ok(())
    }
}

/// Waits until the lock file names `pid` as its holder.
async fn held_by(lock_file: &Path, pid: u32) {
    let wait = async {
        while LockHolder::read(lock_file).map(|h| h.pid) != Some(pid) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .unwrap_or_else(|_| panic!("{} never named pid {pid}", lock_file.display()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_poller_is_refused_until_the_first_is_killed() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    let account = AccountId::new(bot.bot_id.as_str());
    let lock_file = lock_path(env.state(), &account);

    let mut first = env.spawn(&["tail", "--account", &bot.bot_id]);
    let first_pid = first.child.id().expect("running");
    // A printed message means it polls, so it holds the lock.
    env.sim.user(&bot, ALICE).say("hello").await;
    first.until("alice@im.wechat: hello").await;

    let refused = env.run(&["tail", "--account", &bot.bot_id]).await.code(6);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "error: account bot@im.bot is in use by another process (pid {first_pid} on host "
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: only one process may poll an account"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&lock_file.display().to_string()),
        "{stderr}"
    );

    // A bot is refused the same way, and nothing it could poll was started.
    let err = Bot::builder(Silent)
        .account(
            Credentials::new(bot.bot_id.as_str(), bot.token.clone())
                .with_base_url(env.sim.base_url()),
        )
        .state_dir(env.state())
        .build()
        .unwrap()
        .start()
        .await
        .err()
        .expect("the bot is refused");
    match err {
        BotError::AccountLocked {
            account: a, holder, ..
        } => {
            assert_eq!(a, account);
            assert_eq!(holder.map(|h| h.pid), Some(first_pid));
        }
        other => panic!("expected AccountLocked, got {other:?}"),
    }

    // Commands that do not poll work alongside.
    env.run(&["accounts"])
        .await
        .success()
        .stdout(predicate::str::contains("bot@im.bot"));
    env.run(&["send", "--to", ALICE, "while tail runs"])
        .await
        .success();
    // Removing the account is refused while it is polled: the poller would
    // write its state back and go on answering.
    let refused = env.run(&["accounts", "remove", &bot.bot_id]).await.code(6);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!("(pid {first_pid} on host ")),
        "{stderr}"
    );
    env.run(&["accounts"])
        .await
        .success()
        .stdout(predicate::str::contains("bot@im.bot"));

    // No clean exit: the kernel, not the process, must release the lock.
    first.child.kill().await.expect("SIGKILL delivered");

    let second = env.spawn(&["tail", "--account", &bot.bot_id]);
    let second_pid = second.child.id().expect("running");
    held_by(&lock_file, second_pid).await;
    let refused = env.run(&["tail", "--account", &bot.bot_id]).await.code(6);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!("(pid {second_pid} on host ")),
        "{stderr}"
    );

    second.interrupt();
    let (code, out, err) = second.finish().await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    // With nothing polling it, the account can be removed.
    env.run(&["accounts", "remove", &bot.bot_id])
        .await
        .success();
    env.run(&["accounts"])
        .await
        .success()
        .stdout(predicate::str::contains("bot@im.bot").not());
}
