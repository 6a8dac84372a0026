//! [`Deferred`]: the writes a store may group-commit (see the module docs
//! of [`store`](super)), as [`SqliteStore`](super::SqliteStore) and
//! [`PgStore`](super::PgStore) queue them for their committer.

use tokio::sync::oneshot;

use super::{JournaledSend, ReceivedBatch, SentCount, StateChange, StoreError};
use crate::account::AccountId;

/// What a received batch's caller is told once its transaction committed.
pub(crate) type ReceivedOutcome = Result<Vec<Option<u64>>, StoreError>;

/// A write that waits for a group commit.
#[derive(Debug)]
pub(crate) enum Deferred {
    /// A received batch: a batch the store's rules refuse writes nothing
    /// and fails alone, its outcome set by the commit.
    Received {
        account: AccountId,
        batch: ReceivedBatch,
        outcome: Option<ReceivedOutcome>,
        done: Option<oneshot::Sender<ReceivedOutcome>>,
    },
    Remove {
        account: AccountId,
        ids: Vec<i64>,
    },
    Sent {
        account: AccountId,
        sends: Vec<SentCount>,
        journal: Vec<JournaledSend>,
    },
    Handled {
        account: AccountId,
        entry: i64,
        changes: Vec<StateChange>,
    },
}

impl Deferred {
    /// The account the write is for.
    pub(crate) fn account(&self) -> &AccountId {
        match self {
            Self::Received { account, .. }
            | Self::Remove { account, .. }
            | Self::Sent { account, .. }
            | Self::Handled { account, .. } => account,
        }
    }

    /// A received batch, and where its outcome arrives once committed.
    pub(crate) fn received(
        account: &AccountId,
        batch: &ReceivedBatch,
    ) -> (Self, oneshot::Receiver<ReceivedOutcome>) {
        let (done, outcome) = oneshot::channel();
        let op = Self::Received {
            account: account.clone(),
            batch: batch.clone(),
            outcome: None,
            done: Some(done),
        };
        (op, outcome)
    }

    /// The removal of refused entries; `None` when no id could be stored
    /// (an id above 2^63 never was), so there is nothing to do.
    pub(crate) fn remove(account: &AccountId, ids: &[u64]) -> Option<Self> {
        let ids: Vec<i64> = ids
            .iter()
            .filter_map(|id| i64::try_from(*id).ok())
            .collect();
        (!ids.is_empty()).then(|| Self::Remove {
            account: account.clone(),
            ids,
        })
    }

    /// Acknowledged sends; `None` when there is nothing to record.
    pub(crate) fn sent(
        account: &AccountId,
        sends: &[SentCount],
        journal: &[JournaledSend],
    ) -> Option<Self> {
        (!sends.is_empty() || !journal.is_empty()).then(|| Self::Sent {
            account: account.clone(),
            sends: sends.to_vec(),
            journal: journal.to_vec(),
        })
    }

    /// A handled entry and its run's state changes.
    pub(crate) fn handled(account: &AccountId, entry: u64, changes: &[StateChange]) -> Self {
        Self::Handled {
            account: account.clone(),
            // An id the database cannot hold was never stored.
            entry: i64::try_from(entry).unwrap_or(-1),
            changes: changes.to_vec(),
        }
    }
}

/// Tells the callers of received batches how they went, once the group's
/// transaction committed.
pub(crate) fn deliver_outcomes(ops: Vec<Deferred>) {
    for op in ops {
        if let Deferred::Received {
            outcome: Some(outcome),
            done: Some(done),
            ..
        } = op
        {
            // A caller that stopped waiting does not need the answer.
            let _ = done.send(outcome);
        }
    }
}
