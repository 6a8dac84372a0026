//! The "typing…" keepalive.
//!
//! Typing shown once fades within seconds, so while a handler runs it is
//! re-sent every `typing_interval` by a task of its own (a session runs one
//! handler at a time and cannot tick a timer itself), and cancelled with
//! status 2 when the handler returns. Tickets come from the client's
//! [`TypingTickets`](ilink_core::typing::TypingTickets), which holds the one
//! rule for fetching, refreshing and backing off; while it has no ticket for
//! the user, a tick shows nothing and the next one tries again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::quota::TokenBook;
use crate::account_shared::AccountShared;

struct Keepalive {
    cancel: CancellationToken,
    holders: usize,
}

/// Typing keepalives of one account, keyed by user.
pub(crate) struct Typing {
    shared: Arc<AccountShared>,
    tokens: Arc<TokenBook>,
    active: Mutex<HashMap<String, Keepalive>>,
}

impl Typing {
    pub(crate) fn new(shared: Arc<AccountShared>, tokens: Arc<TokenBook>) -> Arc<Self> {
        Arc::new(Self {
            shared,
            tokens,
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
        let context = self.tokens.token(&user).await;
        let interval = self.shared.options.typing_interval;
        let mut shown = false;
        loop {
            // A handler that returned before "typing…" went out (its ticket
            // fetched first) shows none: it would come after the reply.
            if cancel.is_cancelled() {
                break;
            }
            let client = self.shared.client();
            let sent = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    // Stopped mid-request: the server may have it, so it is
                    // taken back below as if shown.
                    shown = true;
                    break;
                }
                sent = client.send_typing(&user, context.as_ref()) => sent,
            };
            match sent {
                Ok(()) => shown = true,
                Err(e) if e.is_session_expired() => return,
                Err(e) => {
                    tracing::debug!(account = %self.shared.account, error = %e, "typing failed")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
        // Nothing to take back if "typing…" was never shown.
        if !shown {
            return;
        }
        if let Err(e) = self.shared.client().cancel_typing(&user).await {
            tracing::debug!(account = %self.shared.account, error = %e, "typing cancel failed");
        }
    }
}
