//! The Sender: all outgoing traffic of one account.
//!
//! It owns the lanes (one ordered queue per recipient, see [`lanes`]), the
//! context tokens with their send counts, the quota and pacing checks,
//! retries with a stable `client_id`, and the typing keepalives. Handlers
//! reach it through an [`Outbox`], which queues sends straight onto their
//! lane; the actor itself runs the typing keepalives and closes the lanes
//! when it stops. The equivalent in teloxide is the `Throttle` adaptor.

pub(crate) mod delivery;
pub(crate) mod lanes;
mod outbox;
pub(crate) mod quota;
mod typing;

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use self::lanes::Lanes;
pub use self::outbox::Outbox;
use self::typing::Typing;

/// Messages of the Sender actor.
pub(crate) enum SenderMsg {
    /// Start (or join) "typing…" for a user.
    StartTyping(String),
    /// Release one hold on "typing…" for a user.
    StopTyping(String),
    /// Stop all typing (shutdown).
    StopAll,
    /// Time to forget idle lanes and cached tokens of idle users.
    Sweep,
}

/// The Sender actor.
pub(crate) struct Sender;

/// State of the Sender actor.
pub(crate) struct SenderState {
    lanes: Arc<Lanes>,
    typing: Arc<Typing>,
}

/// Start-up arguments: the lanes the account's [`Outbox`] also queues onto.
pub(crate) struct SenderArgs {
    pub(crate) lanes: Arc<Lanes>,
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
        let ctx = args.lanes.ctx();
        let typing = Typing::new(ctx.shared.clone(), ctx.tokens.clone());
        Ok(SenderState {
            lanes: args.lanes,
            typing,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut SenderState,
    ) -> Result<(), ActorProcessingErr> {
        // Lanes are also swept as the map grows; this bounds what users
        // written to once, long ago, keep.
        let every = state.lanes.ctx().shared.options.housekeeping_interval();
        myself.send_interval(every, || SenderMsg::Sweep);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: SenderMsg,
        state: &mut SenderState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SenderMsg::StartTyping(user) => state.typing.start(&user),
            SenderMsg::StopTyping(user) => state.typing.stop(&user),
            SenderMsg::StopAll => state.typing.stop_all(),
            SenderMsg::Sweep => {
                state.lanes.sweep();
                state.lanes.ctx().tokens.forget_idle(crate::store::now_ms());
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut SenderState,
    ) -> Result<(), ActorProcessingErr> {
        state.typing.stop_all();
        state.lanes.close();
        Ok(())
    }
}
