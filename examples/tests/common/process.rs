//! The `demo` binary as a bot process on a simulator account, for the tests
//! that refuse, kill and restart real processes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use ilink_testkit::harness::WAIT;
use ilink_testkit::{BotAccount, Simulator};

/// `demo` with nothing of the developer's configuration: no `ILINK_*`
/// variable, no `RUST_LOG`, and `state` as its state directory (so no
/// account saved with `ilink login` either). Alone, it runs the embedded
/// simulator.
pub fn demo_offline(state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
    for var in [
        "ILINK_TOKEN",
        "ILINK_ACCOUNT_ID",
        "ILINK_BASE_URL",
        "ILINK_CDN_BASE_URL",
        "ILINK_DATABASE_URL",
        "ILINK_ADMIN_ADDR",
        "ILINK_LOG_FORMAT",
        "ILINK_DURABILITY",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("ILINK_STATE_DIR", state);
    cmd
}

/// `demo` on the simulator's account `bot`, with its state in `state` and
/// nothing else from the developer's environment.
pub fn demo(sim: &Simulator, bot: &BotAccount, state: &Path) -> Command {
    let mut cmd = demo_offline(state);
    cmd.env("ILINK_TOKEN", bot.token.expose())
        .env("ILINK_ACCOUNT_ID", &bot.bot_id)
        .env("ILINK_BASE_URL", sim.base_url())
        .env("ILINK_CDN_BASE_URL", sim.cdn_base_url());
    cmd
}

/// Starts `cmd` and waits until it says it runs (its accounts are started,
/// so it holds their locks). Blocks: call it in `block_in_place`.
pub fn start_running(mut cmd: Command) -> Child {
    cmd.stderr(Stdio::inherit());
    running(cmd)
}

/// [`start_running`], with the process's logs (its stderr) read line by
/// line into the returned channel, and echoed to the test's own.
pub fn start_running_logged(mut cmd: Command) -> (Child, mpsc::Receiver<String>) {
    cmd.stderr(Stdio::piped());
    let mut child = running(cmd);
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("bot: {line}");
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

fn running(mut cmd: Command) -> Child {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("demo starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end even when nobody listens any more: a closed pipe
        // would make the bot's next line fail.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.starts_with("Press ctrl-c")) {
        let line = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("demo went silent; output:\n{}", lines.join("\n")));
        lines.push(line);
    }
    child
}

/// Sends SIGINT, as ctrl-c in a terminal does.
pub fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}
