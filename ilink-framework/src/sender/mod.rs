//! The Sender: everything one account sends.
//!
//! One [`Sender`] per account owns all outbound traffic: the lanes (one
//! ordered queue per recipient, see [`lanes`]), the token book with its send
//! counts and the quota it enforces, pacing, the send permits, `client_id`s
//! and chunking with retries ([`delivery`]), and the typing keepalives
//! ([`typing`]). It is not a ractor actor: a send runs on the task that asked
//! for it, or on a lane's drain task while others wait (each lane is a
//! lightweight actor). Handlers and the Router reach it through an
//! [`Outbox`]. The equivalent in teloxide is the `Throttle` adaptor.

mod delivery;
mod lanes;
pub(crate) mod pacer;
pub(crate) mod quota;
mod typing;

use std::sync::{Arc, Weak};
use std::time::Duration;

use ilink_core::{MediaKind, Secret, SentMessage};
use tokio::sync::Semaphore;

use self::delivery::{Delivery, Payload};
use self::lanes::Lanes;
use self::quota::{QuotaState, TokenBook};
use self::typing::Typing;
use crate::account::AccountId;
use crate::account_shared::AccountShared;
use crate::error::SendError;
use crate::in_flight::InFlight;
use crate::run_sends::Origin;
use crate::store::{StoreError, now_ms};

/// The outbound side of one account.
pub(crate) struct Sender {
    delivery: Arc<Delivery>,
    lanes: Lanes,
    typing: Arc<Typing>,
}

impl Sender {
    pub(crate) fn new(shared: Arc<AccountShared>) -> Arc<Self> {
        let tokens = Arc::new(TokenBook::new(
            shared.account.clone(),
            shared.store.clone(),
            &shared.options,
        ));
        let delivery = Arc::new(Delivery {
            retry: shared.options.send_retry(),
            permits: Semaphore::new(shared.options.max_concurrent_sends),
            in_flight: Arc::new(InFlight::default()),
            tokens: tokens.clone(),
            shared: shared.clone(),
        });
        Arc::new(Self {
            lanes: Lanes::new(delivery.clone()),
            typing: Typing::new(shared, tokens),
            delivery,
        })
    }

    /// Forgets idle lanes and cached tokens of idle users every `every`,
    /// until the Sender is dropped (the supervisor also aborts it).
    pub(crate) async fn sweep_every(this: Weak<Self>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        // The first tick is immediate; nothing is idle yet.
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(sender) = this.upgrade() else {
                return;
            };
            sender.sweep();
        }
    }

    fn sweep(&self) {
        self.lanes.sweep();
        self.delivery.tokens.forget_idle(now_ms());
    }

    /// Stops every "typing…" (shutdown).
    pub(crate) fn stop_typing(&self) {
        self.typing.stop_all();
    }

    /// Waits until every queued message has been answered, up to `deadline`;
    /// returns how many were still pending then.
    pub(crate) async fn flush(&self, deadline: Duration) -> usize {
        let in_flight = &self.delivery.in_flight;
        let _ = tokio::time::timeout(deadline, in_flight.wait_idle()).await;
        in_flight.count()
    }

    /// Stops typing and refuses new sends; what is queued still goes out.
    pub(crate) fn close(&self) {
        self.typing.stop_all();
        self.lanes.close();
    }
}

/// A handle to send through an account's Sender. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Outbox {
    sender: Arc<Sender>,
}

impl Outbox {
    pub(crate) fn new(sender: Arc<Sender>) -> Self {
        Self { sender }
    }

    /// The longest text of one message, in UTF-16 units
    /// ([`BotOptions::chunk_limit`](crate::BotOptions::chunk_limit)).
    pub fn chunk_limit(&self) -> usize {
        self.sender.delivery.shared.options.chunk_limit
    }

    /// The account this outbox sends for.
    pub fn account(&self) -> &AccountId {
        &self.sender.delivery.shared.account
    }

