//! The Router actor: one per account. It drops duplicates, records each
//! user's newest context token, finds (or spawns) the session of the
//! message's conversation, caps what waits per session, and evicts idle
//! sessions.
//!
//! Sessions are spawned linked, without global names (a stopping session
//! must never block the spawn of its successor), and the Router overrides
//! ractor's default supervision, which would stop it when any child exits.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::Semaphore;

use super::in_flight::InFlight;
use super::sender::Outbox;
use super::session::{Session, SessionArgs, SessionMsg};
use super::shared::AccountShared;
use crate::conversation::{ConversationKey, KeyFn};
use crate::dedup::dedup_keys;
use crate::events::AccountEventKind;
use crate::handler::Handler;
use crate::message::Message;
use crate::store::{InboxEntry, now_ms};

/// An inbox entry on its way to be handled. The message is wrapped once,
/// when it leaves the inbox, and then shared (not copied) by the router's
/// pending list, the session and the handler.
#[derive(Clone)]
pub(crate) struct Inbound {
    /// The inbox entry's id.
    pub(crate) id: u64,
    /// The message.
    pub(crate) message: Message,
    /// When it was received, milliseconds since the epoch.
    pub(crate) received_at_ms: i64,
}

impl From<InboxEntry> for Inbound {
    fn from(entry: InboxEntry) -> Self {
        Self {
            id: entry.id,
            message: Message::new(entry.msg),
            received_at_ms: entry.received_at_ms,
        }
    }
}

/// Messages of the Router actor.
pub(crate) enum RouterMsg {
    /// A message from the inbox, to dispatch.
    Inbound(Inbound),
    /// A session finished handling an entry.
    Done {
        /// Its conversation.
        key: ConversationKey,
        /// The inbox entry.
        entry: u64,
    },
    /// Time to evict idle sessions.
    Evict,
}

/// The Router actor.
pub(crate) struct Router;

/// Start-up arguments of the Router.
pub(crate) struct RouterArgs {
    pub(crate) shared: Arc<AccountShared>,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) outbox: Outbox,
    pub(crate) limiter: Arc<Semaphore>,
    pub(crate) key_fn: KeyFn,
    /// Messages dispatched and not yet handled (shutdown drains it).
    pub(crate) handling: Arc<InFlight>,
}

struct Slot {
    actor: ActorRef<SessionMsg>,
    /// Dispatched, unfinished entries in order, kept so a session that dies
    /// can be restarted with them.
    pending: VecDeque<Inbound>,
    last_active: Instant,
}

/// State of the Router.
pub(crate) struct RouterState {
    args: RouterArgs,
    sessions: HashMap<ConversationKey, Slot>,
    by_actor: HashMap<ActorId, ConversationKey>,
}

fn eviction_tick(idle: Duration) -> Duration {
    (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(60))
}

