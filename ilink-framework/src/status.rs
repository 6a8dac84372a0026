//! What a running bot reports about itself: [`BotStatus`] from
//! [`BotHandle::status`](crate::BotHandle::status), served as JSON by the
//! admin endpoint's `/status` and summed up by its `/readyz`.
//!
//! A bot is ready when every account polls: none is still starting and
//! none has an expired session (`-14`, waiting for a new login or a probe
//! that works). Poll errors do not make it unready: the poller retries, and
//! the count of failures in a row is shown instead.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use metrics::Gauge;
use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::instruments::AccountMetrics;

/// Where an account is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccountState {
    /// Its actors are starting; polling has not begun.
    Starting,
    /// It polls `getupdates` (perhaps retrying after errors).
    Polling,
    /// The server said its token is stale (`-14`): it pauses and probes
    /// until the token works again or new credentials arrive.
    SessionExpired,
}

/// One account's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountStatus {
    /// The account.
    pub account: AccountId,
    /// Where it is.
    pub state: AccountState,
    /// Polls that failed in a row (0 after a poll that worked).
    pub consecutive_poll_errors: u32,
    /// The last poll error, while polls fail.
    pub last_poll_error: Option<String>,
    /// Messages received and not yet handled.
    pub inbox_depth: usize,
    /// Conversations with a live session.
    pub conversations: usize,
}

impl AccountStatus {
    /// Why the account keeps the bot from being ready, or `None` when it polls.
    pub fn not_ready_reason(&self) -> Option<String> {
        match self.state {
            AccountState::Polling => None,
            AccountState::Starting => Some(format!("{}: starting", self.account)),
            AccountState::SessionExpired => Some(format!(
                "{}: session expired (-14): waiting for a new login (`ilink login`) or a probe that works",
                self.account
            )),
        }
    }
}

/// The status of a running bot and of each of its accounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BotStatus {
    /// Every account polls and the bot is not shutting down.
    pub ready: bool,
    /// The bot is shutting down.
    pub stopping: bool,
    /// The running accounts, sorted by id.
    pub accounts: Vec<AccountStatus>,
}

impl BotStatus {
    pub(crate) fn new(stopping: bool, mut accounts: Vec<AccountStatus>) -> Self {
        accounts.sort_by(|a, b| a.account.cmp(&b.account));
        let ready = !stopping && accounts.iter().all(|a| a.state == AccountState::Polling);
        Self {
            ready,
            stopping,
            accounts,
        }
    }

    /// Why the bot is not ready, one line per cause; empty when it is.
    pub fn not_ready_reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.stopping {
            reasons.push("the bot is shutting down".to_owned());
        }
        reasons.extend(self.accounts.iter().filter_map(|a| a.not_ready_reason()));
        reasons
    }
}

/// The live values behind an account's status, kept by its actors; the
/// gauges among them are mirrored to the metrics recorder as they change.
pub(crate) struct Live {
    started: AtomicBool,
    poll_errors: AtomicU32,
    last_poll_error: Mutex<Option<String>>,
    inbox_depth: AtomicUsize,
    conversations: AtomicUsize,
    inbox_gauge: Gauge,
    conversations_gauge: Gauge,
    up_gauge: Gauge,
}

impl Live {
    pub(crate) fn new(metrics: &AccountMetrics) -> Self {
        metrics.up.set(0.0);
        Self {
            started: AtomicBool::new(false),
            poll_errors: AtomicU32::new(0),
            last_poll_error: Mutex::new(None),
            inbox_depth: AtomicUsize::new(0),
            conversations: AtomicUsize::new(0),
            inbox_gauge: metrics.inbox_depth.clone(),
            conversations_gauge: metrics.conversations.clone(),
            up_gauge: metrics.up.clone(),
        }
    }

    /// Polling has begun.
    pub(crate) fn set_started(&self) {
        self.started.store(true, Ordering::SeqCst);
    }

    /// A poll failed (`Some`, with the error) or worked (`None`).
    pub(crate) fn poll_result(&self, error: Option<String>) {
        let mut last = self
            .last_poll_error
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match error {
            Some(e) => {
                self.poll_errors.fetch_add(1, Ordering::SeqCst);
                *last = Some(e);
            }
            None => {
                self.poll_errors.store(0, Ordering::SeqCst);
                *last = None;
            }
        }
    }

    pub(crate) fn set_inbox_depth(&self, n: usize) {
        self.inbox_depth.store(n, Ordering::SeqCst);
        self.inbox_gauge.set(n as f64);
    }

    pub(crate) fn set_conversations(&self, n: usize) {
        self.conversations.store(n, Ordering::SeqCst);
        self.conversations_gauge.set(n as f64);
    }

    /// The account stopped running in this process: its gauges go to zero.
    pub(crate) fn retire(&self) {
        self.up_gauge.set(0.0);
        self.inbox_gauge.set(0.0);
        self.conversations_gauge.set(0.0);
    }

    /// The account's status, given whether its session is expired.
    pub(crate) fn status(&self, account: &AccountId, expired: bool) -> AccountStatus {
        let state = if expired {
            AccountState::SessionExpired
        } else if self.started.load(Ordering::SeqCst) {
            AccountState::Polling
        } else {
            AccountState::Starting
        };
        self.up_gauge.set(if state == AccountState::Polling {
            1.0
        } else {
            0.0
        });
        AccountStatus {
            account: account.clone(),
            state,
            consecutive_poll_errors: self.poll_errors.load(Ordering::SeqCst),
            last_poll_error: self
                .last_poll_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            inbox_depth: self.inbox_depth.load(Ordering::SeqCst),
            conversations: self.conversations.load(Ordering::SeqCst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str, state: AccountState) -> AccountStatus {
        AccountStatus {
            account: AccountId::from(id),
            state,
            consecutive_poll_errors: 0,
            last_poll_error: None,
            inbox_depth: 0,
            conversations: 0,
        }
    }

    #[test]
    fn ready_only_when_every_account_polls() {
        let polling = BotStatus::new(false, vec![account("b", AccountState::Polling)]);
        assert!(polling.ready);
        assert!(polling.not_ready_reasons().is_empty());

        let one_expired = BotStatus::new(
            false,
            vec![
                account("b", AccountState::Polling),
                account("a", AccountState::SessionExpired),
            ],
        );
        assert!(!one_expired.ready);
        assert_eq!(one_expired.accounts[0].account.as_str(), "a");
        let reasons = one_expired.not_ready_reasons();
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].starts_with("a: session expired"), "{reasons:?}");

        let stopping = BotStatus::new(true, vec![account("b", AccountState::Polling)]);
        assert!(!stopping.ready);
        assert_eq!(stopping.not_ready_reasons(), ["the bot is shutting down"]);
    }

    #[test]
    fn the_json_form_reads_back() {
        let status = BotStatus::new(false, vec![account("a", AccountState::SessionExpired)]);
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["accounts"][0]["state"], "session_expired");
        let back: BotStatus = serde_json::from_value(json).unwrap();
        assert_eq!(back, status);
    }
}
