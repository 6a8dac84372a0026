//! `ilink-core`: the iLink Bot protocol (WeChat bot accounts) for Rust.
//!
//! This crate holds the wire types, a low-level API with one async function
//! per endpoint, a high-level client with cursor tracking, chunking and
//! media, QR login, and CDN encryption. It is usable on its own; the
//! `ilink-framework` crate builds a multi-account actor runtime on it.
//!
//! The protocol itself (endpoints, headers, fields, and the server behaviours the
//! clients rely on) is described in [`docs/protocol.md`](https://github.com/ilink-rs/ilink-rs/blob/main/docs/protocol.md); doc comments
//! that cite `docs/protocol.md` name one of its sections.
//!
//! # Quick start: log in, poll, reply
//!
//! ```no_run
//! use ilink_core::login::{FnCallbacks, LoginOptions, LoginOutcome, login_with_qr};
//! use ilink_core::{Api, ApiConfig, ILinkClient};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // 1. Log in with a QR code.
//! let api = Api::new(ApiConfig::default())?;
//! let mut callbacks = FnCallbacks::new()
//!     .on_qr_code(|url| println!("Scan this QR: {}", url.expose()))
//!     .on_status(|status| println!("Status: {}", status.as_str()));
//! let LoginOutcome::Confirmed(creds) =
//!     login_with_qr(&api, &mut callbacks, LoginOptions::default()).await?
//! else {
//!     return Ok(()); // already bound: use the stored credentials instead
//! };
//!
//! // 2. Create a client.
//! let client = ILinkClient::new(creds.base_url, creds.bot_token)?;
//!
//! // 3. Poll for messages and reply.
//! loop {
//!     let updates = client.poll().await?;
//!     for msg in &updates.msgs {
//!         let (Some(from), Some(text)) = (msg.from_user_id.as_deref(), msg.text()) else {
//!             continue;
//!         };
//!         client
//!             .send_text(from, &format!("Echo: {text}"), msg.context_token.as_ref())
//!             .await?;
//!     }
//! }
//! # }
//! ```

pub mod agent;
pub mod api;
pub mod cdn;
pub mod chunk;
pub mod client;
pub mod config;
pub mod crypto;
pub mod cursor;
pub mod endpoint;
pub mod error;
pub mod login;
pub mod markdown;
pub mod outgoing;
pub mod retry;
pub mod secret;
mod transport;
pub mod types;
pub mod typing;

pub use api::Api;
pub use client::{ClientBuilder, ILinkClient, MediaKind, SentMessage};
pub use config::{ApiConfig, ClientVersion};
pub use cursor::Cursor;
pub use endpoint::Endpoint;
pub use error::{ApiCode, ApiError, Error, Result, TransportKind};
pub use outgoing::Outgoing;
pub use secret::Secret;

/// The README shown on crates.io: its examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
