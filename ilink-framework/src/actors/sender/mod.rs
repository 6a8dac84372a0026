//! The Sender actor: all outgoing traffic of one account.
//!
//! It owns the lanes (one ordered queue per recipient), the context tokens
//! with their send counts, the quota and pacing checks, retries with a stable
//! `client_id`, and the typing keepalives. Handlers reach it through an
//! [`Outbox`]; the equivalent in teloxide is the `Throttle` adaptor.

pub(crate) mod lane;
pub(crate) mod quota;
mod typing;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ilink_core::{MediaKind, Secret, SentMessage};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{Semaphore, mpsc, oneshot};

use self::lane::{Job, LaneContext, Payload, run_lane};
use self::quota::{QuotaState, TokenBook};
use self::typing::Typing;
use super::in_flight::InFlight;
use super::shared::AccountShared;
use crate::account::AccountId;
use crate::error::SendError;
use crate::store::StoreError;

/// Messages of the Sender actor.
pub(crate) enum SenderMsg {
    /// Queue a message for its recipient's lane.
    Send(Box<Job>),
    /// A user wrote: their newest context token, which restarts the quota.
    ObserveToken {
        user: String,
        token: Secret,
        received_at_ms: i64,
    },
    /// Start (or join) "typing…" for a user.
    TypingStart(String),
    /// Release one hold on "typing…" for a user.
    TypingStop(String),
    /// Stop all typing (shutdown).
    TypingStopAll,
}

/// The Sender actor.
pub(crate) struct Sender;

/// State of the Sender actor.
pub(crate) struct SenderState {
    // Boxed jobs keep a channel's first block (32 slots, allocated when the
    // lane opens) at 32 pointers instead of 32 whole jobs per recipient.
    lanes: HashMap<String, mpsc::UnboundedSender<Box<Job>>>,
    lanes_at_last_sweep: usize,
    ctx: Arc<LaneContext>,
    typing: Arc<Typing>,
}

/// Start-up arguments: the account's shared state and the pieces the
/// [`Outbox`] shares with the actor.
pub(crate) struct SenderArgs {
    pub(crate) shared: Arc<AccountShared>,
    pub(crate) tokens: Arc<TokenBook>,
    pub(crate) in_flight: Arc<InFlight>,
}

impl Actor for Sender {
    type Msg = SenderMsg;
    type State = SenderState;
    type Arguments = SenderArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SenderArgs,
    ) -> Result<SenderState, ActorProcessingErr> {
        let permits = Arc::new(Semaphore::new(args.shared.options.max_concurrent_sends));
        let typing = Typing::new(args.shared.clone(), args.tokens.clone());
        Ok(SenderState {
            lanes: HashMap::new(),
            lanes_at_last_sweep: 0,
            ctx: Arc::new(LaneContext {
                shared: args.shared,
                tokens: args.tokens,
                permits,
                in_flight: args.in_flight,
            }),
            typing,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: SenderMsg,
        state: &mut SenderState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SenderMsg::Send(job) => state.enqueue(job),
            SenderMsg::ObserveToken {
                user,
                token,
                received_at_ms,
            } => {
                if let Err(e) = state.ctx.tokens.observe(&user, token, received_at_ms) {
                    tracing::error!(account = %state.ctx.shared.account, error = %e, "could not store context token");
                }
            }
            SenderMsg::TypingStart(user) => state.typing.start(&user),
            SenderMsg::TypingStop(user) => state.typing.stop(&user),
            SenderMsg::TypingStopAll => state.typing.stop_all(),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut SenderState,
    ) -> Result<(), ActorProcessingErr> {
        state.typing.stop_all();
        Ok(())
    }
}

impl SenderState {
    fn enqueue(&mut self, job: Box<Job>) {
        let user = job.user.clone();
        let job = match self.lanes.get(&user) {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                // The lane closed after being idle; open a new one.
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_lane(self.ctx.clone(), user.clone(), rx));
        // A fresh channel whose receiver was just moved into the lane task cannot be closed.
        if let Err(mpsc::error::SendError(job)) = tx.send(job) {
            let _ = job.reply.send(Err(SendError::ShuttingDown));
            self.ctx.in_flight.end();
        }
        self.lanes.insert(user, tx);
        // Forget closed lanes now and then so the map does not grow with
        // every user ever written to.
        if self.lanes.len() >= 2 * self.lanes_at_last_sweep.max(64) {
            self.lanes.retain(|_, tx| !tx.is_closed());
            self.lanes_at_last_sweep = self.lanes.len();
        }
    }
}

/// A handle to send through an account's Sender. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    account: AccountId,
    actor: ActorRef<SenderMsg>,
    tokens: Arc<TokenBook>,
    in_flight: Arc<InFlight>,
}

impl Outbox {
    pub(crate) fn new(
        account: AccountId,
        actor: ActorRef<SenderMsg>,
        tokens: Arc<TokenBook>,
        in_flight: Arc<InFlight>,
    ) -> Self {
        Self {
            account,
            actor,
            tokens,
            in_flight,
        }
    }

    /// The account this outbox sends for.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    async fn submit(&self, user: &str, payload: Payload) -> Result<Vec<SentMessage>, SendError> {
        let (reply, rx) = oneshot::channel();
        self.in_flight.begin();
        let job = Box::new(Job {
            user: user.to_owned(),
            payload,
            reply,
            span: tracing::Span::current(),
        });
        if let Err(e) = self.actor.send_message(SenderMsg::Send(job)) {
            self.in_flight.end();
            tracing::warn!(account = %self.account, error = %e, "sender is gone");
            return Err(SendError::ShuttingDown);
        }
        rx.await.unwrap_or(Err(SendError::ShuttingDown))
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
    pub fn quota(&self, user: &str) -> Result<QuotaState, StoreError> {
        self.tokens.state(user)
    }

    pub(crate) fn observe_token(&self, user: &str, token: Secret, received_at_ms: i64) {
        let _ = self.actor.send_message(SenderMsg::ObserveToken {
            user: user.to_owned(),
            token,
            received_at_ms,
        });
    }

    pub(crate) fn typing_start(&self, user: &str) {
        let _ = self
            .actor
            .send_message(SenderMsg::TypingStart(user.to_owned()));
    }

    pub(crate) fn typing_stop(&self, user: &str) {
        let _ = self
            .actor
            .send_message(SenderMsg::TypingStop(user.to_owned()));
    }

    pub(crate) fn typing_stop_all(&self) {
        let _ = self.actor.send_message(SenderMsg::TypingStopAll);
    }

    /// Waits until every queued message has been answered, up to `deadline`;
    /// returns how many were still pending then.
    pub(crate) async fn flush(&self, deadline: Duration) -> usize {
        let _ = tokio::time::timeout(deadline, self.in_flight.wait_idle()).await;
        self.in_flight.count()
    }
}
