//! The AccountSupervisor, a ractor actor: one per account. It starts the
//! account's Sender (and the task that sweeps it), Router and Poller,
//! restarts them (with backoff) if the Router or Poller fails, and runs the
//! account's orderly shutdown.
//!
//! It overrides ractor's default supervision, which would stop it when any
//! child exits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ilink_core::retry::Backoff;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::account_shared::AccountShared;
use crate::conversation::KeyFn;
use crate::events::AccountEventKind;
use crate::handler::Handler;
use crate::in_flight::InFlight;
use crate::poller::{Poller, PollerArgs, PollerMsg};
use crate::router::{Router, RouterArgs, RouterMsg};
use crate::sender::{Outbox, Sender};

/// How long notifystop may take during shutdown.
const NOTIFY_STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a stopping child may take before it is killed.
const CHILD_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Waits before restarting failed children.
const RESTART: Backoff = Backoff::new(Duration::from_secs(1)).max_delay(Duration::from_secs(60));

/// What an account's shutdown left undone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Messages still being handled when the deadline passed (they stay in
    /// the inbox and are handled at the next start).
    pub unhandled: usize,
    /// Outgoing messages still queued when the deadline passed.
    pub unsent: usize,
}

/// Messages of the AccountSupervisor.
pub(crate) enum SupervisorMsg {
    /// Stop the account in order and report what was left.
    Shutdown(RpcReplyPort<ShutdownReport>),
    /// Stop at once, without draining, flushing or notifystop: the account
    /// is another worker's now, so nothing more may be done for it here.
    Abandon(RpcReplyPort<()>),
}

/// The AccountSupervisor actor.
pub(crate) struct AccountSupervisor;

/// Start-up arguments of an account.
pub(crate) struct AccountArgs {
    pub(crate) shared: Arc<AccountShared>,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) limiter: Arc<Semaphore>,
    pub(crate) key_fn: KeyFn,
}

struct Children {
    poller: ActorRef<PollerMsg>,
    router: ActorRef<RouterMsg>,
    sender: Arc<Sender>,
    /// The task that sweeps the Sender's idle lanes and tokens.
    sweeper: JoinHandle<()>,
    cancel: CancellationToken,
    handling: Arc<InFlight>,
}

/// State of the AccountSupervisor.
pub(crate) struct SupervisorState {
    args: AccountArgs,
    children: Option<Children>,
    restarts: u32,
    stopping: bool,
}

