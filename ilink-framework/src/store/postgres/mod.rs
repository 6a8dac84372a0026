//! [`PgStore`]: the state store on PostgreSQL, for bots whose state lives
//! in a database server rather than a file, through sqlx's driver.
//!
//! The schema is the SQLite store's, in `migrations-postgres/`, applied by
//! sqlx's migrator when the store connects. Reads go through a connection
//! pool; the hot-path writes (received batches, send records, handled and
//! refused entries) go to a group committer ([`committer`]) that commits
//! every write waiting in one transaction, each kind of row in one
//! statement over arrays ([`writes`]).

mod committer;
mod open;
#[cfg(any(test, feature = "contract-tests"))]
#[doc(hidden)]
pub mod testing;
mod writes;

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx_core::error::Error as SqlxError;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::PgPool;
pub use sqlx_postgres::{PgConnectOptions, PgPoolOptions};

use self::committer::Committer;
use self::open::Target;
use super::deferred::Deferred;
use super::{
    ContextTokenRecord, InboxEntry, JournaledSend, QuarantinedMessage, ReceivedBatch, SentCount,
    StateChange, StateStore, StoreError, rows,
};
use crate::account::{AccountId, Credentials};
use crate::cluster::{Fence, leases};

/// The state of every account in PostgreSQL tables (in the connection's
/// search path, `public` unless the options say otherwise).
///
/// ```no_run
/// use ilink_framework::store::{PgStore, StateStore};
///
/// # async fn demo() -> Result<(), ilink_framework::store::StoreError> {
/// let store = PgStore::connect("postgres://bot:secret@db.internal/ilink").await?;
/// for creds in store.list_credentials().await? {
///     println!("{}", creds.account_id);
/// }
/// # Ok(())
/// # }
/// ```
///
/// `Debug` and every error name the database as
/// `postgres://user@host:port/database`, never with its password.
pub struct PgStore {
    pool: PgPool,
    target: Target,
    committer: Committer,
    /// A cluster worker's leases: its writes for an account commit only
    /// while it holds the account's lease at the epoch noted here.
    fence: Option<Arc<Fence>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the pool: its options hold the password.
        f.debug_struct("PgStore")
            .field("database", &self.target.name)
            .field("transactions", &self.transactions())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// The schema version this build creates and understands.
    pub const SCHEMA_VERSION: i64 = 4;

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`,
    /// with libpq's parameters such as `?sslmode=require`) with a pool of
    /// up to 10 connections, and migrates its schema.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // The parse error does not repeat the URL, so it cannot leak the password.
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Database {
            path: "the PostgreSQL database URL".into(),
            source: std::sync::Arc::new(e),
        })?;
        Self::connect_with(options, PgPoolOptions::new()).await
    }

    /// Connects with `options` (a search path among them, for a schema of
    /// its own) and a pool made by `pool`, then migrates the schema to
    /// [`Self::SCHEMA_VERSION`]; a database of a newer one is refused with
    /// [`StoreError::NewerSchema`].
    pub async fn connect_with(
        options: PgConnectOptions,
        pool: PgPoolOptions,
    ) -> Result<Self, StoreError> {
        Self::connect_fenced(options, pool, None).await
    }

    /// [`Self::connect_with`], for a cluster worker whose writes `fence`
    /// guards.
    pub(crate) async fn connect_fenced(
        options: PgConnectOptions,
        pool: PgPoolOptions,
        fence: Option<Arc<Fence>>,
    ) -> Result<Self, StoreError> {
        let target = Target::of(&options);
        // One connection first, so a server that cannot be reached is said
        // so at once (a pool retries until its timeout).
        let mut conn = open::connect_one(&options, &target).await?;
        let migrated = open::migrate(&mut conn, &target).await;
        open::close(conn).await;
        migrated?;
        let pool = pool.connect_lazy_with(options);
        Ok(Self {
            committer: Committer::spawn(pool.clone(), target.clone(), fence.clone()),
            pool,
            target,
            fence,
        })
    }

    /// How errors name the database: `postgres://user@host:port/database`
    /// (and the schema, when the options set a search path).
    pub fn name(&self) -> &str {
        &self.target.name
    }

    /// Group commits made since the store connected; benchmarks report it
    /// per message.
    pub fn transactions(&self) -> u64 {
        self.committer.commits()
    }

    /// Waits for pending writes and closes the pool. Later calls fail with
    /// [`StoreError::Closed`].
    pub async fn close(&self) {
        self.committer.close().await;
        self.pool.close().await;
    }

