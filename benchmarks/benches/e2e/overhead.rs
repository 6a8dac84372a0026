//! P2, overhead: an instant echo over many conversations, by the raw client
//! (the baseline) and by the framework on the durable store and on the
//! memory store.
//!
//! The bot and the simulator share the machine's cores, and a shared
//! machine's speed drifts by a third from one minute to the next (measured:
//! the same baseline at 17,800 and at 25,600 msg/s minutes apart). So the
//! three runs are made in rounds, raw then durable then memory, each run on
//! a fresh simulator; every ratio is taken against the baseline of its own
//! round, and the figures reported are the medians over the rounds, with
//! the range of the ratios beside them.

use std::time::Duration;

use crate::Scale;
use crate::bots::{Counters, StoreKind, bench_options, spawn_raw};
use crate::measure::{Row, cpu_seconds};
use crate::scenarios::{drive, fresh_echo_bot, fresh_sim, row, stop_signal, with_ratio};

/// What one run of P2 cost.
struct Run {
    wall: Duration,
    cpu: f64,
    sim_cpu: f64,
    failed: u64,
    transactions: u64,
    fsyncs: u64,
    polls: f64,
}

/// One round: the baseline and the framework on both stores, one after the other.
struct Round {
    raw: Run,
    durable: Run,
    memory: Run,
}

/// P2's workload against the raw client.
async fn raw_run(users: usize, rounds: usize) -> Run {
    let (mut sim, acct) = fresh_sim().await;
    let c = Counters::default();
    let (stop_tx, stop) = stop_signal();
    let sends = bench_options().max_concurrent_sends;
    let task = spawn_raw(&sim.base_url, &acct, sends, Duration::ZERO, c.clone(), stop);
    let (cpu0, sim0) = (cpu_seconds(), sim.number("cpu").await);
    let wall = drive(&mut sim, 0, "raw-", users, rounds, users, &c).await;
    let run = Run {
        wall,
        cpu: cpu_seconds() - cpu0,
        sim_cpu: sim.number("cpu").await - sim0,
        failed: c.failed.load(std::sync::atomic::Ordering::Relaxed),
        transactions: 0,
        fsyncs: 0,
        polls: sim.number("polls 0").await,
    };
    let _ = stop_tx.send(true);
    let _ = task.await;
    run
}

/// P2's workload against a bot on a store of `kind`.
async fn bot_run(kind: StoreKind, users: usize, rounds: usize) -> Run {
    let f = Counters::default();
    let (mut sim, bot) = fresh_echo_bot(kind, &f).await;
    let (tx0, fsyncs0) = (bot.transactions(), bot.fsyncs());
    let (cpu0, sim0) = (cpu_seconds(), sim.number("cpu").await);
    let wall = drive(&mut sim, 0, "fw-", users, rounds, users, &f).await;
    let (cpu, sim_cpu) = (cpu_seconds() - cpu0, sim.number("cpu").await - sim0);
    let transactions = bot.transactions() - tx0;
    let fsyncs = bot.fsyncs() - fsyncs0;
    bot.shutdown().await;
    Run {
        wall,
        cpu,
        sim_cpu,
        failed: f.failed.load(std::sync::atomic::Ordering::Relaxed),
        transactions,
        fsyncs,
        polls: sim.number("polls 0").await,
    }
}

/// The median of `values` (the upper one of an even count).
fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The median and the range of `values`, as "median (min–max)".
fn spread(values: &[f64], digits: usize) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mid = median(values);
    if values.len() < 2 {
        return format!("{mid:.digits$}");
    }
    format!("{mid:.digits$} ({lo:.digits$}-{hi:.digits$})")
}

