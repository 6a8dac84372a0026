//! Connecting to PostgreSQL: the database's name for messages (never its
//! password), the schema migrations, and the translation of driver errors
//! into [`StoreError`]s that say what to check.

use std::borrow::Cow;
use std::sync::Arc;

use sqlx_core::connection::{ConnectOptions, Connection};
use sqlx_core::error::Error as SqlxError;
use sqlx_core::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::{PgConnectOptions, PgConnection};

use crate::store::StoreError;

/// The migrations of `migrations-postgres/`: (version, description, SQL),
/// by version; `build.rs` lists them.
const MIGRATIONS: &[(i64, &str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/postgres_migrations.rs"));

/// The schema version this build migrates to: the newest migration's.
pub(super) fn newest_known_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, ..)| *version)
}

/// sqlx's migrator over [`MIGRATIONS`] (what `sqlx::migrate!` builds; the
/// checksums are the same, so a schema migrated by the `sqlx` CLI from
/// the same files is recognised).
fn migrator() -> Migrator {
    Migrator {
        migrations: Cow::Owned(
            MIGRATIONS
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect(),
        ),
        ..Migrator::DEFAULT
    }
}

/// Where the store's database is, as messages name it: never with its
/// password, which only the connect options hold.
#[derive(Clone, Debug)]
pub(super) struct Target {
    /// `postgres://user@host:port/database`, plus the schema when the
    /// options set a search path.
    pub(super) name: String,
    /// `host:port`, or the Unix socket.
    at: String,
    user: String,
    database: String,
}

impl Target {
    /// The target of `options`, built from their parts.
    pub(super) fn of(options: &PgConnectOptions) -> Self {
        let at = match options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => format!("{}:{}", options.get_host(), options.get_port()),
        };
        let (user, database) = (
            options.get_username().to_owned(),
            options.get_database().unwrap_or_default().to_owned(),
        );
        let mut name = format!("postgres://{user}@{at}/{database}");
        // The options are `-c name=value` pairs; the value ends at a space.
        if let Some(schema) = options
            .get_options()
            .and_then(|o| o.split("search_path=").nth(1))
            .and_then(|v| v.split(' ').next())
        {
            name.push_str(&format!(" (schema {schema})"));
        }
        Self {
            name,
            at,
            user,
            database,
        }
    }
}

/// Connects once, outside the pool: a pool retries a refused connection
/// until its timeout and then says only that it timed out, where this says
/// what went wrong at once.
pub(super) async fn connect_one(
    options: &PgConnectOptions,
    target: &Target,
) -> Result<PgConnection, StoreError> {
    options.connect().await.map_err(|e| db_error(target, e))
}

/// Brings the schema up to date on `conn`, refusing a database whose
/// schema is newer than this build's.
pub(super) async fn migrate(conn: &mut PgConnection, target: &Target) -> Result<(), StoreError> {
    let supported = newest_known_version();
    // sqlx's own check would only say that a version is missing.
    let has_table: bool = query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| db_error(target, e))?;
    if has_table {
        let found: Option<i64> =
            query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| db_error(target, e))?;
        if let Some(found) = found.filter(|found| *found > supported) {
            return Err(StoreError::NewerSchema {
                path: target.name.clone(),
                found,
                supported,
            });
        }
    }
    migrator().run_direct(conn).await.map_err(|e| match e {
        MigrateError::Execute(e) => db_error(target, e),
        other => StoreError::Corrupt {
            path: target.name.clone(),
            message: format!("schema migration failed: {other}"),
        },
    })
}

/// Closes a connection used to set up, ignoring a failure to say goodbye.
pub(super) async fn close(conn: PgConnection) {
    let _ = conn.close().await;
}

/// A failure to reach or use PostgreSQL: what failed, the driver's error,
/// and what to check.
#[derive(Debug, thiserror::Error)]
#[error("{what} ({source}); {check}")]
pub(super) struct Hinted {
    what: String,
    #[source]
    source: SqlxError,
    check: &'static str,
}

/// Wraps a driver error on the database `target`: a full disk and damaged
/// data get their own kinds; connection and login failures say what to
/// check.
pub(super) fn db_error(target: &Target, e: SqlxError) -> StoreError {
    let (path, at) = (target.name.clone(), &target.at);
    let hint = |what: String, source, check| StoreError::Database {
        path: target.name.clone(),
        source: Arc::new(Hinted {
            what,
            source,
            check,
        }),
    };
    match e {
        e @ SqlxError::Io(_) => hint(
            format!("cannot reach PostgreSQL at {at}"),
            e,
            "check that the server is running, listens there (listen_addresses, port) \
             and that no firewall is in the way",
        ),
        e @ SqlxError::PoolTimedOut => hint(
            format!("no connection to PostgreSQL at {at} became free in time"),
            e,
            "check that the server is running and not overloaded",
        ),
        SqlxError::Database(db) => match db.code().as_deref() {
            // disk_full
            Some("53100") => StoreError::Full { path },
            // invalid_password, invalid_authorization_specification
            Some("28P01" | "28000") => hint(
                format!("PostgreSQL at {at} refused user {}", target.user),
                SqlxError::Database(db),
                "check the user and password in the database URL, and pg_hba.conf",
            ),
            // invalid_catalog_name: the database does not exist.
            Some("3D000") => hint(
                format!("PostgreSQL at {at} has no database {}", target.database),
                SqlxError::Database(db),
                "create it (createdb) or fix the database URL",
            ),
            // data_corrupted, index_corrupted
            Some("XX001" | "XX002") => StoreError::Corrupt {
                path,
                message: db.message().to_owned(),
            },
            _ => StoreError::Database {
                path,
                source: Arc::new(SqlxError::Database(db)),
            },
        },
        // A stored value of a type the schema does not have: the tables
        // were changed behind the store's back.
        e @ (SqlxError::ColumnDecode { .. } | SqlxError::Decode(_)) => StoreError::Corrupt {
            path,
            message: e.to_string(),
        },
        SqlxError::PoolClosed => StoreError::Closed,
        e => StoreError::Database {
            path,
            source: Arc::new(e),
        },
    }
}
