//! The checkpointer thread of [`SqliteStore`](super::SqliteStore): copies
//! the WAL into the database file beside the writer, so that no commit
//! waits for it.
//!
//! SQLite's own automatic checkpoint runs inside the commit that takes the
//! WAL past `wal_autocheckpoint` pages: that commit, and every write queued
//! behind it (received batches included), waits for about a thousand page
//! writes and two fsyncs. A `PASSIVE` checkpoint made from a connection of
//! its own runs beside the writer instead: WAL mode lets it copy committed
//! frames while new ones are appended, and the writer starts the WAL over
//! from its beginning once a checkpoint has copied all of it, so the file
//! stays as small as before. The writer's connection has the automatic
//! checkpoint turned off ([`super::open::connect_writer`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::told_once::ToldOnce;
use crate::store::StoreError;

/// How often the checkpointer looks for new commits. At 5,000 messages a
/// second that is a few hundred WAL pages per checkpoint, against SQLite's
/// default of a thousand.
pub(super) const EVERY: Duration = Duration::from_millis(100);

/// A handle to the checkpointer thread; [`Checkpointer::stop`] ends the
/// thread and waits for it, dropping the handle ends it without waiting.
pub(super) struct Checkpointer {
    /// The thread, and the sender whose drop tells it to end; `None` once
    /// stopped.
    running: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer").finish_non_exhaustive()
    }
}

impl Checkpointer {
    /// Starts checkpointing through `conn` every [`EVERY`] in which
    /// `commits` (the writer's count of write transactions) moved.
    pub(super) fn spawn(
        conn: Connection,
        path: PathBuf,
        commits: Arc<AtomicU64>,
    ) -> Result<Self, StoreError> {
        let (stop, stopped) = mpsc::channel();
        // What is committed before the thread starts is checkpointed too.
        let done = commits.load(Ordering::Relaxed);
        let thread = std::thread::Builder::new()
            .name("ilink-sqlite-checkpointer".into())
            .spawn({
                let path = path.clone();
                move || {
                    let checkpoint =
                        || conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    run(checkpoint, &path, &commits, done, &stopped)
                }
            })
            .map_err(|e| StoreError::io(path.display(), e))?;
        Ok(Self {
            running: Mutex::new(Some((stop, thread))),
        })
    }

    /// Ends the thread (closing its connection) and waits for it: for a
    /// checkpoint under way, at most.
    pub(super) async fn stop(&self) {
        if let Some(thread) = self.signal_stop() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    /// Tells the thread to end (by dropping its sender); returns it unless
    /// already told.
    fn signal_stop(&self) -> Option<JoinHandle<()>> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        running.map(|(_stop, thread)| thread)
    }
}

impl Drop for Checkpointer {
    /// Tells the thread to end without waiting: it ends after the
    /// checkpoint under way, if any.
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// The thread's loop: `checkpoint` every [`EVERY`] in which `commits` moved
/// since the last checkpoint that succeeded (or from `done`), until
/// `stopped`'s sender is dropped.
fn run(
    mut checkpoint: impl FnMut() -> rusqlite::Result<()>,
    path: &Path,
    commits: &AtomicU64,
    mut done: u64,
    stopped: &mpsc::Receiver<()>,
) {
    let mut told = ToldOnce::new("checkpointing the WAL");
    // Nothing is ever sent: the handle's drop of the sender ends the wait.
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
        let now = commits.load(Ordering::Relaxed);
        if now == done {
            continue;
        }
        match checkpoint() {
            Ok(()) => {
                done = now;
                told.succeeded(path);
            }
            // Nothing is lost: the commits are in the WAL, which grows until
            // a checkpoint succeeds (a full disk, usually); tried again at the
            // next tick.
            Err(e) => told.failed(path, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    #[test]
    fn a_failed_checkpoint_is_tried_again_without_another_commit_and_a_done_one_is_not() {
        // One commit the checkpointer has not seen.
        let commits = Arc::new(AtomicU64::new(1));
        let calls = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::spawn({
            let (commits, calls) = (commits.clone(), calls.clone());
            move || {
                let checkpoint = || {
                    // The first fails, as on a full disk; the others succeed.
                    match calls.fetch_add(1, Ordering::SeqCst) {
                        0 => Err(rusqlite::Error::InvalidQuery),
                        _ => Ok(()),
                    }
                };
                run(checkpoint, Path::new("ilink.db"), &commits, 0, &stopped)
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while calls.load(Ordering::SeqCst) < 2 {
            assert!(
                Instant::now() < deadline,
                "the failed checkpoint was not retried"
            );
            std::thread::sleep(EVERY / 4);
        }
        // Done, and nothing committed since: no more checkpoints.
        std::thread::sleep(EVERY * 4);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        drop(stop);
        thread.join().unwrap();
    }
}
