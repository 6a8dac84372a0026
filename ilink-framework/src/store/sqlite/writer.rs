//! The writer thread of [`SqliteStore`](super::SqliteStore): the one
//! connection that makes every write, on a thread of its own.
//!
//! SQLite is a library, not a server: a statement is a function call of a
//! few microseconds. Handing each one to another thread and back, as an
//! async driver does, costs several times that, so the writer takes whole
//! jobs instead: a group of deferred writes is one transaction made in one
//! go, with cached prepared statements. While one transaction is being made
//! durable the next writes queue up, so the delay a write sees is bounded
//! by one commit, and under load one fsync covers many writes.
//!
//! Under [`Durability::Full`] only what the server will not send again needs
//! its own fsync: a group holding a received batch commits at
//! `synchronous=FULL`. Other groups (handled entries, send counts and
//! journal rows) commit at `NORMAL`, safe from a crash of the process at
//! once, and from a power loss with the next fsync: the next received batch
//! or, within [`SYNC_DELAY`](super::fsync_policy::SYNC_DELAY), a group at `FULL` or (when idle) a checkpoint,
//! which syncs the WAL first. The WAL is one sequential file, so one fsync
//! covers every commit before it. Such a group waits up to [`GATHER`] for
//! more writes (a received batch ends the wait), as the fsync made writes
//! wait before; the jobs it gathers do not wake it one by one (see
//! [`super::job_queue`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::Durability;
use super::dedup_index::DedupIndex;
use super::fsync_policy::SyncState;
use super::job_queue::{JobQueue, Next, Urgency};
use super::known_rows::KnownRows;
use super::open::db_error;
use super::writes;
use crate::account::AccountId;
use crate::store::StoreError;
use crate::store::deferred::{self, Deferred};

/// Jobs waiting for the writer; callers wait when it is this far behind.
const QUEUE: usize = 4096;

/// Deferred writes that one group commit may hold.
const GROUP_MAX: usize = 256;

