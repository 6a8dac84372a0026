//! Set-up of the CLI's process-level tests: a simulator on 127.0.0.1, a temporary
//! state directory, and the built `ilink` binary run against both with a clean
//! environment. The timeout is the one every crate's tests share,
//! `ilink_testkit::harness::WAIT`.

#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use ilink_framework::Credentials;
use ilink_framework::store::{ContextTokenRecord, SqliteStore, StateStore, now_ms};
use ilink_testkit::harness::WAIT;
use ilink_testkit::{BotAccount, SimConfig, Simulator};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ilink");

/// Every variable the CLI reads; none may leak in from the developer's shell.
const ILINK_VARS: &[&str] = &[
    "ILINK_STATE_DIR",
    "ILINK_BASE_URL",
    "ILINK_CDN_BASE_URL",
    "ILINK_ROUTE_TAG",
    "ILINK_TOKEN",
    "ILINK_ACCOUNT_ID",
    "ILINK_SIM_PORT",
    "ILINK_DATABASE_URL",
    "ILINK_ADMIN_ADDR",
    "ILINK_LOG_FORMAT",
    "RUST_LOG",
];

/// A simulator and a state directory.
pub struct Env {
    pub sim: Simulator,
    pub dir: TempDir,
}

impl Env {
    pub async fn new() -> Self {
        Self::around(Simulator::start().await)
    }

    pub async fn with(config: SimConfig) -> Self {
        let sim = Simulator::start_with(config)
            .await
            .expect("simulator starts");
        Self::around(sim)
    }

    fn around(sim: Simulator) -> Self {
        Self {
            sim,
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn state(&self) -> &Path {
        self.dir.path()
    }

    pub async fn store(&self) -> SqliteStore {
        SqliteStore::open(self.state()).await.expect("store opens")
    }

    /// An account on the simulator whose credentials are stored in the state directory.
    pub async fn stored_account(&self, name: &str) -> BotAccount {
        let bot = self.sim.add_account(name);
        let creds = Credentials::new(bot.bot_id.as_str(), bot.token.clone())
            .with_base_url(self.sim.base_url())
            .with_cdn_base_url(self.sim.cdn_base_url());
        self.store()
            .await
            .save_credentials(&creds)
            .await
            .expect("credentials saved");
        bot
    }

    /// Stores a context token for `user` as `ilink tail` would, with `sent` messages counted.
    pub async fn store_token(
        &self,
        bot: &BotAccount,
        user: &str,
        token: ilink_core::Secret,
        sent: u32,
    ) {
        self.store_token_aged(bot, user, token, sent, Duration::ZERO)
            .await;
    }

    /// Stores a context token that arrived `age` ago.
    pub async fn store_token_aged(
        &self,
        bot: &BotAccount,
        user: &str,
        token: ilink_core::Secret,
        sent: u32,
        age: Duration,
    ) {
        let record = ContextTokenRecord {
            token,
            received_at_ms: now_ms() - age.as_millis() as i64,
            sent,
        };
        self.store()
            .await
            .put_context_token(&bot.bot_id.as_str().into(), user, &record)
            .await
            .expect("token stored");
    }

    /// `ilink` with this state directory and nothing else from the environment.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(BIN);
        for var in ILINK_VARS {
            cmd.env_remove(var);
        }
        cmd.env("ILINK_STATE_DIR", self.state());
        cmd
    }

    /// Runs `ilink ARGS` to its end without blocking the simulator's runtime.
    pub async fn run(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        self.run_with(args, &[]).await
    }

    /// Runs `ilink ARGS` with extra environment variables.
    pub async fn run_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> assert_cmd::assert::Assert {
        let mut cmd = self.cmd();
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.timeout(WAIT);
        tokio::task::spawn_blocking(move || cmd.assert())
            .await
            .expect("command ran")
    }

    /// Starts `ilink ARGS` in the background with piped stdio.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut cmd = tokio::process::Command::new(BIN);
        for var in ILINK_VARS {
            cmd.env_remove(var);
        }
        cmd.env("ILINK_STATE_DIR", self.state())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("ilink starts");
        let stdout = child.stdout.take().expect("piped stdout");
        Running {
            child,
            lines: BufReader::new(stdout).lines(),
            transcript: Vec::new(),
        }
    }
}

/// A running `ilink` whose stdout is read line by line.
pub struct Running {
    pub child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    pub transcript: Vec<String>,
}

impl Running {
    /// Reads stdout until a line contains `needle`; returns that line.
    pub async fn until(&mut self, needle: &str) -> String {
        let read = async {
            while let Some(line) = self.lines.next_line().await.expect("stdout readable") {
                self.transcript.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        };
        if let Ok(Some(line)) = tokio::time::timeout(WAIT, read).await {
            return line;
        }
        let mut err = String::new();
        if let Some(stderr) = self.child.stderr.as_mut() {
            use tokio::io::AsyncReadExt as _;
            // Bounded: a process still running keeps stderr open.
            let _ =
                tokio::time::timeout(Duration::from_secs(1), stderr.read_to_string(&mut err)).await;
        }
        panic!(
            "no line with {needle:?} on stdout; got:\n{}\nstderr:\n{err}",
            self.transcript.join("\n")
        );
    }

    /// Writes one line to stdin.
    pub async fn type_line(&mut self, line: &str) {
        use tokio::io::AsyncWriteExt as _;
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("stdin writable");
        stdin.flush().await.expect("stdin flushed");
    }

    /// Sends SIGINT, as ctrl-c in a terminal does.
    #[cfg(unix)]
    pub fn interrupt(&self) {
        let pid = self.child.id().expect("still running");
        let status = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Closes stdout, as a reader that has what it wanted does (`| head`),
    /// runs `then`, and waits for the exit; returns the code and stderr.
    pub async fn close_stdout_then(
        self,
        then: impl std::future::Future<Output = ()>,
    ) -> (Option<i32>, String) {
        use tokio::io::AsyncReadExt as _;
        let Self {
            mut child, lines, ..
        } = self;
        drop(lines);
        then.await;
        let mut stderr = child.stderr.take().expect("piped stderr");
        let ended = tokio::time::timeout(WAIT, async move {
            let mut err = String::new();
            let _ = stderr.read_to_string(&mut err).await;
            (child.wait().await.expect("exit status"), err)
        })
        .await;
        let (status, err) = ended.expect("ilink exits once its stdout is closed");
        (status.code(), err)
    }

    /// Waits for the exit; returns the code, the rest of stdout and all of stderr.
    pub async fn finish(mut self) -> (Option<i32>, String, String) {
        use tokio::io::AsyncReadExt as _;
        drop(self.child.stdin.take());
        let mut stderr = self.child.stderr.take().expect("piped stderr");
        let lines = &mut self.lines;
        let transcript = &mut self.transcript;
        let child = &mut self.child;
        let ended = tokio::time::timeout(WAIT, async move {
            while let Ok(Some(line)) = lines.next_line().await {
                transcript.push(line);
            }
            let mut err = String::new();
            let _ = stderr.read_to_string(&mut err).await;
            (child.wait().await.expect("exit status"), err)
        })
        .await;
        let Ok((status, err)) = ended else {
            panic!(
                "ilink did not exit; stdout so far:\n{}",
                self.transcript.join("\n")
            );
        };
        (status.code(), self.transcript.join("\n"), err)
    }
}