    /// Sends text to `user`, split into chunks as needed; returns one
    /// [`SentMessage`] per chunk, in order. The messages get fresh
    /// `client_id`s: a send from outside a handler run belongs to no inbox
    /// entry, so nothing deduplicates it if it is made again.
    pub async fn send_text(
        &self,
        user: &str,
        text: impl Into<String>,
    ) -> Result<Vec<SentMessage>, SendError> {
        self.send_text_from(user, text.into(), None).await
    }

    /// Sends Markdown to `user` as readable text (see
    /// [`ilink_core::markdown`]), cut into messages between blocks, so a code
    /// block or a table that fits in one message is never split.
    pub async fn send_markdown(
        &self,
        user: &str,
        markdown: impl Into<String>,
    ) -> Result<Vec<SentMessage>, SendError> {
        self.send_markdown_from(user, markdown.into(), None).await
    }

    /// Uploads media and sends it to `user` (with a fresh `client_id`).
    pub async fn send_media(
        &self,
        user: &str,
        kind: MediaKind,
        bytes: Vec<u8>,
        file_name: impl Into<String>,
    ) -> Result<SentMessage, SendError> {
        self.send_media_from(user, kind, bytes, file_name.into(), None)
            .await
    }

    /// [`Outbox::send_text`] from a position of a handler run.
    pub(crate) async fn send_text_from(
        &self,
        user: &str,
        text: String,
        origin: Option<Origin>,
    ) -> Result<Vec<SentMessage>, SendError> {
        self.sender
            .lanes
            .submit(user, Payload::Text(text), origin)
            .await
    }

    /// [`Outbox::send_markdown`] from a position of a handler run.
    pub(crate) async fn send_markdown_from(
        &self,
        user: &str,
        markdown: String,
        origin: Option<Origin>,
    ) -> Result<Vec<SentMessage>, SendError> {
        self.sender
            .lanes
            .submit(user, Payload::Markdown(markdown), origin)
            .await
    }

    /// [`Outbox::send_text_from`], cut to the quota left with `note` at the
    /// end when it does not fit.
    pub(crate) async fn send_text_within_quota_from(
        &self,
        user: &str,
        text: String,
        note: String,
        origin: Option<Origin>,
    ) -> Result<Vec<SentMessage>, SendError> {
        let payload = Payload::TextWithinQuota { text, note };
        self.sender.lanes.submit(user, payload, origin).await
    }

    /// [`Outbox::send_media`] from a position of a handler run.
    pub(crate) async fn send_media_from(
        &self,
        user: &str,
        kind: MediaKind,
        bytes: Vec<u8>,
        file_name: String,
        origin: Option<Origin>,
    ) -> Result<SentMessage, SendError> {
        let payload = Payload::Media {
            kind,
            bytes,
            file_name,
        };
        let mut sent = self.sender.lanes.submit(user, payload, origin).await?;
        sent.pop().ok_or(SendError::ShuttingDown)
    }

    /// Where `user`'s send quota stands.
    pub async fn quota(&self, user: &str) -> Result<QuotaState, StoreError> {
        self.sender.delivery.tokens.state(user).await
    }

    /// Brings a user's newest context token (which restarts their quota)
    /// into the token book before the message that carried it is handled.
    pub(crate) async fn observe_token(&self, user: &str, token: Secret, received_at_ms: i64) {
        let delivery = &self.sender.delivery;
        if let Err(e) = delivery.tokens.observe(user, token, received_at_ms).await {
            tracing::error!(account = %delivery.shared.account, error = %e, "could not store context token");
        }
    }

    /// Starts (or joins) "typing…" for `user`.
    pub(crate) fn typing_start(&self, user: &str) {
        self.sender.typing.start(user);
    }

    /// Releases one hold on "typing…" for `user`.
    pub(crate) fn typing_stop(&self, user: &str) {
        self.sender.typing.stop(user);
    }
}
