//! A faithful iLink Bot server simulator for tests, examples and benchmarks.
//!
//! [`Simulator`] runs the bot API, the CDN (under `<base>/c2c`), QR login and a `/mock/*`
//! JSON control API on 127.0.0.1. It is strict like the real server (headers, bodies,
//! `client_id` dedup, send quota, burst throttling, context expiry, `-14`), encrypts
//! media on its CDN, and records everything the bot did. The `ilink-sim` binary serves
//! the same thing for tests in other languages; see `docs/testing.md`.
//!
//! ```no_run
//! use std::time::Duration;
//! use ilink_testkit::Simulator;
//!
//! # async fn demo() -> Result<(), ilink_testkit::SimError> {
//! let sim = Simulator::start().await;            // free port, fast test defaults
//! let bot = sim.add_account("bot-a");            // bot-a@im.bot with a fresh token
//! // Point the bot under test at sim.base_url() / sim.cdn_base_url() with bot.token.
//! let alice = sim.user(&bot, "alice@im.wechat");
//! alice.say("hi").await;                         // queued for the bot's getupdates
//! let sent = sim.wait_for_sent_to(&bot, alice.id(), 1, Duration::from_secs(5)).await?;
//! assert_eq!(sent[0].text().as_deref(), Some("hello alice"));
//! assert!(sim.violations().is_empty());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
mod auth;
mod cdn;
mod config;
mod control;
mod error;
mod faults;
mod qr;
mod records;
mod send;
mod server;
mod simulator;
mod state;
mod users;

pub use cdn::UploadedMedia;
pub use config::{BurstLimit, KeyEncoding, Redelivery, SimConfig};
pub use error::SimError;
pub use faults::{Fault, FaultAction, parse_endpoint};
pub use qr::QrAction;
pub use records::{
    ConfigCall, NotifyEvent, NotifyKind, RequestRecord, SendOutcome, SentMessage, TypingEvent,
    Violation, ViolationKind,
};
pub use simulator::{BotAccount, QrLogin, Recorded, Simulator};
pub use state::ExpiryMode;
pub use users::{Quote, ScriptedUser};
