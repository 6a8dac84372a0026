//! The disk under the state database fills up while the demo runs, a real
//! full disk (a small tmpfs, see `common::small_disk`): the store's refusals
//! reach the log naming the file and what to do, and are retried with
//! backoff; once space is freed, every message is answered, once, and each
//! user's replies come in the order of their messages. Nothing is lost
//! meanwhile: a batch the store refused stays with the poller (the server
//! sends a batch only once), and the handled marks and send records wait for
//! the store as well.

#![cfg(target_os = "linux")]

mod common;

use std::sync::mpsc;
use std::time::Instant;

use common::echoes::{Tally, text, user_id};
use common::process::{demo, interrupt, start_running_logged};
use common::small_disk::SmallDisk;
use ilink_framework::store::DATABASE_FILE;
use ilink_testkit::harness::WAIT;
use ilink_testkit::{SentMessage, SimConfig, Simulator};

/// Messages per user: two, so that the demo's pacing (two sends per user
/// per 1.1 s) never holds a reply back.
const PER_USER: usize = 2;
/// Characters of filler in each message, so that a few hundred of them
/// need more room than the database's write-ahead log already has.
const FILLER: usize = 3000;

/// Replies delivered to the test's users (not the warm-up one).
fn answered(sent: &[SentMessage]) -> usize {
    sent.iter()
        .filter(|s| s.delivered() && s.to_user_id.starts_with("user"))
        .count()
}

/// Reads the log until `count` lines containing `needle` have come;
/// returns every line read.
fn read_log_until(logs: &mpsc::Receiver<String>, needle: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    let mut read = Vec::new();
    while read.iter().filter(|l: &&String| l.contains(needle)).count() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match logs.recv_timeout(left) {
            Ok(line) => read.push(line),
            Err(_) => panic!(
                "not {count} log lines with {needle:?} in:\n{}",
                read.join("\n")
            ),
        }
    }
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_up_while_the_bot_runs_loses_nothing() {
    let Some(disk) = SmallDisk::mount(16) else {
        return;
    };
    let sim = Simulator::start_with(SimConfig::for_tests())
        .await
        .expect("simulator starts");
    let bot = sim.add_account("demo");
    let state = disk.path().join("state");
    let db = state.join(DATABASE_FILE);
    let (sim_ref, bot_ref, dir) = (&sim, &bot, state.clone());
    let (mut child, logs) =
        tokio::task::block_in_place(|| start_running_logged(demo(sim_ref, bot_ref, &dir)));

    // The bot works before the disk fills.
    sim.user(&bot, "warmup@im.wechat").say("before").await;
    sim.wait_for_sent_to(&bot, "warmup@im.wechat", 1, WAIT)
        .await
        .expect("the warm-up message is answered");

    // More than the write-ahead log has room for already (SQLite reuses
    // it from the start after a checkpoint), so storing them takes space.
    let wal = std::fs::metadata(state.join(format!("{DATABASE_FILE}-wal")))
        .map_or(0, |m| m.len() as usize);
    let users = ((wal + 512 * 1024) / (PER_USER * FILLER)).max(20);
    let filler = "x".repeat(FILLER);
    disk.fill();
    for n in 0..PER_USER {
        for u in 0..users {
            sim.user(&bot, &user_id(u))
                .say(format!("{} {filler}", text(u, n)))
                .await;
        }
    }
    let total = users * PER_USER;

    // Refused, said so, and tried again: two refusals in a row, a couple
    // of seconds apart (the poll backoff).
    let needle = format!("no space left for state database {}", db.display());
    let log = tokio::task::block_in_place(|| read_log_until(&logs, &needle, 2));
    let refusals: Vec<&String> = log.iter().filter(|l| l.contains(&needle)).collect();
    for line in &refusals {
        assert!(line.contains("free disk space"), "{line}");
    }
    assert!(
        !log.iter().any(|l| l.contains("panicked")),
        "{}",
        log.join("\n")
    );
    // The database's background work (syncing and checkpointing the WAL)
    // fails on every try too; each says so once, not at every try.
    for what in [
        "syncing the database failed",
        "checkpointing the WAL failed",
    ] {
        let told = log.iter().filter(|l| l.contains(what)).count();
        assert!(
            told <= 1,
            "{what:?} logged {told} times:\n{}",
            log.join("\n")
        );
    }
    let before = answered(&sim.sent(&bot));
    assert!(
        before < total,
        "every message was answered while the disk was full: the test did not fill it"
    );

    disk.free();
    let all = sim
        .wait_for("every message answered", WAIT, |sent| {
            (answered(sent) >= total).then_some(())
        })
        .await;
    interrupt(&child);
    let status = tokio::task::block_in_place(|| child.wait()).expect("the demo exits");
    assert!(status.success(), "{status:?}");

    let tally = Tally::of(&sim, &bot, users, PER_USER);
    println!(
        "{total} messages to {users} users; {before} answered while the disk was full, \
         {} refusals logged before it was freed; after: {} lost, {} sent twice",
        refusals.len(),
        tally.lost,
        tally.sent_twice()
    );
    assert!(
        all.is_ok() && tally.lost == 0,
        "{} messages never answered",
        tally.lost
    );
    assert!(
        tally.twice.is_empty(),
        "replies users received twice: {:?}",
        tally.twice
    );
    assert!(
        tally.out_of_order.is_empty(),
        "replies out of message order: {:?}",
        tally.out_of_order
    );
    let violations = sim.violations();
    assert!(violations.is_empty(), "{violations:?}");
    sim.shutdown().await;
}
