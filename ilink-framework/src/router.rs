//! The Router, a ractor actor: one per account. It receives the new
//! messages of each batch (the Poller's store commit has dropped duplicates),
//! brings each user's newest context token into the token book, finds (or
//! creates) the session of the message's conversation, caps what waits per
//! session, and evicts idle sessions.
//!
//! Sessions are lightweight actors, not ractor ones: each is an entry in the
//! Router's map with a task while it has work (see [`crate::session`]), so
//! there is no supervision of sessions to override and no name to collide.
//! A session reports the end of each run through its own
//! [`RunEnded`](crate::session::RunEnded), which the Router wires to its
//! mailbox.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::Semaphore;

use crate::account_shared::AccountShared;
use crate::conversation::{ConversationKey, KeyFn};
use crate::events::AccountEventKind;
use crate::handler::Handler;
use crate::in_flight::InFlight;
use crate::message::Message;
use crate::sender::Outbox;
use crate::session::{Inbound, RunEnded, Session, SessionEnv, end_conversation};
use crate::store::{InboxEntry, StateChange};
use crate::write_behind::{Keep, Write};

/// Messages of the Router actor.
pub(crate) enum RouterMsg {
    /// Messages from the inbox (a received batch), to dispatch in order.
    Inbound(Vec<InboxEntry>),
    /// A session's run of an entry ended.
    RunEnded(RunEnded),
    /// Time to evict idle sessions.
    Evict,
    /// Answered once every message sent before it is handled here: each
    /// batch before it is dispatched (and counted in `handling`).
    Barrier(tokio::sync::oneshot::Sender<()>),
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

/// State of the Router.
pub(crate) struct RouterState {
    env: Arc<SessionEnv>,
    key_fn: KeyFn,
    handling: Arc<InFlight>,
    sessions: Sessions,
}

/// The sessions of the account. Dropping it (the Router stopped or failed)
/// aborts runs in progress: their entries stay in the inbox, and a Router
/// that takes over replays them, so they must not also finish here.
#[derive(Default)]
struct Sessions(HashMap<ConversationKey, Session>);

impl Drop for Sessions {
    fn drop(&mut self) {
        for session in self.0.values_mut() {
            session.abort();
        }
    }
}

impl Actor for Router {
    type Msg = RouterMsg;
    type State = RouterState;
    type Arguments = RouterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RouterArgs,
    ) -> Result<RouterState, ActorProcessingErr> {
        let mut state = RouterState {
            env: Arc::new(SessionEnv {
                shared: args.shared,
                handler: args.handler,
                outbox: args.outbox,
                limiter: args.limiter,
                // A Router that is gone no longer needs to know; the entry
                // is still in the inbox unless the Router removed it.
                report: Box::new(move |ended| {
                    let _ = myself.send_message(RouterMsg::RunEnded(ended));
                }),
            }),
            key_fn: args.key_fn,
            handling: args.handling,
            sessions: Sessions::default(),
        };
        // What a previous run received but did not finish is handled first.
        // Here, not in `post_start`: the Poller is spawned once this returns,
        // so the inbox cannot yet hold its first batch, which would then be
        // dispatched twice (replayed, and again when the Poller casts it).
        // An inbox that cannot be read fails the start: going on without it
        // would leave its messages unhandled until the next start, and
        // handle their conversations' later messages first. (A restart of
        // the account's actors tries again, see the supervisor.)
        let shared = state.env.shared.clone();
        let entries = shared.store.inbox_load(&shared.account).await?;
        if !entries.is_empty() {
            tracing::info!(account = %shared.account, count = entries.len(), "replaying the inbox");
        }
        state.inbound(entries, true).await;
        Ok(state)
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        let every = state.env.shared.options.housekeeping_interval();
        myself.send_interval(every, || RouterMsg::Evict);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: RouterMsg,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RouterMsg::Inbound(batch) => state.inbound(batch, false).await,
            RouterMsg::RunEnded(ended) => state.done(ended),
            RouterMsg::Evict => state.evict_idle(),
            RouterMsg::Barrier(done) => drop(done.send(())),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        // Conversations end with the Router; runs still in progress (the
        // shutdown deadline passed) are aborted and stay in the inbox.
        let mut sessions = std::mem::take(&mut state.sessions.0);
        state.env.shared.live.set_conversations(0);
        for session in sessions.values_mut() {
            session.abort();
        }
        for (key, mut session) in sessions {
            session.stop().await;
            if session.started() {
                end_conversation(&state.env, &key).await;
            }
        }
        Ok(())
    }
}

