//! The demo on unusable state, as a process: a damaged `ilink.db`, a state
//! path that is a file and a full disk each stop it at once with exit status
//! 7 and one line naming the file and what to do, never a panic. (A disk
//! that fills up while the bot runs is `full_disk.rs`.)

#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::Stdio;

use common::process::demo;
use ilink_framework::store::DATABASE_FILE;
use ilink_testkit::{SimConfig, Simulator};

/// `demo`'s exit status when the state cannot be used (docs/deployment.md).
const STATE_UNUSABLE: i32 = 7;

/// Runs the demo on `state` to its end; checks status 7 and a single
/// `error:` line containing `says`, and returns it.
async fn refused(state: &Path, says: &str) -> String {
    let sim = Simulator::start_with(SimConfig::for_tests())
        .await
        .expect("simulator starts");
    let bot = sim.add_account("demo");
    let out = tokio::task::block_in_place(|| {
        demo(&sim, &bot, state)
            .stdout(Stdio::null())
            .output()
            .expect("demo runs")
    });
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(STATE_UNUSABLE), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The bot never came as far as polling.
    assert!(sim.notifications().is_empty(), "{:?}", sim.notifications());
    sim.shutdown().await;
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_stops_the_demo_with_what_to_do() {
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join(DATABASE_FILE);
    std::fs::write(
        &db,
        b"not a database, as a torn copy can leave it".repeat(200),
    )
    .unwrap();
    let line = refused(
        state.path(),
        &format!("state database {} is damaged", db.display()),
    )
    .await;
    assert!(line.contains("move the file aside"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_path_that_is_a_file_stops_the_demo_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state");
    std::fs::write(&file, b"not a directory").unwrap();
    let line = refused(
        &file,
        &format!("state directory {} is not a directory", file.display()),
    )
    .await;
    assert!(line.contains("choose another state directory"), "{line}");
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_demo_with_what_to_do() {
    let Some(disk) = common::small_disk::SmallDisk::mount(1) else {
        return;
    };
    let state = disk.path().join("state");
    std::fs::create_dir(&state).unwrap();
    disk.fill();
    let db = state.join(DATABASE_FILE);
    let line = refused(
        &state,
        &format!("no space left for state database {}", db.display()),
    )
    .await;
    assert!(line.contains("free disk space"), "{line}");
}
