//! Durable state of the bot: cursors, the inbox, context tokens with their
//! send counts, recent message keys for deduplication, and credentials.
//!
//! [`StateStore`] is one async trait with three implementations here:
//! [`SqliteStore`], the default (one SQLite file in the state directory),
//! [`PgStore`] on PostgreSQL, and [`MemoryStore`] for tests; the `contract`
//! module (feature `contract-tests`) is the behaviour every implementation
//! must show.
//!
//! Writes follow the message, each group in one transaction:
//!
//! - [`StateStore::commit_received`]: everything one received batch changes
//!   (inbox entries, their dedup keys, context tokens, quarantined messages,
//!   the cursor). It is
//!   durable before the messages are dispatched: the server never replays
//!   from an old cursor.
//! - [`StateStore::record_sent`]: a send the server acknowledged, its
//!   count against the context token and, for a send of a handler run, its
//!   journal row (what a replay of the entry returns instead of sending).
//! - [`StateStore::mark_handled`]: a handled entry leaves the inbox, its
//!   journal rows go, and the conversation state its run changed is saved,
//!   together or not at all.
//! - [`StateStore::inbox_remove`]: a refused entry leaves the inbox.
//!
//! A store may group-commit these (many callers' writes in one transaction,
//! [`SqliteStore`] does), as long as each call's own writes stay all or
//! nothing and the call returns once they are durable.

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;
mod deferred;
mod error;
mod legacy;
mod memory;
mod postgres;
mod rows;
mod sqlite;
mod state_dir;

use std::sync::Arc;

use async_trait::async_trait;
use ilink_core::types::{MessageJson, WeixinMessage};
use ilink_core::{Secret, SentMessage};
use serde::{Deserialize, Serialize};

pub use error::StoreError;
pub use memory::MemoryStore;
/// A fresh PostgreSQL schema per test, for the tests of any crate.
#[cfg(any(test, feature = "contract-tests"))]
#[doc(hidden)]
pub use postgres::testing as pg_testing;
pub use postgres::{PgConnectOptions, PgPoolOptions, PgStore};
pub use sqlite::{DATABASE_FILE, Durability, SCHEMA_VERSION, SqliteStore};
pub use state_dir::{Platform, default_state_dir, state_dir_for};

use crate::account::{AccountId, Credentials};
use crate::dedup::DedupKey;

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

/// One received message as [`StateStore::commit_received`] takes it.
#[derive(Clone, Debug)]
pub struct ReceivedEntry {
    /// The inbox entry to add (unless the message is a duplicate).
    pub entry: InboxEntry,
    /// Its dedup keys, from [`dedup_keys`](crate::dedup::dedup_keys).
    pub dedup_keys: Vec<DedupKey>,
    /// The context token it carries, recorded unless it is a duplicate.
    pub context_token: Option<ObservedToken>,
    /// The message's JSON as it was received (it decodes to `entry.msg`),
    /// which a store that keeps JSON writes as it is instead of
    /// serializing the message again; `None` for a message built in code.
    pub json: Option<MessageJson>,
}

/// A context token seen on an inbound message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedToken {
    /// The user who wrote.
    pub user: String,
    /// The token; a secret.
    pub token: Secret,
    /// When the message was written (else received), milliseconds since the epoch.
    pub at_ms: i64,
}

/// How many quarantined messages a store keeps per account; older ones
/// go first, so a server sending garbage forever cannot fill the disk.
pub const QUARANTINE_CAP: usize = 1000;

/// A received message kept aside instead of handled: it could not be
/// decoded, or it cannot be answered (no sender). Its JSON may hold a
/// context token, so `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct QuarantinedMessage {
    /// The account it came to.
    pub account: AccountId,
    /// Local id, from the same sequence as inbox entries.
    pub id: u64,
    /// When it was received, milliseconds since the epoch.
    pub received_at_ms: i64,
    /// Why it was not handled, for people (no secrets).
    pub reason: String,
    /// The message's JSON as received.
    pub raw: String,
}

impl std::fmt::Debug for QuarantinedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuarantinedMessage")
            .field("account", &self.account)
            .field("id", &self.id)
            .field("received_at_ms", &self.received_at_ms)
            .field("reason", &self.reason)
            .field("raw", &format_args!("<{} bytes>", self.raw.len()))
            .finish()
    }
}

