//! The `demo` binary as a bot process on a simulator account, for the tests
//! that refuse, kill and restart real processes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use ilink_testkit::harness::WAIT;
use ilink_testkit::{BotAccount, Simulator};

/// `demo` on the simulator's account `bot`, with its state in `state` and
/// nothing else from the developer's environment.
pub fn demo(sim: &Simulator, bot: &BotAccount, state: &Path) -> Command {
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
