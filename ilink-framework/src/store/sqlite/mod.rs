//! [`SqliteStore`]: the default state store, one SQLite database file in
//! the state directory, through sqlx.
//!
//! The database runs in WAL mode. One connection makes every write, so this
//! process's transactions never contend; reads use their own connections.
//! Every write of the hot path is group-committed (see [`GroupCommit`]):
//! received batches (each in a savepoint of its own, so one the store's
//! rules refuse fails alone), send counts and journal rows, handled and
//! refused entries. The statements are in [`writes`].

mod open;
mod writes;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Row, SqliteConnection};

use self::writes::Deferred;
use super::group_commit::GroupCommit;
use ilink_core::SentMessage;

use super::{
    ContextTokenRecord, InboxEntry, JournaledSend, QuarantinedMessage, ReceivedBatch, SentCount,
    StateChange, StateStore, StoreError, legacy,
};
use crate::account::{AccountId, Credentials};

/// The database file's name in the state directory.
pub const DATABASE_FILE: &str = "ilink.db";

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 3;

/// Writes of other callers that one group commit may hold.
const GROUP_COMMIT_MAX: usize = 256;

/// What a committed transaction survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous=FULL`: every commit is fsynced before it returns, so it
    /// survives a power loss or an operating system crash. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: a commit survives the process being killed
    /// (`kill -9` included), but a power loss may undo the last few.
    Normal,
}

