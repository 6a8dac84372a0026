//! The simulator's shared state: one mutex around everything (the simulator is a test
//! tool; simplicity beats throughput) and a change counter that wakes long-polls and
//! `wait_for` helpers whenever something is mutated.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use ilink_core::Secret;
use ilink_core::types::repair::from_slice_lenient;
use ilink_core::types::{MessageItem, MessageState, MessageType, WeixinMessage};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::sync::watch;

use crate::config::SimConfig;
use crate::faults::FaultStore;
use crate::media::CdnStore;
use crate::polls::PollBook;
use crate::qr::QrStore;
use crate::records::{
    ConfigCall, NotifyEvent, RequestRecord, SentMessage, TypingEvent, Violation, ViolationKind,
};

/// How an expired session reports `-14`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryMode {
    /// `ret: -14`.
    Ret,
    /// `errcode: -14` without `ret`.
    Errcode,
    /// Both fields.
    #[default]
    Both,
}

/// A context token the server issued with an inbound message.
pub(crate) struct ContextInfo {
    pub user_id: String,
    pub issued: Instant,
    pub sends: u32,
}

/// One bot account on the server.
pub(crate) struct Account {
    pub bot_id: String,
    pub token: String,
    /// Messages not yet handed to a poller.
    pub queue: Vec<WeixinMessage>,
    /// `msgs` arrays as raw JSON text, each the whole of one coming answer.
    pub raw_batches: VecDeque<String>,
    pub cursor_n: u64,
    /// The cursor the next answer carries instead of a fresh one (a test's).
    pub next_cursor: Option<String>,
    /// Bumped by each new poller so that the previous one knows it was taken over.
    pub poll_gen: u64,
    pub contexts: HashMap<String, ContextInfo>,
    pub latest_context: HashMap<String, String>,
    pub typing_tickets: HashMap<String, String>,
    /// Users the bot may address (scripted users, whether or not they wrote yet).
    pub contacts: HashSet<String>,
    pub recent_sends: HashMap<String, VecDeque<Instant>>,
    pub blocked_until: HashMap<String, Instant>,
    /// Every accepted `client_id`, with a fingerprint of what it carried,
    /// so a repeat with other content is told apart from a retry.
    pub client_ids: HashMap<String, u64>,
    pub expired: Option<ExpiryMode>,
    /// Every inbound message, for redelivery by id.
    pub history: Vec<WeixinMessage>,
}

impl Account {
    pub fn new(bot_id: String, token: String) -> Self {
        Self {
            bot_id,
            token,
            queue: Vec::new(),
            raw_batches: VecDeque::new(),
            cursor_n: 0,
            next_cursor: None,
            poll_gen: 0,
            contexts: HashMap::new(),
            latest_context: HashMap::new(),
            typing_tickets: HashMap::new(),
            contacts: HashSet::new(),
            recent_sends: HashMap::new(),
            blocked_until: HashMap::new(),
            client_ids: HashMap::new(),
            expired: None,
            history: Vec::new(),
        }
    }

    /// A fresh opaque cursor; the number inside only ever grows.
    pub fn next_cursor(&mut self, rng: &mut StdRng) -> String {
        self.cursor_n += 1;
        if let Some(cursor) = self.next_cursor.take() {
            return cursor;
        }
        let nonce: u32 = rng.random();
        BASE64.encode(format!("{}:{}:{nonce:08x}", self.bot_id, self.cursor_n))
    }
}

/// Fields of an inbound message the control API may set instead of the defaults.
#[derive(Default)]
pub(crate) struct Overrides {
    pub context_token: Option<String>,
    pub session_id: Option<String>,
    pub message_state: Option<MessageState>,
}

/// Everything the simulator recorded.
#[derive(Default)]
pub(crate) struct Log {
    pub sent: Vec<SentMessage>,
    pub typing: Vec<TypingEvent>,
    pub configs: Vec<ConfigCall>,
    pub notifies: Vec<NotifyEvent>,
    pub requests: Vec<RequestRecord>,
    pub violations: Vec<Violation>,
}

/// All mutable state behind the one mutex.
pub(crate) struct Inner {
    pub config: SimConfig,
    pub accounts: BTreeMap<String, Account>,
    /// Tokens replaced by a re-login: they answer -14 instead of 401.
    pub retired_tokens: HashMap<String, String>,
    pub log: Log,
    pub cdn: CdnStore,
    pub qr: QrStore,
    pub faults: FaultStore,
    pub polls: PollBook,
    pub rng: StdRng,
    pub seq: i64,
}

