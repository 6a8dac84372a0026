//! The [`Simulator`] handle: starts the server in-process, manages accounts and scripted
//! users, injects faults and session expiry, and lets tests inspect and await what the
//! bot did.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ilink_core::types::{MessageItem, WeixinMessage};
use ilink_core::{Endpoint, Secret};
use tokio::task::JoinHandle;

use crate::config::SimConfig;
use crate::error::SimError;
use crate::faults::Fault;
use crate::login::apply;
use crate::media::UploadedMedia;
use crate::polls::{InFlightPoll, PollStats};
use crate::qr::QrAction;
use crate::records::{ConfigCall, NotifyEvent, RequestRecord, SentMessage, TypingEvent, Violation};
use crate::server::{bind, router, serve};
use crate::state::{ExpiryMode, Shared, Urls};
use crate::users::ScriptedUser;

/// A bot account on the simulator: its id and the token it was issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotAccount {
    /// The bot id (`…@im.bot`).
    pub bot_id: String,
    /// The bot token (`<bot_id>:<secret>`).
    pub token: Secret,
}

/// A running iLink server simulator. Shuts down on [`shutdown`](Self::shutdown) or drop.
pub struct Simulator {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("base_url", &self.base_url())
            .finish()
    }
}

impl Simulator {
    /// Starts a simulator with [`SimConfig::for_tests`] on a free port.
    ///
    /// # Panics
    /// If 127.0.0.1 cannot be bound; use [`start_with`](Self::start_with) to handle that.
    pub async fn start() -> Self {
        match Self::start_with(SimConfig::for_tests()).await {
            Ok(sim) => sim,
            Err(e) => panic!("ilink-sim: cannot start: {e}"),
        }
    }

    /// Starts a simulator with this configuration.
    pub async fn start_with(config: SimConfig) -> Result<Self, SimError> {
        let main = bind(config.port).await?;
        // The second listener is the target of `scaned_but_redirect`.
        let alt = bind(0).await?;
        let shared = Shared::new(config);
        let urls = Urls {
            base: format!("http://{}", main.local_addr()?),
            alt: format!("http://{}", alt.local_addr()?),
        };
        let _ = shared.urls.set(urls);
        let app = router(shared.clone());
        let tasks = vec![
            tokio::spawn(serve(main, app.clone(), shared.clone())),
            tokio::spawn(serve(alt, app, shared.clone())),
        ];
        Ok(Self { shared, tasks })
    }