/// Everything one `getupdates` response changes, written in one transaction.
#[derive(Clone, Debug, Default)]
pub struct ReceivedBatch {
    /// The messages, in the order received.
    pub entries: Vec<ReceivedEntry>,
    /// Messages of the batch that cannot be handled, kept in the
    /// quarantine (at most [`QUARANTINE_CAP`] per account, newest kept).
    pub quarantined: Vec<QuarantinedMessage>,
    /// The cursor to resume from, when it moved.
    pub cursor: Option<String>,
    /// The time of the check, milliseconds since the epoch.
    pub now_ms: i64,
    /// How long a dedup key is remembered, in milliseconds.
    pub dedup_window_ms: i64,
}

/// A send counted against a context token: the count to keep for `user`
/// if their newest token is still `token`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentCount {
    /// The user sent to.
    pub user: String,
    /// The token the messages went out with.
    pub token: Secret,
    /// Messages sent with it so far.
    pub sent: u32,
}

/// A send the server acknowledged during the handler run of an inbox entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournaledSend {
    /// The inbox entry whose run sent it.
    pub entry: u64,
    /// The send's position in the run: 0 for its first send call.
    pub position: u32,
    /// The message's index within the send (a long text's chunk; else 0).
    pub chunk: u32,
    /// What the server answered.
    pub sent: SentMessage,
}

/// A change of a conversation's saved state, made when the entry whose run
/// changed it is marked handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// The conversation ([`ConversationKey`](crate::ConversationKey) text).
    pub conversation: String,
    /// The name the handler saved it under.
    pub key: String,
    /// The value as JSON, or `None` to forget it.
    pub value: Option<String>,
}

