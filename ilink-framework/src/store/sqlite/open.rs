//! Opening the state database: the directory and file modes, the
//! connection settings, the schema migrations, and the translation of
//! database errors into [`StoreError`]s that say what to do.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::Durability;
use crate::store::StoreError;

/// The schema migrations, embedded from `ilink-framework/migrations`.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!();

/// How long a write waits for another process (`ilink send` beside a
/// running bot) to finish its transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite's primary result codes this module tells apart.
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_FULL: i32 = 13;
const SQLITE_NOTADB: i32 = 26;

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
        if file.exists() {
            restrict(&file, 0o600)?;
        }
    }
    Ok(())
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

/// The two pools of a store: one connection that makes every write (so
/// this process's transactions never contend with each other), and a few
/// for reads, which WAL lets run beside a write.
pub(super) async fn connect(
    db: &Path,
    durability: Durability,
) -> Result<(SqlitePool, SqlitePool), StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        })
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options.clone())
        .await
        .map_err(|e| db_error(db, e))?;
    let reader = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .map_err(|e| db_error(db, e))?;
    Ok((writer, reader))
}

/// Brings the schema up to date, refusing a database of a newer one.
pub(super) async fn migrate(writer: &SqlitePool, db: &Path) -> Result<(), StoreError> {
    let supported = newest_known_version();
    let found: Option<i64> = match sqlx::query_scalar::<_, Option<i64>>(
        "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
    )
    .fetch_one(writer)
    .await
    {
        Ok(v) => v,
        // No migrations table yet: a new (or pre-migration) database.
        Err(sqlx::Error::Database(e)) if e.message().contains("no such table") => None,
        Err(e) => return Err(db_error(db, e)),
    };
    if let Some(found) = found.filter(|v| *v > supported) {
        return Err(StoreError::NewerSchema {
            path: db.display().to_string(),
            found,
            supported,
        });
    }
    MIGRATOR.run(writer).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(e) => db_error(db, e),
        other => StoreError::Corrupt {
            path: db.display().to_string(),
            message: format!("schema migration failed: {other}"),
        },
    })
}

/// The schema version this build migrates to.
pub(super) fn newest_known_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Wraps a database error on `db`, telling damage (of the file or of a
/// stored value) and a full disk apart.
pub(super) fn db_error(db: &Path, e: sqlx::Error) -> StoreError {
    let path = db.display().to_string();
    let code = match &e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .map(|c| c & 0xff),
        _ => None,
    };
    match (code, e) {
        (Some(SQLITE_CORRUPT | SQLITE_NOTADB), sqlx::Error::Database(d)) => StoreError::Corrupt {
            path,
            message: d.message().to_owned(),
        },
        (Some(SQLITE_FULL), _) => StoreError::Full { path },
        // A value of the wrong type where the schema has another: the file
        // was changed behind the store's back, or damaged.
        (_, e @ (sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_))) => {
            StoreError::Corrupt {
                path,
                message: e.to_string(),
            }
        }
        (_, sqlx::Error::Io(io)) => StoreError::io(path, io),
        (_, e) => StoreError::Database {
            path,
            source: Arc::new(e),
        },
    }
}
