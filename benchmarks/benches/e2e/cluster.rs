//! P7: worker processes of a cluster on PostgreSQL sharing the simulator's
//! accounts: throughput of 1, 2 and 3 workers (as a ratio to 1), round
//! trips and transactions per 100 messages, handover time on a graceful
//! stop and failover time after `kill -9` with the default lease TTL.
//!
//! Needs a database: `ILINK_BENCH_DATABASE_URL`, else
//! `ILINK_TEST_DATABASE_URL` (the scenario runs in a schema of its own,
//! dropped at the end); without either it says it was skipped. Workers
//! reach PostgreSQL through [`pg_wire`](crate::pg_wire)'s counting relay.

use std::process::Stdio;
use std::time::{Duration, Instant};

use ilink_framework::cluster::{Cluster, ClusterStatus};
use ilink_framework::prelude::*;
use ilink_framework::store::pg_testing::TestSchema;
use ilink_framework::store::{PgStore, StateStore};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::Scale;
use crate::bots::{BenchHandler, Counters, bench_options, credentials};
use crate::measure::Row;
use crate::pg_wire::relay;
use crate::sim::SimChild;

/// Environment variable that turns the bench executable into a worker of
/// the cluster whose database URL it holds.
pub const WORKER_CHILD_ENV: &str = "ILINK_BENCH_WORKER_CHILD";

