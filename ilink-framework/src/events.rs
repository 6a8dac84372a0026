//! Account events: what the application is told about each account's life.
//!
//! Subscribe with [`BotHandle::events`](crate::BotHandle::events); events
//! are also passed to [`Handler::on_account_event`](crate::Handler::on_account_event).

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
    /// A message was not handed to the handler; see the message for why.
    MessageDropped {
        /// Its conversation.
        conversation: ConversationKey,
        /// Its server id.
        message_id: Option<u64>,
        /// Why.
        reason: String,
    },
    /// The account stopped (removed or shut down).
    Stopped,
}
