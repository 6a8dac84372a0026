//! Unusable state, with the real binary: a damaged `ilink.db`, one from a
//! newer release and a state path that is a file each end every command
//! that needs the state with exit code 7, an `error:` line naming the file
//! and a `hint:` line saying what to do, and never a panic.

mod common;

use std::path::Path;

use common::Env;
use ilink_framework::store::{DATABASE_FILE, SCHEMA_VERSION};

/// Exit code of unusable state (docs/cli.md, "Exit codes").
const STATE_UNUSABLE: i32 = 7;

/// Runs `ilink ARGS` and checks the documented failure: code 7, an error
/// line with `error` and a hint line with `hint`; returns stderr.
async fn refused(env: &Env, args: &[&str], error: &str, hint: &str) -> String {
    let out = env.run(args).await.code(STATE_UNUSABLE);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{args:?}: {stderr}");
    assert!(lines[0].starts_with("error: "), "{args:?}: {stderr}");
    assert!(lines[0].contains(error), "{args:?}: {stderr}");
    assert!(lines[1].starts_with("hint: "), "{args:?}: {stderr}");
    assert!(lines[1].contains(hint), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    stderr
}

/// Every command that opens the state directory.
const COMMANDS: &[&[&str]] = &[
    &["accounts"],
    &[
        "send",
        "--account",
        "bot@im.bot",
        "--to",
        "u@im.wechat",
        "hi",
    ],
    &["tail", "--account", "bot@im.bot"],
    &["quarantine"],
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_is_named_with_what_to_do() {
    let env = Env::new().await;
    let db = env.state().join(DATABASE_FILE);
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 13) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    for args in COMMANDS {
        refused(
            &env,
            args,
            &format!("state database {} is damaged", db.display()),
            "move the file aside with its -wal and -shm files",
        )
        .await;
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbage,
        "the file is left as found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_database_is_damaged_too() {
    let env = Env::new().await;
    env.stored_account("bot").await;
    let db = env.state().join(DATABASE_FILE);
    checkpointed(&db).await;
    // Only the first page (the schema) is left: every table is cut off.
    let page: u64 = 4096;
    assert!(std::fs::metadata(&db).unwrap().len() > page, "pages to cut");
    let file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    file.set_len(page).unwrap();
    drop(file);
    refused(
        &env,
        &["accounts"],
        &format!("state database {} is damaged", db.display()),
        "move the file aside",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_a_newer_release_is_refused() {
    let env = Env::new().await;
    env.stored_account("bot").await;
    let db = env.state().join(DATABASE_FILE);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
        .unwrap();
    for args in COMMANDS {
        refused(
            &env,
            args,
            &format!(
                "state database {} has schema version {}, newer than this ilink knows",
                db.display(),
                SCHEMA_VERSION + 1
            ),
            "run the newer ilink that wrote it",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_path_that_is_a_file_is_named_with_what_to_do() {
    let env = Env::new().await;
    let file = env.state().join("state");
    std::fs::write(&file, b"not a directory").unwrap();
    let flag = file.display().to_string();
    for args in COMMANDS {
        let args: Vec<&str> = ["--state-dir", flag.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        refused(
            &env,
            &args,
            &format!("state directory {flag} is not a directory"),
            "choose another state directory with --state-dir",
        )
        .await;
    }
}

/// Moves everything from the `-wal` file into the database file, so that
/// cutting the file cuts committed pages.
async fn checkpointed(db: &Path) {
    rusqlite::Connection::open(db)
        .expect("the database opens")
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
}
