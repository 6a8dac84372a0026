//! P6: a bot process on the durable store killed with SIGKILL mid-run and
//! restarted on the same state directory.
//!
//! The bot runs in a child process (the bench executable re-run with
//! [`BOT_CHILD_ENV`] set to the state directory), as a real deployment
//! would: `Bot` with `state_dir`, so the default `SqliteStore` and the
//! account lock. It reads its account from the first line of stdin (the
//! token stays out of the command line and the environment), says `ready`
//! once started, and shuts down cleanly when stdin closes.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ilink_framework::prelude::*;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::Scale;
use crate::bots::{BenchHandler, Counters, bench_options, credentials, state_dir};
use crate::measure::{Row, now_ns};
use crate::sim::{Account, Replies, SimChild};

/// Environment variable that turns the bench executable into a bot on the
/// state directory it names.
pub const BOT_CHILD_ENV: &str = "ILINK_BENCH_BOT_CHILD";

/// Conversations of P6 and messages in each (the sizes at either scale).
const CONVERSATIONS: usize = 100;
const PER_CONVERSATION: usize = 10;
/// Replies delivered before the bot is killed.
const KILL_AFTER: u64 = 300;
/// How often a round of messages is pushed: 2,000 messages a second.
const PUSH_EVERY: Duration = Duration::from_millis(50);
/// Upper bound on the whole run.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// The bot child's side: runs an echo bot on the state directory `dir`.
pub fn bot_child_main(dir: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let first = lines.next_line().await.ok().flatten().unwrap_or_default();
        let mut w = first.split_whitespace().map(str::to_owned);
        let (Some(base_url), Some(bot_id), Some(token)) = (w.next(), w.next(), w.next()) else {
            eprintln!("bot child: expected `<base_url> <bot_id> <token>` on stdin");
            return;
        };
        let account = Account { bot_id, token };
        let bot = match Bot::builder(BenchHandler::instant(Counters::default()))
            .accounts(credentials(&base_url, &[account]))
            .options(bench_options())
            .state_dir(dir)
            .build()
        {
            Ok(bot) => bot,
            Err(e) => {
                eprintln!("bot child: {e}");
                return;
            }
        };
        let handle = match bot.start().await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("bot child: {e}");
                return;
            }
        };
        println!("ready");
        while let Ok(Some(_)) = lines.next_line().await {}
        handle.shutdown().await;
    });
    rt.shutdown_timeout(Duration::from_secs(2));
}

/// The parent's handle on a bot child. Killed if dropped.
struct BotChild {
    child: Child,
    stdin: ChildStdin,
}

