//! The sends of one handler run: deterministic `client_id`s and the send
//! journal, so that a message handled again after a crash sends nothing
//! twice.
//!
//! Each send a handler makes through its [`Context`](crate::Context) takes
//! the next position of its run (0, 1, 2, … in the order of the calls), and
//! each message of the send (a long text's chunks; else one) the
//! `client_id` `ilink-rs:<account tag>:<entry>:<position>:<chunk>`. The
//! server drops a message whose `client_id` it has already accepted, and
//! every message the server acknowledges is journaled in the store with its
//! entry. When the entry is handled again (it was still in the inbox at
//! start), a send whose messages the journal holds returns what the first
//! run got, without sending or counting against the quota; the others go
//! out with the same ids as in the first run.
//!
//! That makes handling at-least-once and sending at-most-once per
//! (message, send position), provided the handler makes its sends in the
//! same order when it runs again. Sends from tasks that outlive the run
//! (through [`Outbox`](crate::Outbox)) get random ids: they belong to no
//! entry.

use std::sync::atomic::{AtomicU32, Ordering};

use ilink_core::SentMessage;
use tokio::sync::OnceCell;

use crate::account::AccountId;
use crate::store::{JournaledSend, StateStore, StoreError};

/// The send positions of one handler run, and the journal of the entry's
/// earlier runs (read once, and only when the entry is replayed).
pub(crate) struct RunSends {
    tag: String,
    entry: u64,
    replayed: bool,
    next: AtomicU32,
    journal: OnceCell<Vec<JournaledSend>>,
}

/// Where one send comes from: its entry and position, and what an earlier
/// run of the entry already got for its messages.
pub(crate) struct Origin {
    prefix: String,
    entry: u64,
    position: u32,
    replayed: bool,
    done: Vec<JournaledSend>,
}

impl RunSends {
    /// The sends of a run of `entry`; `replayed` when the entry may have
    /// been handled before (it was in the inbox when the account started).
    pub(crate) fn new(account: &AccountId, entry: u64, replayed: bool) -> Self {
        Self {
            tag: account_tag(account),
            entry,
            replayed,
            next: AtomicU32::new(0),
            journal: OnceCell::new(),
        }
    }

    /// Takes the next position (at once, so positions follow the order of
    /// the calls) and finds what the journal holds for it.
    pub(crate) async fn next(
        &self,
        store: &dyn StateStore,
        account: &AccountId,
    ) -> Result<Origin, StoreError> {
        let position = self.next.fetch_add(1, Ordering::Relaxed);
        let done = if self.replayed {
            let journal = self
                .journal
                .get_or_try_init(|| store.journal(account, self.entry))
                .await?;
            journal
                .iter()
                .filter(|j| j.position == position)
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        Ok(Origin {
            prefix: format!("ilink-rs:{}:{}:{position}", self.tag, self.entry),
            entry: self.entry,
            position,
            replayed: self.replayed,
            done,
        })
    }
}

impl RunSends {
    /// How many messages an earlier run of the entry had acknowledged at
    /// the positions from the next one on (0 unless replayed): what that
    /// run had spent of the quota from here, which the journal gives back
    /// instead of sending again.
    pub(crate) async fn journaled_from_next(
        &self,
        store: &dyn StateStore,
        account: &AccountId,
    ) -> Result<u32, StoreError> {
        if !self.replayed {
            return Ok(0);
        }
        let from = self.next.load(Ordering::Relaxed);
        let journal = self
            .journal
            .get_or_try_init(|| store.journal(account, self.entry))
            .await?;
        Ok(journal.iter().filter(|j| j.position >= from).count() as u32)
    }
}

impl Origin {
    /// The `client_id` of message `chunk` of this send.
    pub(crate) fn client_id(&self, chunk: u32) -> String {
        format!("{}:{chunk}", self.prefix)
    }

    /// Whether the send belongs to a run of an entry that may have been
    /// handled before (so the server may already have its messages).
    pub(crate) fn replayed(&self) -> bool {
        self.replayed
    }

