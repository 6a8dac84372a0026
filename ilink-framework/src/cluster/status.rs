//! [`ClusterStatus`]: who works, who holds which account at which epoch,
//! and how much waits in each inbox, as `ilink cluster status` shows it.

use serde::Serialize;
use sqlx_core::query_as;

use crate::store::{PgStore, StoreError};

/// id, host, pid, heartbeat age, TTL, alive, stopping.
type WorkerColumns = (String, String, i64, i64, i64, bool, bool);
/// account, worker, epoch, held, inbox depth.
type AccountColumns = (String, Option<String>, Option<i64>, bool, i64);

/// A worker as the database knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkerStatus {
    /// Its id (host, pid and start time).
    pub id: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// Milliseconds since its last heartbeat, by the database's clock.
    pub heartbeat_age_ms: i64,
    /// Its lease TTL in milliseconds.
    pub ttl_ms: i64,
    /// Whether its heartbeat is younger than its TTL.
    pub alive: bool,
    /// Whether it is draining to stop.
    pub stopping: bool,
    /// How many leases it holds.
    pub accounts: usize,
}

/// An account with saved credentials, and who holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeaseStatus {
    /// The account.
    pub account: String,
    /// The worker holding its lease; `None` when free (or never taken).
    pub worker: Option<String>,
    /// The lease's epoch (0 when never taken).
    pub epoch: i64,
    /// Whether the holder is alive; a lease of a dead worker is free.
    pub held: bool,
    /// Messages received and not yet handled.
    pub inbox_depth: i64,
}

/// The state of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// Every worker with a row, by id.
    pub workers: Vec<WorkerStatus>,
    /// Every account with credentials, by account.
    pub accounts: Vec<LeaseStatus>,
}

impl ClusterStatus {
    /// Reads the state of the cluster whose database `store` uses.
    pub async fn load(store: &PgStore) -> Result<Self, StoreError> {
        let pool = store.pool();
        let workers: Vec<WorkerColumns> = query_as::query_as(
            "SELECT id, host, pid, \
                 (extract(epoch FROM now() - heartbeat_at) * 1000)::bigint, ttl_ms, \
                 heartbeat_at > now() - ttl_ms * interval '1 millisecond', stopping \
             FROM workers ORDER BY id",
        )
        .fetch_all(pool)
        .await
        .map_err(|e| store.db_error(e))?;
        let accounts: Vec<AccountColumns> = query_as::query_as(
            "SELECT c.account, l.worker, l.epoch, \
                 coalesce(w.heartbeat_at > now() - w.ttl_ms * interval '1 millisecond', false), \
                 (SELECT count(*) FROM inbox i WHERE i.account = c.account) \
             FROM credentials c \
             LEFT JOIN leases l ON l.account = c.account \
             LEFT JOIN workers w ON w.id = l.worker \
             ORDER BY c.account",
        )
        .fetch_all(pool)
        .await
        .map_err(|e| store.db_error(e))?;
        let accounts: Vec<LeaseStatus> = accounts
            .into_iter()
            .map(|(account, worker, epoch, held, inbox_depth)| LeaseStatus {
                account,
                worker,
                epoch: epoch.unwrap_or(0),
                held,
                inbox_depth,
            })
            .collect();
        let workers = workers
            .into_iter()
            .map(
                |(id, host, pid, heartbeat_age_ms, ttl_ms, alive, stopping)| WorkerStatus {
                    accounts: accounts
                        .iter()
                        .filter(|a| a.held && a.worker.as_deref() == Some(id.as_str()))
                        .count(),
                    id,
                    host,
                    pid: u32::try_from(pid).unwrap_or_default(),
                    heartbeat_age_ms,
                    ttl_ms,
                    alive,
                    stopping,
                },
            )
            .collect();
        Ok(Self { workers, accounts })
    }
}
