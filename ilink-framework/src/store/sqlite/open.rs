//! Opening the state database: the directory and file modes, the
//! connection settings, the schema migrations, and the translation of
//! database errors into [`StoreError`]s that say what to do.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use rusqlite_migration::{M, Migrations};

use super::Durability;
use crate::store::StoreError;

/// The schema migrations, one per file of `ilink-framework/migrations`;
/// the database's `user_version` is the number of those applied.
pub(super) const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../../../migrations/1_initial.sql")),
    M::up(include_str!("../../../migrations/2_journal_and_state.sql")),
    M::up(include_str!("../../../migrations/3_quarantine.sql")),
    M::up(include_str!("../../../migrations/4_dedup_log.sql")),
];

/// Prepared statements each connection keeps: more than the store has.
const STATEMENT_CACHE: usize = 64;

/// How long a write waits for another process (`ilink send` beside a
/// running bot) to finish its transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates the state directory if needed and makes it owner-only.
pub(super) fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(StoreError::NotADirectory {
                path: dir.display().to_string(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir.display(), e))?;
        }
        Err(e) => return Err(StoreError::io(dir.display(), e)),
    }
    restrict(dir, 0o700)
}

/// Creates the database file owner-only before SQLite opens it: SQLite
/// gives its `-wal` and `-shm` files the database file's mode. Files left
/// readable by others (an older version, a copy) are restricted too.
pub(super) fn prepare_files(db: &Path) -> Result<(), StoreError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(db).map_err(|e| StoreError::io(db.display(), e))?;
    for file in [db.to_path_buf(), sidecar(db, "-wal"), sidecar(db, "-shm")] {
        restrict_if_present(&file, 0o600)?;
    }
    Ok(())
}

/// [`restrict`] for a file that may not exist, or stop existing meanwhile:
/// the last connection of another process (a bot stopping, `ilink send`
/// ending) deletes the `-wal` and `-shm` files whenever it closes.
fn restrict_if_present(path: &Path, mode: u32) -> Result<(), StoreError> {
    match restrict(path, mode) {
        Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(())
        }
        other => other,
    }
}

/// `db` with `suffix` appended to its file name (`ilink.db-wal`).
pub(super) fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Takes away group and other permissions from `path` if it has any.
fn restrict(path: &Path, mode: u32) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| StoreError::io(path.display(), e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| StoreError::io(path.display(), e))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Opens a connection to `db` (which exists: see [`prepare_files`]) in WAL
/// mode at `durability`. The store opens one that makes every write (so
/// this process's transactions never contend with each other) and one for
/// reads, which WAL lets run beside a write.
pub(super) fn connect(db: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_error(db, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| db_error(db, e))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    // `journal_mode` answers with the mode it set, so it is a query.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| db_error(db, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt {
            path: db.display().to_string(),
            message: format!("cannot switch to WAL mode (the database stays in {mode} mode)"),
        });
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"
    ))
    .map_err(|e| db_error(db, e))?;
    Ok(conn)
}

/// Opens the connection that makes every write: as [`connect`], with
/// SQLite's automatic checkpoint off, since the checkpointer thread makes
/// them beside it (see [`super::checkpointer`]).
pub(super) fn connect_writer(db: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = connect(db, durability)?;
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0")
        .map_err(|e| db_error(db, e))?;
    Ok(conn)
}

/// Brings the schema up to date, refusing a database of a newer one.
pub(super) fn migrate(conn: &mut Connection, db: &Path) -> Result<(), StoreError> {
    let supported = newest_known_version();
    adopt_sqlx_version(conn).map_err(|e| db_error(db, e))?;
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| db_error(db, e))?;
    if found > supported {
        return Err(StoreError::NewerSchema {
            path: db.display().to_string(),
            found,
            supported,
        });
    }
    Migrations::from_slice(MIGRATIONS)
        .to_latest(conn)
        .map_err(|e| match e {
            rusqlite_migration::Error::RusqliteError { err, .. } => db_error(db, err),
            other => StoreError::Corrupt {
                path: db.display().to_string(),
                message: format!("schema migration failed: {other}"),
            },
        })
}

/// Databases made before the store moved from sqlx to rusqlite recorded
/// their schema version in sqlx's `_sqlx_migrations` table, with the same
/// migrations; their `user_version` is taken from there, once.
fn adopt_sqlx_version(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let has_sqlx_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
        [],
        |row| row.get(0),
    )?;
    if version != 0 || !has_sqlx_table {
        return Ok(());
    }
    let applied: Option<i64> = conn.query_row(
        "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
        [],
        |row| row.get(0),
    )?;
    if let Some(applied) = applied {
        conn.execute_batch(&format!("PRAGMA user_version = {applied}"))?;
    }
    Ok(())
}

/// The schema version this build migrates to.
pub(super) fn newest_known_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Wraps a database error on `db`, telling damage (of the file or of a
/// stored value) and a full disk apart.
pub(super) fn db_error(db: &Path, e: rusqlite::Error) -> StoreError {
    let path = db.display().to_string();
    match e {
        rusqlite::Error::SqliteFailure(code, message)
            if matches!(
                code.code,
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase
            ) =>
        {
            StoreError::Corrupt {
                path,
                message: message.unwrap_or_else(|| code.to_string()),
            }
        }
        rusqlite::Error::SqliteFailure(code, _) if code.code == ErrorCode::DiskFull => {
            StoreError::Full { path }
        }
        // What is left of a busy timeout: another connection's write
        // transaction outlasted it.
        rusqlite::Error::SqliteFailure(code, _)
            if matches!(
                code.code,
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Busy { path }
        }
        // A value of the wrong type where the schema has another: the file
        // was changed behind the store's back, or damaged.
        e @ (rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..)) => StoreError::Corrupt {
            path,
            message: e.to_string(),
        },
        e => StoreError::Database {
            path,
            source: Arc::new(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sidecar_file_gone_before_its_mode_is_checked_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // What another process's closing connection leaves: no `-wal`.
        let wal = sidecar(&dir.path().join(super::super::DATABASE_FILE), "-wal");
        assert!(restrict(&wal, 0o600).is_err(), "the check itself fails");
        restrict_if_present(&wal, 0o600).expect("a missing file needs nothing");
    }
}
