//! The framework for WeChat iLink bots: a [`Handler`] trait, command routes and
//! a multi-account actor runtime (poller, router, sessions, sender).

pub mod account;
pub mod message;
pub mod store;

pub use account::{AccountId, Credentials};
pub use ilink_core as core;
pub use message::Message;
