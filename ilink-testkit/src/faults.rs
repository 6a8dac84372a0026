//! Fault injection: per endpoint, for the next N requests or with a seeded probability,
//! answer with an HTTP status, a delay, a hang, a dropped connection, a malformed or
//! truncated body, a body of a given size, a slow trickle, or any `ret`/`errcode`.
//!
//! ```no_run
//! # async fn demo(sim: &ilink_testkit::Simulator) {
//! use ilink_core::Endpoint;
//! use ilink_testkit::{Fault, FaultAction};
//!
//! // The next two sendmessage calls get HTTP 502, then the server behaves again.
//! sim.inject(Fault::on(Endpoint::SendMessage, FaultAction::Status { status: 502 }).times(2));
//! // A third of all getupdates calls drop the connection (deterministic: seeded).
//! sim.inject(Fault::on(Endpoint::GetUpdates, FaultAction::Reset).with_probability(0.33));
//! // The next download is 200 MiB, without Content-Length.
//! let oversize = FaultAction::SizedBody { bytes: 200 << 20, chunked: true };
//! sim.inject(Fault::on(Endpoint::CdnDownload, oversize));
//! // The next sendmessage answer arrives 8 bytes every 100 ms.
//! let slow = FaultAction::Trickle { chunk_bytes: 8, interval_ms: 100 };
//! sim.inject(Fault::on(Endpoint::SendMessage, slow));
//! # }
//! ```

use ilink_core::Endpoint;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// What an injected fault does to the request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this HTTP status and a short text body, without running the endpoint.
    Status {
        /// The HTTP status code.
        status: u16,
    },
    /// The request is processed (a message is delivered), but its answer is
    /// lost: the client sees this HTTP status, as when a gateway fails after
    /// the server did its work. A retry must reuse the `client_id`.
    LostResponse {
        /// The status the client sees instead of the real answer.
        status: u16,
    },
    /// Wait, then run the endpoint normally.
    Delay {
        /// The delay in milliseconds.
        ms: u64,
    },
    /// Hold the request past any client timeout (`SimConfig::hang_duration`), then 504.
    Hang,
    /// Drop the TCP connection (with a reset) without answering.
    Reset,
    /// Answer 200 with a body that is not JSON.
    Malformed,
    /// Run the endpoint and cut its JSON answer in half.
    Truncated,
    /// Answer 200 with a body of exactly `bytes` bytes instead of running the
    /// endpoint, generated while it is sent: on the CDN that many `a`s, on the API
    /// `{"ret":0,"padding":"aaa…"}` (valid JSON from 9 bytes on, `{"ret":0}` and spaces
    /// below 22).
    SizedBody {
        /// The size of the body.
        bytes: u64,
        /// Leave out `Content-Length`, so the client learns the size only by reading.
        #[serde(default)]
        chunked: bool,
    },
    /// Run the endpoint, then send its answer `chunk_bytes` at a time, one piece every
    /// `interval_ms` (with its real `Content-Length`).
    Trickle {
        /// Bytes per piece (at least 1).
        chunk_bytes: u64,
        /// The pause before each piece after the first, in milliseconds.
        interval_ms: u64,
    },
    /// Answer 200 with this application error instead of running the endpoint.
    Api {
        /// `ret`, if present.
        #[serde(default)]
        ret: Option<i64>,
        /// `errcode`, if present.
        #[serde(default)]
        errcode: Option<i64>,
        /// `errmsg`, if present.
        #[serde(default)]
        errmsg: Option<String>,
    },
}

/// A fault rule: where it applies, what it does and how often.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// The endpoint it applies to; `None` for every bot, QR and CDN endpoint.
    pub endpoint: Option<Endpoint>,
    /// What it does.
    pub action: FaultAction,
    /// For how many matching requests (when `probability` is `None`).
    pub times: u32,
    /// If set, each matching request is hit with this probability, without a count.
    pub probability: Option<f64>,
}

impl Fault {
    /// A fault on the next request to `endpoint`.
    pub fn on(endpoint: Endpoint, action: FaultAction) -> Self {
        Self {
            endpoint: Some(endpoint),
            action,
            times: 1,
            probability: None,
        }
    }

    /// A fault on the next request to any endpoint.
    pub fn any(action: FaultAction) -> Self {
        Self {
            endpoint: None,
            action,
            times: 1,
            probability: None,
        }
    }

    /// Applies to the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    /// Applies to each matching request with probability `p` (seeded by
    /// `SimConfig::fault_seed`), until the faults are cleared.
    pub fn with_probability(mut self, p: f64) -> Self {
        self.probability = Some(p.clamp(0.0, 1.0));
        self
    }
}

/// The active fault rules and the seeded generator that decides probabilistic ones.
pub(crate) struct FaultStore {
    pub rules: Vec<Fault>,
    rng: StdRng,
}

impl FaultStore {
    pub fn new(seed: u64) -> Self {
        Self {
            rules: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn clear(&mut self, seed: u64) {
        *self = Self::new(seed);
    }

    /// The action to apply to one request to `endpoint`, consuming a count.
    pub fn take(&mut self, endpoint: Endpoint) -> Option<FaultAction> {
        let idx = self
            .rules
            .iter()
            .position(|r| r.endpoint.is_none_or(|e| e == endpoint))?;
        let rule = &mut self.rules[idx];
        if let Some(p) = rule.probability {
            return self.rng.random_bool(p).then(|| rule.action.clone());
        }
        let action = rule.action.clone();
        rule.times = rule.times.saturating_sub(1);
        if rule.times == 0 {
            self.rules.remove(idx);
        }
        Some(action)
    }
}

/// Parses an endpoint name as used by the control API and the CLI.
pub fn parse_endpoint(name: &str) -> Option<Endpoint> {
    let n = name.trim().trim_start_matches('/').to_ascii_lowercase();
    let n = n
        .rsplit('/')
        .next()
        .unwrap_or(&n)
        .replace(['_', ' ', '-'], "");
    Some(match n.as_str() {
        "getupdates" => Endpoint::GetUpdates,
        "sendmessage" => Endpoint::SendMessage,
        "getconfig" => Endpoint::GetConfig,
        "sendtyping" => Endpoint::SendTyping,
        "getuploadurl" => Endpoint::GetUploadUrl,
        "notifystart" => Endpoint::NotifyStart,
        "notifystop" => Endpoint::NotifyStop,
        "getbotqrcode" => Endpoint::GetBotQrcode,
        "getqrcodestatus" => Endpoint::GetQrcodeStatus,
        "cdnupload" | "upload" => Endpoint::CdnUpload,
        "cdndownload" | "download" => Endpoint::CdnDownload,
        _ => return None,
    })
}

/// The endpoint a request path maps to.
pub(crate) fn endpoint_of(path: &str) -> Option<Endpoint> {
    let p = path.trim_start_matches('/');
    if let Some(cdn) = p.strip_prefix("c2c/") {
        return match cdn {
            "upload" => Some(Endpoint::CdnUpload),
            "download" => Some(Endpoint::CdnDownload),
            _ => None,
        };
    }
    if p.starts_with("ilink/") {
        return parse_endpoint(p);
    }
    None
}
