//! The README's run command, end to end: the `demo` binary as a process,
//! with no credentials (so the embedded simulator), stopped with SIGINT as
//! ctrl-c would.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Only a guard against a hung process; nothing is asserted about time.
const GUARD: Duration = Duration::from_secs(120);

#[test]
fn demo_prints_the_conversation_and_stops_cleanly_on_ctrl_c() {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
    for var in [
        "ILINK_TOKEN",
        "ILINK_ACCOUNT_ID",
        "ILINK_BASE_URL",
        "ILINK_CDN_BASE_URL",
    ] {
        cmd.env_remove(var);
    }
    // An empty state directory: credentials a developer may have saved with
    // `ilink login` must not send this test to the real server.
    cmd.env("ILINK_STATE_DIR", state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("demo starts");

    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<String> = Vec::new();
    let next = |lines: &mut Vec<String>| {
        let line = rx
            .recv_timeout(GUARD)
            .unwrap_or_else(|_| panic!("demo went silent; output so far:\n{}", lines.join("\n")));
        lines.push(line);
    };

    while !lines.iter().any(|l| l.starts_with("Press ctrl-c")) {
        next(&mut lines);
    }
    let sigint = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sigint.success());
    while let Ok(line) = rx.recv_timeout(GUARD) {
        lines.push(line);
    }
    let status = child.wait().unwrap();
    let out = lines.join("\n");
    assert!(status.success(), "exit {status}:\n{out}");

    assert!(out.contains("API: http://127.0.0.1:"), "{out}");
    assert!(out.contains("/mock/inbound"), "{out}");
    let conversation = [
        "alice@im.wechat → demo@im.bot: hi there",
        "demo@im.bot → alice@im.wechat: Hello! You said: hi there",
        "alice@im.wechat → demo@im.bot: /add 2 40",
        "demo@im.bot → alice@im.wechat: 2 + 40 = 42",
        "alice@im.wechat → demo@im.bot: [image, 70 bytes]",
        "demo@im.bot → alice@im.wechat: Nice picture! It is 70 bytes.",
    ];
    let transcript: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| l.contains(" → "))
        .collect();
    assert_eq!(transcript, conversation, "{out}");
    assert!(
        out.contains("Stopped: 0 message(s) left unhandled, 0 unsent."),
        "{out}"
    );
    assert!(
        out.contains("received notifystop from every account"),
        "{out}"
    );
}