/// How many rounds to make: `ILINK_BENCH_P2_ROUNDS`, else 3 at full scale.
fn round_count(scale: Scale) -> usize {
    std::env::var("ILINK_BENCH_P2_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(scale.pick(1, 3))
}

/// P2: overhead. An instant echo over many conversations, on the durable
/// store and on the memory store, in rounds against the raw baseline.
pub async fn p2(scale: Scale) -> Vec<Row> {
    let users = scale.pick(500, 1000);
    let per_user = scale.pick(20, 100);
    let total = (users * per_user) as u64;
    let sends = bench_options().max_concurrent_sends;
    let count = round_count(scale);
    println!(
        "\nP2 overhead: {total} messages over {users} conversations, instant echo, {sends} sends in flight, {count} round(s)"
    );
    // For a profile of one of them alone: ILINK_BENCH_P2_ONLY=durable|memory
    // runs it in both places.
    let (first, second) = match std::env::var("ILINK_BENCH_P2_ONLY").as_deref() {
        Ok("durable") => (StoreKind::Durable, StoreKind::Durable),
        Ok("memory") => (StoreKind::Memory, StoreKind::Memory),
        _ => (StoreKind::Durable, StoreKind::Memory),
    };
    let rate = |r: &Run| total as f64 / r.wall.as_secs_f64();
    let us = |s: f64| s * 1e6 / total as f64;
    let mut rounds = Vec::with_capacity(count);
    for n in 1..=count {
        let round = Round {
            raw: raw_run(users, per_user).await,
            durable: bot_run(first, users, per_user).await,
            memory: bot_run(second, users, per_user).await,
        };
        println!(
            "  round {n}: messages per getupdates: raw {:.1}, durable {:.1}, memory {:.1}",
            total as f64 / round.raw.polls,
            total as f64 / round.durable.polls,
            total as f64 / round.memory.polls
        );
        for (name, r) in [
            ("raw", &round.raw),
            ("durable", &round.durable),
            ("memory", &round.memory),
        ] {
            println!(
                "    {name}: {:.0} msg/s, {:.1} us CPU/msg in-process, {:.1} us CPU/msg in the simulator, {} store transactions ({} fsynced, {} failed)",
                rate(r),
                us(r.cpu),
                us(r.sim_cpu),
                r.transactions,
                r.fsyncs,
                r.failed
            );
        }
        rounds.push(round);
    }
    let each = |f: &dyn Fn(&Round) -> f64| rounds.iter().map(f).collect::<Vec<f64>>();
    let durable_ratio = each(&|r| rate(&r.durable) / rate(&r.raw));
    let memory_ratio = each(&|r| rate(&r.memory) / rate(&r.raw));
    if count > 1 {
        println!(
            "  throughput ratio to the raw baseline of the same round: durable {}, memory {}",
            spread(&durable_ratio, 2),
            spread(&memory_ratio, 2)
        );
    }
    let med = |f: &dyn Fn(&Round) -> f64| median(&each(f));
    let per_100 = |n: f64| format!("{:.2}", n * 100.0 / total as f64);
    // CPU seconds of one process in a run, per message, durable and memory
    // against raw.
    let cpu_row = |metric: &str, cpu: &dyn Fn(&Run) -> f64| {
        row(
            "P2",
            metric,
            format!("{:.1}", med(&|r| us(cpu(&r.durable)))),
            format!("{:.1}", med(&|r| us(cpu(&r.raw)))),
            med(&|r| cpu(&r.durable) / cpu(&r.raw)),
            "-",
        )
        .with_memory(with_ratio(
            format!("{:.1}", med(&|r| us(cpu(&r.memory)))),
            med(&|r| cpu(&r.memory) / cpu(&r.raw)),
        ))
    };
    vec![
        Row {
            ratio: spread(&durable_ratio, 2),
            ..row(
                "P2",
                "throughput (msg/s)",
                format!("{:.0}", med(&|r| rate(&r.durable))),
                format!("{:.0}", med(&|r| rate(&r.raw))),
                f64::NAN,
                ">= 0.8",
            )
        }
        .with_memory(with_ratio(
            format!("{:.0}", med(&|r| rate(&r.memory))),
            median(&memory_ratio),
        )),
        cpu_row("CPU per message, bot process (us)", &|r| r.cpu),
        cpu_row("CPU per message, simulator (us)", &|r| r.sim_cpu),
        row(
            "P2",
            "store write transactions per 100 messages",
            per_100(med(&|r| r.durable.transactions as f64)),
            "-".into(),
            f64::NAN,
            "-",
        ),
        row(
            "P2",
            "store fsyncs per 100 messages",
            per_100(med(&|r| r.durable.fsyncs as f64)),
            "-".into(),
            f64::NAN,
            "-",
        ),
    ]
}