/// Under [`Durability::Full`], how long a group that needs no fsync waits
/// for more writes: without the fsync that gathered writes while it ran,
/// each would otherwise commit alone, and a commit costs page writes
/// whatever it holds.
const GATHER: Duration = Duration::from_millis(1);

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// A write job for the writer thread.
enum Job {
    /// Group-committed with the other deferred writes waiting.
    Deferred(Deferred, Waiter),
    /// Runs alone (it makes its own transaction if it needs one).
    Direct(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Drops the in-memory dedup keys of an account (its log was emptied,
    /// or another process may have written it) and every known row.
    ForgetKeys(AccountId, oneshot::Sender<()>),
    /// Closes the connection (checkpointing the WAL into the database
    /// file), then says so; later jobs fail with [`StoreError::Closed`].
    Close(oneshot::Sender<()>),
}

/// A handle to the writer thread; the thread ends when every handle is
/// dropped or [`Writer::close`] is called.
#[derive(Clone)]
pub(super) struct Writer {
    jobs: Arc<JobQueue<Job>>,
    /// Closes the queue when the last handle is dropped.
    _handles: Arc<Handles>,
    path: PathBuf,
    commits: Arc<AtomicU64>,
    fsyncs: Arc<AtomicU64>,
    full: bool,
    #[cfg(test)]
    unsynced: Arc<AtomicBool>,
}

impl Urgency for Job {
    /// Everything but a deferred write that can wait for its group: a
    /// received batch waits for nothing but its own commit.
    fn is_urgent(&self) -> bool {
        !matches!(self, Job::Deferred(op, _) if !matches!(op, Deferred::Received { .. }))
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Shared by the handles of one writer: the last one dropped ends the
/// writer thread once it has taken every queued job.
struct Handles(Arc<JobQueue<Job>>);

impl Drop for Handles {
    fn drop(&mut self) {
        self.0.close();
    }
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
    pub(super) fn spawn(
        conn: Connection,
        path: PathBuf,
        durability: Durability,
    ) -> Result<Self, StoreError> {
        let jobs = Arc::new(JobQueue::new(QUEUE, GROUP_MAX));
        let commits = Arc::new(AtomicU64::new(0));
        let fsyncs = Arc::new(AtomicU64::new(0));
        let unsynced = Arc::new(AtomicBool::new(false));
        let thread = WriterThread {
            conn,
            path: path.clone(),
            commits: commits.clone(),
            index: DedupIndex::default(),
            known: KnownRows::default(),
            sync: SyncState::new(durability, unsynced.clone(), fsyncs.clone()),
        };
        std::thread::Builder::new()
            .name("ilink-sqlite-writer".into())
            .spawn({
                let on_exit = CloseOnExit {
                    jobs: jobs.clone(),
                    path: path.clone(),
                };
                move || thread.run(&on_exit.jobs)
            })
            .map_err(|e| StoreError::io(path.display(), e))?;
        Ok(Self {
            _handles: Arc::new(Handles(jobs.clone())),
            jobs,
            path,
            commits,
            fsyncs,
            full: durability == Durability::Full,
            #[cfg(test)]
            unsynced,
        })
    }

    /// Whether a commit made at `NORMAL` still waits for its fsync.
    #[cfg(test)]
    pub(super) fn unsynced(&self) -> bool {
        self.unsynced.load(Ordering::Relaxed)
    }

    /// Write transactions committed so far.
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The counter behind [`Writer::commits`], for the checkpointer.
    pub(super) fn commit_counter(&self) -> Arc<AtomicU64> {
        self.commits.clone()
    }

    /// Commits and idle checkpoints made with an fsync so far.
    pub(super) fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Queues `op` and waits until the transaction holding it is committed.
    pub(super) async fn defer(&self, op: Deferred) -> Result<(), StoreError> {
        let (done, result) = oneshot::channel();
        self.jobs.push(Job::Deferred(op, done)).await?;
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
        self.jobs.push(job).await?;
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
        // Direct jobs run at the store's own level.
        let fsyncs = self.full.then(|| self.fsyncs.clone());
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            commits.fetch_add(1, Ordering::Relaxed);
            if let Some(fsyncs) = fsyncs {
                fsyncs.fetch_add(1, Ordering::Relaxed);
            }
            Ok(value)
        })
        .await
    }

    /// Drops what the writer keeps in memory of `account`'s dedup keys and
    /// of the rows it knows (once the rows are deleted, or when another
    /// process may have written them): they are read again from the
    /// database.
    pub(super) async fn forget_keys(&self, account: &AccountId) {
        let (done, forgotten) = oneshot::channel();
        if self
            .jobs
            .push(Job::ForgetKeys(account.clone(), done))
            .await
            .is_ok()
        {
            let _ = forgotten.await;
        }
    }

    /// Waits for the writes queued before it, then closes the connection.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.jobs.push(Job::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// Closes the job queue when the writer thread ends, however it ends.
/// After a panic the jobs still queued are dropped, so their callers get
/// [`StoreError::Closed`], and later ones are refused: otherwise they would
/// wait for ever for a thread that is gone.
struct CloseOnExit {
    jobs: Arc<JobQueue<Job>>,
    path: PathBuf,
}

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                database = %self.path.display(),
                "the database's writer thread panicked: the store is closed and every write \
                 fails; restart the bot (nothing committed is lost)"
            );
        }
        self.jobs.close();
        while self.jobs.try_next().is_some() {}
    }
}

/// What the writer thread owns.
struct WriterThread {
    conn: Connection,
    path: PathBuf,
    commits: Arc<AtomicU64>,
    index: DedupIndex,
    known: KnownRows,
    sync: SyncState,
}

