use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::store::contract;
use crate::store::test_support::{self, one_message};

#[tokio::test]
async fn sqlite_store_keeps_the_contract() {
    let root = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    contract::run_all(|| {
        let dir = root
            .path()
            .join(n.fetch_add(1, Ordering::SeqCst).to_string());
        async move { SqliteStore::open(dir).await.unwrap() }
    })
    .await;
}

/// Closes `s` and opens the store in `dir` again, as a restart does.
async fn reopen(s: SqliteStore, dir: &Path) -> SqliteStore {
    s.close().await;
    SqliteStore::open(dir).await.unwrap()
}

#[test]
fn the_schema_version_is_the_newest_migration() {
    assert_eq!(open::newest_known_version(), SCHEMA_VERSION);
}

#[tokio::test]
async fn state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).await.unwrap();
    test_support::write_state_to_reopen(&s).await;
    let s = reopen(s, dir.path()).await;
    test_support::check_reopened_state(&s).await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_directory_and_every_database_file_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("state");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = SqliteStore::open(&dir).await.unwrap();
    s.commit_received(&AccountId::new("a"), &one_message(1))
        .await
        .unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let db = dir.join(DATABASE_FILE);
    for file in [
        db.clone(),
        open::sidecar(&db, "-wal"),
        open::sidecar(&db, "-shm"),
    ] {
        assert!(
            file.exists(),
            "{} exists while the store is open",
            file.display()
        );
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).await.unwrap();
    // What a future release would leave behind.
    sql(&s, &format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1)).await;
    s.close().await;
    drop(s);
    let err = SqliteStore::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1));
    let text = err.to_string();
    assert!(
        text.contains(&dir.path().join(DATABASE_FILE).display().to_string()),
        "{text}"
    );
    assert!(text.contains("newer"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

#[tokio::test]
async fn a_corrupt_database_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DATABASE_FILE);
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    let err = SqliteStore::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&db.display().to_string()), "{text}");
    assert!(text.contains("move the file aside"), "{text}");
}

#[tokio::test]
async fn a_state_path_that_is_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = SqliteStore::open(&file).await.unwrap_err();
    assert!(matches!(err, StoreError::NotADirectory { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&file.display().to_string()),
        "{err}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn an_unwritable_directory_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o500)).unwrap();
    if std::fs::write(dir.path().join("probe"), b"").is_ok() {
        // Running as root: permissions do not stop it, nothing to test.
        return;
    }
    let err = SqliteStore::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(DATABASE_FILE), "{err}");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[tokio::test]
async fn durability_sets_the_synchronous_mode() {
    let dir = tempfile::tempdir().unwrap();
    for (durability, expected) in [(Durability::Full, 2), (Durability::Normal, 1)] {
        let s = SqliteStore::open_with(dir.path(), durability)
            .await
            .unwrap();
        let (mode, journal): (i64, String) = s
            .writer
            .run(|c| {
                let mode = c.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
                Ok((mode, c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
            })
            .await
            .unwrap();
        assert_eq!(mode, expected, "{durability:?}");
        assert_eq!(journal, "wal");
        s.close().await;
    }
}

#[tokio::test]
async fn an_undecodable_inbox_row_names_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).await.unwrap();
    let a = AccountId::new("a");
    s.commit_received(&a, &one_message(7)).await.unwrap();
    sql(&s, "UPDATE inbox SET message = '{not json'").await;
    let err = s.inbox_load(&a).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("inbox entry 7 of a"), "{err}");
}

/// The schema version the store's database has applied.
async fn user_version(s: &SqliteStore) -> i64 {
    s.writer
        .run(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
        .await
        .unwrap()
}

/// Runs `statements` on the store's write connection.
async fn sql(s: &SqliteStore, statements: &str) {
    let statements = statements.to_owned();
    s.writer
        .run(move |c| c.execute_batch(&statements))
        .await
        .unwrap();
}

/// What a database made while the store used sqlx looks like: the same
/// tables, the version in `_sqlx_migrations`, `user_version` 0.
async fn as_made_by_sqlx(s: &SqliteStore, versions: std::ops::RangeInclusive<i64>) {
    let mut statements = String::from(
        "PRAGMA user_version = 0; CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, \
         success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL);",
    );
    for v in versions {
        statements.push_str(&format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES ({v}, 'm', TRUE, x'00', 0);"
        ));
    }
    sql(s, &statements).await;
}

