//! When the writer thread's commits are fsynced, under
//! [`Durability::Full`]: at once for a group holding a received batch (the
//! server will not send it again), with the next fsync for the rest.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::Durability;

/// Under [`Durability::Full`], the longest a commit made at `NORMAL` waits
/// for an fsync.
pub(super) const SYNC_DELAY: Duration = Duration::from_millis(100);

/// Which commits wait for an fsync, under [`Durability::Full`].
pub(super) struct SyncState {
    pub(super) full: bool,
    /// The connection is at `synchronous=NORMAL` for now.
    relaxed: bool,
    /// When the oldest commit not yet fsynced was made.
    since: Option<Instant>,
    unsynced: Arc<AtomicBool>,
    fsyncs: Arc<AtomicU64>,
}

impl SyncState {
    /// Nothing unsynced yet; `unsynced` and `fsyncs` are read through the
    /// writer's handle.
    pub(super) fn new(
        durability: Durability,
        unsynced: Arc<AtomicBool>,
        fsyncs: Arc<AtomicU64>,
    ) -> Self {
        Self {
            full: durability == Durability::Full,
            relaxed: false,
            since: None,
            unsynced,
            fsyncs,
        }
    }

    /// Sets the level the next transaction commits at: `FULL` for a
    /// received batch, any direct job, or once an fsync is due.
    pub(super) fn prepare(&mut self, conn: &Connection, needs_fsync: bool) -> rusqlite::Result<()> {
        if !self.full {
            return Ok(());
        }
        let due = self.since.is_some_and(|t| t.elapsed() >= SYNC_DELAY);
        let relax = !needs_fsync && !due;
        if relax != self.relaxed {
            conn.execute_batch(if relax {
                "PRAGMA synchronous = NORMAL"
            } else {
                "PRAGMA synchronous = FULL"
            })?;
            self.relaxed = relax;
        }
        Ok(())
    }

    /// Notes a committed write transaction.
    pub(super) fn committed(&mut self) {
        if !self.full {
            return;
        }
        if self.relaxed {
            self.since.get_or_insert_with(Instant::now);
        } else {
            self.since = None;
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        self.unsynced.store(self.since.is_some(), Ordering::Relaxed);
    }

    /// How long the writer may wait for a job before it must fsync.
    pub(super) fn wait(&self) -> Option<Duration> {
        self.since.map(|t| SYNC_DELAY.saturating_sub(t.elapsed()))
    }

    /// Makes every commit so far durable with the writer idle: a
    /// checkpoint syncs the WAL before it copies it into the database file,
    /// and `PASSIVE` never waits for a reader. One held back by a reader's
    /// snapshot is tried again a delay later (a group commits at `FULL`
    /// meanwhile).
    pub(super) fn flush(&mut self, conn: &Connection, path: &Path) {
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        match done {
            Ok((frames, copied)) if copied >= frames => {
                self.since = None;
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                self.unsynced.store(false, Ordering::Relaxed);
            }
            Ok(_) => self.since = Some(Instant::now()),
            Err(e) => {
                tracing::warn!(database = %path.display(), error = %e, "syncing the database failed");
                self.since = Some(Instant::now());
            }
        }
    }
}
