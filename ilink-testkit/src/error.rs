//! The error type of the simulator's library API.

use std::time::Duration;

/// Errors of the simulator's library API (never of the HTTP side, which answers with
/// error responses instead).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A `wait_for` helper gave up.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// Media could not be found or decrypted.
    #[error("media: {0}")]
    Media(String),
    /// No such account, user, message or QR session.
    #[error("not found: {0}")]
    NotFound(String),
    /// Binding the listener failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