#[tokio::test]
async fn a_database_made_through_sqlx_keeps_its_data_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let a = AccountId::new("a");
    let s = SqliteStore::open(dir.path()).await.unwrap();
    s.commit_received(&a, &one_message(3)).await.unwrap();
    as_made_by_sqlx(&s, 1..=SCHEMA_VERSION).await;
    let s = reopen(s, dir.path()).await;
    assert_eq!(s.inbox_load(&a).await.unwrap().len(), 1);
    assert_eq!(user_version(&s).await, SCHEMA_VERSION);
    s.close().await;

    let newer = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(newer.path()).await.unwrap();
    as_made_by_sqlx(&s, 1..=SCHEMA_VERSION + 1).await;
    s.close().await;
    let err = SqliteStore::open(newer.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1));
}

#[tokio::test]
async fn a_closed_store_refuses_writes_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let a = AccountId::new("a");
    let s = SqliteStore::open(dir.path()).await.unwrap();
    s.close().await;
    assert!(matches!(
        s.commit_received(&a, &one_message(1)).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(s.load_cursor(&a).await, Err(StoreError::Closed)));
    assert!(!open::sidecar(&dir.path().join(DATABASE_FILE), "-wal").exists());
}

#[tokio::test]
async fn dedup_keys_of_a_version_3_database_still_count_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    {
        let mut conn = Connection::open(&path).unwrap();
        rusqlite_migration::Migrations::from_slice(&open::MIGRATIONS[..3])
            .to_latest(&mut conn)
            .unwrap();
        let key = crate::dedup::DedupKey::parse("m:1").unwrap();
        conn.execute(
            "INSERT INTO dedup_keys (account, key, entry, recorded_at_ms) VALUES ('b@im.bot', ?, 1, 900)",
            [&key.as_bytes()[..]],
        )
        .unwrap();
    }
    let s = SqliteStore::open(dir.path()).await.unwrap();
    assert_eq!(user_version(&s).await, SCHEMA_VERSION);
    let a = AccountId::new("b@im.bot");
    let mut again = one_message(2);
    again.entries[0].dedup_keys = vec![crate::dedup::DedupKey::parse("m:1").unwrap()];
    assert_eq!(s.commit_received(&a, &again).await.unwrap(), vec![Some(1)]);
    // Past the window it expires from the log like a key recorded here.
    let mut later = one_message(3);
    later.entries[0].dedup_keys = vec![crate::dedup::DedupKey::parse("m:1").unwrap()];
    later.now_ms = 900 + later.dedup_window_ms + 1;
    assert_eq!(s.commit_received(&a, &later).await.unwrap(), vec![None]);
    let rows: i64 = s
        .writer
        .run(|c| c.query_row("SELECT COUNT(*) FROM dedup_log", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(rows, 1, "the expired row is deleted, the new key appended");
}

/// Rows of `table` in the database file alone, without its WAL: what a
/// checkpoint has copied there. `None` when the copy cannot be read (one
/// taken while a checkpoint was writing the file).
fn rows_in_the_file_alone(dir: &std::path::Path, table: &str) -> Option<i64> {
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join(DATABASE_FILE), copy.path().join(DATABASE_FILE)).ok()?;
    let c = rusqlite::Connection::open(copy.path().join(DATABASE_FILE)).ok()?;
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .ok()
}

