//! One process per account, with real bot processes: a second `demo` on the
//! same account and state directory is refused at once naming the first's
//! pid, and after `kill -9` of the first a new one starts.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ilink_testkit::{BotAccount, SimConfig, Simulator};

/// Only a guard against a hung process; nothing is asserted about time.
const GUARD: Duration = Duration::from_secs(120);

/// `demo` on the simulator's account `bot`, with its state in `state`.
fn demo(sim: &Simulator, bot: &BotAccount, state: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
    cmd.env("ILINK_TOKEN", bot.token.expose())
        .env("ILINK_ACCOUNT_ID", &bot.bot_id)
        .env("ILINK_BASE_URL", sim.base_url())
        .env("ILINK_CDN_BASE_URL", sim.cdn_base_url())
        .env("ILINK_STATE_DIR", state)
        .env_remove("RUST_LOG");
    cmd
}

/// Starts `cmd` and waits until it says it runs (its accounts are started,
/// so it holds their locks).
fn start_running(mut cmd: Command) -> Child {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("demo starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.starts_with("Press ctrl-c")) {
        let line = rx
            .recv_timeout(GUARD)
            .unwrap_or_else(|_| panic!("demo went silent; output:\n{}", lines.join("\n")));
        lines.push(line);
    }
    child
}

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
    assert!(!refused.status.success(), "{stderr}");
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
    let sigint = Command::new("kill")
        .args(["-INT", &third.id().to_string()])
        .status()
        .unwrap();
    assert!(sigint.success());
    let status = tokio::task::block_in_place(|| third.wait()).expect("third exits");
    assert!(status.success(), "{status:?}");
}
