//! The writer thread of [`SqliteStore`](super::SqliteStore): the one
//! connection that makes every write, on a thread of its own.
//!
//! SQLite is a library, not a server: a statement is a function call of a
//! few microseconds. Handing each one to another thread and back, as an
//! async driver does, costs several times that, so the writer takes whole
//! jobs instead: a group of deferred writes is one transaction made in one
//! go, with cached prepared statements. Nothing waits on a timer: while
//! one transaction is being made durable the next writes queue up, so the
//! delay a write sees is bounded by one commit, and under load one fsync
//! covers many writes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::dedup_index::DedupIndex;
use super::open::db_error;
use super::writes;
use crate::account::AccountId;
use crate::store::StoreError;
use crate::store::deferred::{self, Deferred};

/// Jobs waiting for the writer; callers wait when it is this far behind.
const QUEUE: usize = 4096;

/// Deferred writes that one group commit may hold.
const GROUP_MAX: usize = 256;

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// A write job for the writer thread.
enum Job {
    /// Group-committed with the other deferred writes waiting.
    Deferred(Deferred, Waiter),
    /// Runs alone (it makes its own transaction if it needs one).
    Direct(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Drops the in-memory dedup keys of an account whose log was emptied.
    ForgetKeys(AccountId, oneshot::Sender<()>),
    /// Closes the connection (checkpointing the WAL into the database
    /// file), then says so; later jobs fail with [`StoreError::Closed`].
    Close(oneshot::Sender<()>),
}

/// A handle to the writer thread; the thread ends when every handle is
/// dropped or [`Writer::close`] is called.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
    commits: Arc<AtomicU64>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Deferred(..) => "Job::Deferred",
            Job::Direct(_) => "Job::Direct",
            Job::ForgetKeys(..) => "Job::ForgetKeys",
            Job::Close(_) => "Job::Close",
        })
    }
}

impl Writer {
    /// Starts the writer thread on `conn`, the database at `path`.
    pub(super) fn spawn(conn: Connection, path: PathBuf) -> Result<Self, StoreError> {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let commits = Arc::new(AtomicU64::new(0));
        let thread_path = path.clone();
        let thread_commits = commits.clone();
        std::thread::Builder::new()
            .name("ilink-sqlite-writer".into())
            .spawn(move || run(conn, rx, &thread_path, &thread_commits))
            .map_err(|e| StoreError::io(path.display(), e))?;
        Ok(Self {
            jobs,
            path,
            commits,
        })
    }

    /// Write transactions committed so far.
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Queues `op` and waits until the transaction holding it is committed.
    pub(super) async fn defer(&self, op: Deferred) -> Result<(), StoreError> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Job::Deferred(op, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        result.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Runs `f` on the writer's connection, alone, and returns what it did.
    pub(super) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let path = self.path.clone();
        let job = Job::Direct(Box::new(move |conn| {
            let _ = done.send(f(conn).map_err(|e| db_error(&path, e)));
        }));
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        result.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Runs `f` in a write transaction of its own; a transaction that made
    /// changes counts in [`Writer::commits`].
    pub(super) async fn transaction<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let commits = self.commits.clone();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            commits.fetch_add(1, Ordering::Relaxed);
            Ok(value)
        })
        .await
    }

    /// Drops what the writer keeps in memory of `account`'s dedup keys,
    /// once its rows are deleted: they are read again from the database.
    pub(super) async fn forget_keys(&self, account: &AccountId) {
        let (done, forgotten) = oneshot::channel();
        if self
            .jobs
            .send(Job::ForgetKeys(account.clone(), done))
            .await
            .is_ok()
        {
            let _ = forgotten.await;
        }
    }

    /// Waits for the writes queued before it, then closes the connection.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.jobs.send(Job::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// The writer thread's loop.
fn run(mut conn: Connection, mut jobs: mpsc::Receiver<Job>, path: &Path, commits: &AtomicU64) {
    // A job taken while gathering a group that is not part of it.
    let mut next: Option<Job> = None;
    let mut index = DedupIndex::default();
    loop {
        let Some(job) = next.take().or_else(|| jobs.blocking_recv()) else {
            break;
        };
        match job {
            Job::Direct(f) => f(&mut conn),
            Job::ForgetKeys(account, done) => {
                index.forget(&account);
                let _ = done.send(());
            }
            Job::Close(done) => {
                jobs.close();
                // Jobs queued before the close still run; later ones fail.
                while let Ok(job) = jobs.try_recv() {
                    match job {
                        Job::Direct(f) => f(&mut conn),
                        Job::ForgetKeys(account, done) => {
                            index.forget(&account);
                            let _ = done.send(());
                        }
                        Job::Deferred(op, waiter) => {
                            commit_group(&mut conn, &mut index, vec![(op, waiter)], path, commits)
                        }
                        Job::Close(other) => drop(other.send(())),
                    }
                }
                drop(conn);
                let _ = done.send(());
                return;
            }
            Job::Deferred(op, waiter) => {
                let mut group = vec![(op, waiter)];
                while group.len() < GROUP_MAX {
                    match jobs.try_recv() {
                        Ok(Job::Deferred(op, waiter)) => group.push((op, waiter)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit_group(&mut conn, &mut index, group, path, commits);
            }
        }
    }
}

/// Commits a group of deferred writes in one transaction and tells each
/// caller the result (and each received batch its outcome).
fn commit_group(
    conn: &mut Connection,
    index: &mut DedupIndex,
    group: Vec<(Deferred, Waiter)>,
    path: &Path,
    commits: &AtomicU64,
) {
    let (mut ops, waiters): (Vec<Deferred>, Vec<Waiter>) = group.into_iter().unzip();
    let result = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        writes::commit_deferred(&tx, index, &mut ops)?;
        tx.commit()
    })()
    .map_err(|e| db_error(path, e));
    match result {
        Ok(()) => index.committed(),
        Err(_) => index.rolled_back(),
    }
    if result.is_ok() {
        commits.fetch_add(1, Ordering::Relaxed);
        deferred::deliver_outcomes(ops);
    }
    for waiter in waiters {
        // A caller that stopped waiting does not need the answer.
        let _ = waiter.send(result.clone());
    }
}
