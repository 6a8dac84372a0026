//! The framework for WeChat iLink bots: a [`Handler`] trait, command routes and
//! a multi-account actor runtime.
//!
//! Each account runs one message path: the poller receives it, the router
//! hands it to its conversation's session, and replies leave through the
//! sender. ractor actors are the AccountSupervisor, Poller and Router;
//! sessions and the sender's lanes are lightweight actors (a mailbox drained
//! by a task only while there is work). See `docs/architecture.md`.
//!
//! Depend on this crate; it re-exports the protocol client as [`core`] and
//! the [`commands`] macro (see `docs/commands.md`).
//! Start with the [`prelude`].

mod account;
pub mod account_lock;
mod account_shared;
#[cfg(feature = "admin")]
mod admin;
mod bot;
pub mod cluster;
pub mod command;
mod context;
mod conversation;
mod conversation_state;
mod dedup;
mod error;
mod events;
mod handler;
mod handler_fn;
mod in_flight;
mod instruments;
mod message;
mod options;
mod poller;
mod reply_stream;
mod router;
mod run_sends;
mod sender;
mod session;
mod settings;
mod signal;
mod status;
pub mod store;
mod supervisor;
#[cfg(feature = "voice")]
pub mod voice;
mod write_behind;

pub use account::{AccountId, Credentials};
pub use async_trait::async_trait;
pub use bot::{Bot, BotBuilder, BotHandle};
pub use context::Context;
pub use conversation::{ConversationKey, KeyFn, default_key};
pub use dedup::{DedupKey, DedupKeys, dedup_keys};
pub use error::{BotError, BoxError, FrameworkError, HandlerResult, SendError};
pub use events::{AccountEvent, AccountEventKind};
pub use handler::{Handler, default_on_error};
pub use handler_fn::{Chat, HandlerFn, handler_fn};
pub use ilink_core as core;
pub use ilink_macros::{command, commands};
pub use message::Message;
pub use options::BotOptions;
pub use reply_stream::{StreamOptions, StreamReport};
pub use sender::Outbox;
pub use sender::pacer::Pacer;
pub use sender::quota::QuotaState;
pub use settings::{Settings, SettingsError};
pub use signal::{ShutdownSignal, wait_for_signal};
pub use status::{AccountState, AccountStatus, BotStatus};
pub use supervisor::ShutdownReport;

/// The names most bots need.
pub mod prelude {
    pub use crate::command::CommandError;
    pub use crate::{
        AccountEvent, AccountEventKind, AccountId, Bot, BotError, BotHandle, BotOptions, Chat,
        Context, Credentials, FrameworkError, Handler, HandlerResult, Message, SendError, Settings,
        StreamOptions, StreamReport, async_trait, commands, handler_fn,
    };
    pub use ilink_core::MediaKind;
}

/// The Rust code blocks of the guides in `docs/`, compiled as doc tests.
#[cfg(doctest)]
pub mod guides {
    #[doc = include_str!("../../docs/handlers.md")]
    pub struct Handlers;

    #[doc = include_str!("../../docs/commands.md")]
    pub struct Commands;

    #[doc = include_str!("../../docs/deployment.md")]
    pub struct Deployment;

    #[doc = include_str!("../../README.md")]
    pub struct Readme;
}

/// The README shown on crates.io: its examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
