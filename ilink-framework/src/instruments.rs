//! What the runtime counts and times, through the [`metrics`] facade: each
//! account registers its handles once (labelled `account`), so recording is
//! an atomic add, not a registry lookup. Without an installed recorder every
//! handle does nothing. The names and what they mean are listed in
//! `docs/deployment.md` ("Metrics").
//!
//! Install a recorder (the admin endpoint's Prometheus one, or any other)
//! before the bot starts: handles registered earlier stay no-ops.

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Unit};

use crate::account::AccountId;
use crate::error::SendError;

/// Messages received from `getupdates` (before deduplication).
pub(crate) const RECEIVED: &str = "ilink_messages_received_total";
/// Received messages dropped as redeliveries of earlier ones.
pub(crate) const DEDUPLICATED: &str = "ilink_messages_deduplicated_total";
/// Received messages kept in the quarantine (undecodable or without sender).
pub(crate) const QUARANTINED: &str = "ilink_messages_quarantined_total";
/// Handler runs, by `outcome` (`ok`, `error`, `panic`).
pub(crate) const HANDLED: &str = "ilink_messages_handled_total";
/// How long `Handler::handle` took.
pub(crate) const HANDLER_SECONDS: &str = "ilink_handler_duration_seconds";
/// Outgoing sends, by `outcome` (`ok`, `quota`, `throttled`, `expired`, `failed`).
pub(crate) const SENDS: &str = "ilink_sends_total";
/// How long a send took, from its turn to its answer (pacing and retries included).
pub(crate) const SEND_SECONDS: &str = "ilink_send_duration_seconds";
/// Failed polls (the poller backs off after each).
pub(crate) const POLL_ERRORS: &str = "ilink_poll_errors_total";
/// Times the account's session expired (`-14`).
pub(crate) const SESSION_EXPIRED: &str = "ilink_session_expired_total";
/// Messages received and not yet handled (in the inbox).
pub(crate) const INBOX_DEPTH: &str = "ilink_inbox_depth";
/// Conversations with a live session.
pub(crate) const CONVERSATIONS: &str = "ilink_conversations";
/// How long one store write transaction took (received batches, handled marks).
pub(crate) const STORE_SECONDS: &str = "ilink_store_transaction_duration_seconds";
/// 1 while the account polls normally, 0 otherwise (starting, expired).
pub(crate) const ACCOUNT_UP: &str = "ilink_account_up";

/// Every metric with its unit and help text, for the recorder's `# HELP`.
const DESCRIPTIONS: &[(&str, Kind, Unit, &str)] = &[
    (
        RECEIVED,
        Kind::Counter,
        Unit::Count,
        "Messages received from getupdates, before deduplication.",
    ),
    (
        DEDUPLICATED,
        Kind::Counter,
        Unit::Count,
        "Received messages dropped as redeliveries of earlier ones.",
    ),
    (
        QUARANTINED,
        Kind::Counter,
        Unit::Count,
        "Received messages kept in the quarantine instead of handled.",
    ),
    (
        HANDLED,
        Kind::Counter,
        Unit::Count,
        "Handler runs by outcome (ok, error, panic).",
    ),
    (
        HANDLER_SECONDS,
        Kind::Histogram,
        Unit::Seconds,
        "Duration of Handler::handle.",
    ),
    (
        SENDS,
        Kind::Counter,
        Unit::Count,
        "Outgoing sends by outcome (ok, quota, throttled, expired, failed).",
    ),
    (
        SEND_SECONDS,
        Kind::Histogram,
        Unit::Seconds,
        "Duration of a send, pacing and retries included.",
    ),
    (
        POLL_ERRORS,
        Kind::Counter,
        Unit::Count,
        "Failed getupdates polls.",
    ),
    (
        SESSION_EXPIRED,
        Kind::Counter,
        Unit::Count,
        "Session expiries (-14) of the account.",
    ),
    (
        INBOX_DEPTH,
        Kind::Gauge,
        Unit::Count,
        "Messages received and not yet handled.",
    ),
    (
        CONVERSATIONS,
        Kind::Gauge,
        Unit::Count,
        "Conversations with a live session.",
    ),
    (
        STORE_SECONDS,
        Kind::Histogram,
        Unit::Seconds,
        "Duration of one state store write transaction.",
    ),
    (
        ACCOUNT_UP,
        Kind::Gauge,
        Unit::Count,
        "1 while the account polls, 0 while starting or expired.",
    ),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Gives every metric its unit and help text in the installed recorder
/// (the bot does it as it starts).
pub(crate) fn describe() {
    for (name, kind, unit, help) in DESCRIPTIONS {
        match kind {
            Kind::Counter => metrics::describe_counter!(*name, *unit, *help),
            Kind::Gauge => metrics::describe_gauge!(*name, *unit, *help),
            Kind::Histogram => metrics::describe_histogram!(*name, *unit, *help),
        }
    }
}

/// How a handler run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HandleOutcome {
    Ok,
    Error,
    Panic,
}

