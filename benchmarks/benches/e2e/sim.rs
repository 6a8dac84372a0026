//! The simulator in a child process, driven over its stdin/stdout.
//!
//! The bench re-runs its own executable with `ILINK_BENCH_SIM_CHILD` set; that
//! child runs `ilink_testkit::Simulator` on 127.0.0.1 and obeys one-line
//! commands. A separate process keeps the simulator's CPU time and memory (it
//! records every request) out of the figures of the process under test, which
//! holds only the bot (or the raw baseline) and this thin driver.
//!
//! Commands (answers end with a line starting `ok`):
//! - `accounts N`: creates N accounts; one `acct <bot_id> <token>` line each.
//! - `say A PREFIX FIRST N ROUNDS`: users `PREFIX<FIRST..FIRST+N>` of account
//!   `A` each say one message per round; the text is the enqueue time in
//!   nanoseconds since the Unix epoch, so latencies can be measured from it.
//! - `rate A PREFIX USERS TOTAL PER_SEC`: the same at a steady rate, round-robin
//!   over the users; answers `ok <seconds it took>`.
//! - `latency A`: from enqueue (the text echoed back) to the reply being recorded
//!   by the simulator: `ok <count> <p50 µs> <p99 µs> <max µs>`.
//! - `replies A SINCE`: what account `A`'s users received (see [`Replies`]);
//!   `SINCE` is a time in ns since the epoch for [`Replies::first_since_ns`].
//! - `polls A`: how many `getupdates` account `A` made.
//! - `cpu`, `rss`: the child's own CPU seconds and resident KiB.

use std::collections::HashMap;
use std::io::{BufRead as _, Write as _};
use std::process::Stdio;
use std::time::{Duration, Instant, UNIX_EPOCH};

use ilink_testkit::{BotAccount, SendOutcome, SentMessage, SimConfig, Simulator};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::measure::{cpu_seconds, now_ns, percentile, rss_kib};

/// Environment variable that turns the bench executable into the simulator;
/// its value is the long-poll timeout in milliseconds.
pub const CHILD_ENV: &str = "ILINK_BENCH_SIM_CHILD";

/// Environment variable naming the executable to run the simulator child
/// from (another build of this bench); this one when unset.
pub const SIM_EXE_ENV: &str = "ILINK_BENCH_SIM_EXE";

/// One bot account of the child simulator.
#[derive(Clone, Debug)]
pub struct Account {
    pub bot_id: String,
    pub token: String,
}

/// The parent's handle on a simulator child. Killed when dropped.
pub struct SimChild {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pub base_url: String,
}

impl SimChild {
    /// Starts a child simulator whose `getupdates` holds for `longpoll`.
    pub async fn spawn(longpoll: Duration) -> SimChild {
        // Another build of this bench may serve as the simulator, e.g. one on
        // glibc's allocator under a bot on mimalloc.
        let exe = std::env::var_os(SIM_EXE_ENV)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::env::current_exe().expect("own executable"));
        let mut child = Command::new(exe)
            .env(CHILD_ENV, longpoll.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("simulator child starts");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let ready = lines
            .next_line()
            .await
            .expect("child stdout")
            .expect("child says ready");
        let base_url = ready.strip_prefix("ready ").expect("ready line").to_owned();
        SimChild {
            _child: child,
            stdin,
            lines,
            base_url,
        }
    }

