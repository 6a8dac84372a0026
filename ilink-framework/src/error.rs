//! Errors of the framework: what a handler can fail with, what a send can
//! fail with, and [`FrameworkError`], the one enum every failure around a
//! handler flows through to [`Handler::on_error`](crate::Handler::on_error).

use std::path::PathBuf;
use std::time::Duration;

use crate::account::AccountId;
use crate::account_lock::{LockError, LockHolder, describe_holder};
use crate::command::CommandError;
use crate::store::StoreError;

/// The error type handlers return: anything that is an error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What handlers return; `?` works on any error type.
pub type HandlerResult<T = ()> = Result<T, BoxError>;

/// Why an outgoing message was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The user's newest context token has been used for as many messages as
    /// the server allows; the user must write again first.
    #[error(
        "send quota used up for {user}: {sent} of {limit} messages sent since their last message \
         ({}s ago); they must write again before the bot can send more",
        token_age.as_secs()
    )]
    QuotaExhausted {
        /// The recipient.
        user: String,
        /// Messages sent with the current token.
        sent: u32,
        /// The configured quota per inbound message.
        limit: u32,
        /// How old the token is.
        token_age: Duration,
    },
    /// The user has never written to this account (no context token stored).
    #[error("no context token for {user}: the user has not written to this bot yet")]
    NoContext {
        /// The recipient.
        user: String,
    },
    /// The user's last message is too old for the server to accept replies.
    #[error("conversation with {user} expired: their last message is {}h old", age.as_secs() / 3600)]
    ContextExpired {
        /// The recipient.
        user: String,
        /// Age of the newest token.
        age: Duration,
    },
    /// The account's token is stale (`-14`); sending resumes after recovery.
    #[error("account {account} session expired (-14): waiting for recovery or a new login")]
    SessionExpired {
        /// The account.
        account: AccountId,
    },
    /// The server refused the message (`ret -2`), with what the client knows.
    #[error(
        "server rejected the message to {user} (ret -2): {sent} sent with this token, token {}s old, \
         text {text_len} chars; likely quota, throttling, expired context or a too long text",
        token_age.as_secs()
    )]
    Rejected {
        /// The recipient.
        user: String,
        /// Messages sent with the current token before this one.
        sent: u32,
        /// Age of the token.
        token_age: Duration,
        /// Length of the text, when the message was text.
        text_len: usize,
        /// The server's message.
        errmsg: Option<String>,
    },
    /// Any other failure from the protocol client, after retries.
    #[error(transparent)]
    Client(#[from] ilink_core::Error),
    /// The bot is shutting down and no longer sends.
    #[error("the bot is shutting down")]
    ShuttingDown,
    /// Persisting the send count failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every failure around a handler, passed to [`Handler::on_error`](crate::Handler::on_error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameworkError {
    /// The handler returned an error.
    #[error("handler error: {0}")]
    Handler(BoxError),
    /// The handler panicked; the session survived.
    #[error("handler panicked: {0}")]
    Panic(String),
    /// A command could not run: unknown, bad arguments, refused by a check,
    /// cooling down. Match on the [`CommandError`] to answer differently;
    /// its [`user_message`](CommandError::user_message) is the default reply.
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl FrameworkError {
    /// A short text for the user, used by the default error hook.
    pub fn user_message(&self) -> String {
        match self {
            Self::Handler(_) | Self::Panic(_) => {
                "Sorry, something went wrong while handling your message.".to_owned()
            }
            Self::Command(error) => error.user_message(),
        }
    }
}

/// Errors of the bot runtime itself (starting, adding accounts, shutting down).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// The account already runs in this process (only one poller per bot).
    #[error("account {0} is already running in this process")]
    AccountAlreadyRunning(AccountId),
    /// Another process (or another bot in this process) polls the account:
    /// its lock under the state directory is held.
    #[error(
        "account {account} is in use by another process ({}); only one process may poll an \
         account: stop that one first, or let this bot wait for it (BotBuilder::lock_wait)",
        describe_holder(holder.as_ref())
    )]
    AccountLocked {
        /// The account.
        account: AccountId,
        /// The process holding the lock, when its lock file says.
        holder: Option<LockHolder>,
        /// The lock file.
        lock_file: PathBuf,
    },
    /// No such account runs.
    #[error("account {0} is not running")]
    UnknownAccount(AccountId),
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The environment and the saved accounts configure no usable bot
    /// (see [`Settings`](crate::Settings)).
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// An actor could not be spawned.
    #[error("could not start the {actor} actor: {message}")]
    Spawn {
        /// Which actor.
        actor: &'static str,
        /// Why.
        message: String,
    },
    /// The admin endpoint could not listen on its address.
    #[error("the admin endpoint cannot listen on {addr}: {source}")]
    AdminBind {
        /// The address it was given.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime has stopped.
    #[error("the bot has stopped")]
    Stopped,
    /// A second ctrl-c or SIGTERM arrived while the first one's shutdown was
    /// draining: handlers and queued sends were abandoned.
    #[error("interrupted: a second signal cut the shutdown short")]
    Interrupted,
}

impl BotError {
    /// The error of an actor that failed to start. ractor words every
    /// start-up failure as a panic; what the operator needs is the cause,
    /// typed when it is the store's (a damaged database found while the
    /// account's state is loaded).
    pub(crate) fn from_spawn(actor: &'static str, error: &ractor::SpawnErr) -> Self {
        let mut cause: &(dyn std::error::Error + 'static) = error;
        loop {
            if let Some(store) = cause.downcast_ref::<StoreError>() {
                return Self::Store(store.clone());
            }
            match cause.source() {
                Some(next) => cause = next,
                None => break,
            }
        }
        Self::Spawn {
            actor,
            message: cause.to_string(),
        }
    }
}

impl From<LockError> for BotError {
    fn from(e: LockError) -> Self {
        match e {
            LockError::Held {
                account,
                holder,
                lock_file,
            } => Self::AccountLocked {
                account,
                holder,
                lock_file,
            },
            LockError::Io { path, source } => Self::Store(StoreError::io(path.display(), source)),
        }
    }
}
