//! `ilink-core`: the iLink Bot protocol (WeChat bot accounts) for Rust.
//!
//! This crate holds the wire types, a low-level API with one async function
//! per endpoint, a high-level client with cursor tracking, chunking and
//! media, QR login, and CDN encryption. It is usable on its own; the
//! `ilink-framework` crate builds a multi-account actor runtime on it.

pub mod agent;
pub mod api;
pub mod cdn;
pub mod chunk;
pub mod client;
pub mod config;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod login;
pub mod secret;
mod transport;
pub mod types;

pub use api::Api;
pub use client::{ClientBuilder, ILinkClient, MediaKind, SentMessage};
pub use config::{ApiConfig, ClientVersion};
pub use endpoint::Endpoint;
pub use error::{ApiCode, ApiError, Error, Result, TransportKind};
pub use secret::Secret;