/// The metric handles of one account.
pub(crate) struct AccountMetrics {
    pub(crate) received: Counter,
    pub(crate) deduplicated: Counter,
    pub(crate) quarantined: Counter,
    handled_ok: Counter,
    handled_error: Counter,
    handled_panic: Counter,
    handler_seconds: Histogram,
    sends_ok: Counter,
    sends_quota: Counter,
    sends_throttled: Counter,
    sends_expired: Counter,
    sends_failed: Counter,
    send_seconds: Histogram,
    pub(crate) poll_errors: Counter,
    pub(crate) session_expired: Counter,
    pub(crate) inbox_depth: Gauge,
    pub(crate) conversations: Gauge,
    store_seconds: Histogram,
    pub(crate) up: Gauge,
}

impl AccountMetrics {
    /// Registers the account's handles with the installed recorder.
    pub(crate) fn new(account: &AccountId) -> Self {
        let id = account.as_str().to_owned();
        let counter = |name: &'static str| metrics::counter!(name, "account" => id.clone());
        let by = |name: &'static str, outcome: &'static str| metrics::counter!(name, "account" => id.clone(), "outcome" => outcome);
        Self {
            received: counter(RECEIVED),
            deduplicated: counter(DEDUPLICATED),
            quarantined: counter(QUARANTINED),
            handled_ok: by(HANDLED, "ok"),
            handled_error: by(HANDLED, "error"),
            handled_panic: by(HANDLED, "panic"),
            handler_seconds: metrics::histogram!(HANDLER_SECONDS, "account" => id.clone()),
            sends_ok: by(SENDS, "ok"),
            sends_quota: by(SENDS, "quota"),
            sends_throttled: by(SENDS, "throttled"),
            sends_expired: by(SENDS, "expired"),
            sends_failed: by(SENDS, "failed"),
            send_seconds: metrics::histogram!(SEND_SECONDS, "account" => id.clone()),
            poll_errors: counter(POLL_ERRORS),
            session_expired: counter(SESSION_EXPIRED),
            inbox_depth: metrics::gauge!(INBOX_DEPTH, "account" => id.clone()),
            conversations: metrics::gauge!(CONVERSATIONS, "account" => id.clone()),
            store_seconds: metrics::histogram!(STORE_SECONDS, "account" => id.clone()),
            up: metrics::gauge!(ACCOUNT_UP, "account" => id.clone()),
        }
    }

    /// Counts and times one handler run.
    pub(crate) fn handled(&self, outcome: HandleOutcome, took: Duration) {
        let counter = match outcome {
            HandleOutcome::Ok => &self.handled_ok,
            HandleOutcome::Error => &self.handled_error,
            HandleOutcome::Panic => &self.handled_panic,
        };
        counter.increment(1);
        self.handler_seconds.record(took);
    }

    /// Counts and times one send (one payload, however many messages).
    pub(crate) fn sent<T>(&self, result: &Result<T, SendError>, took: Duration) {
        let counter = match result.as_ref().map_err(send_outcome) {
            Ok(_) => &self.sends_ok,
            Err(SendOutcome::Quota) => &self.sends_quota,
            Err(SendOutcome::Throttled) => &self.sends_throttled,
            Err(SendOutcome::Expired) => &self.sends_expired,
            Err(SendOutcome::Failed) => &self.sends_failed,
        };
        counter.increment(1);
        self.send_seconds.record(took);
    }

    /// Times one store write transaction.
    pub(crate) fn store_write(&self, took: Duration) {
        self.store_seconds.record(took);
    }
}

/// The `outcome` label of a failed send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendOutcome {
    /// Refused before sending: the user's quota is spent, or the user never wrote.
    Quota,
    /// The server refused it (`ret -2`: its burst throttle, or a quota or
    /// expiry the client did not foresee).
    Throttled,
    /// The user's context or the account's session expired.
    Expired,
    /// Anything else: transport errors after retries, shutdown, the store.
    Failed,
}

fn send_outcome(e: &SendError) -> SendOutcome {
    match e {
        SendError::QuotaExhausted { .. } | SendError::NoContext { .. } => SendOutcome::Quota,
        SendError::Rejected { .. } => SendOutcome::Throttled,
        SendError::ContextExpired { .. } | SendError::SessionExpired { .. } => SendOutcome::Expired,
        SendError::Client(_) | SendError::ShuttingDown | SendError::Store(_) => SendOutcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_errors_map_to_their_outcome_label() {
        let account = AccountId::from("a@im.bot");
        assert_eq!(send_outcome(&SendError::ShuttingDown), SendOutcome::Failed);
        assert_eq!(
            send_outcome(&SendError::SessionExpired { account }),
            SendOutcome::Expired
        );
        assert_eq!(
            send_outcome(&SendError::NoContext {
                user: "u".to_owned()
            }),
            SendOutcome::Quota
        );
    }

    #[test]
    fn every_metric_follows_the_prometheus_naming_rules() {
        for (name, kind, unit, _) in DESCRIPTIONS {
            assert!(name.starts_with("ilink_"), "{name}");
            match (kind, unit) {
                (Kind::Counter, _) => assert!(name.ends_with("_total"), "{name}"),
                (_, Unit::Seconds) => assert!(name.ends_with("_seconds"), "{name}"),
                _ => assert!(!name.ends_with("_total"), "{name}"),
            }
        }
    }
}
