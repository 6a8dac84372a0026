//! Sessions: one per conversation, handling its messages one at a time.
//!
//! A session is a lightweight actor owned by the Router: its mailbox (the
//! messages waiting, in order) and its typed state live in the Router's map,
//! and a task runs the handler on one message at a time. The task exists only
//! while there is work, so an idle conversation costs a map entry and its
//! state (a few hundred bytes) rather than a task with its own channels; a
//! ractor actor per conversation cost ~7.7 KB idle (see docs/benchmarks.md).
//!
//! Handler errors and panics are caught in the task and turned into a
//! [`FrameworkError`] for the error hook, so a failed message costs only
//! itself. The task always reports back to the Router: with the state when
//! the run finished, or as lost if the task was torn down before it could
//! (the message then stays in the inbox for the next start). The report is
//! a [`RunEnded`] passed to a callback, so this module knows nothing of the
//! Router.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt as _;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::account_shared::AccountShared;
use crate::context::{Context, RunParts};
use crate::conversation::ConversationKey;
use crate::conversation_state::ConversationState;
use crate::error::FrameworkError;
use crate::handler::Handler;
use crate::instruments::HandleOutcome;
use crate::message::Message;
use crate::run_sends::RunSends;
use crate::sender::Outbox;
use crate::store::{InboxEntry, StateChange};

/// An inbox entry on its way to be handled. The message is wrapped once,
/// when it leaves the inbox, and then shared (not copied) by the session's
/// queue, its run and the handler.
#[derive(Clone)]
pub(crate) struct Inbound {
    /// The inbox entry's id.
    pub(crate) id: u64,
    /// The message.
    pub(crate) message: Message,
    /// When it was received, milliseconds since the epoch.
    pub(crate) received_at_ms: i64,
    /// It was in the inbox when the account started, so an earlier run may
    /// have sent for it: its sends consult the journal.
    pub(crate) replayed: bool,
}

impl Inbound {
    pub(crate) fn new(entry: InboxEntry, replayed: bool) -> Self {
        Self {
            id: entry.id,
            message: Message::new(entry.msg),
            received_at_ms: entry.received_at_ms,
            replayed,
        }
    }
}

/// How a run of an entry ended, reported to the sessions' owner.
pub(crate) struct RunEnded {
    /// Its conversation.
    pub(crate) key: ConversationKey,
    /// The inbox entry.
    pub(crate) entry: u64,
    /// The conversation's state after the run; `None` when the run was
    /// lost (its task torn down), which leaves the entry in the inbox.
    pub(crate) state: Option<ConversationState>,
    /// The saved state the run changed, to store as the entry is marked
    /// handled.
    pub(crate) changes: Vec<StateChange>,
}

/// Where runs report how they ended (the Router wires its mailbox here).
pub(crate) type ReportRun = Box<dyn Fn(RunEnded) + Send + Sync>;

/// What every session of one account shares (one allocation per Router).
pub(crate) struct SessionEnv {
    pub(crate) shared: Arc<AccountShared>,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) outbox: Outbox,
    pub(crate) limiter: Arc<Semaphore>,
    pub(crate) report: ReportRun,
}

/// One conversation's session, as the Router keeps it.
pub(crate) struct Session {
    /// Dispatched, unfinished entries in arrival order; while a run is in
    /// progress its entry is the front one.
    pending: VecDeque<Inbound>,
    /// The conversation's typed state; `None` while a run holds it.
    state: Option<ConversationState>,
    /// The running task, so it can be aborted when the Router goes away.
    running: Option<JoinHandle<()>>,
    /// Whether `on_conversation_start` has run.
    started: bool,
    last_active: Instant,
    /// Held by each write of this conversation's saved state until it is
    /// stored: a session evicted before would be replaced by one that
    /// loads the older value.
    saving: Arc<()>,
}

impl Session {
    pub(crate) fn new() -> Self {
        Self {
            pending: VecDeque::new(),
            state: Some(ConversationState::default()),
            running: None,
            started: false,
            last_active: Instant::now(),
            saving: Arc::new(()),
        }
    }

    /// A hold on the session for a write of its saved state, to drop once
    /// the write is stored.
    pub(crate) fn saving(&self) -> Arc<()> {
        self.saving.clone()
    }

    /// Messages dispatched and not yet finished (the running one included).
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether `on_conversation_start` has run, so the end hook is due.
    pub(crate) fn started(&self) -> bool {
        self.started
    }

    /// Whether the session has nothing to do and has had nothing for `idle`.
    pub(crate) fn is_idle_for(&self, idle: std::time::Duration) -> bool {
        self.running.is_none()
            && self.pending.is_empty()
            && Arc::strong_count(&self.saving) == 1
            && self.last_active.elapsed() >= idle
    }

    /// Queues an entry and starts a run if none is in progress.
    pub(crate) fn push(&mut self, env: &Arc<SessionEnv>, key: &ConversationKey, entry: Inbound) {
        self.pending.push_back(entry);
        self.last_active = Instant::now();
        self.run_next(env, key);
    }

    /// A run finished: takes its entry off the queue, keeps the state, and
    /// starts the next run. Returns whether `entry` was the one running.
    pub(crate) fn finished(
        &mut self,
        env: &Arc<SessionEnv>,
        key: &ConversationKey,
        entry: u64,
        state: Option<ConversationState>,
    ) -> bool {
        if self.pending.front().is_none_or(|e| e.id != entry) {
            return false;
        }
        self.pending.pop_front();
        self.running = None;
        // A lost run's state went with its task; the conversation goes on
        // with a fresh one rather than stopping.
        self.state = Some(state.unwrap_or_default());
        self.last_active = Instant::now();
        if self.pending.is_empty() {
            // An idle conversation should not keep a buffer of entries
            // until it is evicted.
            self.pending = VecDeque::new();
        } else {
            self.run_next(env, key);
        }
        true
    }