impl WriterThread {
    /// The writer thread's loop.
    fn run(mut self, jobs: &JobQueue<Job>) {
        // A job taken while gathering a group that is not part of it.
        let mut next: Option<Job> = None;
        loop {
            let job = match next.take() {
                Some(job) => job,
                None => match jobs.next(self.sync.wait().map(|wait| Instant::now() + wait)) {
                    Next::Job(job) => job,
                    Next::Closed => break,
                    Next::TimedOut => {
                        self.sync.flush(&self.conn, &self.path);
                        continue;
                    }
                },
            };
            match job {
                Job::Direct(f) => self.direct(f),
                Job::ForgetKeys(account, done) => {
                    self.index.forget(&account);
                    self.known.forget();
                    let _ = done.send(());
                }
                Job::Close(done) => {
                    jobs.close();
                    // Jobs queued before the close still run; later ones fail.
                    while let Some(job) = jobs.try_next() {
                        match job {
                            Job::Direct(f) => self.direct(f),
                            Job::ForgetKeys(account, done) => {
                                self.index.forget(&account);
                                let _ = done.send(());
                            }
                            Job::Deferred(op, waiter) => self.commit_group(vec![(op, waiter)]),
                            Job::Close(other) => drop(other.send(())),
                        }
                    }
                    // Closing checkpoints the WAL, which syncs it first.
                    drop(self.conn);
                    let _ = done.send(());
                    return;
                }
                Job::Deferred(op, waiter) => {
                    if self.sync.full && !matches!(op, Deferred::Received { .. }) {
                        jobs.gather(Instant::now() + GATHER);
                    }
                    let mut group = vec![(op, waiter)];
                    while group.len() < GROUP_MAX {
                        match jobs.try_next() {
                            Some(Job::Deferred(op, waiter)) => group.push((op, waiter)),
                            Some(other) => {
                                next = Some(other);
                                break;
                            }
                            None => break,
                        }
                    }
                    self.commit_group(group);
                }
            }
        }
    }

    /// Runs a direct job at the store's own level: it may save what must
    /// survive a power loss at once (credentials, a message sent from the
    /// command line).
    fn direct(&mut self, f: Box<dyn FnOnce(&mut Connection) + Send>) {
        self.known.forget();
        if let Err(e) = self.sync.prepare(&self.conn, true) {
            tracing::warn!(database = %self.path.display(), error = %e, "setting the synchronous mode failed");
        }
        f(&mut self.conn);
    }

    /// Commits a group of deferred writes in one transaction and tells each
    /// caller the result (and each received batch its outcome).
    fn commit_group(&mut self, group: Vec<(Deferred, Waiter)>) {
        let (mut ops, waiters): (Vec<Deferred>, Vec<Waiter>) = group.into_iter().unzip();
        let needs_fsync = ops.iter().any(|op| matches!(op, Deferred::Received { .. }));
        let (conn, index, known, sync) = (
            &mut self.conn,
            &mut self.index,
            &mut self.known,
            &mut self.sync,
        );
        let result = (|| {
            sync.prepare(conn, needs_fsync)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            writes::commit_deferred(&tx, index, known, &mut ops)?;
            tx.commit()
        })()
        .map_err(|e| db_error(&self.path, e));
        match result {
            Ok(()) => {
                index.committed();
                known.committed();
            }
            Err(_) => {
                index.rolled_back();
                known.rolled_back();
            }
        }
        if result.is_ok() {
            sync.committed();
            self.commits.fetch_add(1, Ordering::Relaxed);
            deferred::deliver_outcomes(ops);
        }
        for waiter in waiters {
            // A caller that stopped waiting does not need the answer.
            let _ = waiter.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ReceivedBatch;

    #[test]
    fn only_writes_that_can_wait_for_their_group_leave_a_gathering_asleep() {
        let account = AccountId::new("bot@im.bot");
        let waiter = || oneshot::channel().0;
        let (received, _) = Deferred::received(&account, &ReceivedBatch::default());
        assert!(Job::Deferred(received, waiter()).is_urgent());
        assert!(Job::Direct(Box::new(|_| {})).is_urgent());
        assert!(Job::Close(oneshot::channel().0).is_urgent());
        assert!(Job::ForgetKeys(account.clone(), oneshot::channel().0).is_urgent());
        let handled = Deferred::handled(&account, 1, &[]);
        assert!(!Job::Deferred(handled, waiter()).is_urgent());
        let removal = Deferred::remove(&account, &[1]).unwrap();
        assert!(!Job::Deferred(removal, waiter()).is_urgent());
    }
}
