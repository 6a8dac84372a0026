//! [`Outbox`]: how handlers and the Router reach an account's Sender.
//!
//! Sends go to the recipient's lane (see [`super::lanes`]); typing goes through the
//! Sender actor, which owns the keepalive tasks; context tokens go to the
//! account's token book.

use std::sync::Arc;
use std::time::Duration;

use ilink_core::{MediaKind, Secret, SentMessage};
use ractor::ActorRef;

use super::SenderMsg;
use super::lane::Payload;
use super::lanes::Lanes;
use super::quota::QuotaState;
use crate::account::AccountId;
use crate::error::SendError;
use crate::store::StoreError;

/// A handle to send through an account's Sender. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    actor: ActorRef<SenderMsg>,
    lanes: Arc<Lanes>,
}

impl Outbox {
    pub(crate) fn new(actor: ActorRef<SenderMsg>, lanes: Arc<Lanes>) -> Self {
        Self {
            inner: Arc::new(Inner { actor, lanes }),
        }
    }

    /// The account this outbox sends for.
    pub fn account(&self) -> &AccountId {
        &self.inner.lanes.ctx().shared.account
    }

    async fn submit(&self, user: &str, payload: Payload) -> Result<Vec<SentMessage>, SendError> {
        self.inner.lanes.submit(user, payload).await
    }

    /// Sends text to `user`, split into chunks as needed; returns one
    /// [`SentMessage`] per chunk, in order.
    pub async fn send_text(
        &self,
        user: &str,
        text: impl Into<String>,
    ) -> Result<Vec<SentMessage>, SendError> {
        self.submit(user, Payload::Text(text.into())).await
    }

    /// Uploads media and sends it to `user`.
    pub async fn send_media(
        &self,
        user: &str,
        kind: MediaKind,
        bytes: Vec<u8>,
        file_name: impl Into<String>,
    ) -> Result<SentMessage, SendError> {
        let payload = Payload::Media {
            kind,
            bytes,
            file_name: file_name.into(),
        };
        let mut sent = self.submit(user, payload).await?;
        sent.pop().ok_or(SendError::ShuttingDown)
    }

    /// Where `user`'s send quota stands.
    pub async fn quota(&self, user: &str) -> Result<QuotaState, StoreError> {
        self.inner.lanes.ctx().tokens.state(user).await
    }

    /// Records a user's newest context token (which restarts their quota)
    /// before the message that carried it is handled.
    pub(crate) async fn observe_token(&self, user: &str, token: Secret, received_at_ms: i64) {
        let ctx = self.inner.lanes.ctx();
        if let Err(e) = ctx.tokens.observe(user, token, received_at_ms).await {
            tracing::error!(account = %ctx.shared.account, error = %e, "could not store context token");
        }
    }

    pub(crate) fn typing_start(&self, user: &str) {
        let _ = self
            .inner
            .actor
            .send_message(SenderMsg::StartTyping(user.to_owned()));
    }

    pub(crate) fn typing_stop(&self, user: &str) {
        let _ = self
            .inner
            .actor
            .send_message(SenderMsg::StopTyping(user.to_owned()));
    }

    pub(crate) fn typing_stop_all(&self) {
        let _ = self.inner.actor.send_message(SenderMsg::StopAll);
    }

    /// Waits until every queued message has been answered, up to `deadline`;
    /// returns how many were still pending then.
    pub(crate) async fn flush(&self, deadline: Duration) -> usize {
        let in_flight = &self.inner.lanes.ctx().in_flight;
        let _ = tokio::time::timeout(deadline, in_flight.wait_idle()).await;
        in_flight.count()
    }
}
