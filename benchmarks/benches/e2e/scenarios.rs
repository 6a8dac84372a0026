//! The scenarios P1, P3 and P4 and what the others share (P2 is in
//! `overhead`, P5 in `latency`, P6 in `crash`). Each prints its figures as
//! it goes and returns rows for the final table; each starts its own
//! simulator child.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::Scale;
use crate::bots::{
    BenchBot, BenchHandler, Counters, StoreKind, bench_options, seed_loop, spawn_idle_pollers,
    spawn_raw, start_bot,
};
use crate::measure::{Row, cpu_seconds, rss_kib};
use crate::sim::{Account, SimChild};

/// Upper bound on any wait for a workload to finish.
pub const WORK_TIMEOUT: Duration = Duration::from_secs(300);

pub fn row(
    scenario: &'static str,
    metric: &str,
    fw: String,
    base: String,
    ratio: f64,
    goal: &str,
) -> Row {
    Row {
        scenario: scenario.to_owned(),
        metric: metric.to_owned(),
        framework: fw,
        baseline: base,
        ratio: if ratio.is_finite() {
            format!("{ratio:.2}")
        } else {
            "-".into()
        },
        goal: goal.to_owned(),
        memory: "-".into(),
    }
}

impl Row {
    /// The same row with the memory store's figure.
    pub fn with_memory(mut self, figure: String) -> Row {
        self.memory = figure;
        self
    }
}

