//! [`SqliteStore`]: the default state store, one SQLite database file in
//! the state directory, through rusqlite.
//!
//! The database runs in WAL mode. One connection, on a thread of its own
//! ([`writer`]), makes every write, so this process's transactions never
//! contend; another one serves reads on tokio's blocking threads. Every
//! write of the hot path is group-committed: received batches (each in a
//! savepoint of its own, so one the store's rules refuse fails alone),
//! send counts and journal rows, handled and refused entries. The
//! statements are in [`writes`].

mod checkpointer;
mod dedup_index;
mod fsync_policy;
mod job_queue;
mod known_rows;
mod open;
mod told_once;
mod writer;
mod writes;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use self::checkpointer::Checkpointer;
use self::writer::Writer;

use super::deferred::Deferred;
use super::{
    ContextTokenRecord, InboxEntry, JournaledSend, QuarantinedMessage, ReceivedBatch, SentCount,
    StateChange, StateStore, StoreError, legacy, rows,
};
use crate::account::{AccountId, Credentials};

/// The database file's name in the state directory.
pub const DATABASE_FILE: &str = "ilink.db";

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 4;

/// What a committed transaction survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous=FULL`: a received batch is fsynced before its messages
    /// are handled, so it survives a power loss or an operating system
    /// crash, as every other write does (credentials, cursors, quarantine).
    /// The default. Handled marks and send records, written for every
    /// message, commit at `NORMAL` and are fsynced with the next received
    /// batch or within 100 ms: a power loss just after them handles those
    /// messages again, and their sends go out again with their first
    /// `client_id`s, which the server drops.
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
    writer: Writer,
    checkpointer: Checkpointer,
    /// `None` once the store is closed.
    reader: Arc<Mutex<Option<Connection>>>,
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
        let path = dir.join(DATABASE_FILE);
        let (writer, reader, checkpoints) = {
            let (dir, path) = (dir.clone(), path.clone());
            tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
                open::prepare_dir(&dir)?;
                open::prepare_files(&path)?;
                let mut writer = open::connect_writer(&path, durability)?;
                open::migrate(&mut writer, &path)?;
                let reader = open::connect(&path, durability)?;
                let checkpoints = open::connect(&path, durability)?;
                Ok((writer, reader, checkpoints))
            })
            .await
            .map_err(|_| StoreError::Closed)??
        };
        let writer = Writer::spawn(writer, path.clone(), durability)?;
        let checkpointer = Checkpointer::spawn(checkpoints, path.clone(), writer.commit_counter())?;
        let store = Self {
            writer,
            checkpointer,
            reader: Arc::new(Mutex::new(Some(reader))),
            dir,
            path,
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

    /// Write transactions committed since the store was opened;
    /// benchmarks report it per message.
    pub fn transactions(&self) -> u64 {
        self.writer.commits()
    }

    /// Commits and idle checkpoints made with an fsync since the store was
    /// opened: at [`Durability::Full`] those of received batches and direct
    /// writes, a group whose fsync was due and each idle flush (0 at
    /// [`Durability::Normal`], whose checkpoints are not counted).
    pub fn fsyncs(&self) -> u64 {
        self.writer.fsyncs()
    }

    /// Waits for pending writes and closes the database (its `-wal` file is
    /// checkpointed into the main file). Later calls fail with
    /// [`StoreError::Closed`].
    pub async fn close(&self) {
        self.checkpointer.stop().await;
        self.writer.close().await;
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(reader);
    }

    /// Runs `f` on the read connection, on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reader, path) = (self.reader.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            // A panic while reading leaves the connection as good as before.
            let conn = reader.lock().unwrap_or_else(|e| e.into_inner());
            let conn = conn.as_ref().ok_or(StoreError::Closed)?;
            f(conn).map_err(|e| open::db_error(&path, e))
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn load_cursor(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        let account = account.clone();
        self.read(move |conn| {
            conn.prepare_cached("SELECT cursor FROM cursors WHERE account = ?")?
                .query_row([account.as_str()], |row| row.get(0))
                .optional()
        })
        .await
    }

    async fn last_entry_id(&self, account: &AccountId) -> Result<Option<u64>, StoreError> {
        let account = account.clone();
        let last: Option<i64> = self
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT max(id) FROM (SELECT max(id) AS id FROM inbox WHERE account = ?1 \
                     UNION ALL SELECT max(entry) FROM dedup_log WHERE account = ?1)",
                )?
                .query_row([account.as_str()], |row| row.get(0))
            })
            .await?;
        // Stored bit for bit: entry ids are u64, SQLite integers i64.
        Ok(last.map(|id| id as u64))
    }

    async fn inbox_load(&self, account: &AccountId) -> Result<Vec<InboxEntry>, StoreError> {
        let acct = account.clone();
        let rows: Vec<(i64, i64, String)> = self
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT id, received_at_ms, message FROM inbox WHERE account = ? ORDER BY id",
                )?
                .query_map([acct.as_str()], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect()
            })
            .await?;
        rows::inbox_entries(&self.path.display().to_string(), account, rows)
    }

    async fn commit_received(
        &self,
        account: &AccountId,
        batch: &ReceivedBatch,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        // Group-committed with the removals and counts waiting, so a steady
        // trickle of small batches does not cost a transaction each.
        let (op, outcome) = Deferred::received(account, batch);
        self.writer.defer(op).await?;
        outcome.await.unwrap_or(Err(StoreError::Closed))
    }

    async fn inbox_remove(&self, account: &AccountId, ids: &[u64]) -> Result<(), StoreError> {
        let Some(op) = Deferred::remove(account, ids) else {
            return Ok(());
        };
        self.writer.defer(op).await
    }

    async fn context_token(
        &self,
        account: &AccountId,
        user: &str,
    ) -> Result<Option<ContextTokenRecord>, StoreError> {
        let (account, user) = (account.clone(), user.to_owned());
        self.read(move |conn| writes::load_token(conn, &account, &user))
            .await
    }

    async fn put_context_token(
        &self,
        account: &AccountId,
        user: &str,
        record: &ContextTokenRecord,
    ) -> Result<(), StoreError> {
        let (account, user, record) = (account.clone(), user.to_owned(), record.clone());
        self.writer
            .run(move |conn| writes::store_token(conn, &account, &user, &record))
            .await
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
        self.writer.defer(op).await
    }

    async fn mark_handled(
        &self,
        account: &AccountId,
        entry: u64,
        changes: &[StateChange],
    ) -> Result<(), StoreError> {
        self.writer
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
        let account = account.clone();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT position, chunk, client_id, message_id FROM send_journal \
                 WHERE account = ? AND entry = ? ORDER BY position, chunk",
            )?
            .query_map(params![account.as_str(), db_entry], |row| {
                Ok(rows::journaled(
                    entry,
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                ))
            })?
            .collect()
        })
        .await
    }

    async fn load_state(
        &self,
        account: &AccountId,
        conversation: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let (account, conversation, key) =
            (account.clone(), conversation.to_owned(), key.to_owned());
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT value FROM conversation_state \
                 WHERE account = ? AND conversation = ? AND key = ?",
            )?
            .query_row(params![account.as_str(), conversation, key], |row| {
                row.get(0)
            })
            .optional()
        })
        .await
    }

    async fn quarantine_list(
        &self,
        account: Option<&AccountId>,
    ) -> Result<Vec<QuarantinedMessage>, StoreError> {
        let account = account.cloned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT account, id, received_at_ms, reason, raw FROM quarantine \
                 WHERE ?1 IS NULL OR account = ?1 ORDER BY account, id",
            )?
            .query_map([account.as_ref().map(AccountId::as_str)], |row| {
                Ok(QuarantinedMessage {
                    account: AccountId::new(row.get::<_, String>(0)?),
                    id: row.get::<_, i64>(1)? as u64,
                    received_at_ms: row.get(2)?,
                    reason: row.get(3)?,
                    raw: row.get(4)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn quarantine_remove(&self, account: &AccountId, id: u64) -> Result<bool, StoreError> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(false);
        };
        let account = account.clone();
        self.writer
            .run(move |conn| {
                conn.prepare_cached("DELETE FROM quarantine WHERE account = ? AND id = ?")?
                    .execute(params![account.as_str(), id])
                    .map(|n| n > 0)
            })
            .await
    }

    async fn forget_account(&self, account: &AccountId) -> Result<(), StoreError> {
        let (account, forgotten) = (account.clone(), account.clone());
        self.writer
            .transaction(move |tx| {
                for table in [
                    "cursors",
                    "inbox",
                    "send_journal",
                    "context_tokens",
                    "dedup_log",
                    "conversation_state",
                    "quarantine",
                ] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE account = ?"),
                        [account.as_str()],
                    )?;
                }
                Ok(())
            })
            .await?;
        self.writer.forget_keys(&forgotten).await;
        Ok(())
    }

    async fn account_started(&self, account: &AccountId) -> Result<(), StoreError> {
        // The dedup log's next sequence number and owners, the journaled
        // entries and the stored tokens the writer knows are read again:
        // another process may have run the account and written them since.
        self.writer.forget_keys(account).await;
        Ok(())
    }

    async fn save_credentials(&self, creds: &Credentials) -> Result<(), StoreError> {
        let json = serde_json::to_string(creds).map_err(|e| StoreError::Encode {
            what: format!("the credentials of {}", creds.account_id),
            message: e.to_string(),
        })?;
        let account = creds.account_id.clone();
        self.writer
            .run(move |conn| {
                conn.execute(
                    "INSERT INTO credentials (account, credentials) VALUES (?, ?) \
                     ON CONFLICT (account) DO UPDATE SET credentials = excluded.credentials",
                    params![account.as_str(), json],
                )
                .map(drop)
            })
            .await
    }

    async fn list_credentials(&self) -> Result<Vec<Credentials>, StoreError> {
        let rows: Vec<(String, String)> = self
            .read(|conn| {
                conn.prepare_cached(
                    "SELECT account, credentials FROM credentials ORDER BY account",
                )?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
            })
            .await?;
        rows::credentials(&self.path.display().to_string(), rows)
    }

    async fn remove_credentials(&self, account: &AccountId) -> Result<bool, StoreError> {
        let account = account.clone();
        self.writer
            .run(move |conn| {
                conn.execute(
                    "DELETE FROM credentials WHERE account = ?",
                    [account.as_str()],
                )
                .map(|n| n > 0)
            })
            .await
    }
}

#[cfg(test)]
mod tests;