    /// The API base URL, e.g. `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.shared.base_url()
    }

    /// The CDN base URL: `<base_url>/c2c`.
    pub fn cdn_base_url(&self) -> String {
        self.shared.cdn_url()
    }

    /// The second listener's base URL (same server), used by `scaned_but_redirect`.
    pub fn alt_base_url(&self) -> String {
        self.shared
            .urls
            .get()
            .map(|u| u.alt.clone())
            .unwrap_or_default()
    }

    /// Changes the configuration while running (e.g. to switch `upload_full_url` off).
    pub fn configure(&self, f: impl FnOnce(&mut SimConfig)) {
        self.shared.with(|i| f(&mut i.config));
    }

    /// Adds an account; `name` becomes `name@im.bot` unless it already ends so.
    pub fn add_account(&self, name: &str) -> BotAccount {
        self.add_account_with(name, None)
    }

    /// Adds an account with a given token (or re-issues one for an existing id).
    pub fn add_account_with(&self, name: &str, token: Option<String>) -> BotAccount {
        let bot_id = if name.ends_with("@im.bot") {
            name.to_owned()
        } else {
            format!("{name}@im.bot")
        };
        let token = self.shared.with(|i| i.upsert_account(&bot_id, token));
        BotAccount {
            bot_id,
            token: Secret::new(token),
        }
    }

    /// Removes an account; its token stops working (HTTP 401).
    pub fn remove_account(&self, bot: &BotAccount) {
        self.shared.with(|i| i.accounts.remove(&bot.bot_id));
    }

    /// All accounts with their current tokens.
    pub fn accounts(&self) -> Vec<BotAccount> {
        self.shared.read(|i| {
            i.accounts
                .values()
                .map(|a| BotAccount {
                    bot_id: a.bot_id.clone(),
                    token: Secret::new(a.token.clone()),
                })
                .collect()
        })
    }

    /// A scripted user writing to `bot`; the bot may address this user from now on.
    pub fn user(&self, bot: &BotAccount, user_id: &str) -> ScriptedUser {
        ScriptedUser::new(self.shared.clone(), bot.bot_id.clone(), user_id.to_owned())
    }

    /// Queues an earlier inbound message again after `delay`, with the same or a new
    /// `message_id` (at-least-once delivery).
    pub fn redeliver(&self, bot: &BotAccount, msg: &WeixinMessage, delay: Duration, new_id: bool) {
        let Some(id) = msg.message_id else { return };
        let sh = self.shared.clone();
        let bot = bot.bot_id.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => { sh.with(|i| i.redeliver(&bot, id, new_id)); }
                _ = sh.shutdown_signal() => {}
            }
        });
    }

    /// Makes the next `getupdates` answer of `bot` carry `msgs` as its `msgs` array,
    /// verbatim: raw JSON text that may be malformed in any way (an entry of the wrong
    /// shape, an unpaired surrogate escape, even a `msgs` that is not an array). The
    /// answer holds nothing else; queued messages follow in the next one. Entries with a
    /// string `from_user_id` (and `context_token`) count as written by that user, so the
    /// bot may answer them.
    ///
    /// ```no_run
    /// # fn demo(sim: &ilink_testkit::Simulator, bot: &ilink_testkit::BotAccount) {
    /// sim.push_raw_batch(bot, r#"[
    ///     {"message_id": 1, "from_user_id": "alice@im.wechat", "context_token": "ctx-1",
    ///      "item_list": [{"type": 1, "text_item": {"text": "hi"}}]},
    ///     {"message_id": "not a number"}
    /// ]"#);
    /// # }
    /// ```
    pub fn push_raw_batch(&self, bot: &BotAccount, msgs: &str) {
        self.shared
            .with(|i| i.push_raw_batch(&bot.bot_id, msgs.to_owned()));
    }

    /// Makes the next `getupdates` answer of `bot` that moves its cursor carry
    /// `cursor` as `get_updates_buf` instead of a fresh one (any text, e.g. one
    /// holding a NUL character). The simulator takes any cursor back.
    pub fn set_next_cursor(&self, bot: &BotAccount, cursor: &str) {
        self.shared.with(|i| {
            if let Some(a) = i.accounts.get_mut(&bot.bot_id) {
                a.next_cursor = Some(cursor.to_owned());
            }
        });
    }

    /// Makes every call of `bot` answer `-14` in the given shape until cleared or until
    /// a QR re-login issues a new token.
    pub fn expire_session(&self, bot: &BotAccount, mode: ExpiryMode) {
        self.shared.with(|i| {
            if let Some(a) = i.accounts.get_mut(&bot.bot_id) {
                a.expired = Some(mode);
            }
        });
    }

    /// Ends a session expiry.
    pub fn clear_session_expiry(&self, bot: &BotAccount) {
        self.shared.with(|i| {
            if let Some(a) = i.accounts.get_mut(&bot.bot_id) {
                a.expired = None;
            }
        });
    }

    /// Adds a fault rule.
    pub fn inject(&self, fault: Fault) {
        self.shared.with(|i| i.faults.rules.push(fault));
    }

    /// Removes every fault rule and re-seeds the fault generator.
    pub fn clear_faults(&self) {
        self.shared.with(|i| {
            let seed = i.config.fault_seed;
            i.faults.clear(seed)
        });
    }

    /// Every `sendmessage` of `bot`, accepted or not, oldest first.
    pub fn sent(&self, bot: &BotAccount) -> Vec<SentMessage> {
        self.shared.read(|i| {
            i.log
                .sent
                .iter()
                .filter(|s| s.bot_id == bot.bot_id)
                .cloned()
                .collect()
        })
    }

    /// Delivered messages of `bot` to `user_id`, oldest first.
    pub fn delivered_to(&self, bot: &BotAccount, user_id: &str) -> Vec<SentMessage> {
        self.sent(bot)
            .into_iter()
            .filter(|s| s.delivered() && s.to_user_id == user_id)
            .collect()
    }

    /// Waits until `bot` has had at least `n` messages delivered (to anyone); returns them.
    pub async fn wait_for_sent(
        &self,
        bot: &BotAccount,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<SentMessage>, SimError> {
        let id = bot.bot_id.clone();
        self.wait_for(&format!("{n} messages sent by {id}"), timeout, |s| {
            let v: Vec<_> = s
                .iter()
                .filter(|m| m.bot_id == id && m.delivered())
                .cloned()
                .collect();
            (v.len() >= n).then_some(v)
        })
        .await
    }

    /// Waits until `bot` has had at least `n` messages delivered to `user_id`.
    pub async fn wait_for_sent_to(
        &self,
        bot: &BotAccount,
        user_id: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<SentMessage>, SimError> {
        let id = bot.bot_id.clone();
        self.wait_for(&format!("{n} messages sent to {user_id}"), timeout, |s| {
            let v: Vec<_> = s
                .iter()
                .filter(|m| m.bot_id == id && m.delivered() && m.to_user_id == user_id)
                .cloned()
                .collect();
            (v.len() >= n).then_some(v)
        })
        .await
    }

    /// Waits until `check` over all `sendmessage` records returns `Some`.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&[SentMessage]) -> Option<T>,
    ) -> Result<T, SimError> {
        self.wait_for_state(what, timeout, |s| check(s.sent)).await
    }

    /// Waits until `check` over everything recorded returns `Some`.
    ///
    /// `check` runs under the simulator's lock: it must not call back into the simulator.
    pub async fn wait_for_state<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Recorded<'_>) -> Option<T>,
    ) -> Result<T, SimError> {
        self.shared
            .wait_until(timeout, |i| {
                check(&Recorded {
                    sent: &i.log.sent,
                    typing: &i.log.typing,
                    configs: &i.log.configs,
                    notifies: &i.log.notifies,
                    violations: &i.log.violations,
                    uploads: &i.cdn.uploads,
                    requests: &i.log.requests,
                })
            })
            .await
            .ok_or_else(|| SimError::Timeout {
                what: what.to_owned(),
                timeout,
            })
    }

    /// Waits until a request to `endpoint` has arrived (it is recorded on
    /// arrival, before any fault delays or hangs its answer) and returns it.
    pub async fn wait_for_request(
        &self,
        endpoint: Endpoint,
        timeout: Duration,
    ) -> Result<RequestRecord, SimError> {
        self.wait_for_state(&format!("a {endpoint} request"), timeout, |s| {
            s.requests
                .iter()
                .find(|r| r.endpoint == Some(endpoint))
                .cloned()
        })
        .await
    }

    /// Every `sendtyping` call.
    pub fn typing_events(&self) -> Vec<TypingEvent> {
        self.shared.read(|i| i.log.typing.clone())
    }

    /// Every `getconfig` call.
    pub fn config_calls(&self) -> Vec<ConfigCall> {
        self.shared.read(|i| i.log.configs.clone())
    }

    /// Every `notifystart`/`notifystop` call.
    pub fn notifications(&self) -> Vec<NotifyEvent> {
        self.shared.read(|i| i.log.notifies.clone())
    }

    /// Every HTTP request (except `/mock/*`), with its headers.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.read(|i| i.log.requests.clone())
    }

    /// Every protocol violation recorded so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.shared.read(|i| i.log.violations.clone())
    }

    /// Media the bot uploaded to the CDN, decrypted and verified.
    pub fn uploads(&self) -> Vec<UploadedMedia> {
        self.shared.read(|i| i.cdn.uploads.clone())
    }

    /// Downloads and decrypts the media of a message item (sent by the bot or a user).
    pub fn decrypt_media(&self, item: &MessageItem) -> Result<Vec<u8>, SimError> {
        self.shared.read(|i| i.cdn.decrypt_item(item))
    }

    /// How `bot` was long-polled: `getupdates` in flight now and at most, overlaps, and
    /// the connections they came on.
    ///
    /// A poll counts from its arrival (after the header and body checks) until it is
    /// answered or its client hangs up. Two workers polling one account show as
    /// `max_in_flight` 2 and an overlap naming both connections, even though the takeover
    /// rule ends the older poll at once with an empty batch. A poll whose client had
    /// already hung up when the next one came (the kernel had its FIN, though the
    /// simulator had not yet got round to it) is no overlap: it counts in
    /// `after_hang_ups`. The polls of a [`PollOverlap`](crate::PollOverlap) carry the
    /// `bot_agent` (and `User-Agent`) that tell one worker's polls from another's.
    ///
    /// ```no_run
    /// # async fn demo(sim: &ilink_testkit::Simulator, bot: &ilink_testkit::BotAccount) {
    /// // ... run two worker processes sharing `bot`'s store, let them settle ...
    /// let stats = sim.poll_stats(bot);
    /// assert_eq!(stats.max_in_flight, 1, "polled twice at once: {:?}", stats.overlaps);
    /// # }
    /// ```
    pub fn poll_stats(&self, bot: &BotAccount) -> PollStats {
        self.shared.read(|i| i.polls.stats(&bot.bot_id))
    }

    /// Waits until `check` holds for [`poll_stats`](Self::poll_stats) of `bot` and
    /// returns them, e.g. until a worker's poll is in flight.
    pub async fn wait_for_poll_stats(
        &self,
        bot: &BotAccount,
        timeout: Duration,
        mut check: impl FnMut(&PollStats) -> bool,
    ) -> Result<PollStats, SimError> {
        self.shared
            .wait_until(timeout, |i| {
                let stats = i.polls.stats(&bot.bot_id);
                check(&stats).then_some(stats)
            })
            .await
            .ok_or_else(|| SimError::Timeout {
                what: format!("poll stats of {}", bot.bot_id),
                timeout,
            })
    }

    /// Forgets how `bot` was polled so far; polls in flight stay counted (they become
    /// the new `max_in_flight` and `connections`).
    pub fn reset_poll_stats(&self, bot: &BotAccount) {
        self.shared.with(|i| i.polls.reset(Some(&bot.bot_id)));
    }

    /// The accounts that had two `getupdates` in flight at once since the start or the
    /// last reset; a cluster test asserts it is empty.
    pub fn accounts_polled_concurrently(&self) -> Vec<String> {
        self.shared.read(|i| i.polls.polled_concurrently())
    }

    /// Every `getupdates` in flight now, of any account, oldest first.
    pub fn in_flight_polls(&self) -> Vec<InFlightPoll> {
        self.shared.read(|i| i.polls.in_flight())
    }

    /// Every connection that polled since the start or the last reset, with the accounts
    /// it polled: which worker polls which account (distinct processes have distinct
    /// client ports; see [`in_flight_polls`](Self::in_flight_polls) for who polls now).
    pub fn polled_accounts_by_peer(&self) -> BTreeMap<SocketAddr, BTreeSet<String>> {
        let mut by_peer: BTreeMap<SocketAddr, BTreeSet<String>> = BTreeMap::new();
        for (bot_id, stats) in self.shared.read(|i| i.polls.all()) {
            for peer in stats.connections {
                by_peer.entry(peer).or_default().insert(bot_id.clone());
            }
        }
        by_peer
    }

    /// Waits for a QR login to start (`get_bot_qrcode`) and returns a handle to drive
    /// the phone side of the newest one.
    pub async fn wait_for_qr(&self, timeout: Duration) -> Result<QrLogin, SimError> {
        let qrcode = self
            .shared
            .wait_until(timeout, |i| i.qr.sessions.last().map(|s| s.qrcode.clone()))
            .await
            .ok_or_else(|| SimError::Timeout {
                what: "a QR login".into(),
                timeout,
            })?;
        Ok(QrLogin {
            shared: self.shared.clone(),
            qrcode: Secret::new(qrcode),
        })
    }

    /// Forgets every record, queued message, context, QR session, fault and poll history,
    /// and the mock model's queued answers, faults and requests; accounts, their tokens
    /// and the polls in flight stay.
    pub fn reset(&self) {
        self.shared.with(crate::state::Inner::reset);
        self.shared.model.reset();
    }

    /// The mock OpenAI-compatible chat model served at `<base_url>/v1`
    /// (see [`crate::model`]): queue answers, inject failures, read what it
    /// was asked.
    pub fn model(&self) -> crate::model::MockModel {
        self.shared.model.clone()
    }

    /// Stops the server and ends every pending request.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A borrowed view of everything recorded, for [`Simulator::wait_for_state`].