#[tokio::test]
async fn under_full_durability_a_handled_mark_is_fsynced_with_the_next_batch_or_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).await.unwrap();
    let a = AccountId::new("a");
    let fsyncs = s.fsyncs();
    s.commit_received(&a, &one_message(1)).await.unwrap();
    assert!(!s.writer.unsynced(), "a received batch is fsynced at once");
    assert_eq!(s.fsyncs(), fsyncs + 1);
    s.mark_handled(&a, 1, &[]).await.unwrap();
    assert!(
        s.writer.unsynced(),
        "a handled mark waits for the next fsync"
    );
    assert_eq!(s.fsyncs(), fsyncs + 1);
    // The next received batch's fsync covers the mark too.
    s.commit_received(&a, &one_message(2)).await.unwrap();
    assert!(!s.writer.unsynced());
    assert_eq!(s.fsyncs(), fsyncs + 2);

    s.mark_handled(&a, 2, &[]).await.unwrap();
    assert!(s.writer.unsynced());
    // Idle, the writer checkpoints: the WAL is synced, then copied into
    // the database file, which then holds both marks without its WAL.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.writer.unsynced() {
        assert!(std::time::Instant::now() < deadline, "never synced");
        tokio::time::sleep(fsync_policy::SYNC_DELAY / 4).await;
    }
    assert_eq!(s.fsyncs(), fsyncs + 3, "the idle flush");
    assert_eq!(rows_in_the_file_alone(dir.path(), "inbox"), Some(0));
    assert_eq!(rows_in_the_file_alone(dir.path(), "dedup_log"), Some(2));
    // Other writes run at the store's own level.
    let mode: i64 = s
        .writer
        .run(|c| c.query_row("PRAGMA synchronous", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(mode, 2, "FULL");
    s.close().await;
}

#[tokio::test]
async fn a_handled_mark_a_reader_keeps_from_the_idle_flush_is_fsynced_by_the_next_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).await.unwrap();
    let a = AccountId::new("a");
    s.commit_received(&a, &one_message(1)).await.unwrap();
    s.commit_received(&a, &one_message(2)).await.unwrap();
    // A reader's snapshot (a backup, an sqlite3 shell) keeps the idle
    // checkpoint from copying the WAL, so it does not sync it.
    let reader = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM inbox;")
        .unwrap();
    s.mark_handled(&a, 1, &[]).await.unwrap();
    assert!(s.writer.unsynced());
    let fsyncs = s.fsyncs();
    // Past the sync delay, a few idle flushes failed meanwhile.
    tokio::time::sleep(fsync_policy::SYNC_DELAY * 4).await;
    assert!(s.writer.unsynced(), "held back by the reader");
    // The next group is past due: it commits at FULL and syncs both marks.
    s.mark_handled(&a, 2, &[]).await.unwrap();
    assert!(!s.writer.unsynced(), "the mark waited past its sync delay");
    assert_eq!(s.fsyncs(), fsyncs + 1);
    reader.execute_batch("COMMIT").unwrap();
    s.close().await;
}

#[tokio::test]
async fn under_normal_durability_nothing_waits_for_an_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_with(dir.path(), Durability::Normal)
        .await
        .unwrap();
    let a = AccountId::new("a");
    s.commit_received(&a, &one_message(1)).await.unwrap();
    s.mark_handled(&a, 1, &[]).await.unwrap();
    assert!(!s.writer.unsynced());
    assert_eq!(s.fsyncs(), 0);
    s.close().await;
}

#[tokio::test]
async fn the_wal_is_copied_into_the_database_file_beside_the_writer_never_by_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    // `Normal`: no idle flush of the writer's own, so only the checkpointer
    // can move the rows into the file (a few pages, far below SQLite's
    // automatic threshold).
    let s = SqliteStore::open_with(dir.path(), Durability::Normal)
        .await
        .unwrap();
    let autocheckpoint: i64 = s
        .writer
        .run(|c| c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(autocheckpoint, 0, "a commit never checkpoints");
    let a = AccountId::new("a");
    for id in 1..=20 {
        s.commit_received(&a, &one_message(id)).await.unwrap();
    }
    // The file may be caught mid-copy: it is read again after a pause.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rows_in_the_file_alone(dir.path(), "inbox") != Some(20) {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL was never checkpointed"
        );
        tokio::time::sleep(checkpointer::EVERY).await;
    }
    s.close().await;
}

#[tokio::test]
async fn journal_rows_from_before_a_restart_go_with_their_entry() {
    let dir = tempfile::tempdir().unwrap();
    let a = AccountId::new("a");
    let sent = |position| JournaledSend {
        entry: 1,
        position,
        chunk: 0,
        sent: ilink_core::SentMessage {
            client_id: format!("c-{position}"),
            message_id: Some(9),
        },
    };
    let s = SqliteStore::open(dir.path()).await.unwrap();
    s.commit_received(&a, &one_message(1)).await.unwrap();
    s.record_sent(&a, &[], &[sent(0), sent(1)]).await.unwrap();
    let s = reopen(s, dir.path()).await;
    assert_eq!(s.journal(&a, 1).await.unwrap().len(), 2);
    // The first write after the restart is the handled mark itself.
    s.mark_handled(&a, 1, &[]).await.unwrap();
    assert!(s.journal(&a, 1).await.unwrap().is_empty());
    s.close().await;
    assert_eq!(rows_in_the_file_alone(dir.path(), "send_journal"), Some(0));
}