impl Inner {
    pub fn new(config: SimConfig) -> Self {
        let faults = FaultStore::new(config.fault_seed);
        Self {
            config,
            accounts: BTreeMap::new(),
            retired_tokens: HashMap::new(),
            log: Log::default(),
            cdn: CdnStore::default(),
            qr: QrStore::default(),
            faults,
            polls: PollBook::default(),
            rng: StdRng::from_os_rng(),
            seq: 0,
        }
    }

    pub fn violation(
        &mut self,
        bot_id: Option<&str>,
        endpoint: Option<&'static str>,
        kind: ViolationKind,
        detail: impl Into<String>,
    ) {
        let detail = detail.into();
        tracing::debug!(?kind, %detail, "ilink-sim: protocol violation");
        self.log.violations.push(Violation {
            bot_id: bot_id.map(str::to_owned),
            endpoint,
            kind,
            detail,
        });
    }

    /// A random u64 above 2^53, so clients that parse ids as f64 lose precision.
    pub fn new_message_id(&mut self) -> u64 {
        (1u64 << 53) + self.rng.random_range(1..(1u64 << 62))
    }

    pub fn random_token(&mut self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        self.rng.fill_bytes(&mut buf);
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// Creates an account (or re-issues the token of an existing one) and returns its token.
    pub fn upsert_account(&mut self, bot_id: &str, token: Option<String>) -> String {
        let token =
            token.unwrap_or_else(|| format!("{bot_id}:{}", hex::encode(self.random_token(12))));
        if let Some(acct) = self.accounts.get_mut(bot_id) {
            let old = std::mem::replace(&mut acct.token, token.clone());
            if old != token {
                self.retired_tokens.insert(old, bot_id.to_owned());
            }
            acct.expired = None;
        } else {
            self.accounts.insert(
                bot_id.to_owned(),
                Account::new(bot_id.to_owned(), token.clone()),
            );
        }
        self.retired_tokens.remove(&token);
        token
    }

    pub fn account_by_token(&self, token: &str) -> Option<&Account> {
        self.accounts.values().find(|a| a.token == token)
    }

    /// Queues an inbound message from `user_id` to the bot with a fresh context token.
    pub fn push_inbound(
        &mut self,
        bot_id: &str,
        user_id: &str,
        items: Vec<MessageItem>,
        group_id: Option<String>,
        overrides: Overrides,
    ) -> Option<WeixinMessage> {
        let context_token = overrides
            .context_token
            .unwrap_or_else(|| format!("ctx-{}", self.random_token(24)));
        let message_id = self.new_message_id();
        self.seq += 1;
        let seq = self.seq;
        let now = now_ms();
        let acct = self.accounts.get_mut(bot_id)?;
        let item_list = items
            .into_iter()
            .map(|mut item| {
                item.create_time_ms.get_or_insert(now);
                item
            })
            .collect();
        let msg = WeixinMessage {
            seq: Some(seq),
            message_id: Some(message_id),
            from_user_id: Some(user_id.to_owned()),
            to_user_id: Some(bot_id.to_owned()),
            create_time_ms: Some(now),
            update_time_ms: Some(now),
            session_id: Some(
                overrides
                    .session_id
                    .unwrap_or_else(|| format!("{user_id}#{bot_id}")),
            ),
            group_id,
            message_type: Some(MessageType::User),
            message_state: Some(overrides.message_state.unwrap_or(MessageState::Finish)),
            item_list,
            context_token: Some(Secret::new(context_token.clone())),
            ..WeixinMessage::default()
        };
        acct.contacts.insert(user_id.to_owned());
        acct.contexts.insert(
            context_token.clone(),
            ContextInfo {
                user_id: user_id.to_owned(),
                issued: Instant::now(),
                sends: 0,
            },
        );
        acct.latest_context
            .insert(user_id.to_owned(), context_token);
        acct.queue.push(msg.clone());
        acct.history.push(msg.clone());
        Some(msg)
    }

    /// Queues `msgs`, raw JSON text, as the `msgs` of the account's next `getupdates`
    /// answer, verbatim. The senders and context tokens of the entries that can be read
    /// are issued as if they had come the usual way, so the bot can answer them.
    pub fn push_raw_batch(&mut self, bot_id: &str, msgs: String) -> bool {
        let Some(acct) = self.accounts.get_mut(bot_id) else {
            return false;
        };
        let entries: Vec<serde_json::Value> =
            from_slice_lenient(msgs.as_bytes()).unwrap_or_default();
        for entry in &entries {
            let Some(user) = entry.get("from_user_id").and_then(|v| v.as_str()) else {
                continue;
            };
            acct.contacts.insert(user.to_owned());
            if let Some(token) = entry.get("context_token").and_then(|v| v.as_str()) {
                acct.contexts.insert(
                    token.to_owned(),
                    ContextInfo {
                        user_id: user.to_owned(),
                        issued: Instant::now(),
                        sends: 0,
                    },
                );
                acct.latest_context
                    .insert(user.to_owned(), token.to_owned());
            }
        }
        acct.raw_batches.push_back(msgs);
        true
    }

    /// Forgets everything but the accounts, their tokens and the polls in flight.
    pub fn reset(&mut self) {
        for acct in self.accounts.values_mut() {
            let (id, token) = (acct.bot_id.clone(), acct.token.clone());
            *acct = Account::new(id, token);
        }
        self.retired_tokens.clear();
        self.log = Log::default();
        self.cdn = CdnStore::default();
        self.qr = QrStore::default();
        self.faults.clear(self.config.fault_seed);
        self.polls.reset(None);
    }

    /// Queues a copy of an earlier inbound message again (at-least-once delivery).
    pub fn redeliver(&mut self, bot_id: &str, message_id: u64, new_id: bool) -> bool {
        let fresh = self.new_message_id();
        let Some(acct) = self.accounts.get_mut(bot_id) else {
            return false;
        };
        let Some(mut msg) = acct
            .history
            .iter()
            .find(|m| m.message_id == Some(message_id))
            .cloned()
        else {
            return false;
        };
        if new_id {
            msg.message_id = Some(fresh);
        }
        acct.queue.push(msg);
        true
    }
}

/// Base URLs of a running simulator.
#[derive(Clone, Debug)]
pub(crate) struct Urls {
    pub base: String,
    pub alt: String,
}

/// State shared by the server tasks and the [`Simulator`](crate::Simulator) handle.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    changes: watch::Sender<u64>,
    pub shutdown: watch::Sender<bool>,
    pub urls: OnceLock<Urls>,
    /// The mock chat model served at `/v1` (its own lock: a streamed
    /// answer must not hold the simulator's).
    pub model: crate::model::MockModel,
}

