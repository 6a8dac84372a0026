//! The "typing…" keepalive and the typing-ticket cache.
//!
//! Typing shown once fades within seconds, so while a handler runs it is
//! re-sent every `typing_interval` by a task of its own (a session runs one
//! handler at a time and cannot tick a timer itself), and cancelled with
//! status 2 when the handler returns. Tickets from `getconfig` are cached per
//! user and refreshed at a random point within 24 h; failures back off
//! exponentially from 2 s up to 1 h, as the official client does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ilink_core::Secret;
use ilink_core::types::TypingStatus;
use rand::Rng as _;
use tokio_util::sync::CancellationToken;

use super::quota::TokenBook;
use crate::actors::shared::AccountShared;

const TICKET_BACKOFF_START: Duration = Duration::from_secs(2);
const TICKET_BACKOFF_MAX: Duration = Duration::from_secs(3600);
const TICKET_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug)]
enum Ticket {
    Valid {
        ticket: Secret,
        refresh_at: Instant,
    },
    Failing {
        retry_at: Instant,
        backoff: Duration,
    },
}

struct Keepalive {
    cancel: CancellationToken,
    holders: usize,
}

/// Typing keepalives of one account, keyed by user.
pub(crate) struct Typing {
    shared: Arc<AccountShared>,
    tokens: Arc<TokenBook>,
    tickets: Mutex<HashMap<String, Ticket>>,
    active: Mutex<HashMap<String, Keepalive>>,
}

impl Typing {
    pub(crate) fn new(shared: Arc<AccountShared>, tokens: Arc<TokenBook>) -> Arc<Self> {
        Arc::new(Self {
            shared,
            tokens,
            tickets: Mutex::new(HashMap::new()),
            active: Mutex::new(HashMap::new()),
        })
    }

    /// Starts (or joins) the keepalive for `user`.
    pub(crate) fn start(self: &Arc<Self>, user: &str) {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = active.get_mut(user) {
            k.holders += 1;
            return;
        }
        let cancel = CancellationToken::new();
        active.insert(
            user.to_owned(),
            Keepalive {
                cancel: cancel.clone(),
                holders: 1,
            },
        );
        let this = self.clone();
        let user = user.to_owned();
        tokio::spawn(async move { this.keepalive(user, cancel).await });
    }

    /// Releases one holder; the last one cancels "typing…".
    pub(crate) fn stop(&self, user: &str) {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = active.get_mut(user) {
            k.holders = k.holders.saturating_sub(1);
            if k.holders == 0 {
                k.cancel.cancel();
                active.remove(user);
            }
        }
    }

    /// Cancels every keepalive (shutdown).
    pub(crate) fn stop_all(&self) {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        for (_, k) in active.drain() {
            k.cancel.cancel();
        }
    }

    async fn keepalive(self: Arc<Self>, user: String, cancel: CancellationToken) {
        let Some(ticket) = self.ticket(&user).await else {
            return;
        };
        let interval = self.shared.options.typing_interval;
        loop {
            let client = self.shared.client();
            if let Err(e) = client
                .api()
                .send_typing(&user, &ticket, TypingStatus::Typing)
                .await
            {
                tracing::debug!(account = %self.shared.account, error = %e, "typing failed");
                if e.is_session_expired() {
                    return;
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
        let client = self.shared.client();
        if let Err(e) = client
            .api()
            .send_typing(&user, &ticket, TypingStatus::Cancel)
            .await
        {
            tracing::debug!(account = %self.shared.account, error = %e, "typing cancel failed");
        }
    }

    /// A valid ticket for `user`, fetched when missing or due; `None` while
    /// fetching backs off after failures.
    async fn ticket(&self, user: &str) -> Option<Secret> {
        let now = Instant::now();
        {
            let tickets = self.tickets.lock().unwrap_or_else(|e| e.into_inner());
            match tickets.get(user) {
                Some(Ticket::Valid { ticket, refresh_at }) if *refresh_at > now => {
                    return Some(ticket.clone());
                }
                Some(Ticket::Failing { retry_at, .. }) if *retry_at > now => return None,
                _ => {}
            }
        }
        let context = self.tokens.token(user).await;
        let result = self
            .shared
            .client()
            .api()
            .get_config(user, context.as_ref())
            .await;
        let mut tickets = self.tickets.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(resp) if resp.typing_ticket.as_ref().is_some_and(|t| !t.is_empty()) => {
                let ticket = resp.typing_ticket.unwrap_or_default();
                let jitter = rand::rng().random_range(0.5..1.0);
                let refresh_at = now + TICKET_MAX_AGE.mul_f64(jitter);
                tickets.insert(
                    user.to_owned(),
                    Ticket::Valid {
                        ticket: ticket.clone(),
                        refresh_at,
                    },
                );
                Some(ticket)
            }
            other => {
                let backoff = match tickets.get(user) {
                    Some(Ticket::Failing { backoff, .. }) => (*backoff * 2).min(TICKET_BACKOFF_MAX),
                    _ => TICKET_BACKOFF_START,
                };
                if let Err(e) = other {
                    tracing::debug!(account = %self.shared.account, error = %e, "getconfig failed");
                }
                tickets.insert(
                    user.to_owned(),
                    Ticket::Failing {
                        retry_at: now + backoff,
                        backoff,
                    },
                );
                None
            }
        }
    }
}
