//! When the writer thread's commits are made durable, under
//! [`Durability::Full`]: at once for a group holding a received batch (the
//! server will not send it again), with the next sync for the rest.
//!
//! The writer's connection runs at `synchronous=NORMAL`, at which SQLite
//! syncs nothing when a WAL transaction commits, and the writer syncs the
//! WAL itself, with `fdatasync`, right after a commit that must be durable.
//! SQLite's own sync at `synchronous=FULL` would be the same call, but the
//! SQLite that rusqlite bundles is built without `HAVE_FDATASYNC`, so its
//! sync is an `fsync`: that also writes out the file's modification time,
//! which on ext4 is a journal commit for every transaction, and one that
//! waits behind the checkpointer's sync of the database file. `fdatasync`
//! writes the frames, and the file's size when it grew, nothing more: all
//! a reader of the WAL after a power loss needs. Checkpoints still sync as
//! SQLite does (the WAL before it is copied, the database file after).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Durability;
use super::open::sidecar;
use crate::store::StoreError;

/// Under [`Durability::Full`], the longest a commit that needs no sync of
/// its own waits for one.
pub(super) const SYNC_DELAY: Duration = Duration::from_millis(100);

/// What makes the WAL's writes durable: `fdatasync` on the file, or (in
/// tests) a stand-in.
pub(super) type SyncWal = Box<dyn FnMut() -> io::Result<()> + Send>;

/// Which commits are synced when, under [`Durability::Full`].
pub(super) struct SyncState {
    /// Syncs the WAL; `None` under [`Durability::Normal`].
    sync_wal: Option<SyncWal>,
    wal: PathBuf,
    /// When the oldest commit not yet synced was made.
    since: Option<Instant>,
    /// A sync of the WAL failed: what it held may not be on the disk, and a
    /// later sync that succeeds does not say it is (Linux forgets a failed
    /// write-back once it has reported it), so no later write is confirmed.
    failed: Option<StoreError>,
    unsynced: Arc<AtomicBool>,
    fsyncs: Arc<AtomicU64>,
}

impl SyncState {
    /// Nothing unsynced yet, for the database at `db`; `unsynced` and
    /// `fsyncs` are read through the writer's handle. Under
    /// [`Durability::Full`] the WAL is opened once, here, as SQLite keeps its
    /// own open: an error writing a file back is reported to the
    /// descriptors open when it happened, not to one opened afterwards. It
    /// exists: the connection made it when it switched to WAL mode, and
    /// keeps it while it is open.
    pub(super) fn open(
        durability: Durability,
        db: &Path,
        unsynced: Arc<AtomicBool>,
        fsyncs: Arc<AtomicU64>,
    ) -> Result<Self, StoreError> {
        let wal = sidecar(db, "-wal");
        let sync_wal: Option<SyncWal> = match durability {
            Durability::Normal => None,
            Durability::Full => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&wal)
                    .map_err(|e| StoreError::io(wal.display(), e))?;
                Some(Box::new(move || file.sync_data()))
            }
        };
        Ok(Self::with(sync_wal, wal, unsynced, fsyncs))
    }

    /// A state that syncs the WAL at `wal` with `sync_wal`.
    pub(super) fn with(
        sync_wal: Option<SyncWal>,
        wal: PathBuf,
        unsynced: Arc<AtomicBool>,
        fsyncs: Arc<AtomicU64>,
    ) -> Self {
        Self {
            sync_wal,
            wal,
            since: None,
            failed: None,
            unsynced,
            fsyncs,
        }
    }

    /// Whether commits are synced at all ([`Durability::Full`]).
    pub(super) fn full(&self) -> bool {
        self.sync_wal.is_some()
    }

    /// The error every write gets once a sync has failed.
    pub(super) fn failed(&self) -> Option<&StoreError> {
        self.failed.as_ref()
    }

    /// Notes a committed write transaction, and syncs the WAL now if the
    /// commit must be durable before it is confirmed (`urgent`: a received
    /// batch, credentials) or an earlier one has waited long enough. An
    /// error means the commit may not be durable.
    pub(super) fn committed(&mut self, urgent: bool) -> Result<(), StoreError> {
        if !self.full() {
            return Ok(());
        }
        self.since.get_or_insert_with(Instant::now);
        let due = self.since.is_some_and(|t| t.elapsed() >= SYNC_DELAY);
        let result = if urgent || due { self.sync() } else { Ok(()) };
        self.unsynced.store(self.since.is_some(), Ordering::Relaxed);
        result
    }

    /// How long the writer may wait for a job before it must sync.
    pub(super) fn wait(&self) -> Option<Duration> {
        self.since.map(|t| SYNC_DELAY.saturating_sub(t.elapsed()))
    }

    /// Makes every commit so far durable with the writer idle.
    pub(super) fn flush(&mut self) {
        if self.sync().is_err() {
            // Told by the next write; nothing to wait for meanwhile.
            self.since = None;
        }
        self.unsynced.store(self.since.is_some(), Ordering::Relaxed);
    }

    /// Syncs the WAL: one sync covers every commit before it, the WAL
    /// being one file written in order.
    fn sync(&mut self) -> Result<(), StoreError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let Some(sync_wal) = self.sync_wal.as_mut() else {
            return Ok(());
        };
        match sync_wal() {
            Ok(()) => {
                self.since = None;
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                tracing::error!(wal = %self.wal.display(), error = %e, "syncing the WAL failed; no later write is confirmed until the bot is restarted");
                let e = StoreError::io(
                    self.wal.display(),
                    io::Error::new(
                        e.kind(),
                        format!(
                            "syncing it failed ({e}), so the last writes may not be on the disk; \
                             restart the bot once the disk works: SQLite recovers the database \
                             from what reached it"
                        ),
                    ),
                );
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(results: Vec<io::Result<()>>) -> (SyncState, Arc<AtomicU64>) {
        let fsyncs = Arc::new(AtomicU64::new(0));
        let mut results = results.into_iter();
        let sync_wal: SyncWal = Box::new(move || results.next().unwrap_or(Ok(())));
        let state = SyncState::with(
            Some(sync_wal),
            PathBuf::from("ilink.db-wal"),
            Arc::new(AtomicBool::new(false)),
            fsyncs.clone(),
        );
        (state, fsyncs)
    }

    #[test]
    fn an_urgent_commit_is_synced_at_once_and_the_others_wait_for_it() {
        let (mut s, fsyncs) = state(vec![]);
        s.committed(false).unwrap();
        assert!(s.wait().is_some(), "a handled mark waits");
        assert_eq!(fsyncs.load(Ordering::Relaxed), 0);
        s.committed(true).unwrap();
        assert!(s.wait().is_none(), "one sync covers both");
        assert_eq!(fsyncs.load(Ordering::Relaxed), 1);
        s.committed(false).unwrap();
        s.flush();
        assert!(s.wait().is_none());
        assert_eq!(fsyncs.load(Ordering::Relaxed), 2, "the idle flush");
    }

    #[test]
    fn after_a_failed_sync_no_write_is_confirmed_even_if_a_sync_would_succeed() {
        let broken = io::Error::other("Input/output error");
        let (mut s, fsyncs) = state(vec![Err(broken)]);
        let e = s.committed(true).unwrap_err().to_string();
        assert!(
            e.contains("ilink.db-wal") && e.contains("restart the bot"),
            "{e}"
        );
        // The next sync would succeed; Linux would have forgotten the error.
        assert!(s.committed(true).is_err());
        assert!(s.failed().is_some());
        assert_eq!(fsyncs.load(Ordering::Relaxed), 0);
    }
}