#[derive(Debug)]
pub struct Recorded<'a> {
    /// `sendmessage` records.
    pub sent: &'a [SentMessage],
    /// `sendtyping` records.
    pub typing: &'a [TypingEvent],
    /// `getconfig` records.
    pub configs: &'a [ConfigCall],
    /// notify records.
    pub notifies: &'a [NotifyEvent],
    /// Protocol violations.
    pub violations: &'a [Violation],
    /// Media the bot uploaded.
    pub uploads: &'a [UploadedMedia],
    /// Every HTTP request.
    pub requests: &'a [RequestRecord],
}

/// The phone side of one QR login.
#[derive(Clone)]
pub struct QrLogin {
    shared: Arc<Shared>,
    /// The `qrcode` value of this session.
    pub qrcode: Secret,
}

impl std::fmt::Debug for QrLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrLogin")
            .field("qrcode", &self.qrcode)
            .finish()
    }
}

impl QrLogin {
    /// Applies an action; returns the account if it was a confirmation.
    pub fn act(&self, action: QrAction) -> Option<BotAccount> {
        let base = self.shared.base_url();
        let alt = self
            .shared
            .urls
            .get()
            .map(|u| u.alt.clone())
            .unwrap_or_default();
        let alt_host = alt.trim_start_matches("http://").to_owned();
        let c = self
            .shared
            .with(|i| apply(i, Some(self.qrcode.expose()), action, &base, &alt_host))??;
        Some(BotAccount {
            bot_id: c.bot_id,
            token: Secret::new(c.bot_token),
        })
    }

    /// `scaned`.
    pub fn scan(&self) {
        self.act(QrAction::Scan);
    }

    /// `confirmed` with fresh credentials; returns the new account.
    pub fn confirm(&self) -> Option<BotAccount> {
        self.act(QrAction::Confirm {
            bot_id: None,
            bot_token: None,
            base_url: None,
            ilink_user_id: None,
        })
    }
}
