//! The Session actor: one conversation, one message at a time.
//!
//! Handler errors and panics are caught here and turned into a
//! [`FrameworkError`] for the error hook: an `Err` from an actor's `handle`
//! would kill the actor and its queued messages with it.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt as _;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use super::router::{Inbound, RouterMsg};
use super::sender::Outbox;
use super::shared::AccountShared;
use crate::context::{Context, StateMap};
use crate::conversation::ConversationKey;
use crate::error::FrameworkError;
use crate::handler::Handler;

/// Messages of a Session actor.
pub(crate) enum SessionMsg {
    /// Handle this inbox entry.
    Handle(Inbound),
}

/// The Session actor.
pub(crate) struct Session;

/// Start-up arguments of a session.
pub(crate) struct SessionArgs {
    pub(crate) shared: Arc<AccountShared>,
    pub(crate) key: ConversationKey,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) outbox: Outbox,
    pub(crate) limiter: Arc<Semaphore>,
    pub(crate) router: ActorRef<RouterMsg>,
}

/// State of a session: its arguments and the conversation's typed state.
pub(crate) struct SessionState {
    args: SessionArgs,
    state: Option<StateMap>,
    started: bool,
}

impl Actor for Session {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SessionArgs,
    ) -> Result<SessionState, ActorProcessingErr> {
        Ok(SessionState {
            args,
            state: Some(StateMap::default()),
            started: false,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: SessionMsg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        let SessionMsg::Handle(entry) = msg;
        let id = entry.id;
        let span = tracing::info_span!(
            "message",
            account = %state.args.shared.account,
            conversation = %state.args.key,
            message_id = entry.message.message_id(),
        );
        // Boxed so that an idle session's task stays small: ractor keeps
        // the largest `handle` future's size for the actor's whole life.
        Box::pin(state.run(entry).instrument(span)).await;
        // The router takes the entry out of the inbox and counts it done.
        let _ = state.args.router.send_message(RouterMsg::Done {
            key: state.args.key.clone(),
            entry: id,
        });
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        if state.started {
            let handler = state.args.handler.clone();
            let fut = handler.on_conversation_end(&state.args.shared.account, &state.args.key);
            if AssertUnwindSafe(fut).catch_unwind().await.is_err() {
                tracing::error!(conversation = %state.args.key, "on_conversation_end panicked");
            }
        }
        Ok(())
    }
}

impl SessionState {
    async fn run(&mut self, entry: Inbound) {
        // Bounded across all accounts; a closed semaphore only happens at
        // teardown, where running without a permit is harmless.
        let _permit = self.args.limiter.clone().acquire_owned().await.ok();
        let message = entry.message;
        let mut ctx = Context::new(
            self.args.shared.clone(),
            self.args.key.clone(),
            message.clone(),
            self.args.outbox.clone(),
            self.state.take().unwrap_or_default(),
        );
        let handler = self.args.handler.clone();
        if !self.started {
            self.started = true;
            let result = AssertUnwindSafe(handler.on_conversation_start(&mut ctx))
                .catch_unwind()
                .await;
            report(&*handler, &mut ctx, result).await;
        }
        let result = AssertUnwindSafe(handler.handle(&mut ctx, message))
            .catch_unwind()
            .await;
        report(&*handler, &mut ctx, result).await;
        self.state = Some(ctx.finish());
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