/// The worker child's side: an echo bot in the cluster at `url`, with the
/// default lease TTL; `ready` once started, a clean shutdown when stdin
/// closes.
pub fn worker_child_main(url: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let bot = Bot::builder(BenchHandler::instant(Counters::default()))
            .options(bench_options())
            .cluster_with(Cluster::new(url))
            .build();
        let handle = match bot {
            Ok(bot) => match bot.start().await {
                Ok(h) => h,
                Err(e) => return eprintln!("worker child: {e}"),
            },
            Err(e) => return eprintln!("worker child: {e}"),
        };
        println!("ready");
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(_)) = lines.next_line().await {}
        handle.shutdown().await;
    });
    rt.shutdown_timeout(Duration::from_secs(2));
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Worker {
    async fn spawn(url: &str) -> Worker {
        let exe = std::env::current_exe().expect("own executable");
        let mut child = Command::new(exe)
            .env(WORKER_CHILD_ENV, url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("worker child starts");
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let ready = lines.next_line().await.ok().flatten();
        assert_eq!(
            ready.as_deref(),
            Some("ready"),
            "worker child did not start"
        );
        Worker { child, stdin }
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap_or_default()
    }

    /// Closes stdin: a graceful stop; returns at once.
    fn stop(&mut self) {
        self.stdin = None;
    }

    async fn wait(&mut self) {
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Waits until `live` workers hold every account, none more than its
/// share; returns the status.
async fn settled(store: &PgStore, live: usize) -> ClusterStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = ClusterStatus::load(store).await.expect("cluster status");
        let alive = s.workers.iter().filter(|w| w.alive && !w.stopping).count();
        let share = s.accounts.len().div_ceil(live);
        let fair = s.workers.iter().all(|w| w.accounts <= share);
        if alive == live && fair && s.accounts.iter().all(|a| a.held) || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The accounts (by index) the worker with `pid` holds.
fn held_by(status: &ClusterStatus, pid: u32, ids: &[String]) -> Vec<usize> {
    let worker: Vec<&str> = status
        .workers
        .iter()
        .filter(|w| w.pid == pid)
        .map(|w| w.id.as_str())
        .collect();
    status
        .accounts
        .iter()
        .filter(|a| a.worker.as_deref().is_some_and(|w| worker.contains(&w)))
        .filter_map(|a| ids.iter().position(|id| *id == a.account))
        .collect()
}

/// Polls started so far, per account.
async fn poll_counts(sim: &mut SimChild, n: usize) -> Vec<u64> {
    let mut v = Vec::with_capacity(n);
    for a in 0..n {
        v.push(sim.number(&format!("pollcount {a}")).await as u64);
    }
    v
}

/// Waits until each account of `accounts` has polled more than `before`
/// says; returns how long it took.
async fn polled_again(sim: &mut SimChild, accounts: &[usize], before: &[u64]) -> Duration {
    let start = Instant::now();
    for &a in accounts {
        while (sim.number(&format!("pollcount {a}")).await as u64) <= before[a] {
            if start.elapsed() > Duration::from_secs(60) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    start.elapsed()
}

/// The database URL and the upstream `host:port` of the URL.
fn database_url() -> Option<String> {
    ["ILINK_BENCH_DATABASE_URL", "ILINK_TEST_DATABASE_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
}

/// `url` with its `host:port` replaced by `addr`, TLS off (the relay reads
/// the stream).
fn through(url: &str, addr: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let (auth, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, host) = auth.rsplit_once('@').map_or(("", auth), |(u, h)| (u, h));
    let upstream = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    let at = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    Some((
        format!("{scheme}://{at}{addr}/{path}{sep}sslmode=disable"),
        upstream,
    ))
}

pub async fn p7(scale: Scale) -> Vec<Row> {
    let Some(url) = database_url() else {
        println!("\nP7 cluster: skipped, set ILINK_BENCH_DATABASE_URL or ILINK_TEST_DATABASE_URL");
        return Vec::new();
    };
    let accounts = scale.pick(12, 30);
    let per_run = scale.pick(3_000, 9_000);
    let users = 10;
    println!(
        "\nP7 cluster: {accounts} accounts, {per_run} messages per run over {users} users each, workers as processes on one PostgreSQL, default lease TTL {:?}",
        Cluster::DEFAULT_LEASE_TTL
    );
    let schema = TestSchema::create_in(&url).await;
    let (addr_url, upstream) = through(&schema.url(), "RELAY").expect("a postgres:// URL");
    let (addr, wire) = relay(upstream).await;
    let worker_url = addr_url.replace("RELAY", &addr);
    let store = schema.store().await;
    let mut sim = SimChild::spawn(Duration::from_secs(1)).await;
    let accts = sim.accounts(accounts).await;
    let ids: Vec<String> = accts.iter().map(|a| a.bot_id.clone()).collect();
    for c in credentials(&sim.base_url, &accts) {
        store.save_credentials(&c).await.expect("credentials saved");
    }

    let mut workers: Vec<Worker> = Vec::new();
    let mut rows = Vec::new();
    let mut base_rate = 0.0;
    let mut answered_so_far = 0u64;
    for w in 1..=3usize {
        workers.push(Worker::spawn(&worker_url).await);
        settled(&store, w).await;
        let _ = wire.take();
        let start = Instant::now();
        let per_account = per_run / accounts / users;
        for a in 0..accounts {
            sim.say(a, &format!("p7r{w}-"), 0, users, per_account).await;
        }
        let target = answered_so_far + (per_account * users * accounts) as u64;
        loop {
            let mut answered = 0;
            for a in 0..accounts {
                answered += sim.replies(a, 0).await.answered;
            }
            if answered >= target || start.elapsed() > Duration::from_secs(120) {
                answered_so_far = answered;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let secs = start.elapsed().as_secs_f64();
        let n = (per_account * users * accounts) as f64;
        let rate = n / secs;
        let (trips, txs, autos) = wire.take();
        let per100 = |x: u64| x as f64 * 100.0 / n;
        if w == 1 {
            base_rate = rate;
        }
        println!(
            "  {w} worker(s): {n} messages in {secs:.2} s = {rate:.0} msg/s ({:.2}x one worker); per 100 messages: {:.0} round trips, {:.1} transactions, {:.1} single statements",
            rate / base_rate,
            per100(trips),
            per100(txs),
            per100(autos)
        );
        rows.push(Row {
            scenario: "P7".into(),
            metric: format!("throughput, {w} worker(s) (msg/s)"),
            framework: format!("{rate:.0}"),
            memory: "-".into(),
            baseline: format!("{base_rate:.0}"),
            ratio: format!("{:.2}", rate / base_rate),
            goal: "-".into(),
        });
        rows.push(Row {
            scenario: "P7".into(),
            metric: format!(
                "{w} worker(s): PostgreSQL round trips / transactions / single statements per 100 msgs"
            ),
            framework: format!("{:.0} / {:.1} / {:.1}", per100(trips), per100(txs), per100(autos)),
            memory: "-".into(),
            baseline: "-".into(),
            ratio: "-".into(),
            goal: "-".into(),
        });
    }
    let totals: u64 = answered_so_far;
    let mut twice = 0;
    for a in 0..accounts {
        twice += sim.replies(a, 0).await.twice;
    }
    println!("  {totals} answered over the three runs, {twice} received twice");

    // Graceful stop of one worker: until its accounts are polled by others.
    let status = settled(&store, 3).await;
    let leaving = held_by(&status, workers[0].pid(), &ids);
    let before = poll_counts(&mut sim, accounts).await;
    workers[0].stop();
    let handover = polled_again(&mut sim, &leaving, &before).await;
    workers[0].wait().await;
    println!(
        "  graceful stop: {} accounts polled by the other workers after {:.0} ms",
        leaving.len(),
        handover.as_secs_f64() * 1000.0
    );

    // kill -9 of another: until its accounts are polled again.
    let status = settled(&store, 2).await;
    let orphans = held_by(&status, workers[1].pid(), &ids);
    let before = poll_counts(&mut sim, accounts).await;
    let _ = workers[1].child.start_kill();
    let failover = polled_again(&mut sim, &orphans, &before).await;
    let _ = workers[1].child.wait().await;
    println!(
        "  kill -9: {} accounts polled again after {:.2} s (TTL {:?} + up to one heartbeat)",
        orphans.len(),
        failover.as_secs_f64(),
        Cluster::DEFAULT_LEASE_TTL
    );
    for w in &mut workers[2..] {
        w.stop();
        w.wait().await;
    }
    store.close().await;
    let row = |metric: &str, value: String, goal: &str| Row {
        scenario: "P7".into(),
        metric: metric.into(),
        framework: value,
        memory: "-".into(),
        baseline: "-".into(),
        ratio: "-".into(),
        goal: goal.into(),
    };
    rows.push(row(
        "graceful stop -> accounts polled by another worker (ms)",
        format!("{:.0}", handover.as_secs_f64() * 1000.0),
        "< 2000",
    ));
    rows.push(row(
        "kill -9 -> accounts polled by another worker (s)",
        format!("{:.2}", failover.as_secs_f64()),
        "TTL + one poll",
    ));
    rows.push(row("replies received twice", twice.to_string(), "0"));
    rows
}