/// The state of every account in one SQLite file, `<dir>/ilink.db`.
///
/// ```no_run
/// use ilink_framework::store::{Durability, SqliteStore, StateStore};
///
/// # async fn demo() -> Result<(), ilink_framework::store::StoreError> {
/// let store = SqliteStore::open_with("/var/lib/mybot", Durability::Normal).await?;
/// for creds in store.list_credentials().await? {
///     println!("{}", creds.account_id);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    dir: PathBuf,
    path: PathBuf,
    writer: SqlitePool,
    reader: SqlitePool,
    deferred: GroupCommit<Deferred>,
    /// Write transactions committed since the store was opened.
    commits: Arc<AtomicU64>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir` with [`Durability::Full`].
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::open_with(dir, Durability::default()).await
    }

    /// Opens (creating if needed) the store in `dir`.
    ///
    /// The directory is made owner-only (0700) and the database file with
    /// its `-wal` and `-shm` files 0600. The schema is migrated to
    /// [`SCHEMA_VERSION`]; a database of a newer version is refused. The
    /// credentials (and cursors, context tokens and inbox) of an older
    /// file-per-record layout in `dir` are imported once.
    pub async fn open_with(
        dir: impl Into<PathBuf>,
        durability: Durability,
    ) -> Result<Self, StoreError> {
        let dir = dir.into();
        open::prepare_dir(&dir)?;
        let path = dir.join(DATABASE_FILE);
        open::prepare_files(&path)?;
        let (writer, reader) = open::connect(&path, durability).await?;
        open::migrate(&writer, &path).await?;
        let commits = Arc::new(AtomicU64::new(0));
        let deferred = {
            let (writer, path, commits) = (writer.clone(), path.clone(), commits.clone());
            GroupCommit::spawn(GROUP_COMMIT_MAX, move |ops| {
                let (writer, path, commits) = (writer.clone(), path.clone(), commits.clone());
                async move {
                    let mut ops = ops;
                    let err = |e| open::db_error(&path, e);
                    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
                    writes::commit_deferred(&mut tx, &mut ops)
                        .await
                        .map_err(err)?;
                    tx.commit().await.map_err(err)?;
                    commits.fetch_add(1, Ordering::Relaxed);
                    writes::deliver_outcomes(ops);
                    Ok(())
                }
            })
        };
        let store = Self {
            dir,
            path,
            writer,
            reader,
            deferred,
            commits,
        };
        legacy::import(&store).await?;
        Ok(store)
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write transactions committed since the store was opened (each one
    /// fsync at [`Durability::Full`]); benchmarks report it per message.
    pub fn transactions(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Waits for pending writes and closes the database (its `-wal` file is
    /// checkpointed into the main file).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        open::db_error(&self.path, e)
    }

    /// Starts a write transaction, taking the write lock at once so a
    /// transaction that reads first never has to give up to another process.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.err(e))
    }
}

fn token_record(row: &SqliteRow) -> Result<ContextTokenRecord, sqlx::Error> {
    Ok(ContextTokenRecord {
        token: row.try_get::<String, _>("token")?.into(),
        received_at_ms: row.try_get("received_at_ms")?,
        sent: u32::try_from(row.try_get::<i64, _>("sent")?).unwrap_or(u32::MAX),
    })
}

async fn load_token(
    conn: &mut SqliteConnection,
    account: &AccountId,
    user: &str,
) -> Result<Option<ContextTokenRecord>, sqlx::Error> {
    sqlx::query(
        "SELECT token, received_at_ms, sent FROM context_tokens \
         WHERE account = ? AND user_id = ?",
    )
    .bind(account.as_str())
    .bind(user)
    .fetch_optional(conn)
    .await?
    .map(|row| token_record(&row))
    .transpose()
}

async fn store_token(
    conn: &mut SqliteConnection,
    account: &AccountId,
    user: &str,
    record: &ContextTokenRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO context_tokens (account, user_id, token, received_at_ms, sent) \
         VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (account, user_id) DO UPDATE SET token = excluded.token, \
         received_at_ms = excluded.received_at_ms, sent = excluded.sent",
    )
    .bind(account.as_str())
    .bind(user)
    .bind(record.token.expose())
    .bind(record.received_at_ms)
    .bind(i64::from(record.sent))
    .execute(conn)
    .await
    .map(drop)
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn load_cursor(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT cursor FROM cursors WHERE account = ?")
            .bind(account.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| self.err(e))
    }

    async fn inbox_load(&self, account: &AccountId) -> Result<Vec<InboxEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, received_at_ms, message FROM inbox WHERE account = ? ORDER BY id",
        )
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id").map_err(|e| self.err(e))?;
                let message: &str = row.try_get("message").map_err(|e| self.err(e))?;
                let msg = serde_json::from_str(message).map_err(|e| StoreError::Corrupt {
                    path: format!("{} (inbox entry {id} of {account})", self.path.display()),
                    message: e.to_string(),
                })?;
                Ok(InboxEntry {
                    id: id as u64,
                    msg,
                    received_at_ms: row.try_get("received_at_ms").map_err(|e| self.err(e))?,
                })
            })
            .collect()
    }

    async fn commit_received(
        &self,
        account: &AccountId,
        batch: &ReceivedBatch,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        // Group-committed with the removals and counts waiting, so a steady
        // trickle of small batches does not cost a transaction each.
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.deferred
            .submit(Deferred::Received {
                account: account.clone(),
                batch: batch.clone(),
                outcome: None,
                done: Some(done),
            })
            .await?;
        outcome.await.unwrap_or(Err(StoreError::Closed))
    }

    async fn inbox_remove(&self, account: &AccountId, ids: &[u64]) -> Result<(), StoreError> {
        // An id the database cannot hold was never stored.
        let ids: Vec<i64> = ids
            .iter()
            .filter_map(|id| i64::try_from(*id).ok())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        self.deferred
            .submit(Deferred::Remove {
                account: account.clone(),
                ids,
            })
            .await
    }

    async fn context_token(
        &self,
        account: &AccountId,
        user: &str,
    ) -> Result<Option<ContextTokenRecord>, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(|e| self.err(e))?;
        load_token(&mut conn, account, user)
            .await
            .map_err(|e| self.err(e))
    }

    async fn put_context_token(
        &self,
        account: &AccountId,
        user: &str,
        record: &ContextTokenRecord,
    ) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await.map_err(|e| self.err(e))?;
        store_token(&mut conn, account, user, record)
            .await
            .map_err(|e| self.err(e))
    }

    async fn record_sent(
        &self,
        account: &AccountId,
        sends: &[SentCount],
        journal: &[JournaledSend],
    ) -> Result<(), StoreError> {
        if sends.is_empty() && journal.is_empty() {
            return Ok(());
        }
        self.deferred
            .submit(Deferred::Sent {
                account: account.clone(),
                sends: sends.to_vec(),
                journal: journal.to_vec(),
            })
            .await
    }

    async fn mark_handled(
        &self,
        account: &AccountId,
        entry: u64,
        changes: &[StateChange],
    ) -> Result<(), StoreError> {
        // An id the database cannot hold was never stored.
        let entry = i64::try_from(entry).unwrap_or(-1);
        self.deferred
            .submit(Deferred::Handled {
                account: account.clone(),
                entry,
                changes: changes.to_vec(),
            })
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
        let rows: Vec<(i64, i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT position, chunk, client_id, message_id FROM send_journal \
             WHERE account = ? AND entry = ? ORDER BY position, chunk",
        )
        .bind(account.as_str())
        .bind(db_entry)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .map(|(position, chunk, client_id, message_id)| JournaledSend {
                entry,
                position: u32::try_from(position).unwrap_or(u32::MAX),
                chunk: u32::try_from(chunk).unwrap_or(u32::MAX),
                sent: SentMessage {
                    client_id,
                    message_id: message_id.map(|id| id as u64),
                },
            })
            .collect())
    }

    async fn load_state(
        &self,
        account: &AccountId,
        conversation: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT value FROM conversation_state \
             WHERE account = ? AND conversation = ? AND key = ?",
        )
        .bind(account.as_str())
        .bind(conversation)
        .bind(key)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| self.err(e))
    }

    async fn quarantine_list(
        &self,
        account: Option<&AccountId>,
    ) -> Result<Vec<QuarantinedMessage>, StoreError> {
        let rows: Vec<(String, i64, i64, String, String)> = sqlx::query_as(
            "SELECT account, id, received_at_ms, reason, raw FROM quarantine \
             WHERE ?1 IS NULL OR account = ?1 ORDER BY account, id",
        )
        .bind(account.map(AccountId::as_str))
        .fetch_all(&self.reader)
        .await
        .map_err(|e| self.err(e))?;
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
        sqlx::query("DELETE FROM quarantine WHERE account = ? AND id = ?")
            .bind(account.as_str())
            .bind(id)
            .execute(&self.writer)
            .await
            .map(|r| r.rows_affected() > 0)
            .map_err(|e| self.err(e))
    }

    async fn forget_account(&self, account: &AccountId) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for table in [
            "cursors",
            "inbox",
            "send_journal",
            "context_tokens",
            "dedup_keys",
            "conversation_state",
            "quarantine",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE account = ?"))
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn save_credentials(&self, creds: &Credentials) -> Result<(), StoreError> {
        let json = serde_json::to_string(creds).map_err(|e| StoreError::Encode {
            what: format!("the credentials of {}", creds.account_id),
            message: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO credentials (account, credentials) VALUES (?, ?) \
             ON CONFLICT (account) DO UPDATE SET credentials = excluded.credentials",
        )
        .bind(creds.account_id.as_str())
        .bind(json)
        .execute(&self.writer)
        .await
        .map(drop)
        .map_err(|e| self.err(e))
    }

    async fn list_credentials(&self) -> Result<Vec<Credentials>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT account, credentials FROM credentials ORDER BY account")
                .fetch_all(&self.reader)
                .await
                .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(account, json)| {
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                    path: format!("{} (credentials of {account})", self.path.display()),
                    message: e.to_string(),
                })
            })
            .collect()
    }

    async fn remove_credentials(&self, account: &AccountId) -> Result<bool, StoreError> {
        sqlx::query("DELETE FROM credentials WHERE account = ?")
            .bind(account.as_str())
            .execute(&self.writer)
            .await
            .map(|r| r.rows_affected() > 0)
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests;
