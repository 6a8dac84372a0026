//! End-to-end benchmarks: the real framework against the simulator over
//! loopback HTTP, each scenario with a baseline measured in the same run.
//!
//! ```text
//! cargo bench -p ilink-benchmarks --bench e2e                 # all, reduced size
//! ILINK_BENCH_SCALE=full cargo bench -p ilink-benchmarks --bench e2e -- p2 p5
//! ```
//!
//! Scenarios (see `docs/benchmarks.md` for how to read the figures):
//! - `p1` slow (LLM-like) handlers vs the ideal and the seed SDK's loop;
//! - `p2` overhead of an instant echo vs raw ilink-core calls;
//! - `p3` memory per live conversation and after idle eviction;
//! - `p4` many idle accounts in one process;
//! - `p5` latency at a steady rate.
//!
//! The simulator runs in a child process (see [`sim`]) so that its CPU and
//! memory stay out of the figures. Nothing here asserts on time: it prints.

mod bots;
mod measure;
mod scenarios;
mod sim;

use measure::{Row, print_table};

/// Reduced or full size, from `ILINK_BENCH_SCALE` (`small`, the default, or `full`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Quick: every scenario in well under a minute.
    Small,
    /// The sizes of issue #7 (minutes in total).
    Full,
}

impl Scale {
    fn from_env() -> Self {
        match std::env::var("ILINK_BENCH_SCALE").as_deref() {
            Ok("full") => Scale::Full,
            _ => Scale::Small,
        }
    }

    /// `small` or `full` size of a parameter.
    pub fn pick<T>(self, small: T, full: T) -> T {
        match self {
            Scale::Small => small,
            Scale::Full => full,
        }
    }
}

fn main() {
    if let Ok(ms) = std::env::var(sim::CHILD_ENV) {
        sim::child_main(ms.parse().unwrap_or(1000));
        return;
    }
    // `cargo bench` passes `--bench`; other words select scenarios.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.to_lowercase())
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let scale = Scale::from_env();
    println!(
        "ilink-rs end-to-end benchmarks, scale {scale:?}, {} CPUs ({})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows: Vec<Row> = Vec::new();
    rt.block_on(async {
        if run("p1") {
            rows.extend(scenarios::p1(scale).await);
        }
        if run("p2") {
            rows.extend(scenarios::p2(scale).await);
        }
        if run("p3") {
            rows.extend(scenarios::p3(scale).await);
        }
        if run("p4") {
            rows.extend(scenarios::p4(scale).await);
        }
        if run("p5") {
            rows.extend(scenarios::p5(scale).await);
        }
    });
    print_table(&rows);
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
