//! The README's run command, end to end: the `demo` binary as a process,
//! with no credentials (so the embedded simulator), stopped with SIGINT as
//! ctrl-c would.

#![cfg(unix)]

#[path = "common/process.rs"]
#[allow(dead_code)]
mod process;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use process::demo_offline;

/// Only a guard against a hung process; nothing is asserted about time.
const GUARD: Duration = Duration::from_secs(120);

/// The demo, started with no credentials and an empty state directory, and
/// the lines it prints on stdout (and on stderr, when `stderr` is set).
struct Demo {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    _state: tempfile::TempDir,
}

impl Demo {
    fn start(stderr: bool) -> Self {
        Self::start_with(stderr, &[])
    }

    /// Starts it with these extra environment variables.
    fn start_with(stderr: bool, env: &[(&str, &str)]) -> Self {
        let state = tempfile::tempdir().unwrap();
        let mut cmd = demo_offline(state.path());
        cmd.envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(if stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        if stderr {
            // The framework says on stderr when the first signal was received.
            cmd.env("RUST_LOG", "ilink_framework=info");
        }
        let mut child = cmd.spawn().expect("demo starts");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        forward(stdout, tx.clone());
        if let Some(stderr) = child.stderr.take() {
            forward(stderr, tx);
        }
        Self {
            child,
            lines,
            seen: Vec::new(),
            _state: state,
        }
    }

    /// Reads lines until one satisfies `pred`; returns it.
    fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(GUARD)
                .unwrap_or_else(|_| panic!("demo went silent; output so far:\n{}", self.output()));
            self.seen.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
    }

    fn sigint(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end, reading what is left of its output.
    fn wait(&mut self) -> std::process::ExitStatus {
        while let Ok(line) = self.lines.recv_timeout(GUARD) {
            self.seen.push(line);
        }
        self.child.wait().unwrap()
    }

    fn output(&self) -> String {
        self.seen.join("\n")
    }
}

fn forward(from: impl Read + Send + 'static, to: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if to.send(line).is_err() {
                break;
            }
        }
    });
}

/// One request to the simulator's control API; returns the response body.
fn control(base: &str, method: &str, path: &str, body: &str) -> String {
    let (status, body) = request(base, method, path, body);
    assert_eq!(status, 200, "{body}");
    body
}

