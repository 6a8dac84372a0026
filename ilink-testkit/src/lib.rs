//! A faithful iLink Bot server simulator for tests, examples and benchmarks.
//!
//! [`Simulator`] runs the bot API, the CDN (under `<base>/c2c`), QR login and a `/mock/*`
//! JSON control API on 127.0.0.1. It is strict like the real server (headers, bodies,
//! `client_id` dedup, send quota, burst throttling, context expiry, `-14`), encrypts
//! media on its CDN, and records everything the bot did, down to how many `getupdates` of
//! each account are in flight at once and from which connections
//! ([`Simulator::poll_stats`]). The `ilink-sim` binary serves
//! the same thing for tests in other languages, and a web chat page at `/chat` lets a
//! person talk to a bot in a browser; see `docs/testing.md`.
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
//!
//! # Module layout
//!
//! Modules depend only on modules listed before them, so the graph has no cycles:
//!
//! 1. `config`, `error`, `records`: settings, errors, and what the simulator recorded;
//!    `request`: decoding a bot's JSON body, without state (fuzzed on its own).
//! 2. `faults`, `media`, `polls`, `qr`: stores with their own rules and no HTTP (fault
//!    rules, what the CDN holds, the `getupdates` in flight per account, the QR session
//!    state machine). They take what they need as arguments and know nothing of the rest
//!    of the state.
//! 3. `state`: everything behind the one mutex (`Inner`, holding the stores above) and
//!    the change signal that wakes long-polls (`Shared`).
//! 4. `auth`: the header, body and session checks every bot request goes through.
//! 5. The HTTP endpoints: `send` (`sendmessage`), `api` (the other bot endpoints),
//!    `cdn` (`getuploadurl`, upload, download), `login` (QR login and the phone-side
//!    actions), `chat` (the web chat page), `hostile` (bodies of a given size and slow
//!    trickles), `intercept` (the middleware that records requests and applies faults).
//! 6. `users` (scripted users), `control` (the `/mock/*` API), `server` (router and
//!    connections), `simulator` (the [`Simulator`] handle), [`harness`] (helpers for tests).

mod api;
mod auth;
mod cdn;
mod chat;
mod config;
mod control;
mod error;
mod faults;
pub mod harness;
mod hostile;
mod intercept;
mod login;
mod media;
pub mod model;
mod peer_closed;
mod polls;
mod qr;
mod records;
mod request;
mod send;
mod server;
mod simulator;
mod state;
mod users;

pub use config::{BurstLimit, KeyEncoding, Redelivery, SimConfig};
pub use error::SimError;
pub use faults::{Fault, FaultAction, parse_endpoint};
pub use media::UploadedMedia;
pub use polls::{InFlightPoll, PollOverlap, PollStats};
pub use qr::QrAction;
pub use records::{
    ConfigCall, NotifyEvent, NotifyKind, RequestRecord, SendOutcome, SentMessage, TypingEvent,
    Violation, ViolationKind,
};
pub use simulator::{BotAccount, QrLogin, Recorded, Simulator};
pub use state::ExpiryMode;
pub use users::{Quote, ScriptedUser};

/// Entry points of the fuzz targets (`fuzz/` in the repository); not for
/// tests of a bot, and they may change in any release.
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::request::decode_all;
}

/// The README shown on crates.io: its examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