/// Waits until `total` messages are done (or the bound passes); true if done.
pub async fn wait_done(c: &Counters, total: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while c.done() < total {
        if Instant::now() > deadline {
            eprintln!("  timed out: {} of {total} done", c.done());
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

/// Pushes `rounds` messages from each of `users` users in blocks, at most
/// two blocks ahead of what was handled (real servers hand out small batches, not the
/// whole backlog), and waits for all to be done. Returns the wall time.
pub async fn drive(
    sim: &mut SimChild,
    acct: usize,
    prefix: &str,
    users: usize,
    rounds: usize,
    block: usize,
    c: &Counters,
) -> Duration {
    let window = 2 * block as u64;
    let start = Instant::now();
    let total = (users * rounds) as u64;
    let mut pushed = 0u64;
    for _ in 0..rounds {
        for first in (0..users).step_by(block) {
            let n = block.min(users - first);
            while pushed.saturating_sub(c.done()) > window {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            sim.say(acct, prefix, first, n, 1).await;
            pushed += n as u64;
        }
    }
    wait_done(c, total, WORK_TIMEOUT).await;
    start.elapsed()
}

pub fn stop_signal() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// P1: slow handlers. Conversations × 5 messages, 200 ms per message.
pub async fn p1(scale: Scale) -> Vec<Row> {
    let convs = scale.pick(200, 1000);
    let per = 5;
    let delay = Duration::from_millis(200);
    let seed_msgs = scale.pick(10, 25);
    println!("\nP1 slow handlers: {convs} conversations x {per} messages, handler waits {delay:?}");
    let mut sim = SimChild::spawn(Duration::from_secs(1)).await;
    let accts = sim.accounts(2).await;

    let c = Counters::with_latency();
    let options = bench_options()
        // One running handler per conversation: the default of 256 would
        // queue the rest (documented in docs/benchmarks.md).
        .max_concurrent_handlers(convs * 2);
    let bot = start_bot(
        &sim.base_url,
        &accts[..1],
        BenchHandler {
            delay,
            counters: c.clone(),
        },
        options,
        StoreKind::Durable,
    )
    .await;
    let total = (convs * per) as u64;
    let start = Instant::now();
    sim.say(0, "p1-", 0, convs, per).await;
    wait_done(&c, total, WORK_TIMEOUT).await;
    let wall = start.elapsed();
    bot.shutdown().await;
    let ideal = delay * per as u32;
    // The k-th conversation's k-th round starts at k x 200 ms plus what the
    // framework adds; the slowest start of each round shows where it adds it.
    let starts = c.sorted_starts();
    let rounds: Vec<String> = (1..=per)
        .map(|k| {
            format!(
                "{:.0}",
                starts.get(k * convs - 1).copied().unwrap_or(0) as f64 / 1000.0
            )
        })
        .collect();
    println!(
        "  slowest handler start of each round (ms after enqueue): {}",
        rounds.join(", ")
    );
    println!(
        "  framework: {:.2} s for {total} messages ({} failed); ideal {:.2} s",
        wall.as_secs_f64(),
        c.failed.load(std::sync::atomic::Ordering::Relaxed),
        ideal.as_secs_f64()
    );

    // The seed loop is sequential: run a few messages and extrapolate.
    let s = Counters::default();
    let start = Instant::now();
    sim.say(1, "seed-", 0, 5, seed_msgs / 5).await;
    seed_loop(&sim.base_url, &accts[1], delay, seed_msgs as u64, s.clone()).await;
    let per_msg = start.elapsed() / seed_msgs as u32;
    let seed_total = per_msg * total as u32;
    println!(
        "  seed loop: {:.1} ms per message over {seed_msgs} messages -> {:.0} s extrapolated to {total}",
        per_msg.as_secs_f64() * 1e3,
        seed_total.as_secs_f64()
    );
    vec![
        row(
            "P1",
            "wall time vs ideal (5 x 200 ms)",
            format!("{:.2} s", wall.as_secs_f64()),
            format!("{:.2} s ideal", ideal.as_secs_f64()),
            wall.as_secs_f64() / ideal.as_secs_f64(),
            "<= 1.2",
        ),
        row(
            "P1",
            "wall time vs seed loop (extrapolated)",
            format!("{:.2} s", wall.as_secs_f64()),
            format!("{:.0} s", seed_total.as_secs_f64()),
            wall.as_secs_f64() / seed_total.as_secs_f64(),
            "-",
        ),
    ]
}

/// A simulator for one run of P2 or P5, with its one account. Each run gets a fresh
/// one: the simulator keeps every message and request it saw, so one that
/// already served a run spends more CPU per message (measured: 35 µs on the
/// first run, 54 on the second, 66 on the third), and on a machine the bot
/// shares with it that favoured whichever ran first, the baseline.
pub async fn fresh_sim() -> (SimChild, Account) {
    let mut sim = SimChild::spawn(Duration::from_secs(1)).await;
    let acct = sim.accounts(1).await.remove(0);
    (sim, acct)
}

/// A fresh simulator (see [`fresh_sim`]) and a bot on a store of `kind`
/// answering its one account with an instant echo, counted in `f`.
pub async fn fresh_echo_bot(kind: StoreKind, f: &Counters) -> (SimChild, BenchBot) {
    let (sim, acct) = fresh_sim().await;
    let bot = start_bot(
        &sim.base_url,
        std::slice::from_ref(&acct),
        BenchHandler::instant(f.clone()),
        bench_options(),
        kind,
    )
    .await;
    (sim, bot)
}

/// A memory-store figure with its ratio to the baseline.
pub fn with_ratio(value: String, ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{value} ({ratio:.2})")
    } else {
        value
    }
}

/// Waits until the live-session counter reaches `target` (or the bound passes).
async fn wait_live(c: &Counters, target: i64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while c.live.load(std::sync::atomic::Ordering::Relaxed) > target {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// P3: memory per live session, and after idle eviction.
pub async fn p3(scale: Scale) -> Vec<Row> {
    let n = scale.pick(10_000, 100_000);
    let idle = scale.pick(Duration::from_secs(10), Duration::from_secs(60));
    println!("\nP3 memory: {n} conversations with one message each, idle_timeout {idle:?}");
    let mut sim = SimChild::spawn(Duration::from_secs(1)).await;
    let accts = sim.accounts(2).await;
    // Small blocks: messages in flight (each holds a few KB while handled)
    // would otherwise be counted as memory of the sessions.
    let block = 500;

    // The raw baseline first: it keeps nothing per conversation, so what it
    // leaves to the allocator barely flatters the framework measured after.
    let c = Counters::default();
    let (stop_tx, stop) = stop_signal();
    let rss_b0 = rss_kib();
    let task = spawn_raw(
        &sim.base_url,
        &accts[1],
        16,
        Duration::ZERO,
        c.clone(),
        stop,
    );
    drive(&mut sim, 1, "raw-", n, 1, block, &c).await;
    let rss_b1 = rss_kib();
    let _ = stop_tx.send(true);
    let _ = task.await;
    let per_raw = rss_b1.saturating_sub(rss_b0) as f64 * 1024.0 / n as f64;
    println!("  raw baseline: RSS {rss_b0} -> {rss_b1} KiB: {per_raw:.0} B per conversation");

    let f = Counters::default();
    let options = bench_options().idle_timeout(idle);
    let rss0 = rss_kib();
    let bot = start_bot(
        &sim.base_url,
        &accts[..1],
        BenchHandler::instant(f.clone()),
        options,
        StoreKind::Durable,
    )
    .await;
    let wall = drive(&mut sim, 0, "p3-", n, 1, block, &f).await;
    let rss_live = rss_kib();
    let live = f.live.load(std::sync::atomic::Ordering::Relaxed);
    let per_live = (rss_live.saturating_sub(rss0)) as f64 * 1024.0 / live.max(1) as f64;
    println!(
        "  framework: {live} live sessions after {:.1} s; RSS {rss0} -> {rss_live} KiB: {per_live:.0} B per live session",
        wall.as_secs_f64()
    );
    let evicted = wait_live(&f, 0, idle * 2 + Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_evicted = rss_kib();
    println!(
        "  after eviction ({}): {} live, RSS {rss_evicted} KiB ({:+} KiB vs before the bot)",
        if evicted { "complete" } else { "incomplete" },
        f.live.load(std::sync::atomic::Ordering::Relaxed),
        rss_evicted as i64 - rss0 as i64
    );
    bot.shutdown().await;
    vec![
        row(
            "P3",
            "RSS growth per live session (B)",
            format!("{per_live:.0}"),
            format!("{per_raw:.0}"),
            f64::NAN,
            "<= 2048 B",
        ),
        row(
            "P3",
            "RSS growth kept after idle eviction (KiB)",
            format!("{}", rss_evicted as i64 - rss0 as i64),
            format!("{}", rss_b1 as i64 - rss_b0 as i64),
            f64::NAN,
            "-",
        ),
    ]
}

/// P4: many accounts long-polling an idle simulator.
pub async fn p4(scale: Scale) -> Vec<Row> {
    let n = scale.pick(100, 1000);
    let span = scale.pick(Duration::from_secs(10), Duration::from_secs(60));
    println!("\nP4 accounts: {n} idle accounts for {span:?} (35 s long-polls)");
    let mut sim = SimChild::spawn(Duration::from_secs(35)).await;
    let accts = sim.accounts(2 * n).await;
    let (fw_accts, raw_accts) = accts.split_at(n);

    // Raw pollers first (see P3 for why this order).
    let (stop_tx, stop) = stop_signal();
    let rss_b0 = rss_kib();
    let tasks = spawn_idle_pollers(&sim.base_url, raw_accts, stop);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu0 = cpu_seconds();
    tokio::time::sleep(span).await;
    let raw_cpu = cpu_seconds() - cpu0;
    let rss_b1 = rss_kib();
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let raw_growth = rss_b1.saturating_sub(rss_b0);
    println!(
        "  raw pollers: RSS {rss_b0} -> {rss_b1} KiB (+{:.1} MiB); CPU {raw_cpu:.2} s",
        raw_growth as f64 / 1024.0
    );

    let rss0 = rss_kib();
    let t = Instant::now();
    let bot = start_bot(
        &sim.base_url,
        fw_accts,
        BenchHandler {
            delay: Duration::ZERO,
            counters: Counters::default(),
        },
        bench_options(),
        StoreKind::Durable,
    )
    .await;
    let startup = t.elapsed();
    let cpu0 = cpu_seconds();
    tokio::time::sleep(span).await;
    let fw_cpu = cpu_seconds() - cpu0;
    let rss1 = rss_kib();
    let fw_growth = rss1.saturating_sub(rss0);
    let t = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(120), bot.shutdown()).await;
    println!(
        "  framework: started in {:.1} s; RSS {rss0} -> {rss1} KiB (+{:.1} MiB); CPU {:.2} s over {span:?} ({:.1} %); shutdown {:.1} s",
        startup.as_secs_f64(),
        fw_growth as f64 / 1024.0,
        fw_cpu,
        fw_cpu * 100.0 / span.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    vec![
        row(
            "P4",
            "process RSS with the accounts running (MiB)",
            format!("{:.1}", rss1 as f64 / 1024.0),
            format!("{:.1}", rss_b1 as f64 / 1024.0),
            f64::NAN,
            "< 200 MB",
        ),
        row(
            "P4",
            "RSS growth of the accounts (MiB)",
            format!("{:.1}", fw_growth as f64 / 1024.0),
            format!("{:.1}", raw_growth as f64 / 1024.0),
            fw_growth as f64 / raw_growth.max(1) as f64,
            "-",
        ),
        row(
            "P4",
            "CPU over the window (s)",
            format!("{fw_cpu:.2}"),
            format!("{raw_cpu:.2}"),
            fw_cpu / raw_cpu,
            "-",
        ),
    ]
}