impl BotChild {
    /// Starts a bot child on `dir` for `account` and waits until it runs.
    async fn spawn(dir: &Path, base_url: &str, account: &Account) -> BotChild {
        let exe = std::env::current_exe().expect("own executable");
        let mut child = Command::new(exe)
            .env(BOT_CHILD_ENV, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("bot child starts");
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(format!("{base_url} {} {}\n", account.bot_id, account.token).as_bytes())
            .await
            .expect("bot child stdin");
        stdin.flush().await.expect("bot child stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let ready = lines.next_line().await.ok().flatten();
        assert_eq!(ready.as_deref(), Some("ready"), "bot child did not start");
        BotChild { child, stdin }
    }

    /// SIGKILL, as `kill -9`: no shutdown, no flush, no lock released by hand.
    async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL the bot child");
        let _ = self.child.wait().await;
    }

    /// Closes its stdin and waits for a clean shutdown.
    async fn stop(self) {
        let BotChild { mut child, stdin } = self;
        drop(stdin);
        if tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .is_err()
        {
            eprintln!("  bot child did not stop in 15 s; killed");
            let _ = child.kill().await;
        }
    }
}

/// P6: kill -9 mid-run, restart, count what was lost and what came twice.
pub async fn p6(_scale: Scale) -> Vec<Row> {
    let total = (CONVERSATIONS * PER_CONVERSATION) as u64;
    println!(
        "\nP6 crash: {total} messages over {CONVERSATIONS} conversations, bot process on the durable store, SIGKILL after {KILL_AFTER} replies, restart on the same state directory"
    );
    let mut sim = SimChild::spawn(Duration::from_secs(1)).await;
    let account = sim.accounts(1).await.remove(0);
    let dir = state_dir();
    let mut bot = Some(BotChild::spawn(dir.path(), &sim.base_url, &account).await);
    // A round (one message per conversation) every PUSH_EVERY, whatever the
    // bot does, so the moment of the kill is not tied to a push: a kill
    // between a `getupdates` answer and the commit of its batch loses that
    // batch (the server does not replay, see docs/benchmarks.md), and a
    // driver that pushed on replies would aim the kill at that moment.
    // Rounds that fall due while the bot is down are pushed on restart.
    let start = Instant::now();
    let mut pushed = 0u64;
    let mut killed_at: Option<(u64, u64)> = None;
    let mut restart_ns = 0u128;
    let mut down = Duration::ZERO;
    let deadline = start + RECOVERY_TIMEOUT;
    loop {
        let r = sim.replies(0, 0).await;
        if killed_at.is_none() && r.answered >= KILL_AFTER {
            if let Some(b) = bot.take() {
                let t = Instant::now();
                b.kill().await;
                killed_at = Some((r.answered, pushed));
                restart_ns = now_ns();
                bot = Some(BotChild::spawn(dir.path(), &sim.base_url, &account).await);
                down = t.elapsed();
            }
        }
        if r.answered >= total || Instant::now() > deadline {
            break;
        }
        let due = (start.elapsed().as_millis() / PUSH_EVERY.as_millis() + 1) as u64
            * CONVERSATIONS as u64;
        if pushed < due.min(total) {
            sim.say(0, "p6-", 0, CONVERSATIONS, 1).await;
            pushed += CONVERSATIONS as u64;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    // Late duplicates (a re-sent reply after the last first one) still count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r: Replies = sim.replies(0, restart_ns).await;
    if let Some(b) = bot.take() {
        b.stop().await;
    }
    let Some((killed_at, pushed_then)) = killed_at else {
        println!("  the bot was never killed: only {} replies", r.answered);
        return Vec::new();
    };
    let secs = |ns: u128| ns.saturating_sub(restart_ns) as f64 / 1e9;
    let lost = total - r.answered.min(total);
    println!(
        "  killed after {killed_at} replies to {pushed_then} messages pushed; kill + restart until `ready` {:.2} s; first reply {:.2} s and last reply {:.2} s after the restart",
        down.as_secs_f64(),
        secs(r.first_since_ns),
        secs(r.last_ns)
    );
    println!(
        "  {} delivered for {} messages: {lost} lost, {} received twice, {} re-sends dropped by the server (repeated client_id), {} refused, {} conversations out of order",
        r.delivered, r.answered, r.twice, r.repeats, r.rejected, r.out_of_order
    );
    let row = |metric: &str, value: String, goal: &str| Row {
        scenario: "P6".into(),
        metric: metric.into(),
        framework: value,
        memory: "-".into(),
        baseline: "-".into(),
        ratio: "-".into(),
        goal: goal.into(),
    };
    vec![
        row(
            "restart -> last reply (s)",
            format!("{:.2}", secs(r.last_ns)),
            "< 2 s",
        ),
        row(
            "restart -> first reply (s)",
            format!("{:.2}", secs(r.first_since_ns)),
            "-",
        ),
        row("messages lost (never answered)", lost.to_string(), "0"),
        row("replies received twice", r.twice.to_string(), "0"),
        row(
            "re-sends dropped as a repeated client_id",
            r.repeats.to_string(),
            "-",
        ),
        row(
            "conversations whose first replies came out of order",
            r.out_of_order.to_string(),
            "0",
        ),
    ]
}