    fn run_next(&mut self, env: &Arc<SessionEnv>, key: &ConversationKey) {
        if self.running.is_some() {
            return;
        }
        let Some(entry) = self.pending.front() else {
            return;
        };
        // Not running, so the state is here: a run takes it and hands it back.
        let state = self.state.take().unwrap_or_default();
        let run = Run {
            env: env.clone(),
            key: key.clone(),
            entry: entry.clone(),
            first: !self.started,
        };
        // The start hook runs at the head of this run, so the end hook is
        // due from now on, even if the run is torn down.
        self.started = true;
        self.running = Some(tokio::spawn(run.execute(state)));
    }

    /// Stops a run in progress (the Router is going away; its entry stays in
    /// the inbox) without waiting for it.
    pub(crate) fn abort(&mut self) {
        if let Some(task) = &self.running {
            task.abort();
        }
    }

    /// Stops a run in progress and waits until its handler has been dropped.
    pub(crate) async fn stop(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
            // Cancelled (or finished just now): either way it is over.
            let _ = task.await;
        }
    }
}

/// One handler run: a message of a conversation, with the state it needs.
struct Run {
    env: Arc<SessionEnv>,
    key: ConversationKey,
    entry: Inbound,
    /// The conversation's first message: `on_conversation_start` runs first.
    first: bool,
}

impl Run {
    async fn execute(self, state: ConversationState) {
        let report = Report {
            env: self.env.clone(),
            key: self.key.clone(),
            entry: self.entry.id,
            sent: false,
        };
        let span = tracing::info_span!(
            "message",
            account = %self.env.shared.account,
            conversation = %self.key,
            message_id = self.entry.message.message_id(),
        );
        let key = self.key.clone();
        let mut state = self.handle(state).instrument(span).await;
        let changes = state.take_changes(key.as_str());
        report.done(state, changes);
    }

    async fn handle(self, state: ConversationState) -> ConversationState {
        let env = &*self.env;
        // Bounded across all accounts; a closed semaphore only happens at
        // teardown, where running without a permit is harmless.
        let _permit = env.limiter.clone().acquire_owned().await.ok();
        let message = self.entry.message;
        let parts = RunParts {
            conversation: self.key,
            message: message.clone(),
            outbox: env.outbox.clone(),
            client: env.shared.client(),
            store: env.shared.store.clone(),
            sends: RunSends::new(&env.shared.account, self.entry.id, self.entry.replayed),
        };
        let mut ctx = Context::new(parts, state);
        let handler = &*env.handler;
        if self.first {
            let result = AssertUnwindSafe(handler.on_conversation_start(&mut ctx))
                .catch_unwind()
                .await;
            report(handler, &mut ctx, result).await;
        }
        let began = Instant::now();
        let result = AssertUnwindSafe(handler.handle(&mut ctx, message))
            .catch_unwind()
            .await;
        let outcome = match &result {
            Ok(Ok(())) => HandleOutcome::Ok,
            Ok(Err(_)) => HandleOutcome::Error,
            Err(_) => HandleOutcome::Panic,
        };
        env.shared.metrics.handled(outcome, began.elapsed());
        report(handler, &mut ctx, result).await;
        ctx.finish()
    }
}

/// Tells the sessions' owner how a run ended, exactly once: with the state
/// when it finished, or (on drop, when the task was aborted or failed
/// outside the caught handler) as lost.
struct Report {
    env: Arc<SessionEnv>,
    key: ConversationKey,
    entry: u64,
    sent: bool,
}

impl Report {
    fn done(mut self, state: ConversationState, changes: Vec<StateChange>) {
        self.send(Some(state), changes);
    }

    fn send(&mut self, state: Option<ConversationState>, changes: Vec<StateChange>) {
        self.sent = true;
        (self.env.report)(RunEnded {
            key: self.key.clone(),
            entry: self.entry,
            state,
            changes,
        });
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if !self.sent {
            self.send(None, Vec::new());
        }
    }
}

/// Runs the end hook of a conversation that was started, catching a panic.
pub(crate) async fn end_conversation(env: &SessionEnv, key: &ConversationKey) {
    let fut = env.handler.on_conversation_end(&env.shared.account, key);
    if AssertUnwindSafe(fut).catch_unwind().await.is_err() {
        tracing::error!(conversation = %key, "on_conversation_end panicked");
    }
}

type Caught = Result<crate::error::HandlerResult, Box<dyn std::any::Any + Send>>;

/// Passes a failed handler run to the error hook, which may itself fail.
async fn report(handler: &dyn Handler, ctx: &mut Context, result: Caught) {
    let error = match result {
        Ok(Ok(())) => return,
        Ok(Err(e)) => FrameworkError::Handler(e),
        Err(panic) => FrameworkError::Panic(panic_message(&*panic)),
    };
    if let Err(panic) = AssertUnwindSafe(handler.on_error(ctx, error))
        .catch_unwind()
        .await
    {
        tracing::error!(
            conversation = %ctx.conversation(),
            panic = %panic_message(&*panic),
            "the error hook panicked"
        );
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
