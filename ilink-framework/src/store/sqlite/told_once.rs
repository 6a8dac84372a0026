//! [`ToldOnce`]: how the store's background work (the checkpointer, the
//! writer's idle sync) reports a failure that it retries by itself. A full
//! disk fails every try until space is freed, ten times a second: the first
//! failure is a warning naming the file and what to do, the repeats are at
//! debug level, and the first success after them says so.

use std::path::Path;

use super::open::db_error;

/// The failing state of one piece of background work.
pub(super) struct ToldOnce {
    /// What the work is, as the log lines say it ("checkpointing the WAL").
    what: &'static str,
    failing: bool,
}

impl ToldOnce {
    pub(super) fn new(what: &'static str) -> Self {
        Self {
            what,
            failing: false,
        }
    }

    /// A try on the database at `path` failed with `e`.
    pub(super) fn failed(&mut self, path: &Path, e: rusqlite::Error) {
        let (what, e) = (self.what, db_error(path, e));
        if std::mem::replace(&mut self.failing, true) {
            tracing::debug!(error = %e, "{what} failed again");
        } else {
            tracing::warn!(error = %e, "{what} failed; it will be retried");
        }
    }

    /// A try on the database at `path` succeeded.
    pub(super) fn succeeded(&mut self, path: &Path) {
        if std::mem::take(&mut self.failing) {
            tracing::info!(database = %path.display(), "{} works again", self.what);
        }
    }
}