impl Actor for Router {
    type Msg = RouterMsg;
    type State = RouterState;
    type Arguments = RouterArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: RouterArgs,
    ) -> Result<RouterState, ActorProcessingErr> {
        Ok(RouterState {
            args,
            sessions: HashMap::new(),
            by_actor: HashMap::new(),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        // What a previous run received but did not finish is handled first.
        match state
            .args
            .shared
            .store
            .inbox_load(&state.args.shared.account)
        {
            Ok(entries) => {
                if !entries.is_empty() {
                    tracing::info!(account = %state.args.shared.account, count = entries.len(), "replaying the inbox");
                }
                for entry in entries {
                    state.inbound(&myself, entry.into(), true).await;
                }
            }
            Err(e) => {
                tracing::error!(account = %state.args.shared.account, error = %e, "could not read the inbox")
            }
        }
        let tick = eviction_tick(state.args.shared.options.idle_timeout);
        myself.send_interval(tick, || RouterMsg::Evict);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: RouterMsg,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RouterMsg::Inbound(entry) => state.inbound(&myself, entry, false).await,
            RouterMsg::Done { key, entry } => state.done(&key, entry),
            RouterMsg::Evict => state.evict_idle(),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        let cell = match &event {
            SupervisionEvent::ActorTerminated(cell, _, _) => cell,
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::error!(account = %state.args.shared.account, error = %err, "a session failed");
                cell
            }
            _ => return Ok(()),
        };
        // A session that ends with work still pending (it failed, or was
        // stopping when a message came) gets a successor with that work.
        for entry in state.forget(cell.get_id()) {
            state.inbound(&myself, entry, true).await;
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        for (_, slot) in state.sessions.drain() {
            let _ = slot
                .actor
                .get_cell()
                .stop_and_wait(None, Some(Duration::from_secs(5)))
                .await;
        }
        Ok(())
    }
}

impl RouterState {
    async fn inbound(&mut self, myself: &ActorRef<RouterMsg>, entry: Inbound, replay: bool) {
        let shared = self.args.shared.clone();
        let account = &shared.account;
        let store = &shared.store;
        let window = shared.options.dedup_window.as_millis() as i64;
        let keys = dedup_keys(entry.message.raw());
        match store.dedup_check_insert(account, &keys, entry.id, now_ms(), window) {
            Ok(Some(first)) => {
                tracing::debug!(account = %account, entry = entry.id, first, "duplicate message dropped");
                if let Err(e) = store.inbox_remove(account, entry.id) {
                    tracing::error!(account = %account, error = %e, "could not remove a duplicate from the inbox");
                }
                return;
            }
            Ok(None) => {}
            // Handling a message twice is better than losing it.
            Err(e) => {
                tracing::error!(account = %account, error = %e, "dedup store failed; handling the message")
            }
        }
        let message = &entry.message;
        if let Some(token) = message.context_token() {
            let at = message.created_at_ms().unwrap_or(entry.received_at_ms);
            self.args
                .outbox
                .observe_token(message.sender(), token.clone(), at);
        }
        let key = (self.args.key_fn)(message);
        if !replay {
            if let Some(slot) = self.sessions.get(&key) {
                if slot.pending.len() >= shared.options.session_queue_cap {
                    self.overflow(&key, message, entry.id);
                    return;
                }
            }
        }
        self.dispatch(myself, key, entry).await;
    }

    async fn dispatch(
        &mut self,
        myself: &ActorRef<RouterMsg>,
        key: ConversationKey,
        entry: Inbound,
    ) {
        if !self.sessions.contains_key(&key) {
            match self.spawn_session(myself, &key).await {
                Some(actor) => {
                    self.by_actor.insert(actor.get_id(), key.clone());
                    self.sessions.insert(
                        key.clone(),
                        Slot {
                            actor,
                            pending: VecDeque::new(),
                            last_active: Instant::now(),
                        },
                    );
                }
                None => return,
            }
        }
        let Some(slot) = self.sessions.get_mut(&key) else {
            return;
        };
        self.args.handling.begin();
        slot.pending.push_back(entry.clone());
        slot.last_active = Instant::now();
        if slot.actor.send_message(SessionMsg::Handle(entry)).is_err() {
            // The session is stopping (evicted a moment ago): the supervision
            // event restarts its pending entries; this one is among them.
            tracing::debug!(conversation = %key, "session was stopping; message will be redispatched");
        }
    }

    async fn spawn_session(
        &self,
        myself: &ActorRef<RouterMsg>,
        key: &ConversationKey,
    ) -> Option<ActorRef<SessionMsg>> {
        let args = SessionArgs {
            shared: self.args.shared.clone(),
            key: key.clone(),
            handler: self.args.handler.clone(),
            outbox: self.args.outbox.clone(),
            limiter: self.args.limiter.clone(),
            router: myself.clone(),
        };
        match Actor::spawn_linked(None, Session, args, myself.get_cell()).await {
            Ok((actor, _)) => Some(actor),
            Err(e) => {
                // The entry stays in the inbox and is retried at the next start.
                tracing::error!(conversation = %key, error = %e, "could not spawn a session");
                None
            }
        }
    }

    fn overflow(&self, key: &ConversationKey, message: &Message, entry: u64) {
        let shared = &self.args.shared;
        tracing::warn!(
            account = %shared.account, conversation = %key, cap = shared.options.session_queue_cap,
            "conversation over its queue cap; message refused"
        );
        if let Err(e) = shared.store.inbox_remove(&shared.account, entry) {
            tracing::error!(account = %shared.account, error = %e, "could not remove a refused message from the inbox");
        }
        shared.events.emit(
            &shared.account,
            AccountEventKind::MessageDropped {
                conversation: key.clone(),
                message_id: message.message_id(),
                reason: format!(
                    "conversation queue full ({} waiting)",
                    shared.options.session_queue_cap
                ),
            },
        );
        if let Some(text) = shared.options.overflow_reply.clone() {
            let outbox = self.args.outbox.clone();
            let user = message.sender().to_owned();
            tokio::spawn(async move {
                if let Err(e) = outbox.send_text(&user, text).await {
                    tracing::warn!(error = %e, "could not send the overflow notice");
                }
            });
        }
    }

    fn done(&mut self, key: &ConversationKey, entry: u64) {
        let shared = &self.args.shared;
        if let Err(e) = shared.store.inbox_remove(&shared.account, entry) {
            tracing::error!(account = %shared.account, error = %e, "could not remove a handled message from the inbox");
        }
        if let Some(slot) = self.sessions.get_mut(key) {
            if let Some(pos) = slot.pending.iter().position(|e| e.id == entry) {
                slot.pending.remove(pos);
                self.args.handling.end();
            }
            if slot.pending.is_empty() {
                // An idle conversation should not keep a buffer of entries
                // until it is evicted.
                slot.pending = VecDeque::new();
            }
            slot.last_active = Instant::now();
        }
    }

    fn evict_idle(&mut self) {
        let idle = self.args.shared.options.idle_timeout;
        let stale: Vec<ConversationKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.pending.is_empty() && s.last_active.elapsed() >= idle)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            if let Some(slot) = self.sessions.remove(&key) {
                self.by_actor.remove(&slot.actor.get_id());
                slot.actor.stop(Some("idle".into()));
            }
        }
    }

    /// Forgets a session that ended; returns its unfinished entries.
    fn forget(&mut self, id: ActorId) -> Vec<Inbound> {
        let Some(key) = self.by_actor.remove(&id) else {
            return Vec::new();
        };
        if self
            .sessions
            .get(&key)
            .is_none_or(|s| s.actor.get_id() != id)
        {
            return Vec::new();
        }
        let pending: Vec<Inbound> = self
            .sessions
            .remove(&key)
            .map(|s| s.pending.into())
            .unwrap_or_default();
        for _ in &pending {
            self.args.handling.end();
        }
        pending
    }
}
