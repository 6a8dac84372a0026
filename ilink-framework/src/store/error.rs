//! [`StoreError`]: every way the state store can fail, each with one line
//! that names the file (or what was being done) and what to do about it.

use std::sync::Arc;

/// A failure of the state store.
///
/// Cheap to clone (the sources are shared), so one failed group commit can
/// be reported to every caller whose write it held.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The state path exists but is not a directory.
    #[error(
        "state directory {path} is not a directory; remove or rename it, or choose another state directory"
    )]
    NotADirectory {
        /// The path given as state directory.
        path: String,
    },
    /// A file or directory could not be created, read or written.
    #[error("cannot use {path}: {source}; check that it exists and its owner and permissions")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The database file is not a database, or is damaged.
    #[error(
        "state database {path} is damaged ({message}); stop the bot, move the file aside \
         (with its -wal and -shm files) and start again: context tokens and unhandled \
         messages in it are lost, credentials can be saved again with `ilink login`"
    )]
    Corrupt {
        /// The database file, or what in it could not be read.
        path: String,
        /// What the database or the decoder said.
        message: String,
    },
    /// The database was written by a newer version of this software.
    #[error(
        "state database {path} has schema version {found}, newer than this build knows \
         (up to {supported}); run the newer ilink version that wrote it, or move the database \
         aside (SQLite: the file with its -wal and -shm files; PostgreSQL: use another database \
         or schema)"
    )]
    NewerSchema {
        /// The database file (or PostgreSQL database, without its password).
        path: String,
        /// The schema version found in the database.
        found: i64,
        /// The newest schema version this build can use.
        supported: i64,
    },
    /// The disk (or a quota) is full.
    #[error(
        "no space left for state database {path}; free disk space, the bot keeps its messages until then"
    )]
    Full {
        /// The database file.
        path: String,
    },
    /// Another process has held the database's write lock for longer than
    /// a write waits for it (10 s for SQLite).
    #[error(
        "state database {path} is locked by another process (an open sqlite3 shell or a backup \
         tool holding a write transaction); end that transaction, the bot retries until then"
    )]
    Busy {
        /// The database file.
        path: String,
    },
    /// The database reported an error not covered above.
    #[error("state database {path}: {source}")]
    Database {
        /// The database file (or connection) involved.
        path: String,
        /// The underlying error (SQLite's, or another database's).
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// A write would break the store's rules (an inbox id stored twice).
    #[error("state store refused a write for account {account}: {message}")]
    Conflict {
        /// The account written for.
        account: String,
        /// What was wrong.
        message: String,
    },
    /// A value cannot be stored (it does not fit the store's types).
    #[error("cannot store {what}: {message}")]
    Encode {
        /// What was being stored.
        what: String,
        /// Why it does not fit.
        message: String,
    },
    /// A saved value cannot be read as the type asked for.
    #[error(
        "cannot read {what}: {message}; if the type changed since it was saved, give new \
         fields serde defaults or clear it with `clear_saved_state`"
    )]
    Decode {
        /// What was being read.
        what: String,
        /// What the decoder said.
        message: String,
    },
    /// The store's background writer has stopped (the runtime is shutting down).
    #[error("the state store is closed; its writes can no longer be made durable")]
    Closed,
    /// This worker of a cluster no longer holds the lease of the account
    /// (another worker took it over): the write was refused, nothing of it
    /// was stored. See docs/scaling.md.
    #[error(
        "this worker no longer holds the lease of account {account}: another worker has \
         taken it over, and nothing was written"
    )]
    Fenced {
        /// The account written for.
        account: String,
    },
}

impl StoreError {
    /// An I/O failure on `path`.
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source: Arc::new(source),
        }
    }

    /// Whether the state cannot be used as it is: not a directory, not
    /// writable, damaged, from a newer release, no space left, or locked by
    /// another process. Retrying
    /// does not help until someone fixes the file, the directory or the
    /// disk, so a program that meets one while starting should stop; the
    /// `ilink` command and the demo exit with status 7.
    pub fn is_state_unusable(&self) -> bool {
        match self {
            Self::NotADirectory { .. }
            | Self::Io { .. }
            | Self::Corrupt { .. }
            | Self::NewerSchema { .. }
            | Self::Full { .. }
            | Self::Busy { .. }
            | Self::Database { .. } => true,
            Self::Conflict { .. }
            | Self::Encode { .. }
            | Self::Decode { .. }
            | Self::Closed
            | Self::Fenced { .. } => false,
        }
    }
}
