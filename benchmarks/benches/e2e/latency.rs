//! P5: latency at a steady rate, on the durable store and on the memory
//! store, against the raw baseline.

use std::time::Duration;

use crate::Scale;
use crate::bots::{Counters, StoreKind, spawn_raw};
use crate::measure::{Row, percentile};
use crate::scenarios::{
    WORK_TIMEOUT, fresh_echo_bot, fresh_sim, row, stop_signal, wait_done, with_ratio,
};

/// P5: latency at a steady rate, on the durable store and on the memory store.
pub async fn p5(scale: Scale) -> Vec<Row> {
    let rate = scale.pick(1000, 5000);
    let secs = scale.pick(5, 10);
    let users = scale.pick(200, 1000);
    let total = rate * secs;
    println!("\nP5 latency: {rate} msg/s for {secs} s over {users} conversations");
    // Each run on a simulator of its own (see `scenarios::fresh_sim`).
    let (mut sim, acct) = fresh_sim().await;
    let c = Counters::with_latency();
    let (stop_tx, stop) = stop_signal();
    let task = spawn_raw(&sim.base_url, &acct, 16, Duration::ZERO, c.clone(), stop);
    let took = sim
        .number(&format!("rate 0 raw- {users} {total} {rate}"))
        .await;
    wait_done(&c, total as u64, WORK_TIMEOUT).await;
    let _ = stop_tx.send(true);
    let _ = task.await;
    let raw = Latencies {
        start: spread(&c.sorted_starts()),
        reply: sim.latency(0).await,
        offered_s: took,
    };
    raw.print("raw");
    drop(sim);

    let mut fw = Vec::new();
    for kind in [StoreKind::Durable, StoreKind::Memory] {
        let f = Counters::with_latency();
        let (mut sim, bot) = fresh_echo_bot(kind, &f).await;
        let (tx0, fsyncs0) = (bot.transactions(), bot.fsyncs());
        let took = sim
            .number(&format!("rate 0 fw- {users} {total} {rate}"))
            .await;
        wait_done(&f, total as u64, WORK_TIMEOUT).await;
        let transactions = bot.transactions() - tx0;
        let fsyncs = bot.fsyncs() - fsyncs0;
        bot.shutdown().await;
        let l = Latencies {
            start: spread(&f.sorted_starts()),
            reply: sim.latency(0).await,
            offered_s: took,
        };
        l.print(&format!("{kind:?}"));
        if kind == StoreKind::Durable {
            println!(
                "  durable store: {transactions} write transactions, {:.2} per 100 messages; {fsyncs} fsynced, {:.2} per 100",
                transactions as f64 * 100.0 / total as f64,
                fsyncs as f64 * 100.0 / total as f64
            );
        }
        fw.push(l);
    }
    let (durable, memory) = (&fw[0], &fw[1]);
    let mut rows = latency_rows(
        "enqueue -> handler start",
        durable.start,
        memory.start,
        raw.start,
    );
    rows.extend(latency_rows(
        "enqueue -> reply recorded",
        durable.reply.1,
        memory.reply.1,
        raw.reply.1,
    ));
    rows
}

/// (p50, p99, max) in µs of sorted latencies.
fn spread(v: &[u64]) -> (f64, f64, f64) {
    let q = |p: f64| percentile(v, p) as f64;
    (q(0.5), q(0.99), v.last().copied().unwrap_or(0) as f64)
}

/// One P5 run's latencies in µs: to handler start (p50, p99, max) and to
/// the reply recorded (count, (p50, p99, max)).
struct Latencies {
    start: (f64, f64, f64),
    reply: (usize, (f64, f64, f64)),
    offered_s: f64,
}

impl Latencies {
    fn print(&self, name: &str) {
        let (s, (count, r)) = (self.start, self.reply);
        println!(
            "  {name} (offered over {:.1} s): to handler p50 {} p99 {} max {}; to reply p50 {} p99 {} max {} ({count} replies)",
            self.offered_s,
            ms(s.0),
            ms(s.1),
            ms(s.2),
            ms(r.0),
            ms(r.1),
            ms(r.2),
        );
    }
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

/// P5's p50 (with its ratio), p99 (ratio, goal) and max rows of one latency,
/// from (p50, p99, max) in µs of the durable bot, the memory bot and the baseline.
fn latency_rows(
    what: &str,
    fw: (f64, f64, f64),
    mem: (f64, f64, f64),
    raw: (f64, f64, f64),
) -> Vec<Row> {
    vec![
        row(
            "P5",
            &format!("{what} p50"),
            ms(fw.0),
            ms(raw.0),
            fw.0 / raw.0,
            "-",
        )
        .with_memory(with_ratio(ms(mem.0), mem.0 / raw.0)),
        row(
            "P5",
            &format!("{what} p99"),
            ms(fw.1),
            ms(raw.1),
            fw.1 / raw.1,
            "<= 5 ms",
        )
        .with_memory(with_ratio(ms(mem.1), mem.1 / raw.1)),
        row(
            "P5",
            &format!("{what} max"),
            ms(fw.2),
            ms(raw.2),
            f64::NAN,
            "-",
        )
        .with_memory(ms(mem.2)),
    ]
}