impl Actor for AccountSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = AccountArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: AccountArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let children = spawn_children(&myself, &args).await?;
        Ok(SupervisorState {
            args,
            children: Some(children),
            restarts: 0,
            stopping: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Shutdown(reply) => {
                let report = state.shutdown().await;
                let _ = reply.send(report);
                myself.stop(Some("shutdown".into()));
            }
            SupervisorMsg::Abandon(reply) => {
                state.stopping = true;
                state.args.shared.retired.cancel();
                if let Some(children) = state.children.take() {
                    stop_children(children).await;
                }
                let shared = &state.args.shared;
                shared
                    .events
                    .emit(&shared.account, AccountEventKind::LeaseLost);
                let _ = reply.send(());
                myself.stop(Some("lease lost".into()));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        if state.stopping {
            return Ok(());
        }
        let (SupervisionEvent::ActorFailed(cell, _)
        | SupervisionEvent::ActorTerminated(cell, _, _)) = &event
        else {
            return Ok(());
        };
        let is_child = state.children.as_ref().is_some_and(|c| {
            let id = cell.get_id();
            id == c.poller.get_id() || id == c.router.get_id()
        });
        if !is_child {
            return Ok(());
        }
        if let SupervisionEvent::ActorFailed(_, err) = &event {
            tracing::error!(account = %state.args.shared.account, error = %err, "an account actor failed; restarting the account's actors");
        }
        // Restart the whole set: the poller and sessions hold references to
        // the router and sender, and the inbox makes a restart lose nothing.
        if let Some(old) = state.children.take() {
            stop_children(old).await;
        }
        // The old Router's handled marks (with their saved state) and the
        // old sends' journal rows are stored first: the new Router replays
        // the inbox, and would otherwise run those messages again over
        // state they already changed, or send what the journal would show.
        state.args.shared.writes_behind_stored().await;
        // Starting again can fail as the first start can (the store's
        // inbox or cursor unreadable for a while): it is tried again, as
        // giving up would leave the account held here and never polled.
        loop {
            state.restarts += 1;
            let delay = RESTART
                .delay(state.restarts)
                .unwrap_or(Duration::from_secs(60));
            tokio::time::sleep(delay).await;
            match spawn_children(&myself, &state.args).await {
                Ok(children) => {
                    state.children = Some(children);
                    return Ok(());
                }
                Err(e) => tracing::error!(
                    account = %state.args.shared.account, error = %e,
                    "restarting the account's actors failed; trying again"
                ),
            }
        }
    }
}

async fn spawn_children(
    myself: &ActorRef<SupervisorMsg>,
    args: &AccountArgs,
) -> Result<Children, ActorProcessingErr> {
    let shared = args.shared.clone();
    let sender = Sender::new(shared.clone());
    // Lanes are also swept as the map grows; this bounds what users written
    // to once, long ago, keep.
    let sweeper = tokio::spawn(Sender::sweep_every(
        Arc::downgrade(&sender),
        shared.options.housekeeping_interval(),
    ));
    let outbox = Outbox::new(sender.clone());
    // Dispatched and not yet handled: the account's inbox depth.
    let handling = Arc::new(InFlight::observed({
        let shared = shared.clone();
        move |n| shared.live.set_inbox_depth(n)
    }));
    let router = Actor::spawn_linked(
        None,
        Router,
        RouterArgs {
            shared: shared.clone(),
            handler: args.handler.clone(),
            outbox,
            limiter: args.limiter.clone(),
            key_fn: args.key_fn.clone(),
            handling: handling.clone(),
        },
        myself.get_cell(),
    )
    .await;
    let router = match router {
        Ok((router, _)) => router,
        Err(e) => {
            sweeper.abort();
            sender.close();
            return Err(e.into());
        }
    };
    let cancel = CancellationToken::new();
    let poller = Actor::spawn_linked(
        None,
        Poller,
        PollerArgs {
            shared,
            router: router.clone(),
            cancel: cancel.clone(),
        },
        myself.get_cell(),
    )
    .await;
    let poller = match poller {
        Ok((poller, _)) => poller,
        Err(e) => {
            // Not left behind for a second attempt to run beside.
            let _ = router
                .get_cell()
                .stop_and_wait(None, Some(CHILD_STOP_TIMEOUT))
                .await;
            sweeper.abort();
            sender.close();
            return Err(e.into());
        }
    };
    Ok(Children {
        poller,
        router,
        sender,
        sweeper,
        cancel,
        handling,
    })
}

async fn stop_children(c: Children) {
    c.cancel.cancel();
    let _ = c
        .poller
        .get_cell()
        .stop_and_wait(None, Some(CHILD_STOP_TIMEOUT))
        .await;
    let _ = c
        .router
        .get_cell()
        .stop_and_wait(None, Some(CHILD_STOP_TIMEOUT))
        .await;
    c.sweeper.abort();
    c.sender.close();
}

impl SupervisorState {
    /// Stop polling, let handlers finish, flush the sender, say notifystop.
    async fn shutdown(&mut self) -> ShutdownReport {
        self.stopping = true;
        let shared = self.args.shared.clone();
        let Some(c) = self.children.take() else {
            return ShutdownReport::default();
        };
        let deadline = Instant::now() + shared.options.shutdown_deadline;
        c.cancel.cancel();
        let _ = c
            .poller
            .get_cell()
            .stop_and_wait(None, Some(CHILD_STOP_TIMEOUT))
            .await;
        // The last batches the Poller sent may still wait in the Router's
        // mailbox, not yet counted in `handling`.
        let (done, dispatched) = tokio::sync::oneshot::channel();
        if c.router.send_message(RouterMsg::Barrier(done)).is_ok() {
            let _ = tokio::time::timeout_at(deadline.into(), dispatched).await;
        }
        let _ = tokio::time::timeout_at(deadline.into(), c.handling.wait_idle()).await;
        let unhandled = c.handling.count();
        c.sender.stop_typing();
        let unsent = c
            .sender
            .flush(deadline.saturating_duration_since(Instant::now()))
            .await;
        if unhandled > 0 || unsent > 0 {
            tracing::warn!(
                account = %shared.account, unhandled, unsent,
                "shutdown deadline passed: unhandled messages stay in the inbox for the next start; unsent replies are dropped"
            );
        }
        // Stopping the Router aborts handlers still running; their messages
        // stay in the inbox for the next start.
        let _ = c
            .router
            .get_cell()
            .stop_and_wait(None, Some(CHILD_STOP_TIMEOUT))
            .await;
        match tokio::time::timeout(NOTIFY_STOP_TIMEOUT, shared.client().notify_stop()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(account = %shared.account, error = %e, "notifystop failed")
            }
            Err(_) => tracing::warn!(account = %shared.account, "notifystop timed out"),
        }
        c.sweeper.abort();
        c.sender.close();
        shared
            .events
            .emit(&shared.account, AccountEventKind::Stopped);
        ShutdownReport { unhandled, unsent }
    }
}