    /// Sends one command; returns the lines before `ok` and the words after it.
    pub async fn cmd(&mut self, line: &str) -> (Vec<String>, Vec<String>) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("child stdin");
        self.stdin.flush().await.expect("child stdin");
        let mut out = Vec::new();
        loop {
            let l = self
                .lines
                .next_line()
                .await
                .expect("child stdout")
                .unwrap_or_else(|| panic!("simulator child ended during {line:?}"));
            if let Some(rest) = l.strip_prefix("ok") {
                return (out, rest.split_whitespace().map(str::to_owned).collect());
            }
            out.push(l);
        }
    }

    /// Creates `n` accounts.
    pub async fn accounts(&mut self, n: usize) -> Vec<Account> {
        let (lines, _) = self.cmd(&format!("accounts {n}")).await;
        lines
            .iter()
            .filter_map(|l| {
                let mut w = l.strip_prefix("acct ")?.split_whitespace();
                Some(Account {
                    bot_id: w.next()?.to_owned(),
                    token: w.next()?.to_owned(),
                })
            })
            .collect()
    }

    /// Users `prefix<first..first+n>` of account `a` say `rounds` messages each.
    pub async fn say(&mut self, a: usize, prefix: &str, first: usize, n: usize, rounds: usize) {
        self.cmd(&format!("say {a} {prefix} {first} {n} {rounds}"))
            .await;
    }

    /// A number the child answers after `ok`.
    pub async fn number(&mut self, line: &str) -> f64 {
        let (_, words) = self.cmd(line).await;
        words
            .first()
            .and_then(|w| w.parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// What the users of account `a` received; `since_ns` sets
    /// [`Replies::first_since_ns`].
    pub async fn replies(&mut self, a: usize, since_ns: u128) -> Replies {
        let (_, w) = self.cmd(&format!("replies {a} {since_ns}")).await;
        let n = |i: usize| w.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        let t = |i: usize| w.get(i).and_then(|x| x.parse::<u128>().ok()).unwrap_or(0);
        Replies {
            delivered: n(0),
            answered: n(1),
            twice: n(2),
            repeats: n(3),
            rejected: n(4),
            out_of_order: n(5),
            first_since_ns: t(6),
            last_ns: t(7),
        }
    }

    /// Reply latencies of account `a`: (count, (p50, p99, max)) in microseconds.
    pub async fn latency(&mut self, a: usize) -> (usize, (f64, f64, f64)) {
        let (_, w) = self.cmd(&format!("latency {a}")).await;
        let f = |i: usize| w.get(i).and_then(|x| x.parse().ok()).unwrap_or(f64::NAN);
        (f(0) as usize, (f(1), f(2), f(3)))
    }
}

/// What the users of one account received, from the simulator's records of
/// `sendmessage`. Every inbound message's text is unique (its enqueue time)
/// and the bot echoes it, so a reply names the message it answers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Replies {
    /// Sends delivered.
    pub delivered: u64,
    /// Distinct messages with at least one delivered reply.
    pub answered: u64,
    /// Messages whose reply was delivered more than once: what users saw twice.
    pub twice: u64,
    /// Sends dropped by the server as a repeated `client_id` (not seen by users).
    pub repeats: u64,
    /// Sends refused.
    pub rejected: u64,
    /// Conversations whose first replies are not in the order of the messages.
    pub out_of_order: u64,
    /// When the first reply at or after the asked time was delivered (ns since the epoch; 0: none).
    pub first_since_ns: u128,
    /// When the last reply was delivered (ns since the epoch; 0: none).
    pub last_ns: u128,
}

/// The `replies` answer: [`Replies`]' fields in order, space-separated.
fn replies_line(sent: &[SentMessage], since_ns: u128) -> String {
    let mut per_text: HashMap<String, u32> = HashMap::new();
    // Per user, the enqueue times of the messages in the order their first
    // reply was delivered.
    let mut firsts: HashMap<&str, Vec<u128>> = HashMap::new();
    let (mut delivered, mut repeats, mut rejected) = (0u64, 0u64, 0u64);
    let (mut first_since, mut last) = (0u128, 0u128);
    for s in sent {
        match s.outcome {
            SendOutcome::Duplicate => repeats += 1,
            SendOutcome::Rejected { .. } => rejected += 1,
            SendOutcome::Delivered { .. } => {
                delivered += 1;
                let text = s.text().unwrap_or_default();
                let enqueued = text.parse::<u128>().unwrap_or(0);
                let count = per_text.entry(text).or_default();
                *count += 1;
                if *count == 1 {
                    firsts.entry(&s.to_user_id).or_default().push(enqueued);
                }
                let at = s.at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
                last = last.max(at);
                if at >= since_ns && (first_since == 0 || at < first_since) {
                    first_since = at;
                }
            }
        }
    }
    let twice = per_text.values().filter(|n| **n > 1).count();
    let out_of_order = firsts
        .values()
        .filter(|v| v.windows(2).any(|w| w[0] > w[1]))
        .count();
    format!(
        "{delivered} {} {twice} {repeats} {rejected} {out_of_order} {first_since} {last}",
        per_text.len()
    )
}

