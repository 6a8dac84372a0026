//! The Poller, a ractor actor: long-polls `getupdates` for one account, the
//! start of every inbound message's path (poller → router → session).
//!
//! The Poller owns the account's [`Cursor`] (the client it polls with may be
//! replaced when new credentials arrive; the cursor stays) and polls through
//! [`ILinkClient::poll_from`](ilink_core::ILinkClient::poll_from), which
//! applies the server's `longpolling_timeout_ms` as the cursor's rules say.
//! Each received batch is committed to the store in one transaction (inbox
//! entries, dedup keys, context tokens, cursor), then its new messages go to
//! the Router: the server never replays from an old cursor, so this order is
//! what makes a crash lose nothing. A failed commit is retried with backoff
//! (an [`AccountEventKind::StoreError`] each time) before anything else
//! happens: no dispatch, no further poll. Errors back off by the options' poll
//! retry policy; `-14` pauses the account and probes every
//! `session_probe_interval` until the token works again or new credentials
//! arrive.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ilink_core::Cursor;
use ilink_core::types::{GetUpdatesResponse, MessageJson, RejectedMessage};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio_util::sync::CancellationToken;

use crate::account_shared::{AccountShared, Health};
use crate::dedup::dedup_keys;
use crate::events::AccountEventKind;
use crate::router::RouterMsg;
use crate::store::{
    InboxEntry, ObservedToken, QuarantinedMessage, ReceivedBatch, ReceivedEntry, now_ms,
};

/// Messages of the Poller actor.
pub(crate) enum PollerMsg {
    /// Run one long-poll (the actor sends it to itself after each).
    Poll,
}

/// How often a poller without a fresh lease checks again.
const LEASE_RECHECK: Duration = Duration::from_millis(100);

/// The Poller actor.
pub(crate) struct Poller;

/// Start-up arguments of the Poller.
pub(crate) struct PollerArgs {
    pub(crate) shared: Arc<AccountShared>,
    pub(crate) router: ActorRef<RouterMsg>,
    /// Cancelled to end an in-flight long-poll at shutdown.
    pub(crate) cancel: CancellationToken,
}

/// State of the Poller.
pub(crate) struct PollerState {
    args: PollerArgs,
    cursor: Cursor,
    failures: u32,
}

/// Inbox ids: increasing across restarts (they start from the clock, and
/// above every id an account's stored state holds, see [`ids_after`]) and
/// within a run (they never repeat).
static LAST_ID: AtomicU64 = AtomicU64::new(0);

/// Makes every id given from now on higher than `last`.
fn ids_after(last: u64) {
    LAST_ID.fetch_max(last, Ordering::SeqCst);
}

fn next_entry_id() -> u64 {
    let floor = (now_ms().max(0) as u64).saturating_mul(1000);
    let mut prev = LAST_ID.load(Ordering::SeqCst);
    loop {
        let next = floor.max(prev + 1);
        match LAST_ID.compare_exchange(prev, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return next,
            Err(actual) => prev = actual,
        }
    }
}