    /// What the server answered to message `chunk` in an earlier run.
    pub(crate) fn journaled(&self, chunk: u32) -> Option<&SentMessage> {
        self.done.iter().find(|j| j.chunk == chunk).map(|j| &j.sent)
    }

    /// The journal row for message `chunk`, acknowledged as `sent`.
    pub(crate) fn record(&self, chunk: u32, sent: &SentMessage) -> JournaledSend {
        JournaledSend {
            entry: self.entry,
            position: self.position,
            chunk,
            sent: sent.clone(),
        }
    }
}

/// Eight hex digits naming the account in `client_id`s (32-bit FNV-1a of
/// its id): entry ids are only unique per account, and ids must never be
/// shared between two different messages.
pub(crate) fn account_tag(account: &AccountId) -> String {
    let hash = account.as_str().bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, ReceivedBatch, ReceivedEntry};

    fn account() -> AccountId {
        AccountId::new("bot@im.bot")
    }

    #[test]
    fn the_tag_is_stable_and_tells_accounts_apart() {
        // FNV-1a of "a" is 0xe40c292c: the tag must not change between
        // builds, or a replay after an upgrade would send again.
        assert_eq!(account_tag(&AccountId::new("a")), "e40c292c");
        assert_ne!(
            account_tag(&account()),
            account_tag(&AccountId::new("other@im.bot"))
        );
        assert_eq!(account_tag(&account()).len(), 8);
    }

    #[tokio::test]
    async fn ids_follow_entry_position_and_chunk_the_same_way_every_run() {
        let store = MemoryStore::new();
        let ids = |run: RunSends| {
            let store = &store;
            async move {
                let mut ids = Vec::new();
                for _ in 0..3 {
                    let origin = run.next(store, &account()).await.unwrap();
                    ids.push(origin.client_id(0));
                    ids.push(origin.client_id(1));
                }
                ids
            }
        };
        let first = ids(RunSends::new(&account(), 42, false)).await;
        let again = ids(RunSends::new(&account(), 42, true)).await;
        assert_eq!(first, again);
        let tag = account_tag(&account());
        assert_eq!(first[0], format!("ilink-rs:{tag}:42:0:0"));
        assert_eq!(first[5], format!("ilink-rs:{tag}:42:2:1"));
        let unique: std::collections::HashSet<_> = first.iter().collect();
        assert_eq!(unique.len(), first.len());
        let other_entry = ids(RunSends::new(&account(), 43, false)).await;
        assert!(other_entry.iter().all(|id| !first.contains(id)));
    }

    #[tokio::test]
    async fn a_replayed_run_finds_what_the_journal_holds_per_position() {
        let store = MemoryStore::new();
        let batch = ReceivedBatch {
            entries: vec![ReceivedEntry {
                entry: crate::store::InboxEntry {
                    id: 7,
                    msg: Default::default(),
                    received_at_ms: 0,
                },
                dedup_keys: Vec::new(),
                context_token: None,
                json: None,
            }],
            ..Default::default()
        };
        store.commit_received(&account(), &batch).await.unwrap();
        let first = RunSends::new(&account(), 7, false);
        let p0 = first.next(&store, &account()).await.unwrap();
        let sent = SentMessage {
            client_id: p0.client_id(1),
            message_id: Some(99),
        };
        store
            .record_sent(&account(), &[], &[p0.record(1, &sent)])
            .await
            .unwrap();
        // A live run never reads the journal.
        assert_eq!(p0.journaled(1), None);

        let replay = RunSends::new(&account(), 7, true);
        let p0 = replay.next(&store, &account()).await.unwrap();
        let p1 = replay.next(&store, &account()).await.unwrap();
        assert_eq!(p0.journaled(1), Some(&sent));
        assert_eq!(p0.journaled(0), None);
        assert_eq!(p1.journaled(1), None);
    }
}