/// The child's side: runs the simulator and obeys commands until stdin closes.
pub fn child_main(longpoll_ms: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = SimConfig {
        longpoll_timeout: Duration::from_millis(longpoll_ms),
        context_quota: None,
        burst: None,
        ..SimConfig::for_tests()
    };
    let sim = rt
        .block_on(Simulator::start_with(config))
        .expect("simulator starts");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready {}", sim.base_url());
    let _ = out.flush();
    let mut accounts: Vec<BotAccount> = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let w: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| w.get(i).and_then(|x| x.parse::<usize>().ok()).unwrap_or(0);
        let answer = match w.first().copied() {
            Some("accounts") => {
                for _ in 0..num(1) {
                    let a = sim.add_account(&format!("bench-{}", accounts.len()));
                    let _ = writeln!(out, "acct {} {}", a.bot_id, a.token.expose());
                    accounts.push(a);
                }
                String::new()
            }
            Some("say") => {
                let bot = &accounts[num(1)];
                for _ in 0..num(5) {
                    for u in num(3)..num(3) + num(4) {
                        let user = sim.user(bot, &format!("{}{u}@im.wechat", w[2]));
                        rt.block_on(user.say(now_ns().to_string()));
                    }
                }
                String::new()
            }
            Some("rate") => {
                let bot = &accounts[num(1)];
                let (users, total, per_sec) = (num(3).max(1), num(4), num(5).max(1));
                let start = Instant::now();
                let mut pushed = 0;
                while pushed < total {
                    let due =
                        ((start.elapsed().as_secs_f64() * per_sec as f64) as usize).min(total);
                    while pushed < due {
                        let user = sim.user(bot, &format!("{}{}@im.wechat", w[2], pushed % users));
                        rt.block_on(user.say(now_ns().to_string()));
                        pushed += 1;
                    }
                    // Sub-millisecond ticks keep the rate steady, not bursty.
                    std::thread::sleep(Duration::from_micros(200));
                }
                format!("{:.3}", start.elapsed().as_secs_f64())
            }
            Some("latency") => {
                let bot = &accounts[num(1)];
                let mut lat: Vec<u64> = sim
                    .sent(bot)
                    .iter()
                    .filter(|s| s.delivered())
                    .filter_map(|s| {
                        let t: u128 = s.text()?.parse().ok()?;
                        let at = s.at.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
                        Some((at.saturating_sub(t) / 1000) as u64)
                    })
                    .collect();
                lat.sort_unstable();
                format!(
                    "{} {} {} {}",
                    lat.len(),
                    percentile(&lat, 0.50),
                    percentile(&lat, 0.99),
                    lat.last().copied().unwrap_or(0)
                )
            }
            Some("replies") => {
                let since = w.get(2).and_then(|x| x.parse().ok()).unwrap_or(0);
                replies_line(&sim.sent(&accounts[num(1)]), since)
            }
            Some("polls") => {
                let bearer = format!("Bearer {}", accounts[num(1)].token.expose());
                let count = rt.block_on(sim.wait_for_state("polls", Duration::from_secs(1), |r| {
                    Some(
                        r.requests
                            .iter()
                            .filter(|q| q.endpoint == Some(ilink_core::Endpoint::GetUpdates))
                            .filter(|q| {
                                q.headers.get("authorization").and_then(|v| v.to_str().ok())
                                    == Some(bearer.as_str())
                            })
                            .count(),
                    )
                }));
                count.unwrap_or(0).to_string()
            }
            Some("pollcount") => sim.poll_stats(&accounts[num(1)]).started.to_string(),
            Some("cpu") => format!("{:.3}", cpu_seconds()),
            Some("rss") => rss_kib().to_string(),
            _ => "unknown-command".to_owned(),
        };
        let _ = writeln!(out, "ok {answer}");
        let _ = out.flush();
    }
    drop(sim);
    rt.shutdown_timeout(Duration::from_secs(1));
}