    /// The connection pool, for the cluster's own tables.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn db_error(&self, e: SqlxError) -> StoreError {
        open::db_error(&self.target, e)
    }

    /// Under a fence, the epoch this worker holds `account` at, or
    /// [`StoreError::Fenced`]; `None` without a fence.
    fn lease_epoch(&self, account: &AccountId) -> Result<Option<i64>, StoreError> {
        match &self.fence {
            None => Ok(None),
            Some(fence) => fence.epoch(account).map(Some).ok_or(StoreError::Fenced {
                account: account.to_string(),
            }),
        }
    }
}

/// Refuses text PostgreSQL cannot store (it has no NUL character), before
/// the write joins a group whose other writes it would fail.
fn storable<'a>(what: &str, texts: impl IntoIterator<Item = &'a str>) -> Result<(), StoreError> {
    match texts.into_iter().any(|t| t.contains('\0')) {
        true => Err(StoreError::Encode {
            what: what.to_owned(),
            message: "PostgreSQL text cannot hold NUL characters".into(),
        }),
        false => Ok(()),
    }
}

#[async_trait]
impl StateStore for PgStore {
    async fn load_cursor(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        query_scalar("SELECT cursor FROM cursors WHERE account = $1")
            .bind(account.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db_error(e))
    }

    async fn last_entry_id(&self, account: &AccountId) -> Result<Option<u64>, StoreError> {
        let last: Option<i64> = query_scalar(
            "SELECT max(id) FROM (SELECT max(id) AS id FROM inbox WHERE account = $1 \
             UNION ALL SELECT max(entry) FROM dedup_keys WHERE account = $1) AS ids",
        )
        .bind(account.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.db_error(e))?;
        // Stored bit for bit: entry ids are u64, PostgreSQL's BIGINT i64.
        Ok(last.map(|id| id as u64))
    }

    async fn inbox_load(&self, account: &AccountId) -> Result<Vec<InboxEntry>, StoreError> {
        let rows: Vec<(i64, i64, String)> = query_as(
            "SELECT id, received_at_ms, message FROM inbox WHERE account = $1 ORDER BY id",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db_error(e))?;
        rows::inbox_entries(&self.target.name, account, rows)
    }

    async fn commit_received(
        &self,
        account: &AccountId,
        batch: &ReceivedBatch,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        let tokens = batch
            .entries
            .iter()
            .filter_map(|r| r.context_token.as_ref());
        storable(
            &format!("a received batch of {account}"),
            [
                account.as_str(),
                batch.cursor.as_deref().unwrap_or_default(),
            ]
            .into_iter()
            .chain(tokens.flat_map(|t| [t.user.as_str(), t.token.expose()])),
        )?;
        let (op, outcome) = Deferred::received(account, batch);
        self.committer.defer(op).await?;
        outcome.await.unwrap_or(Err(StoreError::Closed))
    }

    async fn inbox_remove(&self, account: &AccountId, ids: &[u64]) -> Result<(), StoreError> {
        let Some(op) = Deferred::remove(account, ids) else {
            return Ok(());
        };
        storable("an account id", [account.as_str()])?;
        self.committer.defer(op).await
    }

