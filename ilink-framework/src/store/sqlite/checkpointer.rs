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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreError;

/// How often the checkpointer looks for new commits. At 5,000 messages a
/// second that is a few hundred WAL pages per checkpoint, against SQLite's
/// default of a thousand.
pub(super) const EVERY: Duration = Duration::from_millis(100);

/// A handle to the checkpointer thread; [`Checkpointer::stop`] ends the
/// thread and waits for it, dropping the handle ends it without waiting.
pub(super) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
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
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = std::thread::Builder::new()
            .name("ilink-sqlite-checkpointer".into())
            .spawn({
                let (stop, path) = (stop.clone(), path.clone());
                move || run(&conn, &path, &commits, &stop)
            })
            .map_err(|e| StoreError::io(path.display(), e))?;
        Ok(Self {
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Ends the thread (closing its connection) and waits for it: for a
    /// checkpoint under way, at most.
    pub(super) async fn stop(&self) {
        if let Some(thread) = self.signal_stop() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    /// Tells the thread to end; returns it unless already told.
    fn signal_stop(&self) -> Option<JoinHandle<()>> {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        self.thread.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Drop for Checkpointer {
    /// Tells the thread to end without waiting: it ends after the
    /// checkpoint under way, if any.
    fn drop(&mut self) {
        self.signal_stop();
    }
}

fn run(conn: &Connection, path: &Path, commits: &AtomicU64, stop: &(Mutex<bool>, Condvar)) {
    let (stopped, wake) = stop;
    let mut seen = commits.load(Ordering::Relaxed);
    let mut failing = false;
    loop {
        {
            let guard = stopped.lock().unwrap_or_else(|e| e.into_inner());
            let (guard, _) = wake
                .wait_timeout_while(guard, EVERY, |stopped| !*stopped)
                .unwrap_or_else(|e| e.into_inner());
            if *guard {
                return;
            }
        }
        let now = commits.load(Ordering::Relaxed);
        if now == seen {
            continue;
        }
        seen = now;
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => {
                if failing {
                    tracing::info!(database = %path.display(), "checkpointing works again");
                }
                failing = false;
            }
            // Nothing is lost: the commits are in the WAL, which grows until
            // a checkpoint succeeds (a full disk, usually). Told once.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(database = %path.display(), error = %e, "checkpointing the WAL failed; it will be retried");
            }
            Err(e) => {
                tracing::debug!(database = %path.display(), error = %e, "checkpointing the WAL failed again");
            }
        }
    }
}
