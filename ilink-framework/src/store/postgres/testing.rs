//! A fresh PostgreSQL schema per test (`cfg(test)` and feature
//! `contract-tests`), so tests of any crate can run against one server in
//! parallel without seeing each other's rows.
//!
//! A test calls `TestSchema::create("its name").await`: `None` means
//! `ILINK_TEST_DATABASE_URL` is not set (a line says the test is skipped),
//! else `schema.store().await` is a [`PgStore`] in the new schema, which is
//! dropped with the `TestSchema`, even when the test panics.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx_core::connection::{ConnectOptions, Connection};
use sqlx_core::executor::Executor;
use sqlx_postgres::{PgConnectOptions, PgPoolOptions};

use super::PgStore;

/// The variable that names the test database.
pub const DATABASE_URL_VAR: &str = "ILINK_TEST_DATABASE_URL";

/// The test database's URL, or `None` after printing that `test` is
/// skipped because [`DATABASE_URL_VAR`] is not set.
pub fn database_url(test: &str) -> Option<String> {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!(
                "skipped: {DATABASE_URL_VAR} is not set ({test} needs PostgreSQL, e.g. \
                 {DATABASE_URL_VAR}=postgres://postgres@127.0.0.1:5432/test)"
            );
            None
        }
    }
}

/// A schema of its own in the test database, dropped (with everything in
/// it) when this is dropped.
pub struct TestSchema {
    base: PgConnectOptions,
    url: String,
    name: String,
}

impl std::fmt::Debug for TestSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSchema")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TestSchema {
    /// Creates a uniquely named schema in the database of
    /// [`DATABASE_URL_VAR`]; `None` (and a line saying `test` is skipped)
    /// when it is not set. Panics when the database cannot be used: a test
    /// asked for it.
    pub async fn create(test: &str) -> Option<Self> {
        let url = database_url(test)?;
        Some(Self::create_in(&url).await)
    }

    /// Creates a uniquely named schema in the database at `url`.
    pub async fn create_in(url: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = PgConnectOptions::from_str(url).expect("a valid test database URL");
        // Unique across this process (the counter) and others (pid, and the
        // clock for a pid reused by a later run whose schema was left behind).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "ilink_test_{}_{}_{nanos:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
        );
        let mut conn = base.connect().await.expect("the test database answers");
        conn.execute(format!("CREATE SCHEMA {name}").as_str())
            .await
            .expect("a schema can be created in the test database");
        let _ = conn.close().await;
        Self {
            base,
            url: url.to_owned(),
            name,
        }
    }

    /// A database URL whose search path is this schema, for what connects
    /// by URL (a cluster worker, the `ilink` command).
    pub fn url(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}options[search_path]={}", self.url, self.name)
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connect options whose search path is this schema.
    pub fn options(&self) -> PgConnectOptions {
        self.base
            .clone()
            .options([("search_path", self.name.as_str())])
    }

    /// A [`PgStore`] in this schema (its tables created by the migrations).
    pub async fn store(&self) -> PgStore {
        // Small pools: many tests share one server.
        PgStore::connect_with(self.options(), PgPoolOptions::new().max_connections(4))
            .await
            .expect("a store in the test schema")
    }

    /// Runs `statement` (e.g. `SELECT 1 FROM workers FOR UPDATE`) in a
    /// transaction of its own that stays open, with the row locks it took,
    /// until [`HeldLocks::release`]: how a test stalls a worker's
    /// heartbeats without stopping the worker.
    pub async fn hold_locks(&self, statement: &str) -> HeldLocks {
        let mut conn = self
            .options()
            .connect()
            .await
            .expect("a connection to the test schema");
        conn.execute("BEGIN").await.expect("BEGIN");
        conn.execute(statement)
            .await
            .expect("the locking statement");
        HeldLocks { conn }
    }
}

/// An open transaction holding row locks; see [`TestSchema::hold_locks`].
pub struct HeldLocks {
    conn: sqlx_postgres::PgConnection,
}

impl HeldLocks {
    /// Rolls the transaction back, releasing its locks.
    pub async fn release(mut self) {
        self.conn.execute("ROLLBACK").await.expect("ROLLBACK");
        let _ = self.conn.close().await;
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (base, statement) = (
            self.base.clone(),
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
        // Drop cannot await, and may run inside a runtime: a thread of its
        // own with a runtime of its own does it, and is waited for.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = base.connect().await.ok()?;
                conn.execute(statement.as_str()).await.ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test schema {}", self.name);
        }
    }
}
