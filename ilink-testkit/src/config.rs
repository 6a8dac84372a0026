//! Simulator configuration: every server policy is a switch, and the defaults copy what
//! the real server does (the behaviours marked *observed* in
//! [`docs/protocol.md`](https://github.com/ilink-rs/ilink-rs/blob/main/docs/protocol.md)).
//!
//! ```
//! use std::time::Duration;
//! use ilink_testkit::SimConfig;
//!
//! // Short long-polls keep tests fast; everything else stays as the real server.
//! let config = SimConfig {
//!     longpoll_timeout: Duration::from_millis(500),
//!     ..SimConfig::default()
//! };
//! assert_eq!(config.context_quota, Some(10));
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the simulator encodes the AES key of media it sends to the bot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyEncoding {
    /// base64 of the 32-character hex string (what most real messages carry).
    #[default]
    HexBase64,
    /// base64 of the 16 raw key bytes.
    RawBase64,
}

/// Per-user burst throttling: a send that would make `sends` sends to one user within
/// `window` is refused with `ret -2`, and the user stays blocked for `block` afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BurstLimit {
    /// The number of sends within `window` that is refused (3 on the real server).
    pub sends: u32,
    /// The sliding window.
    pub window: Duration,
    /// How long sends to that user keep failing after a refusal (zero: no block).
    pub block: Duration,
}

impl Default for BurstLimit {
    fn default() -> Self {
        Self {
            sends: 3,
            window: Duration::from_secs(1),
            block: Duration::ZERO,
        }
    }
}

/// Automatic at-least-once delivery: every inbound message comes again after `delay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redelivery {
    /// Delay before the duplicate is queued.
    pub delay: Duration,
    /// Whether the duplicate carries a new `message_id` (the real server sometimes does).
    pub new_message_id: bool,
}

/// Configuration of a [`Simulator`](crate::Simulator).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Port of the main listener on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// How long `getupdates` holds a request without messages (35 s on the real server).
    pub longpoll_timeout: Duration,
    /// How long `get_qrcode_status` holds a request without a status change.
    pub qr_poll_timeout: Duration,
    /// Bot messages allowed per inbound `context_token` (10); `None` disables the quota.
    pub context_quota: Option<u32>,
    /// Age after which a context token no longer allows sends (24 h); `None`: never.
    pub context_ttl: Option<Duration>,
    /// Per-user burst throttling; `None` disables it.
    pub burst: Option<BurstLimit>,
    /// Longest accepted text in characters (5000); `None`: unlimited.
    pub max_text_chars: Option<usize>,
    /// Whether `getuploadurl` returns `upload_full_url` (off exercises the fallback URL).
    pub upload_full_url: bool,
    /// Whether inbound media carries `media.full_url`.
    pub inbound_full_url: bool,
    /// Key encoding of inbound media unless a scripted user overrides it.
    pub key_encoding: KeyEncoding,
    /// Seed of the random generator that decides probabilistic faults.
    pub fault_seed: u64,
    /// How long a `hang` fault holds a request (it ends early on shutdown).
    pub hang_duration: Duration,
    /// Wrong QR verify codes tolerated before `verify_code_blocked`.
    pub max_verify_attempts: u32,
    /// Automatic duplicate delivery of every inbound message; `None`: off.
    pub redelivery: Option<Redelivery>,
    /// The user id reported as the scanner of a confirmed QR login.
    pub qr_owner_user_id: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            port: 0,
            longpoll_timeout: Duration::from_secs(35),
            qr_poll_timeout: Duration::from_secs(35),
            context_quota: Some(10),
            context_ttl: Some(Duration::from_secs(24 * 3600)),
            burst: Some(BurstLimit::default()),
            max_text_chars: Some(5000),
            upload_full_url: true,
            inbound_full_url: false,
            key_encoding: KeyEncoding::HexBase64,
            fault_seed: 0x1f2e_3d4c,
            hang_duration: Duration::from_secs(300),
            max_verify_attempts: 3,
            redelivery: None,
            qr_owner_user_id: "owner@im.wechat".to_owned(),
        }
    }
}

impl SimConfig {
    /// Defaults for fast tests: 1 s long-polls and no burst throttling, every other
    /// policy as the real server.
    pub fn for_tests() -> Self {
        Self {
            longpoll_timeout: Duration::from_secs(1),
            qr_poll_timeout: Duration::from_secs(1),
            burst: None,
            ..Self::default()
        }
    }
}
