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
    /// its last confirmed heartbeat is younger than the poll window (see
    /// [`poll_window`](Self::poll_window)). A worker that was paused past
    /// it stops here until the keeper has checked with the database again.
    pub fn fresh(&self, account: &AccountId) -> bool {
        self.poll_deadline(account)
            .is_some_and(|until| Instant::now() < until)
    }

    /// How long after a confirmed heartbeat this worker may have a poll
    /// open: four fifths of the TTL. The database frees the lease only a
    /// whole TTL after that heartbeat, so the last fifth is the time a
    /// cancelled poll's hang-up has to reach the server before another
    /// worker can take the account and poll it.
    pub fn poll_window(&self) -> Duration {
        self.ttl * 4 / 5
    }

    /// When this worker must stop polling `account` unless a heartbeat
    /// comes first: `None` when it holds no lease on it or never had a
    /// heartbeat confirmed.
    fn poll_deadline(&self, account: &AccountId) -> Option<Instant> {
        self.epoch(account)?;
        let renewed = *self.renewed.lock().unwrap_or_else(|e| e.into_inner());
        renewed.map(|at| at + self.poll_window())
    }

    /// Resolves once this worker may no longer poll `account` (see
    /// [`fresh`](Self::fresh)), however long that takes: a poll in flight
    /// ends there, so a worker whose heartbeats stall never still has a
    /// long-poll open when the account is taken over.
    pub async fn lapsed(&self, account: &AccountId) {
        // Heartbeats move the deadline on; each wake-up reads it again.
        while let Some(until) = self.poll_deadline(account) {
            if Instant::now() >= until {
                return;
            }
            tokio::time::sleep_until(until).await;
        }
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
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lease_is_fresh_only_within_the_poll_window_of_the_last_heartbeat() {
        let fence = Fence::new("w", Duration::from_secs(10));
        let a = AccountId::new("a@im.bot");
        fence.insert(a.clone(), 3);
        assert!(!fence.fresh(&a), "no heartbeat yet");
        fence.renewed(Instant::now());
        assert!(fence.fresh(&a));
        assert!(!fence.fresh(&AccountId::new("other@im.bot")));
        tokio::time::advance(Duration::from_secs(7)).await;
        assert!(fence.fresh(&a));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(
            !fence.fresh(&a),
            "polls stop a fifth of the TTL before the lease can expire"
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(!fence.fresh(&a), "a paused worker must not poll");
        fence.renewed(Instant::now());
        assert!(fence.fresh(&a));
        assert_eq!(fence.remove(&a), Some(3));
        assert!(!fence.fresh(&a));
    }

    #[tokio::test(start_paused = true)]
    async fn a_poll_lapses_at_the_end_of_the_window_unless_a_heartbeat_renews_it() {
        let fence = Arc::new(Fence::new("w", Duration::from_secs(10)));
        let a = AccountId::new("a@im.bot");
        fence.insert(a.clone(), 1);
        fence.renewed(Instant::now());
        let start = Instant::now();
        let lapsed = tokio::spawn({
            let (fence, a) = (fence.clone(), a.clone());
            async move { fence.lapsed(&a).await }
        });
        // Two heartbeats, 2.5 s apart, carry the poll past the first window.
        for _ in 0..2 {
            tokio::time::advance(Duration::from_millis(2500)).await;
            fence.renewed(Instant::now());
        }
        let mut lapsed = lapsed;
        let early = tokio::time::timeout(Duration::from_millis(7999), &mut lapsed).await;
        assert!(early.is_err(), "renewed 8 s ago at most: still polling");
        tokio::time::timeout(Duration::from_secs(60), lapsed)
            .await
            .expect("the poll lapses once the heartbeats stop")
            .unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(13));
        assert!(!fence.fresh(&a));

        // No lease, no waiting: a poll of an account not held ends at once.
        fence.renewed(Instant::now());
        fence.remove(&a);
        tokio::time::timeout(Duration::from_millis(1), fence.lapsed(&a))
            .await
            .expect("lapses at once without a lease");
    }
}