/// One HTTP/1.1 request; returns the status code and the body.
fn request(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let host = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).expect("the simulator listens");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_demo_logs_json_and_serves_metrics_and_readiness() {
    let mut demo = Demo::start_with(
        true,
        &[
            ("ILINK_ADMIN_ADDR", "127.0.0.1:0"),
            ("ILINK_LOG_FORMAT", "json"),
            ("RUST_LOG", "ilink_framework=info"),
        ],
    );
    let listening = demo.until(|l| l.contains("admin endpoint listening"));
    let log: serde_json::Value = serde_json::from_str(&listening).expect("a JSON log line");
    assert_eq!(log["level"], "INFO", "{listening}");
    let addr = log["fields"]["addr"]
        .as_str()
        .expect("the address")
        .to_owned();
    let base = format!("http://{addr}");
    demo.until(|l| l.starts_with("Press ctrl-c"));

    // The script is over: its replies reached the simulator. The handlers
    // finish (and are counted) just after, so scrape until they are.
    let (status, ready) = request(&base, "GET", "/readyz", "");
    assert_eq!((status, ready.as_str()), (200, "ready\n"));
    let handled = r#"ilink_messages_handled_total{account="demo@im.bot",outcome="ok"} 3"#;
    let idle = r#"ilink_inbox_depth{account="demo@im.bot"} 0"#;
    let waiting = Instant::now();
    let metrics = loop {
        let (status, metrics) = request(&base, "GET", "/metrics", "");
        assert_eq!(status, 200, "{metrics}");
        if metrics.lines().any(|l| l == handled) && metrics.lines().any(|l| l == idle) {
            break metrics;
        }
        assert!(waiting.elapsed() < GUARD, "never {handled}:\n{metrics}");
        std::thread::sleep(Duration::from_millis(50));
    };
    for line in [
        r#"ilink_sends_total{account="demo@im.bot",outcome="ok"} 3"#,
        r#"ilink_messages_received_total{account="demo@im.bot"} 3"#,
        r#"ilink_messages_deduplicated_total{account="demo@im.bot"} 0"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    // Every log line on stderr is JSON; the transcript on stdout is not.
    let logs: Vec<&String> = demo.seen.iter().filter(|l| l.starts_with('{')).collect();
    assert!(logs.len() > 1, "{}", demo.output());
    for line in logs {
        serde_json::from_str::<serde_json::Value>(line).expect("a JSON log line");
    }

    demo.sigint();
    let status = demo.wait();
    assert!(status.success(), "exit {status}:\n{}", demo.output());
}

#[test]
fn demo_prints_the_conversation_and_stops_cleanly_on_ctrl_c() {
    let mut demo = Demo::start(false);
    demo.until(|l| l.starts_with("Press ctrl-c"));
    demo.sigint();
    let status = demo.wait();
    let out = demo.output();
    let lines = &demo.seen;
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

#[test]
fn a_second_ctrl_c_during_the_drain_exits_with_130() {
    let mut demo = Demo::start(true);
    let api = demo.until(|l| l.trim_start().starts_with("API: http://127.0.0.1:"));
    let base = api.trim_start().trim_start_matches("API: ").to_owned();
    demo.until(|l| l.starts_with("Press ctrl-c"));

    // A reply that cannot be sent keeps a handler running, so the drain
    // lasts until `shutdown_deadline` (30 s) unless a second signal cuts it.
    let sends = |base: &str| {
        control(base, "GET", "/mock/requests", "")
            .matches("sendmessage")
            .count()
    };
    let before = sends(&base);
    control(
        &base,
        "POST",
        "/mock/faults",
        r#"{"endpoint":"sendmessage","action":{"kind":"hang"},"times":1000}"#,
    );
    control(
        &base,
        "POST",
        "/mock/inbound",
        r#"{"recipient":"demo@im.bot","sender":"bob@im.wechat","text":"hello"}"#,
    );
    // The reply has reached the server (and hangs there): the handler runs.
    let waiting = Instant::now();
    while sends(&base) == before {
        assert!(waiting.elapsed() < GUARD, "no reply reached the server");
        assert!(
            demo.child.try_wait().unwrap().is_none(),
            "{}",
            demo.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    demo.sigint();
    demo.until(|l| l.contains("shutting down"));
    demo.sigint();
    let status = demo.wait();
    let out = demo.output();
    assert_eq!(status.code(), Some(130), "{out}");
    // The binary chose the status; the library only reported the interruption.
    assert!(out.contains("interrupted: quit without draining"), "{out}");
    assert!(
        !out.contains("Stopped:"),
        "the drain was not cut short:\n{out}"
    );
}

#[test]
fn the_demo_keeps_serving_when_its_stdout_reader_goes_away() {
    let state = tempfile::tempdir().unwrap();
    let mut child = demo_offline(state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("demo starts");
    let (tx, errors) = mpsc::channel();
    forward(child.stderr.take().unwrap(), tx);
    // `cargo run --bin demo | head -3`: the reader takes the banner's first
    // lines and goes away before the scripted conversation is printed.
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let api = loop {
        let line = stdout.next().expect("the banner").expect("stdout readable");
        if let Some(api) = line.trim_start().strip_prefix("API: ") {
            break api.to_owned();
        }
    };
    drop(stdout);

    // The script's last reply reaches the simulator all the same.
    let began = Instant::now();
    while !control(&api, "GET", "/mock/sent?recipient=alice@im.wechat", "")
        .contains("Nice picture!")
    {
        assert!(began.elapsed() < GUARD, "the demo stopped answering");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    // To the end: the forwarding thread ends with stderr.
    let mut stderr = Vec::new();
    while let Ok(line) = errors.recv_timeout(GUARD) {
        stderr.push(line);
    }
    let stderr = stderr.join("\n");
    assert!(status.success(), "exit {status}:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