/// Persistent state of one process's accounts.
///
/// Implementations must be safe to call from many tasks at once. Each
/// method is one transaction: after an error nothing of the call is stored.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// The saved poll cursor of an account.
    async fn load_cursor(&self, account: &AccountId) -> Result<Option<String>, StoreError>;

    /// Everything still in the inbox, in id order.
    async fn inbox_load(&self, account: &AccountId) -> Result<Vec<InboxEntry>, StoreError>;

    /// The highest entry id the account's state still holds: in the inbox,
    /// or as the entry of a recorded dedup key. New entries get higher ids
    /// whatever the clock says (a clock set back, or another machine's clock
    /// behind this one's), since an entry's id is part of its sends'
    /// `client_id`s, which the server drops when it has seen them.
    async fn last_entry_id(&self, account: &AccountId) -> Result<Option<u64>, StoreError>;

    /// Stores a received batch in one transaction and returns, per entry,
    /// the earlier entry it duplicates (`None` for a new message).
    ///
    /// In order, each entry is checked against the dedup keys recorded
    /// within `dedup_window_ms` (for other entries) and against the entries
    /// before it; keys older than the window are forgotten (when the batch
    /// has entries). A new message
    /// gets its keys recorded, its entry added to the inbox and its context
    /// token recorded as [`ContextTokenRecord::after_inbound`] says; a
    /// duplicate changes nothing. The quarantined messages are added (those
    /// beyond [`QUARANTINE_CAP`] for the account, oldest first, dropped).
    /// Then the cursor, if any, is saved. An
    /// entry whose id is already in the inbox fails the whole batch with
    /// [`StoreError::Conflict`].
    async fn commit_received(
        &self,
        account: &AccountId,
        batch: &ReceivedBatch,
    ) -> Result<Vec<Option<u64>>, StoreError>;

    /// Removes refused messages from the inbox, with their journal rows;
    /// ids not there are ignored. May be group-committed with other
    /// callers' writes.
    async fn inbox_remove(&self, account: &AccountId, ids: &[u64]) -> Result<(), StoreError>;

    /// Marks an entry handled in one transaction: it leaves the inbox, its
    /// journal rows are deleted and `changes` are applied to the saved
    /// conversation state. An entry no longer in the inbox still gets its
    /// changes. May be group-committed.
    async fn mark_handled(
        &self,
        account: &AccountId,
        entry: u64,
        changes: &[StateChange],
    ) -> Result<(), StoreError>;

    /// The sends journaled for an entry, by position, then chunk.
    async fn journal(
        &self,
        account: &AccountId,
        entry: u64,
    ) -> Result<Vec<JournaledSend>, StoreError>;

    /// A conversation's saved state under `key`, as JSON.
    async fn load_state(
        &self,
        account: &AccountId,
        conversation: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError>;

    /// The newest context token of a user.
    async fn context_token(
        &self,
        account: &AccountId,
        user: &str,
    ) -> Result<Option<ContextTokenRecord>, StoreError>;

    /// Stores a user's context token record as given (tools such as
    /// `ilink tail`; the runtime records tokens through
    /// [`StateStore::commit_received`]).
    async fn put_context_token(
        &self,
        account: &AccountId,
        user: &str,
        record: &ContextTokenRecord,
    ) -> Result<(), StoreError>;

    /// Records acknowledged sends, in one transaction: raises the send
    /// counts of users whose newest token is still the one given (a count
    /// never goes down, and a newer token is left alone, so these may
    /// arrive late or out of order) and journals `journal`, keeping only
    /// rows whose entry is still in the inbox (a late send of a handled
    /// entry leaves nothing behind). May be group-committed.
    async fn record_sent(
        &self,
        account: &AccountId,
        sends: &[SentCount],
        journal: &[JournaledSend],
    ) -> Result<(), StoreError>;

    /// The quarantined messages of `account` (of every account when
    /// `None`), by account, then id.
    async fn quarantine_list(
        &self,
        account: Option<&AccountId>,
    ) -> Result<Vec<QuarantinedMessage>, StoreError>;

    /// Removes a quarantined message; returns whether it was there.
    async fn quarantine_remove(&self, account: &AccountId, id: u64) -> Result<bool, StoreError>;

    /// Forgets everything stored for an account except its credentials:
    /// cursor, inbox, send journal, context tokens, dedup keys, saved
    /// conversation state and quarantine.
    async fn forget_account(&self, account: &AccountId) -> Result<(), StoreError>;

    /// Says that `account` starts polling in this process (its lock or
    /// lease just taken), before anything of it is read or written.
    ///
    /// Another process may have run the account since this store last saw
    /// it, so whatever the store keeps in memory about the account must be
    /// read again from the database. The default does nothing, which is
    /// right for a store that keeps nothing in memory.
    async fn account_started(&self, account: &AccountId) -> Result<(), StoreError> {
        let _ = account;
        Ok(())
    }

    /// Saves an account's credentials, replacing earlier ones.
    async fn save_credentials(&self, creds: &Credentials) -> Result<(), StoreError>;
    /// All saved credentials, sorted by account id.
    async fn list_credentials(&self) -> Result<Vec<Credentials>, StoreError>;
    /// Forgets an account's credentials; returns whether there were any.
    async fn remove_credentials(&self, account: &AccountId) -> Result<bool, StoreError>;
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Batches the stores' own tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{InboxEntry, ObservedToken, ReceivedBatch, ReceivedEntry, StateStore};
    use crate::account::{AccountId, Credentials};
    use crate::dedup::DedupKey;

    /// A batch of message `id` (key `m:<id>`, a token of `u@im.wechat`)
    /// that moves the cursor to `c-<id>`.
    pub(crate) fn one_message(id: u64) -> ReceivedBatch {
        ReceivedBatch {
            entries: vec![ReceivedEntry {
                entry: InboxEntry {
                    id,
                    msg: Default::default(),
                    received_at_ms: 1,
                },
                dedup_keys: vec![DedupKey::parse(&format!("m:{id}")).unwrap()],
                context_token: Some(ObservedToken {
                    user: "u@im.wechat".into(),
                    token: "ctx".into(),
                    at_ms: 1,
                }),
                json: None,
            }],
            quarantined: Vec::new(),
            cursor: Some(format!("c-{id}")),
            now_ms: 1_000,
            dedup_window_ms: 10_000,
        }
    }

    /// Writes what [`check_reopened_state`] finds after the store is
    /// closed and opened again.
    pub(crate) async fn write_state_to_reopen(s: &dyn StateStore) {
        let a = AccountId::new("b@im.bot");
        s.commit_received(&a, &one_message(1)).await.unwrap();
        s.save_credentials(&Credentials::new("b@im.bot", "secret"))
            .await
            .unwrap();
    }

    /// Checks that a reopened store kept [`write_state_to_reopen`]'s
    /// cursor, entry, token, credentials and dedup key.
    pub(crate) async fn check_reopened_state(s: &dyn StateStore) {
        let a = AccountId::new("b@im.bot");
        assert_eq!(s.load_cursor(&a).await.unwrap().as_deref(), Some("c-1"));
        assert_eq!(s.inbox_load(&a).await.unwrap().len(), 1);
        assert!(s.context_token(&a, "u@im.wechat").await.unwrap().is_some());
        assert_eq!(s.list_credentials().await.unwrap().len(), 1);
        let mut again = one_message(2);
        again.entries[0].dedup_keys = vec![DedupKey::parse("m:1").unwrap()];
        assert_eq!(s.commit_received(&a, &again).await.unwrap(), vec![Some(1)]);
    }
}
