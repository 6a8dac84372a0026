//! [`Cursor`]: where long-polling stands, and the rules for moving it.
//!
//! The cursor (`get_updates_buf`) of the next `getupdates` moves only to a
//! non-empty value the server returns; the server never replays from an old
//! cursor, so whoever persists it must do so after the batch it came with is
//! safe. The server may also say how long it holds a poll
//! (`longpolling_timeout_ms`); the request then waits a little longer than
//! that, because a batch the server sends just as the client gives up would
//! be lost.
//!
//! ```
//! use std::time::Duration;
//! use ilink_core::Cursor;
//! use ilink_core::types::GetUpdatesResponse;
//!
//! let mut cursor = Cursor::new("saved");
//! let resp = GetUpdatesResponse {
//!     get_updates_buf: Some("next".into()),
//!     longpolling_timeout_ms: Some(30_000),
//!     ..Default::default()
//! };
//! assert!(cursor.advance(&resp));
//! assert_eq!(cursor.as_str(), "next");
//! assert_eq!(cursor.request_timeout(Duration::from_secs(5)), Duration::from_secs(33));
//! ```

use std::time::Duration;

use crate::types::GetUpdatesResponse;

/// A hold time the server asks for is trusted within these bounds.
const MIN_HOLD: Duration = Duration::from_secs(1);
const MAX_HOLD: Duration = Duration::from_secs(120);
/// How much longer than the server's hold a poll request may take.
pub const HOLD_MARGIN: Duration = Duration::from_secs(3);

/// The cursor of the next poll and how long the server holds a poll.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    buf: String,
    hold: Option<Duration>,
}

impl Cursor {
    /// A cursor from a saved value (`""` for the first poll ever).
    pub fn new(buf: impl Into<String>) -> Self {
        Self {
            buf: buf.into(),
            hold: None,
        }
    }

    /// Assumes the server holds a poll for `hold` until it says otherwise.
    pub fn with_hold(mut self, hold: Duration) -> Self {
        self.hold = Some(hold);
        self
    }

    /// The value to send (and to persist).
    pub fn as_str(&self) -> &str {
        &self.buf
    }

    /// How long the next poll request may take: the server's hold plus
    /// [`HOLD_MARGIN`], or `default` while no hold is known.
    pub fn request_timeout(&self, default: Duration) -> Duration {
        self.hold.map_or(default, |hold| hold + HOLD_MARGIN)
    }

    /// Follows a poll's answer; returns whether the cursor moved (and so
    /// should be persisted, after the batch).
    pub fn advance(&mut self, resp: &GetUpdatesResponse) -> bool {
        if let Some(ms) = resp.longpolling_timeout_ms.filter(|ms| *ms > 0) {
            self.hold = Some(Duration::from_millis(ms).clamp(MIN_HOLD, MAX_HOLD));
        }
        match resp.cursor().filter(|c| !c.is_empty() && *c != self.buf) {
            Some(next) => {
                self.buf = next.to_owned();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(buf: Option<&str>, hold_ms: Option<u64>) -> GetUpdatesResponse {
        GetUpdatesResponse {
            get_updates_buf: buf.map(str::to_owned),
            longpolling_timeout_ms: hold_ms,
            ..Default::default()
        }
    }

    #[test]
    fn empty_or_missing_cursors_keep_the_old_one() {
        let mut c = Cursor::new("a");
        assert!(!c.advance(&answer(None, None)));
        assert!(!c.advance(&answer(Some(""), None)));
        assert!(
            !c.advance(&answer(Some("a"), None)),
            "same value: nothing to persist"
        );
        assert_eq!(c.as_str(), "a");
        assert!(c.advance(&answer(Some("b"), None)));
        assert_eq!(c.as_str(), "b");
    }

    #[test]
    fn the_servers_hold_is_clamped_and_gets_a_margin() {
        let default = Duration::from_secs(7);
        let mut c = Cursor::default();
        assert_eq!(c.request_timeout(default), default);
        c.advance(&answer(None, Some(0)));
        assert_eq!(c.request_timeout(default), default, "0 is no answer");
        c.advance(&answer(None, Some(10)));
        assert_eq!(c.request_timeout(default), MIN_HOLD + HOLD_MARGIN);
        c.advance(&answer(None, Some(3_600_000)));
        assert_eq!(c.request_timeout(default), MAX_HOLD + HOLD_MARGIN);
        let c = Cursor::new("x").with_hold(Duration::from_secs(35));
        assert_eq!(c.request_timeout(default), Duration::from_secs(38));
    }
}
