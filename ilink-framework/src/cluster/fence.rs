//! [`Fence`]: what a worker believes it holds, the epoch of each lease
//! and how long its last heartbeat keeps them, shared by the lease keeper
//! (which changes it), the store (which writes only under a held epoch)
//! and the pollers (which poll only while the lease is fresh).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::account::AccountId;

/// The leases one worker holds.
#[derive(Debug)]
pub struct Fence {
    worker: String,
    ttl: Duration,
    epochs: RwLock<HashMap<AccountId, i64>>,
    /// When the last heartbeat the database confirmed was sent: the leases
    /// are surely still this worker's until `ttl` after it.
    renewed: Mutex<Option<Instant>>,
}

impl Fence {
    /// The fence of worker `worker`, whose leases expire `ttl` after its
    /// last heartbeat.
    pub(crate) fn new(worker: impl Into<String>, ttl: Duration) -> Self {
        Self {
            worker: worker.into(),
            ttl,
            epochs: RwLock::new(HashMap::new()),
            renewed: Mutex::new(None),
        }
    }

    /// The worker's id, as the `workers` table has it.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// The epoch of the lease this worker holds on `account`, if any.
    pub fn epoch(&self, account: &AccountId) -> Option<i64> {
        self.epochs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(account)
            .copied()
    }

    /// The accounts this worker holds, with their epochs, sorted.
    pub fn held(&self) -> Vec<(AccountId, i64)> {
        let mut held: Vec<_> = self
            .epochs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(a, e)| (a.clone(), *e))
            .collect();
        held.sort();
        held
    }

    /// Whether this worker may poll `account` now: it holds the lease and
    /// its last confirmed heartbeat is younger than the TTL. A worker that
    /// was paused past its TTL stops here until the keeper has checked
    /// with the database again.
    pub fn fresh(&self, account: &AccountId) -> bool {
        self.epoch(account).is_some() && self.heartbeat_fresh()
    }

    /// Whether the last confirmed heartbeat is younger than the TTL.
    pub fn heartbeat_fresh(&self) -> bool {
        self.renewed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < self.ttl)
    }

    pub(crate) fn insert(&self, account: AccountId, epoch: i64) {
        self.epochs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account, epoch);
    }

    pub(crate) fn remove(&self, account: &AccountId) -> Option<i64> {
        self.epochs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account)
    }

    /// Records a heartbeat the database confirmed, sent at `sent`.
    pub(crate) fn renewed(&self, sent: Instant) {
        *self.renewed.lock().unwrap_or_else(|e| e.into_inner()) = Some(sent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lease_is_fresh_only_within_the_ttl_of_the_last_heartbeat() {
        let fence = Fence::new("w", Duration::from_secs(10));
        let a = AccountId::new("a@im.bot");
        fence.insert(a.clone(), 3);
        assert!(!fence.fresh(&a), "no heartbeat yet");
        fence.renewed(Instant::now());
        assert!(fence.fresh(&a));
        assert!(!fence.fresh(&AccountId::new("other@im.bot")));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!fence.fresh(&a), "a paused worker must not poll");
        fence.renewed(Instant::now());
        assert!(fence.fresh(&a));
        assert_eq!(fence.remove(&a), Some(3));
        assert!(!fence.fresh(&a));
    }
}
