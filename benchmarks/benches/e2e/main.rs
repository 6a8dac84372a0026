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
//! - `p2` overhead of an instant echo vs raw ilink-core calls, in rounds
//!   (`ILINK_BENCH_P2_ROUNDS`, 3 at full scale) reported as medians;
//! - `p3` memory per live conversation and after idle eviction;
//! - `p4` many idle accounts in one process;
//! - `p5` latency at a steady rate;
//! - `p6` a bot process killed with SIGKILL mid-run and restarted;
//! - `p7` worker processes of a cluster on PostgreSQL: throughput of 1-3
//!   workers, round trips, handover and failover times.
//!
//! The bot runs on the default durable store (`SqliteStore` in a fresh
//! temporary state directory); P2 and P5 also run it on `MemoryStore`.
//!
//! The simulator runs in a child process (see [`sim`]) so that its CPU and
//! memory stay out of the figures. Nothing here asserts on time: it prints.
//!
//! Every process runs on the system allocator (glibc's), as a bot does
//! unless its binary says otherwise; `--features mimalloc` runs them all on
//! mimalloc instead (see "The allocator" in `docs/deployment.md`).
//!
//! The process under test runs tokio's default multi-threaded runtime, one
//! worker thread per CPU, as `#[tokio::main]` gives a bot; tokio's own
//! `TOKIO_WORKER_THREADS` changes that (see "Worker threads" in
//! `docs/deployment.md`), and each scenario prints how many its runtime
//! has. The simulator child always has two.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bots;
mod cluster;
mod crash;
mod latency;
mod measure;
mod overhead;
mod pg_wire;
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
    if let Ok(dir) = std::env::var(crash::BOT_CHILD_ENV) {
        crash::bot_child_main(&dir);
        return;
    }
    if let Ok(url) = std::env::var(cluster::WORKER_CHILD_ENV) {
        cluster::worker_child_main(&url);
        return;
    }
    let scale = Scale::from_env();
    if let Ok(name) = std::env::var(RUN_ENV) {
        run_scenario(&name, scale);
        return;
    }
    // `cargo bench` passes `--bench`; other words select scenarios.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.to_lowercase())
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    println!(
        "ilink-rs end-to-end benchmarks, scale {scale:?}, {} CPUs ({}), allocator {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        ALLOCATOR_NAME
    );
    let mut rows: Vec<Row> = Vec::new();
    for name in ["p1", "p2", "p3", "p4", "p5", "p6", "p7"]
        .into_iter()
        .filter(|n| run(n))
    {
        rows.extend(run_in_own_process(name));
    }
    print_table(&rows);
}

/// The allocator this build runs on, for the header of the figures.
const ALLOCATOR_NAME: &str = if cfg!(feature = "mimalloc") {
    "mimalloc"
} else {
    "system (glibc)"
};

/// Environment variable that makes the executable run one scenario.
const RUN_ENV: &str = "ILINK_BENCH_RUN";

/// Runs a scenario in a fresh process, so that memory one scenario leaves
/// behind (allocators rarely give it back) cannot blur the next one's figures.
fn run_in_own_process(name: &str) -> Vec<Row> {
    use std::io::BufRead as _;
    let exe = std::env::current_exe().expect("own executable");
    let mut child = std::process::Command::new(exe)
        .env(RUN_ENV, name)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("scenario process starts");
    let mut rows = Vec::new();
    let out = child.stdout.take().expect("piped stdout");
    for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
        match Row::from_line(&line) {
            Some(row) => rows.push(row),
            None => println!("{line}"),
        }
    }
    let _ = child.wait();
    rows
}

/// The body of a scenario process: runs it and prints its rows.
fn run_scenario(name: &str, scale: Scale) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // What the runtime has, rather than what the environment asked for.
    println!(
        "  ({name}: the bot's runtime has {} tokio worker thread(s))",
        rt.metrics().num_workers()
    );
    let rows = rt.block_on(async {
        match name {
            "p1" => scenarios::p1(scale).await,
            "p2" => overhead::p2(scale).await,
            "p3" => scenarios::p3(scale).await,
            "p4" => scenarios::p4(scale).await,
            "p5" => latency::p5(scale).await,
            "p6" => crash::p6(scale).await,
            "p7" => cluster::p7(scale).await,
            _ => Vec::new(),
        }
    });
    for r in rows {
        println!("{}", r.to_line());
    }
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