impl Shared {
    pub fn new(config: SimConfig) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner::new(config)),
            changes: watch::channel(0).0,
            shutdown: watch::channel(false).0,
            urls: OnceLock::new(),
            model: crate::model::MockModel::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not make every later request fail.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mutates the state and wakes every waiter.
    pub fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let r = f(&mut self.lock());
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
        r
    }

    /// Reads the state without waking anyone.
    pub fn read<R>(&self, f: impl FnOnce(&Inner) -> R) -> R {
        f(&self.lock())
    }

    pub fn base_url(&self) -> String {
        self.urls.get().map(|u| u.base.clone()).unwrap_or_default()
    }

    pub fn cdn_url(&self) -> String {
        format!("{}/c2c", self.base_url())
    }

    pub fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves when the simulator shuts down.
    pub async fn shutdown_signal(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }

    /// Calls `f` under the lock until it returns `Some`, re-checking after each change,
    /// until `timeout` passes or the simulator shuts down (then `None`).
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&mut Inner) -> Option<T>,
    ) -> Option<T> {
        // A timeout set through the control API may be any length: past
        // what the clock can add, it is "never".
        let deadline = far_after(tokio::time::Instant::now(), timeout);
        let mut rx = self.changes.subscribe();
        loop {
            if let Some(v) = f(&mut self.lock()) {
                self.changes.send_modify(|v| *v = v.wrapping_add(1));
                return Some(v);
            }
            if self.is_shut_down() {
                return None;
            }
            tokio::select! {
                changed = rx.changed() => { if changed.is_err() { return None; } }
                _ = tokio::time::sleep_until(deadline) => return None,
                _ = self.shutdown_signal() => return None,
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A stand-in for "never" that the clock can still add: about 30 years.
pub(crate) const FOREVER: Duration = Duration::from_secs(1 << 30);

/// `start + after`, or [`FOREVER`] after `start` when that overflows.
pub(crate) fn far_after(start: tokio::time::Instant, after: Duration) -> tokio::time::Instant {
    start.checked_add(after).unwrap_or_else(|| start + FOREVER)
}
