//! One process per account, with real bot processes: a second `demo` on the
//! same account and state directory is refused at once (exit 6) naming the first's
//! pid, and after `kill -9` of the first a new one starts.

#![cfg(unix)]

mod common;

use std::process::Stdio;

use common::process::{demo, interrupt, start_running};
use ilink_testkit::{SimConfig, Simulator};

/// `demo`'s exit status when another process polls the account.
const ACCOUNT_LOCKED: i32 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_bot_process_is_refused_until_the_first_is_killed() {
    let sim = Simulator::start_with(SimConfig::for_tests())
        .await
        .expect("simulator starts");
    let bot = sim.add_account("demo");
    let state = tempfile::tempdir().unwrap();

    let (sim_ref, bot_ref, state_path) = (&sim, &bot, state.path().to_owned());
    let mut first =
        tokio::task::block_in_place(|| start_running(demo(sim_ref, bot_ref, &state_path)));
    let refused = tokio::task::block_in_place(|| {
        demo(sim_ref, bot_ref, &state_path)
            .stdout(Stdio::null())
            .output()
            .expect("second demo runs")
    });
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(ACCOUNT_LOCKED), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "account demo@im.bot is in use by another process (pid {} on host ",
            first.id()
        )),
        "{stderr}"
    );

    // No clean exit: the kernel, not the bot, must release the lock.
    first.kill().expect("SIGKILL delivered");
    first.wait().expect("reaped");

    let mut third =
        tokio::task::block_in_place(|| start_running(demo(sim_ref, bot_ref, &state_path)));
    interrupt(&third);
    let status = tokio::task::block_in_place(|| third.wait()).expect("third exits");
    assert!(status.success(), "{status:?}");
}
