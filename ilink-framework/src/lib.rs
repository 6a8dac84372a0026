//! The framework for WeChat iLink bots: a `Handler` trait, command routes and a
//! multi-account actor runtime (poller, router, sessions, sender).
//!
//! This crate is built by a later issue; for now it re-exports the protocol
//! client so that depending on it already gives access to [`ilink_core`].

pub mod command;

pub use ilink_core as core;