    async fn context_token(
        &self,
        account: &AccountId,
        user: &str,
    ) -> Result<Option<ContextTokenRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.db_error(e))?;
        let mut found = writes::load_tokens(&mut conn, account, &[user])
            .await
            .map_err(|e| self.db_error(e))?;
        Ok(found.remove(user))
    }

    async fn put_context_token(
        &self,
        account: &AccountId,
        user: &str,
        record: &ContextTokenRecord,
    ) -> Result<(), StoreError> {
        storable(
            &format!("a context token of {account}"),
            [account.as_str(), user, record.token.expose()],
        )?;
        let epoch = self.lease_epoch(account)?;
        let mut tx = self.pool.begin().await.map_err(|e| self.db_error(e))?;
        if let (Some(epoch), Some(fence)) = (epoch, &self.fence) {
            let held = leases::confirm(&mut tx, fence.worker(), &[(account.as_str(), epoch)])
                .await
                .map_err(|e| self.db_error(e))?;
            if held.is_empty() {
                return Err(StoreError::Fenced {
                    account: account.to_string(),
                });
            }
        }
        writes::store_tokens(&mut tx, account, &[(user, record)])
            .await
            .map_err(|e| self.db_error(e))?;
        tx.commit().await.map_err(|e| self.db_error(e))
    }

    async fn record_sent(
        &self,
        account: &AccountId,
        sends: &[SentCount],
        journal: &[JournaledSend],
    ) -> Result<(), StoreError> {
        let Some(op) = Deferred::sent(account, sends, journal) else {
            return Ok(());
        };
        storable(
            &format!("a send record of {account}"),
            [account.as_str()]
                .into_iter()
                .chain(
                    sends
                        .iter()
                        .flat_map(|s| [s.user.as_str(), s.token.expose()]),
                )
                .chain(journal.iter().map(|j| j.sent.client_id.as_str())),
        )?;
        self.committer.defer(op).await
    }

    async fn mark_handled(
        &self,
        account: &AccountId,
        entry: u64,
        changes: &[StateChange],
    ) -> Result<(), StoreError> {
        storable(
            &format!("the saved state of entry {entry} of {account}"),
            [account.as_str()]
                .into_iter()
                .chain(changes.iter().flat_map(|c| {
                    [
                        &*c.conversation,
                        &*c.key,
                        c.value.as_deref().unwrap_or_default(),
                    ]
                })),
        )?;
        self.committer
            .defer(Deferred::handled(account, entry, changes))
            .await
    }

    async fn journal(
        &self,
        account: &AccountId,
        entry: u64,
    ) -> Result<Vec<JournaledSend>, StoreError> {
        let Ok(db_entry) = i64::try_from(entry) else {
            return Ok(Vec::new());
        };
        let rows: Vec<(i64, i64, String, Option<i64>)> = query_as(
            "SELECT position, chunk, client_id, message_id FROM send_journal \
             WHERE account = $1 AND entry = $2 ORDER BY position, chunk",
        )
        .bind(account.as_str())
        .bind(db_entry)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db_error(e))?;
        Ok(rows
            .into_iter()
            .map(|(position, chunk, client_id, message_id)| {
                rows::journaled(entry, position, chunk, client_id, message_id)
            })
            .collect())
    }

    async fn load_state(
        &self,
        account: &AccountId,
        conversation: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        query_scalar(
            "SELECT value FROM conversation_state \
             WHERE account = $1 AND conversation = $2 AND key = $3",
        )
        .bind(account.as_str())
        .bind(conversation)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.db_error(e))
    }

    async fn quarantine_list(
        &self,
        account: Option<&AccountId>,
    ) -> Result<Vec<QuarantinedMessage>, StoreError> {
        let rows: Vec<(String, i64, i64, String, String)> = query_as(
            "SELECT account, id, received_at_ms, reason, raw FROM quarantine \
             WHERE $1::text IS NULL OR account = $1 ORDER BY account, id",
        )
        .bind(account.map(AccountId::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db_error(e))?;
        Ok(rows
            .into_iter()
            .map(
                |(account, id, received_at_ms, reason, raw)| QuarantinedMessage {
                    account: AccountId::new(account),
                    id: id as u64,
                    received_at_ms,
                    reason,
                    raw,
                },
            )
            .collect())
    }

    async fn quarantine_remove(&self, account: &AccountId, id: u64) -> Result<bool, StoreError> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(false);
        };
        query("DELETE FROM quarantine WHERE account = $1 AND id = $2")
            .bind(account.as_str())
            .bind(id)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected() > 0)
            .map_err(|e| self.db_error(e))
    }

    async fn forget_account(&self, account: &AccountId) -> Result<(), StoreError> {
        let forget = async {
            let mut tx = self.pool.begin().await?;
            for table in [
                "cursors",
                "inbox",
                "send_journal",
                "context_tokens",
                "dedup_keys",
                "conversation_state",
                "quarantine",
            ] {
                query(&format!("DELETE FROM {table} WHERE account = $1"))
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        };
        forget.await.map_err(|e| self.db_error(e))
    }

    async fn save_credentials(&self, creds: &Credentials) -> Result<(), StoreError> {
        let json = serde_json::to_string(creds).map_err(|e| StoreError::Encode {
            what: format!("the credentials of {}", creds.account_id),
            message: e.to_string(),
        })?;
        storable(
            &format!("the credentials of {}", creds.account_id),
            [creds.account_id.as_str()],
        )?;
        query(
            "INSERT INTO credentials (account, credentials) VALUES ($1, $2) \
             ON CONFLICT (account) DO UPDATE SET credentials = excluded.credentials",
        )
        .bind(creds.account_id.as_str())
        .bind(json)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|e| self.db_error(e))
    }

    async fn list_credentials(&self) -> Result<Vec<Credentials>, StoreError> {
        let rows: Vec<(String, String)> =
            query_as("SELECT account, credentials FROM credentials ORDER BY account")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.db_error(e))?;
        rows::credentials(&self.target.name, rows)
    }

    async fn remove_credentials(&self, account: &AccountId) -> Result<bool, StoreError> {
        query("DELETE FROM credentials WHERE account = $1")
            .bind(account.as_str())
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected() > 0)
            .map_err(|e| self.db_error(e))
    }
}

#[cfg(test)]
mod tests;