impl Actor for Poller {
    type Msg = PollerMsg;
    type State = PollerState;
    type Arguments = PollerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: PollerArgs,
    ) -> Result<PollerState, ActorProcessingErr> {
        let saved = args
            .shared
            .store
            .load_cursor(&args.shared.account)
            .await?
            .unwrap_or_default();
        // Another process (or this machine before its clock was set back)
        // may have given ids above what the clock gives now.
        if let Some(last) = args
            .shared
            .store
            .last_entry_id(&args.shared.account)
            .await?
        {
            ids_after(last);
        }
        let cursor = Cursor::new(saved).with_hold(args.shared.options.poll_timeout);
        Ok(PollerState {
            args,
            cursor,
            failures: 0,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut PollerState,
    ) -> Result<(), ActorProcessingErr> {
        let shared = &state.args.shared;
        let (generation, client) = shared.current();
        if let Err(e) = client.notify_start().await {
            tracing::warn!(account = %shared.account, error = %e, "notifystart failed");
            if e.is_session_expired() {
                shared.session_expired(generation);
            }
        }
        shared.live.set_started();
        // Reading the status sets the account's up gauge.
        shared.status();
        shared
            .events
            .emit(&shared.account, AccountEventKind::Started);
        let _ = myself.send_message(PollerMsg::Poll);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: PollerMsg,
        state: &mut PollerState,
    ) -> Result<(), ActorProcessingErr> {
        let PollerMsg::Poll = msg;
        if state.args.cancel.is_cancelled() {
            return Ok(());
        }
        if let Some(wait) = state.poll_once().await {
            state.pause(wait).await;
        }
        if !state.args.cancel.is_cancelled() {
            let _ = myself.send_message(PollerMsg::Poll);
        }
        Ok(())
    }
}

impl PollerState {
    /// One long-poll; returns how long to wait before the next one.
    async fn poll_once(&mut self) -> Option<Wait> {
        let shared = self.args.shared.clone();
        if !shared.may_poll() {
            // A cluster worker whose lease is not known to be fresh (it was
            // paused, or the database is out of reach) must not take a
            // batch: another worker may own the account by now.
            return Some(Wait::Backoff(LEASE_RECHECK));
        }
        let (generation, client) = shared.current();
        let result = tokio::select! {
            r = client.poll_from(&self.cursor) => r,
            _ = self.args.cancel.cancelled() => return None,
            // Heartbeats stalled while the server held the poll: hang up
            // before the lease can expire and another worker poll.
            _ = shared.lease_lapsed() => return Some(Wait::Backoff(LEASE_RECHECK)),
        };
        match result {
            Ok(resp) => {
                if shared.health() == Health::SessionExpired && shared.current().0 == generation {
                    shared.set_health(Health::Ok);
                }
                self.failures = 0;
                shared.live.poll_result(None);
                self.accept(resp).await;
                None
            }
            Err(e) if e.is_session_expired() => {
                if shared.current().0 != generation {
                    // Answered to a token replaced meanwhile: poll again now.
                    return None;
                }
                shared.session_expired(generation);
                Some(Wait::Probe(shared.options.session_probe_interval))
            }
            Err(e) => {
                self.failures += 1;
                tracing::warn!(account = %shared.account, error = %e, failures = self.failures, "poll failed");
                shared.metrics.poll_errors.increment(1);
                shared.live.poll_result(Some(e.to_string()));
                shared.events.emit(
                    &shared.account,
                    AccountEventKind::PollError {
                        error: e.to_string(),
                        consecutive: self.failures,
                    },
                );
                let delay = shared.options.poll_retry().delay(self.failures);
                Some(Wait::Backoff(
                    delay.unwrap_or(shared.options.poll_backoff_max),
                ))
            }
        }
    }

    /// One transaction for the batch, then dispatch of its new messages.
    async fn accept(&mut self, mut resp: GetUpdatesResponse) {
        let shared = &self.args.shared;
        let received_at_ms = now_ms();
        let mut next = self.cursor.clone();
        let moved = next.advance(&resp);
        let msgs = std::mem::take(&mut resp.msgs);
        // Each message's JSON as received, trusted only when it covers every
        // message (an answer built in code carries none).
        let json = std::mem::take(&mut resp.msgs_json);
        let mut json = if json.len() == msgs.len() {
            json
        } else {
            Vec::new()
        }
        .into_iter();
        let mut entries = Vec::with_capacity(msgs.len());
        // Messages that cannot be handled, with their shape for the log.
        let mut aside: Vec<(RejectedMessage, String)> = resp
            .rejected
            .drain(..)
            .map(|r| {
                let reason = format!("does not decode: {}", r.error);
                (r, reason)
            })
            .collect();
        for (index, msg) in msgs.into_iter().enumerate() {
            let json = json.next();
            let unfit = if msg.from_user_id.as_deref().is_none_or(str::is_empty) {
                Some("no sender (from_user_id is missing or empty): nobody to answer".to_owned())
            } else {
                holding_nul(&msg).map(|field| {
                    format!("its {field} holds a NUL character: no reply can name it, and PostgreSQL cannot store it")
                })
            };
            match unfit {
                Some(reason) => {
                    let raw = RejectedMessage {
                        index,
                        raw: match json {
                            Some(json) => json.into_string(),
                            None => serde_json::to_string(&msg).unwrap_or_default(),
                        },
                        error: String::new(),
                    };
                    aside.push((raw, reason));
                }
                None => entries.push(received(msg, json, received_at_ms)),
            }
        }
        let shapes: Vec<String> = aside.iter().map(|(r, _)| r.shape()).collect();
        let quarantined: Vec<_> = aside
            .into_iter()
            .map(|(r, reason)| quarantine(&shared.account, r.raw, reason, received_at_ms))
            .collect();
        if entries.is_empty() && quarantined.is_empty() && !moved {
            self.cursor = next;
            return;
        }
        // A cursor no store could hold (PostgreSQL text has no NUL) stays in
        // memory: a restart polls from the stored one, and the inbox's dedup
        // keys drop what the server sends again.
        let storable = !next.as_str().contains('\0');
        if moved && !storable {
            tracing::warn!(account = %shared.account, "the server's cursor holds a NUL character; it is kept in memory only");
        }
        let batch = ReceivedBatch {
            entries,
            quarantined,
            cursor: (moved && storable).then(|| next.as_str().to_owned()),
            now_ms: received_at_ms,
            dedup_window_ms: shared.options.dedup_window.as_millis() as i64,
        };
        // Durable before anything else happens: no dispatch (a message
        // handled before it is stored could be lost or handled twice) and
        // no further poll (the cursor stays where the store has it).
        let committed = shared
            .until_stored("storing received messages", Some(&self.args.cancel), || {
                shared.store.commit_received(&shared.account, &batch)
            })
            .await;
        let Some(firsts) = committed else {
            tracing::error!(
                account = %shared.account, count = batch.entries.len(),
                "shut down before received messages could be stored; the server will not send them again"
            );
            return;
        };
        self.cursor = next;
        let metrics = &shared.metrics;
        metrics
            .received
            .increment((batch.entries.len() + batch.quarantined.len()) as u64);
        metrics
            .quarantined
            .increment(batch.quarantined.len() as u64);
        for (kept, shape) in batch.quarantined.iter().zip(&shapes) {
            tracing::warn!(
                account = %shared.account, id = kept.id, reason = %kept.reason, shape = %shape,
                "a received message cannot be handled; it is kept in the quarantine (`ilink quarantine`)"
            );
            shared.events.emit(
                &shared.account,
                AccountEventKind::MessageQuarantined {
                    id: kept.id,
                    reason: kept.reason.clone(),
                },
            );
        }
        let fresh: Vec<_> = batch
            .entries
            .into_iter()
            .zip(firsts)
            .filter_map(|(received, first)| match first {
                None => Some(received.entry),
                Some(first) => {
                    metrics.deduplicated.increment(1);
                    tracing::debug!(account = %shared.account, entry = received.entry.id, first, "duplicate message dropped");
                    None
                }
            })
            .collect::<Vec<_>>();
        if fresh.is_empty() {
            return;
        }
        // One message per batch: the Router dispatches them in order.
        if self
            .args
            .router
            .send_message(RouterMsg::Inbound(fresh))
            .is_err()
        {
            tracing::error!(account = %shared.account, "router is gone; messages stay in the inbox");
        }
    }

    /// Waits, cut short by shutdown, or — while the session is expired — by
    /// the account being healthy. The check is on the current health, not on
    /// a change seen from here, so credentials replaced just before the pause
    /// still end it at once.
    async fn pause(&self, wait: Wait) {
        let mut health = self.args.shared.subscribe_health();
        let (delay, until_healthy) = match wait {
            Wait::Backoff(d) => (d, false),
            Wait::Probe(d) => (d, true),
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = self.args.cancel.cancelled() => {}
            _ = health.wait_for(|h| *h == Health::Ok), if until_healthy => {}
        }
    }
}

/// A received message with what the store needs to know about it.
fn received(
    msg: ilink_core::types::WeixinMessage,
    json: Option<MessageJson>,
    received_at_ms: i64,
) -> ReceivedEntry {
    let context_token = msg
        .context_token
        .clone()
        .filter(|t| !t.is_empty())
        .map(|token| ObservedToken {
            user: msg.from_user_id.clone().unwrap_or_default(),
            token,
            at_ms: msg.create_time_ms.unwrap_or(received_at_ms),
        });
    ReceivedEntry {
        dedup_keys: dedup_keys(&msg).to_vec(),
        context_token,
        json,
        entry: InboxEntry {
            id: next_entry_id(),
            msg: Arc::new(msg),
            received_at_ms,
        },
    }
}

/// The field of `msg`, among those stored apart or used as a key, that
/// holds a NUL character. No real id or token does; PostgreSQL text cannot
/// hold one, so the message would stop the account's inbox there, and on
/// every store the bot behaves alike.
fn holding_nul(msg: &ilink_core::types::WeixinMessage) -> Option<&'static str> {
    let nul = |s: Option<&str>| s.is_some_and(|s| s.contains('\0'));
    if nul(msg.from_user_id.as_deref()) {
        Some("sender id (from_user_id)")
    } else if nul(msg.group_id.as_deref()) {
        Some("group id (group_id)")
    } else if nul(msg.context_token.as_ref().map(|t| t.expose())) {
        Some("context token")
    } else {
        None
    }
}

/// A message of the batch kept aside instead of handled.
fn quarantine(
    account: &crate::account::AccountId,
    raw: String,
    reason: String,
    received_at_ms: i64,
) -> QuarantinedMessage {
    QuarantinedMessage {
        account: account.clone(),
        id: next_entry_id(),
        received_at_ms,
        reason,
        raw,
    }
}

/// Why the poller waits before the next poll.
enum Wait {
    /// After an error.
    Backoff(Duration),
    /// While the session is expired: until the probe interval passes or the
    /// account is healthy again.
    Probe(Duration),
}

#[cfg(test)]
#[path = "poller_tests.rs"]
mod tests;
