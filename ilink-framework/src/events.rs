//! Account events: what the application is told about each account's life.
//!
//! Subscribe with [`BotHandle::events`](crate::BotHandle::events); events
//! are also passed to [`Handler::on_account_event`](crate::Handler::on_account_event).

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::broadcast;

use crate::account::AccountId;
use crate::conversation::ConversationKey;

/// Something that happened to one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountEvent {
    /// The account.
    pub account: AccountId,
    /// What happened.
    pub kind: AccountEventKind,
}

/// The kinds of [`AccountEvent`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccountEventKind {
    /// The account's actors started and polling began.
    Started,
    /// The server said the token is stale (`-14`); the account pauses and probes.
    SessionExpired,
    /// The account works again (a probe succeeded or new credentials were given).
    Recovered,
    /// New credentials replaced the account's token while it ran.
    CredentialsReplaced,
    /// A poll failed; polling continues after a backoff.
    PollError {
        /// The error, for people.
        error: String,
        /// Failures in a row.
        consecutive: u32,
    },
    /// A write to the state store failed; it is retried after a backoff
    /// and nothing is lost meanwhile: a received batch is neither handled
    /// nor polled past until it is stored, and a handled message stays in
    /// the inbox until its removal is.
    StoreError {
        /// The error, for people.
        error: String,
        /// Failures in a row of this write.
        consecutive: u32,
    },
    /// A store write that had failed succeeded on a retry.
    StoreRecovered,
    /// A message was not handed to the handler; see the message for why.
    MessageDropped {
        /// Its conversation.
        conversation: ConversationKey,
        /// Its server id.
        message_id: Option<u64>,
        /// Why.
        reason: String,
    },
    /// A received message could not be handled (it did not decode, or it
    /// has no sender to answer) and was kept in the store's quarantine;
    /// the rest of its batch went on. `ilink quarantine` shows it.
    MessageQuarantined {
        /// Its id in the quarantine.
        id: u64,
        /// Why, for people (no secrets).
        reason: String,
    },
    /// The account stopped (removed or shut down).
    Stopped,
    /// This cluster worker lost the account's lease (it was paused or cut
    /// off past the lease TTL and another worker took the account over):
    /// it stopped at once, without draining; the new holder replays what
    /// was not finished.
    LeaseLost,
}

/// A callback run for every account event; the bot wires the handler's
/// `on_account_event` in here, so the runtime's modules need not know the
/// handler to report an event.
pub(crate) type EventHook = Arc<dyn Fn(AccountEvent) -> BoxFuture<'static, ()> + Send + Sync>;

/// Delivers account events to subscribers and to the event hook.
#[derive(Clone)]
pub(crate) struct EventSink {
    tx: broadcast::Sender<AccountEvent>,
    hook: EventHook,
}

impl EventSink {
    pub(crate) fn new(tx: broadcast::Sender<AccountEvent>, hook: EventHook) -> Self {
        Self { tx, hook }
    }

    pub(crate) fn emit(&self, account: &AccountId, kind: AccountEventKind) {
        let event = AccountEvent {
            account: account.clone(),
            kind,
        };
        tracing::info!(account = %account, event = ?event.kind, "account event");
        // No subscriber is fine: events are informational.
        let _ = self.tx.send(event.clone());
        // The hook runs on its own task so a slow hook never stalls an actor.
        tokio::spawn((self.hook)(event));
    }
}
