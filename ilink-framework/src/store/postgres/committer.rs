//! The group committer of [`PgStore`](super::PgStore): a tokio task that
//! takes every deferred write waiting and commits them in one transaction.
//!
//! Nothing waits on a timer: while one transaction is on its way to the
//! server and back the next writes queue up, so the delay a write sees is
//! bounded by one commit, and under load one commit (and one WAL flush on
//! the server) covers many writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx_core::error::Error as SqlxError;
use sqlx_postgres::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::open::{Target, db_error};
use super::writes;
use crate::cluster::Fence;
use crate::cluster::leases;
use crate::store::StoreError;
use crate::store::deferred::{self, Deferred};

/// Writes waiting for the committer; callers wait when it is this far behind.
const QUEUE: usize = 4096;

/// Deferred writes that one group commit may hold.
const GROUP_MAX: usize = 256;

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// A job for the committer.
enum Job {
    /// Group-committed with the other writes waiting.
    Write(Deferred, Waiter),
    /// Commits the writes queued before it, closes the pool, then says so.
    Close(oneshot::Sender<()>),
}

/// A handle to the committer task; the task ends when every handle is
/// dropped or [`Committer::close`] is called.
#[derive(Debug, Clone)]
pub(super) struct Committer {
    jobs: mpsc::Sender<Job>,
    commits: Arc<AtomicU64>,
}

impl Committer {
    /// Starts the committer on the current tokio runtime. With a fence,
    /// each write commits only if its account's lease is still held at the
    /// fence's epoch.
    pub(super) fn spawn(pool: PgPool, target: Target, fence: Option<Arc<Fence>>) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(pool, target, fence, rx, commits.clone()));
        Self { jobs, commits }
    }

    /// Write transactions committed so far.
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Queues `op` and waits until the transaction holding it is committed.
    pub(super) async fn defer(&self, op: Deferred) -> Result<(), StoreError> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Job::Write(op, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        result.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Waits for the writes queued before it, then closes the pool.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.jobs.send(Job::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// The committer's loop.
async fn run(
    pool: PgPool,
    target: Target,
    fence: Option<Arc<Fence>>,
    mut jobs: mpsc::Receiver<Job>,
    commits: Arc<AtomicU64>,
) {
    let mut received = Vec::with_capacity(GROUP_MAX);
    while jobs.recv_many(&mut received, GROUP_MAX).await > 0 {
        let mut group = Vec::with_capacity(received.len());
        let mut closing = Vec::new();
        for job in received.drain(..) {
            match job {
                Job::Write(op, waiter) => group.push((op, waiter)),
                Job::Close(done) => closing.push(done),
            }
        }
        if !closing.is_empty() {
            // Writes queued before the close still commit; later ones fail.
            jobs.close();
            while let Ok(job) = jobs.try_recv() {
                match job {
                    Job::Write(op, waiter) => group.push((op, waiter)),
                    Job::Close(done) => closing.push(done),
                }
            }
        }
        if !group.is_empty() {
            commit_group(&pool, &target, fence.as_deref(), group, &commits).await;
        }
        if !closing.is_empty() {
            pool.close().await;
            for done in closing {
                let _ = done.send(());
            }
            return;
        }
    }
}

/// Commits a group of deferred writes in one transaction and tells each
/// caller the result (and each received batch its outcome). Under a
/// fence, the writes for accounts whose lease is no longer held at the
/// fence's epoch are refused with [`StoreError::Fenced`] and the others
/// commit.
async fn commit_group(
    pool: &PgPool,
    target: &Target,
    fence: Option<&Fence>,
    group: Vec<(Deferred, Waiter)>,
    commits: &AtomicU64,
) {
    let group = match fence {
        Some(fence) => keep(group, |op| fence.epoch(op.account()).is_some()),
        None => group,
    };
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail(group, db_error(target, e)),
    };
    let group = match fence {
        Some(fence) => {
            let leases: Vec<(&str, i64)> = group
                .iter()
                .filter_map(|(op, _)| Some((op.account().as_str(), fence.epoch(op.account())?)))
                .collect();
            match leases::confirm(&mut tx, fence.worker(), &leases).await {
                Ok(held) => keep(group, |op| held.contains(op.account().as_str())),
                Err(e) => return fail(group, db_error(target, e)),
            }
        }
        None => group,
    };
    let (mut ops, waiters): (Vec<Deferred>, Vec<Waiter>) = group.into_iter().unzip();
    let result = async {
        writes::commit_deferred(&mut tx, &mut ops).await?;
        tx.commit().await
    }
    .await
    .map_err(|e: SqlxError| db_error(target, e));
    if result.is_ok() {
        commits.fetch_add(1, Ordering::Relaxed);
        deferred::deliver_outcomes(ops);
    }
    for waiter in waiters {
        // A caller that stopped waiting does not need the answer.
        let _ = waiter.send(result.clone());
    }
}

/// The writes `allowed` keeps; the others are refused as fenced: nothing
/// of them is written.
fn keep(
    group: Vec<(Deferred, Waiter)>,
    allowed: impl Fn(&Deferred) -> bool,
) -> Vec<(Deferred, Waiter)> {
    let (kept, refused): (Vec<_>, Vec<_>) = group.into_iter().partition(|(op, _)| allowed(op));
    for (op, waiter) in refused {
        let _ = waiter.send(Err(StoreError::Fenced {
            account: op.account().to_string(),
        }));
    }
    kept
}

/// Tells every caller of the group that it failed.
fn fail(group: Vec<(Deferred, Waiter)>, error: StoreError) {
    for (_, waiter) in group {
        let _ = waiter.send(Err(error.clone()));
    }
}
