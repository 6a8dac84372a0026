//! Many bot processes sharing many accounts through PostgreSQL: each
//! process is a *worker* that polls and sends only for the accounts it
//! holds a *lease* on. See docs/scaling.md.
//!
//! - Workers register in the `workers` table and renew a heartbeat every
//!   [`Cluster::heartbeat_every`]; one whose heartbeat is older than its
//!   [`Cluster::lease_ttl`] is dead, and its leases are free.
//! - Each lease has an epoch, raised at every change of holder. Every
//!   write of a worker for an account (cursor, inbox, tokens, journal,
//!   conversation state) checks, in its own transaction, that the worker
//!   still holds the lease at the epoch it took it with ([`Fence`]), so a
//!   worker that was paused or cut off writes nothing once another took
//!   over. It also has a poll open only while its last confirmed heartbeat
//!   is younger than four fifths of the TTL ([`Fence::poll_window`]), and
//!   hangs up one still open then.
//! - Shares are balanced: with `W` live workers and `A` accounts no worker
//!   keeps more than ⌈A/W⌉; one above its share drains the extra accounts
//!   and releases them, and a worker that stops releases all of its own, so
//!   a joining worker gets its share by handover, not by waiting for a TTL.
//!   Releases are announced with `NOTIFY`, so the others act at once.
//!
//! ```no_run
//! use ilink_framework::prelude::*;
//! # struct Echo;
//! # #[async_trait]
//! # impl Handler for Echo {
//! #     async fn handle(&self, _ctx: &mut Context, _msg: Message) -> HandlerResult { Ok(()) }
//! # }
//! # async fn demo() -> Result<(), BotError> {
//! // Start as many of these as you like, on as many machines: they share
//! // the accounts `ilink login --database-url …` saved.
//! Bot::builder(Echo)
//!     .cluster("postgres://bot@db.internal/ilink")
//!     .build()?
//!     .run()
//!     .await
//! # }
//! ```

mod fence;
mod keeper;
pub(crate) mod leases;
mod status;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use fence::Fence;
pub(crate) use keeper::{Keeper, KeeperHandle};
pub use status::{ClusterStatus, LeaseStatus, WorkerStatus};

/// How a bot joins a cluster: the database and the lease timings.
#[derive(Clone, PartialEq, Eq)]
pub struct Cluster {
    pub(crate) database_url: String,
    pub(crate) lease_ttl: Duration,
    pub(crate) heartbeat_every: Option<Duration>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold the database password.
        f.debug_struct("Cluster")
            .field("lease_ttl", &self.lease_ttl)
            .field("heartbeat_every", &self.heartbeat_every())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// The default lease TTL: a dead worker's accounts are taken over
    /// after this long.
    pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

    /// Joins the cluster of the database at `database_url`
    /// (`postgres://user:password@host:port/database`).
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            lease_ttl: Self::DEFAULT_LEASE_TTL,
            heartbeat_every: None,
        }
    }

    /// How long after its last heartbeat a worker's leases expire
    /// (default 10 s): the longest an account stays unpolled after its
    /// worker dies, and the pause after which a worker must not poll.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// How often the worker renews its heartbeat and rebalances (default:
    /// a quarter of the TTL, so three heartbeats may fail before the
    /// leases expire).
    pub fn heartbeat_every(&self) -> Duration {
        self.heartbeat_every.unwrap_or(self.lease_ttl / 4)
    }

    /// Sets how often the worker renews its heartbeat and rebalances.
    pub fn with_heartbeat_every(mut self, every: Duration) -> Self {
        self.heartbeat_every = Some(every);
        self
    }

    /// Why these settings cannot work, if they cannot.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.lease_ttl < Duration::from_millis(100) {
            return Err("the cluster's lease TTL must be at least 100 ms".into());
        }
        if self.heartbeat_every() >= self.lease_ttl || self.heartbeat_every().is_zero() {
            return Err(format!(
                "the cluster's heartbeat interval ({:?}) must be above zero and below the lease TTL ({:?})",
                self.heartbeat_every(),
                self.lease_ttl
            ));
        }
        Ok(())
    }
}

/// The connect options of a worker's store: `options` with
/// `idle_in_transaction_session_timeout` and `lock_timeout` at half the
/// lease TTL. A worker paused inside a transaction (SIGSTOP, a frozen VM)
/// holds its lease rows `FOR SHARE`; the server ends that transaction well
/// before the lease expires, so a takeover never waits on it, and no
/// statement of a worker waits on a lock past that either.
pub(crate) fn worker_connect_options(
    options: sqlx_postgres::PgConnectOptions,
    ttl: Duration,
) -> sqlx_postgres::PgConnectOptions {
    let half_ttl = (ttl / 2).as_millis().max(1).to_string();
    options.options([
        ("idle_in_transaction_session_timeout", half_ttl.as_str()),
        ("lock_timeout", half_ttl.as_str()),
    ])
}

/// A worker id no other process has: host, pid and start time.
pub(crate) fn new_worker_id() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!(
        "{host}-{}-{:x}",
        std::process::id(),
        crate::store::now_ms().max(0)
    )
}
