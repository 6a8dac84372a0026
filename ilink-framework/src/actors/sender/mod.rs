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
use tokio::task::JoinHandle;

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
    lanes: HashMap<String, Lane>,
    lanes_at_last_sweep: usize,
    ctx: Arc<LaneContext>,
    typing: Arc<Typing>,
}

/// The Sender's handle on one user's lane.
struct Lane {
    // Boxed jobs keep a channel's first block (32 slots, allocated when the
    // lane opens) at 32 pointers instead of 32 whole jobs per recipient.
    tx: mpsc::UnboundedSender<Box<Job>>,
    /// The lane's task. Its successor waits for it: a closed lane may still
    /// be sending what reached it as it closed.
    task: JoinHandle<()>,
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
        Ok(SenderState::new(args))
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
    fn new(args: SenderArgs) -> Self {
        let permits = Arc::new(Semaphore::new(args.shared.options.max_concurrent_sends));
        let typing = Typing::new(args.shared.clone(), args.tokens.clone());
        SenderState {
            lanes: HashMap::new(),
            lanes_at_last_sweep: 0,
            ctx: Arc::new(LaneContext {
                shared: args.shared,
                tokens: args.tokens,
                permits,
                in_flight: args.in_flight,
            }),
            typing,
        }
    }

    fn enqueue(&mut self, job: Box<Job>) {
        let job = match self.lanes.get(&job.user) {
            Some(lane) => match lane.tx.send(job) {
                Ok(()) => return,
                // The lane closed after being idle; open a new one.
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let predecessor = self.lanes.remove(&job.user).map(|lane| lane.task);
        let user = job.user.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        // The receiver is still here, so the channel cannot be closed.
        if let Err(mpsc::error::SendError(job)) = tx.send(job) {
            let _ = job.reply.send(Err(SendError::ShuttingDown));
            self.ctx.in_flight.end();
        }
        let task = tokio::spawn(run_lane(self.ctx.clone(), user.clone(), rx, predecessor));
        self.lanes.insert(user, Lane { tx, task });
        // Forget ended lanes now and then so the map does not grow with
        // every user ever written to. A closed lane whose task still runs is
        // kept: its successor must wait for it.
        if self.lanes.len() >= 2 * self.lanes_at_last_sweep.max(64) {
            self.lanes.retain(|_, lane| !lane.task.is_finished());
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ilink_core::{Endpoint, ILinkClient};
    use ilink_testkit::{BotAccount, BurstLimit, Fault, FaultAction, SimConfig, Simulator};
    use tokio::sync::broadcast;

    use super::*;
    use crate::actors::shared::EventSink;
    use crate::context::Context;
    use crate::error::HandlerResult;
    use crate::handler::Handler;
    use crate::message::Message;
    use crate::options::BotOptions;
    use crate::store::{MemoryStore, StateStore, now_ms};

    const USER: &str = "u@im.wechat";
    /// Generous: only reached when something is broken.
    const WAIT: Duration = Duration::from_secs(20);

    struct Silent;

    #[async_trait::async_trait]
    impl Handler for Silent {
        async fn handle(&self, _ctx: &mut Context, _msg: Message) -> HandlerResult {
            Ok(())
        }
    }

    /// A Sender's state on a fresh simulator account whose user wrote once.
    async fn sender(sim: &Simulator, options: BotOptions) -> (SenderState, BotAccount) {
        let bot = sim.add_account("lanes");
        let said = sim.user(&bot, USER).say("hi").await;
        let client = ILinkClient::builder(sim.base_url(), bot.token.clone())
            .build()
            .unwrap();
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let account = AccountId::new(bot.bot_id.as_str());
        let (events, _) = broadcast::channel(16);
        let tokens = Arc::new(TokenBook::new(account.clone(), store.clone(), &options));
        tokens
            .observe(USER, said.context_token.unwrap(), now_ms())
            .unwrap();
        let shared = AccountShared::new(
            account,
            client,
            store,
            Arc::new(options),
            EventSink::new(events, Arc::new(Silent)),
        );
        let state = SenderState::new(SenderArgs {
            shared,
            tokens,
            in_flight: Arc::default(),
        });
        (state, bot)
    }

    type Reply = oneshot::Receiver<Result<Vec<SentMessage>, SendError>>;

    /// A job sending `text` to the user, counted in flight as `Outbox` does.
    fn job(state: &SenderState, text: &str) -> (Box<Job>, Reply) {
        state.ctx.in_flight.begin();
        let (reply, rx) = oneshot::channel();
        let job = Job {
            user: USER.to_owned(),
            payload: Payload::Text(text.to_owned()),
            reply,
            span: tracing::Span::none(),
        };
        (Box::new(job), rx)
    }

    /// What the simulator delivered to the user, in order, and how many
    /// sends it refused.
    fn delivered(sim: &Simulator, bot: &BotAccount) -> (Vec<String>, usize) {
        let sent = sim.sent(bot);
        let texts = sent
            .iter()
            .filter(|s| s.delivered())
            .filter_map(|s| s.text())
            .collect();
        (texts, sent.iter().filter(|s| !s.delivered()).count())
    }

    /// Waits until every job was answered and counted out, as a flush does.
    async fn settled(state: &SenderState) {
        tokio::time::timeout(WAIT, state.ctx.in_flight.wait_idle())
            .await
            .expect("every job was counted out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_lane_closes_and_a_later_message_opens_a_new_one() {
        let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
        let options = BotOptions {
            pacing_window: Duration::from_millis(50),
            ..BotOptions::default()
        };
        let (mut state, bot) = sender(&sim, options).await;
        let (first, first_done) = job(&state, "one");
        state.enqueue(first);
        assert!(first_done.await.unwrap().is_ok());
        // Idle for the pacing window, the lane ends (it used to linger 30 s).
        tokio::time::timeout(WAIT, async {
            while !state.lanes[USER].task.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the idle lane ended");
        assert!(state.lanes[USER].tx.is_closed());
        let (second, second_done) = job(&state, "two");
        state.enqueue(second);
        assert!(second_done.await.unwrap().is_ok());
        assert_eq!(delivered(&sim, &bot), (vec!["one".into(), "two".into()], 0));
        settled(&state).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closing_lane_sends_what_it_holds_before_its_successor_and_within_the_pace() {
        // The server refuses a second send to the user within 300 ms; the
        // bot paces one send per 500 ms.
        let config = SimConfig {
            burst: Some(BurstLimit {
                sends: 2,
                window: Duration::from_millis(300),
                block: Duration::from_secs(60),
            }),
            ..SimConfig::for_tests()
        };
        let sim = Simulator::start_with(config).await.unwrap();
        let options = BotOptions {
            pacing_burst: 1,
            pacing_window: Duration::from_millis(500),
            ..BotOptions::default()
        };
        let (mut state, bot) = sender(&sim, options).await;
        // The first send is slow on the server, so a successor that did not
        // wait would overtake it.
        sim.inject(Fault::on(Endpoint::SendMessage, FaultAction::Delay { ms: 100 }).times(1));
        // A lane that timed out just as "one" reached it: closed, with "one"
        // still queued.
        let (first, first_done) = job(&state, "one");
        let (tx, mut rx) = mpsc::unbounded_channel();
        assert!(tx.send(first).is_ok());
        rx.close();
        let task = tokio::spawn(run_lane(state.ctx.clone(), USER.to_owned(), rx, None));
        state.lanes.insert(USER.to_owned(), Lane { tx, task });
        let (second, second_done) = job(&state, "two");
        state.enqueue(second);
        assert!(first_done.await.unwrap().is_ok(), "the queued job was sent");
        assert!(second_done.await.unwrap().is_ok(), "the new job was sent");
        assert_eq!(delivered(&sim, &bot), (vec!["one".into(), "two".into()], 0));
        settled(&state).await;
    }
}
