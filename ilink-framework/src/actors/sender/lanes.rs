//! [`Lanes`]: the lanes of one account, one per recipient.
//!
//! An [`super::Outbox`] queues a job straight onto its recipient's lane (no
//! hop through the Sender actor, which would add a message and a wake-up to
//! every reply); the Sender owns the lanes' lifetime and closes them when it
//! stops. A lane ends once idle for the pacing window, and the next job to
//! its user opens a new one, which waits for its predecessor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::lane::{Job, LaneContext, run_lane};
use super::quota::TokenBook;
use crate::actors::in_flight::InFlight;
use crate::actors::shared::AccountShared;
use crate::error::SendError;

/// The lanes of one account.
pub(crate) struct Lanes {
    ctx: Arc<LaneContext>,
    map: Mutex<LaneMap>,
}

#[derive(Default)]
struct LaneMap {
    lanes: HashMap<String, Lane>,
    at_last_sweep: usize,
    /// The Sender stopped: jobs are refused.
    closed: bool,
}

/// The handle on one user's lane.
struct Lane {
    // Boxed jobs keep a channel's first block (32 slots, allocated when the
    // lane opens) at 32 pointers instead of 32 whole jobs per recipient.
    tx: mpsc::UnboundedSender<Box<Job>>,
    /// The lane's task. Its successor waits for it: a closed lane may still
    /// be sending what reached it as it closed.
    task: JoinHandle<()>,
}

impl Lanes {
    pub(crate) fn new(
        shared: Arc<AccountShared>,
        tokens: Arc<TokenBook>,
        in_flight: Arc<InFlight>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(shared.options.max_concurrent_sends));
        Self {
            ctx: Arc::new(LaneContext {
                shared,
                tokens,
                permits,
                in_flight,
            }),
            map: Mutex::default(),
        }
    }

    /// What the lanes share: the account, its tokens, the send permits.
    pub(crate) fn ctx(&self) -> &Arc<LaneContext> {
        &self.ctx
    }

    fn lock(&self) -> MutexGuard<'_, LaneMap> {
        // Every change under the lock is a single insert, remove or retain,
        // so a panic elsewhere cannot leave the map half-updated.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a job on its recipient's lane, opening the lane if needed. The
    /// job must already be counted in flight; a refused one is answered
    /// with [`SendError::ShuttingDown`] and counted out.
    pub(crate) fn enqueue(&self, job: Box<Job>) {
        let mut map = self.lock();
        if map.closed {
            drop(map);
            self.refuse(*job);
            return;
        }
        let job = match map.lanes.get(&job.user) {
            Some(lane) => match lane.tx.send(job) {
                Ok(()) => return,
                // The lane closed after being idle; open a new one.
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let predecessor = map.lanes.remove(&job.user).map(|lane| lane.task);
        let user = job.user.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        // The receiver is still here, so the channel cannot be closed.
        if let Err(mpsc::error::SendError(job)) = tx.send(job) {
            self.refuse(*job);
        }
        let task = tokio::spawn(run_lane(self.ctx.clone(), user.clone(), rx, predecessor));
        map.lanes.insert(user, Lane { tx, task });
        // Forget ended lanes now and then so the map does not grow with
        // every user ever written to. A closed lane whose task still runs is
        // kept: its successor must wait for it.
        if map.lanes.len() >= 2 * map.at_last_sweep.max(64) {
            map.lanes.retain(|_, lane| !lane.task.is_finished());
            map.at_last_sweep = map.lanes.len();
        }
    }

    /// Refuses new jobs; open lanes still send what they hold.
    pub(crate) fn close(&self) {
        let mut map = self.lock();
        map.closed = true;
        map.lanes.clear();
    }

    fn refuse(&self, job: Job) {
        let _ = job.reply.send(Err(SendError::ShuttingDown));
        self.ctx.in_flight.end();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ilink_core::{Endpoint, ILinkClient, SentMessage};
    use ilink_testkit::{BotAccount, BurstLimit, Fault, FaultAction, SimConfig, Simulator};
    use tokio::sync::{broadcast, oneshot};

    use super::*;
    use crate::account::AccountId;
    use crate::actors::sender::lane::Payload;
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

    /// The lanes of a fresh simulator account whose user wrote once.
    async fn lanes(sim: &Simulator, options: BotOptions) -> (Lanes, BotAccount) {
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
        (Lanes::new(shared, tokens, Arc::default()), bot)
    }

    type Reply = oneshot::Receiver<Result<Vec<SentMessage>, SendError>>;

    /// A job sending `text` to the user, counted in flight as `Outbox` does.
    fn job(lanes: &Lanes, text: &str) -> (Box<Job>, Reply) {
        lanes.ctx.in_flight.begin();
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
    async fn settled(lanes: &Lanes) {
        tokio::time::timeout(WAIT, lanes.ctx.in_flight.wait_idle())
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
        let (lanes, bot) = lanes(&sim, options).await;
        let (first, first_done) = job(&lanes, "one");
        lanes.enqueue(first);
        assert!(first_done.await.unwrap().is_ok());
        // Idle for the pacing window, the lane ends (it used to linger 30 s).
        tokio::time::timeout(WAIT, async {
            while !lanes.lock().lanes[USER].task.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the idle lane ended");
        assert!(lanes.lock().lanes[USER].tx.is_closed());
        let (second, second_done) = job(&lanes, "two");
        lanes.enqueue(second);
        assert!(second_done.await.unwrap().is_ok());
        assert_eq!(delivered(&sim, &bot), (vec!["one".into(), "two".into()], 0));
        settled(&lanes).await;
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
        let (lanes, bot) = lanes(&sim, options).await;
        // The first send is slow on the server, so a successor that did not
        // wait would overtake it.
        sim.inject(Fault::on(Endpoint::SendMessage, FaultAction::Delay { ms: 100 }).times(1));
        // A lane that timed out just as "one" reached it: closed, with "one"
        // still queued.
        let (first, first_done) = job(&lanes, "one");
        let (tx, mut rx) = mpsc::unbounded_channel();
        assert!(tx.send(first).is_ok());
        rx.close();
        let task = tokio::spawn(run_lane(lanes.ctx.clone(), USER.to_owned(), rx, None));
        lanes
            .lock()
            .lanes
            .insert(USER.to_owned(), Lane { tx, task });
        let (second, second_done) = job(&lanes, "two");
        lanes.enqueue(second);
        assert!(first_done.await.unwrap().is_ok(), "the queued job was sent");
        assert!(second_done.await.unwrap().is_ok(), "the new job was sent");
        assert_eq!(delivered(&sim, &bot), (vec!["one".into(), "two".into()], 0));
        settled(&lanes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_lanes_refuse_new_jobs_but_send_what_they_hold() {
        let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
        let (lanes, bot) = lanes(&sim, BotOptions::default()).await;
        let (held, held_done) = job(&lanes, "held");
        lanes.enqueue(held);
        lanes.close();
        let (late, late_done) = job(&lanes, "late");
        lanes.enqueue(late);
        assert!(matches!(
            late_done.await.unwrap(),
            Err(SendError::ShuttingDown)
        ));
        assert!(held_done.await.unwrap().is_ok());
        assert_eq!(delivered(&sim, &bot), (vec!["held".into()], 0));
        settled(&lanes).await;
    }
}
