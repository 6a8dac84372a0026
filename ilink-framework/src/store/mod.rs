//! Durable state of the bot: cursors, the inbox, context tokens with their
//! send counts, recent message keys for deduplication, and credentials.
//!
//! [`StateStore`] is one trait with two implementations here:
//! [`MemoryStore`] for tests and [`FileStore`], crash-safe files under a
//! state directory (write to a temporary file, fsync, rename).
//!
//! The order that makes "no inbound message is lost" hold is the caller's:
//! a received batch goes to the inbox first, then the cursor is saved, then
//! messages are dispatched, and an entry leaves the inbox when its handler
//! has finished.

mod file;
mod memory;
mod state_dir;

use std::sync::Arc;

use ilink_core::Secret;
use ilink_core::types::WeixinMessage;
use serde::{Deserialize, Serialize};

pub use file::FileStore;
pub use memory::MemoryStore;
pub use state_dir::{Platform, default_state_dir, state_dir_for};

use crate::account::{AccountId, Credentials};
use crate::dedup::DedupKey;

/// A failure of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing a file failed.
    #[error("state store I/O on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A stored file could not be decoded.
    #[error("state store file {path} is corrupt: {message}")]
    Corrupt {
        /// The file involved.
        path: String,
        /// What the decoder said.
        message: String,
    },
}

/// A received message waiting to be handled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// Local id, unique per account and increasing in arrival order.
    pub id: u64,
    /// The message as received; shared, not copied, by the stores that keep
    /// it in memory and by the handler.
    pub msg: Arc<WeixinMessage>,
    /// When it was received, milliseconds since the epoch.
    pub received_at_ms: i64,
}

/// The newest context token of a user and how it has been used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextTokenRecord {
    /// The token to echo; a secret.
    pub token: Secret,
    /// When the message carrying it arrived, milliseconds since the epoch.
    pub received_at_ms: i64,
    /// Bot messages sent with this token so far.
    pub sent: u32,
}

impl ContextTokenRecord {
    /// The record a newly received token gives the user, or `None` when the
    /// stored one already covers it: a redelivered message carries the token
    /// already counted, and an older message arriving late must not replace a
    /// newer token. A new token restarts the send count.
    pub fn after_inbound(
        existing: Option<&Self>,
        token: Secret,
        received_at_ms: i64,
    ) -> Option<Self> {
        if let Some(e) = existing {
            if e.token == token || e.received_at_ms > received_at_ms {
                return None;
            }
        }
        Some(Self {
            token,
            received_at_ms,
            sent: 0,
        })
    }
}

/// Persistent state of one process's accounts.
///
/// Methods are synchronous and short; implementations must be safe to call
/// from many tasks at once.
pub trait StateStore: Send + Sync + 'static {
    /// The saved poll cursor of an account.
    fn load_cursor(&self, account: &AccountId) -> Result<Option<String>, StoreError>;
    /// Saves the poll cursor of an account.
    fn save_cursor(&self, account: &AccountId, cursor: &str) -> Result<(), StoreError>;

    /// Adds received messages to the inbox (durably, before the cursor moves).
    fn inbox_put(&self, account: &AccountId, entries: &[InboxEntry]) -> Result<(), StoreError>;
    /// Removes a handled message from the inbox.
    fn inbox_remove(&self, account: &AccountId, id: u64) -> Result<(), StoreError>;
    /// Everything still in the inbox, in id order.
    fn inbox_load(&self, account: &AccountId) -> Result<Vec<InboxEntry>, StoreError>;

    /// The newest context token of a user.
    fn context_token(
        &self,
        account: &AccountId,
        user: &str,
    ) -> Result<Option<ContextTokenRecord>, StoreError>;
    /// Stores the newest context token of a user (with its send count).
    fn put_context_token(
        &self,
        account: &AccountId,
        user: &str,
        record: &ContextTokenRecord,
    ) -> Result<(), StoreError>;

    /// Records the dedup keys of inbox entry `entry` (from
    /// [`dedup_keys`](crate::dedup::dedup_keys)), unless one of them was
    /// already recorded for another entry within `window_ms`: then returns
    /// that entry's id and records nothing. Keys older than the window are
    /// forgotten.
    fn dedup_check_insert(
        &self,
        account: &AccountId,
        keys: &[DedupKey],
        entry: u64,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<Option<u64>, StoreError>;

    /// [`StateStore::dedup_check_insert`] for the entries of a received
    /// batch, in order (each is also checked against those before it), with
    /// one durable write for the whole batch where the store can. Returns,
    /// per entry, the earlier entry it duplicates.
    fn dedup_check_insert_batch(
        &self,
        account: &AccountId,
        batch: &[(u64, &[DedupKey])],
        now_ms: i64,
        window_ms: i64,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        batch
            .iter()
            .map(|(entry, keys)| self.dedup_check_insert(account, keys, *entry, now_ms, window_ms))
            .collect()
    }

    /// Forgets everything stored for an account except its credentials:
    /// cursor, inbox, context tokens and dedup keys.
    fn forget_account(&self, account: &AccountId) -> Result<(), StoreError>;

    /// Saves an account's credentials (owner-only permissions on disk).
    fn save_credentials(&self, creds: &Credentials) -> Result<(), StoreError>;
    /// All saved credentials, sorted by account id.
    fn list_credentials(&self) -> Result<Vec<Credentials>, StoreError>;
    /// Forgets an account's credentials; returns whether there were any.
    fn remove_credentials(&self, account: &AccountId) -> Result<bool, StoreError>;
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod contract_tests;
