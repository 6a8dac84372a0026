//! Process measurements from `/proc` (no `unsafe`, so no `getrusage`), the
//! clock shared with the simulator child, percentiles, and the result table.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch: the clock both processes share.
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Resident set size of this process in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU time of this process in seconds (all threads), from
/// `/proc/self/stat`; Linux reports it in USER_HZ = 100 ticks per second.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // The command name may contain spaces; fields are counted after its ')'.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The `p` quantile (0..=1) of sorted values; 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One line of the final table.
pub struct Row {
    pub scenario: String,
    pub metric: String,
    /// The bot on the default durable store (`SqliteStore`).
    pub framework: String,
    /// The bot on `MemoryStore`, with its ratio to the baseline; `-` when not run.
    pub memory: String,
    pub baseline: String,
    pub ratio: String,
    pub goal: String,
}

impl Row {
    /// One tab-separated line, how a scenario process hands its rows over.
    pub fn to_line(&self) -> String {
        format!(
            "ROW\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.scenario,
            self.metric,
            self.framework,
            self.memory,
            self.baseline,
            self.ratio,
            self.goal
        )
    }

    /// Parses [`Row::to_line`].
    pub fn from_line(line: &str) -> Option<Row> {
        let f: Vec<&str> = line.strip_prefix("ROW\t")?.split('\t').collect();
        let [scenario, metric, framework, memory, baseline, ratio, goal] = f.as_slice() else {
            return None;
        };
        Some(Row {
            scenario: (*scenario).to_owned(),
            metric: (*metric).to_owned(),
            framework: (*framework).to_owned(),
            memory: (*memory).to_owned(),
            baseline: (*baseline).to_owned(),
            ratio: (*ratio).to_owned(),
            goal: (*goal).to_owned(),
        })
    }
}

/// Prints the rows as a Markdown table (pasteable into `docs/benchmarks.md`).
pub fn print_table(rows: &[Row]) {
    println!(
        "\n| scenario | metric | framework (SQLite, durable) | framework (memory) | baseline | ratio | goal |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.scenario, r.metric, r.framework, r.memory, r.baseline, r.ratio, r.goal
        );
    }
}