#[tokio::test]
async fn tokens_stored_before_a_restart_are_replaced_only_by_newer_ones() {
    let dir = tempfile::tempdir().unwrap();
    let a = AccountId::new("a");
    let s = SqliteStore::open(dir.path()).await.unwrap();
    // `one_message` carries token "ctx" of u@im.wechat.
    s.commit_received(&a, &one_message(1)).await.unwrap();
    let s = reopen(s, dir.path()).await;
    s.commit_received(&a, &one_message(2)).await.unwrap();
    let mut newer = one_message(3);
    let token = newer.entries[0].context_token.as_mut().unwrap();
    (token.token, token.at_ms) = ("ctx-2".into(), 2);
    s.commit_received(&a, &newer).await.unwrap();
    let stored = || async { s.context_token(&a, "u@im.wechat").await.unwrap().unwrap() };
    assert_eq!(stored().await.token.expose(), "ctx-2");
    // An older message's token does not win, and is not taken as stored:
    // the same token, newer, still replaces the stored one.
    s.commit_received(&a, &one_message(4)).await.unwrap();
    assert_eq!(stored().await.token.expose(), "ctx-2");
    let mut again = one_message(5);
    again.entries[0].context_token.as_mut().unwrap().at_ms = 5;
    s.commit_received(&a, &again).await.unwrap();
    let last = stored().await;
    assert_eq!((last.token.expose(), last.received_at_ms), ("ctx", 5));
}

#[tokio::test]
async fn an_account_run_meanwhile_by_another_process_is_read_again_when_it_starts_here() {
    let dir = tempfile::tempdir().unwrap();
    let a = AccountId::new("a");
    let here = SqliteStore::open(dir.path()).await.unwrap();
    here.commit_received(&a, &one_message(1)).await.unwrap();
    here.mark_handled(&a, 1, &[]).await.unwrap();
    // The account moves to another process on the same state directory
    // (its lock released here), which receives and journals a message...
    let there = SqliteStore::open(dir.path()).await.unwrap();
    there.account_started(&a).await.unwrap();
    there.commit_received(&a, &one_message(2)).await.unwrap();
    let sent = JournaledSend {
        entry: 2,
        position: 0,
        chunk: 0,
        sent: ilink_core::SentMessage {
            client_id: "c-0".into(),
            message_id: Some(9),
        },
    };
    there.record_sent(&a, &[], &[sent]).await.unwrap();
    there.close().await;
    // ...and comes back.
    here.account_started(&a).await.unwrap();
    // The dedup log goes on after the other process's rows, not into them.
    assert_eq!(
        here.commit_received(&a, &one_message(3)).await.unwrap(),
        [None]
    );
    // A redelivery of what the other process received is a duplicate.
    let mut again = one_message(4);
    again.entries[0].dedup_keys = one_message(2).entries[0].dedup_keys.clone();
    assert_eq!(here.commit_received(&a, &again).await.unwrap(), [Some(2)]);
    // The other process's journal row goes with its entry.
    here.mark_handled(&a, 2, &[]).await.unwrap();
    assert!(here.journal(&a, 2).await.unwrap().is_empty());
    here.close().await;
    assert_eq!(rows_in_the_file_alone(dir.path(), "send_journal"), Some(0));
}

#[tokio::test]
async fn writes_after_the_writer_thread_died_fail_instead_of_waiting_for_ever() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).await.unwrap();
    let a = AccountId::new("a");
    s.commit_received(&a, &one_message(1)).await.unwrap();
    let died = s
        .writer
        .run(|_| -> rusqlite::Result<()> { panic!("a bug in a write") })
        .await;
    assert!(matches!(died, Err(StoreError::Closed)), "{died:?}");
    let later = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        s.mark_handled(&a, 1, &[]),
    )
    .await
    .expect("a write after the writer died does not wait for it");
    assert!(matches!(later, Err(StoreError::Closed)), "{later:?}");
}
