//! When the writer thread's commits are fsynced, under
//! [`Durability::Full`]: at once for a group holding a received batch (the
//! server will not send it again), with the next fsync for the rest.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::Durability;
use super::told_once::ToldOnce;

/// What `PRAGMA wal_checkpoint` answers.
struct Checkpoint {
    /// 1 when it could not run: the checkpointer thread's was under way
    /// (the frame counts are then -1).
    busy: i64,
    /// Frames in the WAL.
    frames: i64,
    /// Frames copied into the database file.
    copied: i64,
}

impl Checkpoint {
    /// Whether it synced the whole WAL: it ran, and copied every frame
    /// (it syncs the WAL before it copies).
    fn synced_all(&self) -> bool {
        self.busy == 0 && self.frames >= 0 && self.copied >= self.frames
    }
}

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
    /// When an idle flush last failed to sync (a reader's snapshot held the
    /// checkpoint back, or it failed): the next is tried a delay after it.
    flush_failed_at: Option<Instant>,
    unsynced: Arc<AtomicBool>,
    fsyncs: Arc<AtomicU64>,
    /// Failed flushes, told once rather than every [`SYNC_DELAY`].
    told: ToldOnce,
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
            flush_failed_at: None,
            unsynced,
            fsyncs,
            told: ToldOnce::new("syncing the database"),
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
            self.flush_failed_at = None;
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        self.unsynced.store(self.since.is_some(), Ordering::Relaxed);
    }

    /// How long the writer may wait for a job before it must fsync.
    pub(super) fn wait(&self) -> Option<Duration> {
        self.since.map(|t| {
            let due = SYNC_DELAY.saturating_sub(t.elapsed());
            match self.flush_failed_at {
                Some(failed) => due.max(SYNC_DELAY.saturating_sub(failed.elapsed())),
                None => due,
            }
        })
    }

    /// Makes every commit so far durable with the writer idle: a
    /// checkpoint syncs the WAL before it copies it into the database file,
    /// and `PASSIVE` never waits for a reader. One held back by a reader's
    /// snapshot is tried again a delay later (a group commits at `FULL`
    /// meanwhile).
    pub(super) fn flush(&mut self, conn: &Connection, path: &Path) {
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok(Checkpoint {
                busy: row.get(0)?,
                frames: row.get(1)?,
                copied: row.get(2)?,
            })
        });
        match done {
            Ok(checkpoint) if checkpoint.synced_all() => {
                self.since = None;
                self.flush_failed_at = None;
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                self.unsynced.store(false, Ordering::Relaxed);
                self.told.succeeded(path);
            }
            // `since` stays as it was, so the commits are still due and
            // each later group commits at FULL until one has synced them
            // all; the flush itself is tried again a delay later.
            Ok(_) => self.flush_failed_at = Some(Instant::now()),
            Err(e) => {
                // Nothing is lost: the commits are in the WAL.
                self.told.failed(path, e);
                self.flush_failed_at = Some(Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Checkpoint;

    #[test]
    fn only_a_checkpoint_that_ran_and_copied_every_frame_synced_the_wal() {
        let answer = |busy, frames, copied| Checkpoint {
            busy,
            frames,
            copied,
        };
        assert!(answer(0, 12, 12).synced_all());
        assert!(answer(0, 0, 0).synced_all(), "an empty WAL");
        assert!(!answer(0, 12, 8).synced_all(), "held back by a reader");
        // Another connection's checkpoint was under way: nothing ran here,
        // and that one may have started before the last commit.
        assert!(!answer(1, -1, -1).synced_all());
    }
}