impl RouterState {
    /// Dispatches the messages of a batch in order.
    async fn inbound(&mut self, batch: Vec<InboxEntry>, replay: bool) {
        for entry in batch {
            self.dispatch(Inbound::new(entry, replay), replay).await;
        }
    }

    /// Queues a new message on its conversation's session.
    async fn dispatch(&mut self, entry: Inbound, replay: bool) {
        let shared = &*self.env.shared;
        let message = &entry.message;
        if let Some(token) = message.context_token() {
            let at = message.created_at_ms().unwrap_or(entry.received_at_ms);
            self.env
                .outbox
                .observe_token(message.sender(), token.clone(), at)
                .await;
        }
        let key = (self.key_fn)(message);
        let waiting = self.sessions.0.get(&key).map_or(0, Session::pending);
        // What a previous run left in the inbox is handled whatever its size.
        if !replay && waiting >= shared.options.session_queue_cap {
            self.overflow(&key, message, entry.id);
            return;
        }
        self.handling.begin();
        self.sessions
            .0
            .entry(key.clone())
            .or_insert_with(Session::new)
            .push(&self.env, &key, entry);
        shared.live.set_conversations(self.sessions.0.len());
    }

    fn overflow(&self, key: &ConversationKey, message: &Message, entry: u64) {
        let shared = &self.env.shared;
        tracing::warn!(
            account = %shared.account, conversation = %key, cap = shared.options.session_queue_cap,
            "conversation over its queue cap; message refused"
        );
        self.remove_from_inbox(entry, "a refused message");
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
            let outbox = self.env.outbox.clone();
            let user = message.sender().to_owned();
            tokio::spawn(async move {
                if let Err(e) = outbox.send_text(&user, text).await {
                    tracing::warn!(error = %e, "could not send the overflow notice");
                }
            });
        }
    }

    fn done(&mut self, ended: RunEnded) {
        let shared = &self.env.shared;
        let RunEnded {
            key,
            entry,
            state,
            changes,
        } = ended;
        let key = &key;
        let Some(session) = self.sessions.0.get_mut(key) else {
            return;
        };
        let lost = state.is_none();
        if !session.finished(&self.env, key, entry, state) {
            return;
        }
        if lost {
            tracing::error!(
                account = %shared.account, conversation = %key, entry,
                "a session's run ended without finishing; the message stays in the inbox for the next start"
            );
        } else {
            let hold = (!changes.is_empty()).then(|| session.saving());
            self.mark_handled(entry, changes, hold);
        }
        self.handling.end();
    }

    /// Marks a handled entry in the store, with the saved state its run
    /// changed, behind the Router's back (see [`crate::write_behind`]), so
    /// routing never waits; it counts as in flight until durable, so
    /// shutdown waits for it. `hold` keeps the session from being evicted
    /// until then.
    fn mark_handled(&self, entry: u64, changes: Vec<StateChange>, hold: Option<Arc<()>>) {
        let keep = hold.map(|hold| Box::new(hold) as Keep);
        self.env
            .shared
            .write_later(Write::Handled { entry, changes }, &self.handling, keep);
    }

    /// Removes a refused entry from the inbox, as [`Self::mark_handled`]
    /// marks a handled one.
    fn remove_from_inbox(&self, entry: u64, what: &'static str) {
        self.env
            .shared
            .write_later(Write::Refused { entry, what }, &self.handling, None);
    }

    fn evict_idle(&mut self) {
        let idle = self.env.shared.options.idle_timeout;
        let mut ended = Vec::new();
        self.sessions.0.retain(|key, session| {
            if !session.is_idle_for(idle) {
                return true;
            }
            if session.started() {
                ended.push(key.clone());
            }
            false
        });
        self.env
            .shared
            .live
            .set_conversations(self.sessions.0.len());
        if ended.is_empty() {
            return;
        }
        let env = self.env.clone();
        // The hooks run on their own task so a slow one never stalls routing.
        tokio::spawn(async move {
            for key in ended {
                end_conversation(&env, &key).await;
            }
        });
    }
}
