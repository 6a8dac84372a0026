//! [`Lanes`]: the lanes of one account, one per recipient.
//!
//! A lane keeps one user's outgoing messages in the order they were produced
//! and paces them. Whoever finds a user's lane free sends at once, on its own
//! task: a reply normally leaves from the handler's task, with no hop to
//! another task and back. Jobs that find the lane busy wait in its queue; the
//! sender that finishes hands them, in order, to a drain task, which frees
//! the lane when the queue is empty. The lane's [`Pacer`] goes with whoever
//! holds the lane, so the pace holds across both.
//!
//! A lane is a lightweight actor: its mailbox is the queue, drained by a task
//! only while there is work. The Sender closes the lanes when the account
//! stops; idle lanes whose sends are out of the pacing window are forgotten
//! now and then, so the map does not grow with every user ever written to.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ilink_core::SentMessage;
use tokio::sync::oneshot;

use super::delivery::{Delivery, Job, Payload, deliver, process};
use super::pacer::Pacer;
use crate::error::SendError;
use crate::run_sends::Origin;

/// The lanes of one account.
pub(crate) struct Lanes {
    ctx: Arc<Delivery>,
    map: Mutex<LaneMap>,
}

#[derive(Default)]
struct LaneMap {
    lanes: HashMap<String, Arc<Lane>>,
    at_last_sweep: usize,
    /// The Sender stopped: sends are refused.
    closed: bool,
}

/// One user's lane.
struct Lane {
    state: Mutex<LaneState>,
}

struct LaneState {
    /// The lane's pace; taken by whoever holds the lane, so `None` means busy.
    pacer: Option<Pacer>,
    /// Jobs waiting for the lane, in the order they were produced.
    queue: VecDeque<Box<Job>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is a single push, pop, insert or
    // retain, so a panic elsewhere cannot leave them half-updated.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Lanes {
    pub(crate) fn new(ctx: Arc<Delivery>) -> Self {
        Self {
            ctx,
            map: Mutex::default(),
        }
    }

    /// Sends `payload` to `user` in order with everything sent to them
    /// before: at once if the lane is free, else after the jobs ahead.
    pub(crate) async fn submit(
        &self,
        user: &str,
        payload: Payload,
        origin: Option<Origin>,
    ) -> Result<Vec<SentMessage>, SendError> {
        let ctx = &self.ctx;
        let Some(lane) = self.lane(user) else {
            return Err(SendError::ShuttingDown);
        };
        ctx.in_flight.begin();
        let span = tracing::Span::current();
        let claim = {
            let mut state = lock(&lane.state);
            match state.pacer.take() {
                Some(pacer) => Claim::Free(pacer, payload, origin, span),
                None => {
                    let (reply, rx) = oneshot::channel();
                    state.queue.push_back(Box::new(Job {
                        user: user.to_owned(),
                        payload,
                        origin,
                        reply,
                        span,
                    }));
                    Claim::Queued(rx)
                }
            }
        };
        match claim {
            Claim::Queued(rx) => rx.await.unwrap_or(Err(SendError::ShuttingDown)),
            Claim::Free(pacer, payload, origin, span) => {
                let mut turn = Turn {
                    ctx: ctx.clone(),
                    lane,
                    pacer,
                };
                // Boxed: the sending future is large; inline it would make
                // every handler future that large.
                let origin = origin.as_ref();
                Box::pin(deliver(ctx, &mut turn.pacer, user, payload, origin, &span)).await
            }
        }
    }

    /// The user's lane, created if needed; `None` once closed.
    fn lane(&self, user: &str) -> Option<Arc<Lane>> {
        let mut map = lock(&self.map);
        if map.closed {
            return None;
        }
        if let Some(lane) = map.lanes.get(user) {
            return Some(lane.clone());
        }
        let opts = &self.ctx.shared.options;
        let lane = Arc::new(Lane {
            state: Mutex::new(LaneState {
                pacer: Some(Pacer::new(opts.pacing_burst, opts.pacing_window)),
                queue: VecDeque::new(),
            }),
        });
        map.lanes.insert(user.to_owned(), lane.clone());
        if map.lanes.len() >= 2 * map.at_last_sweep.max(64) {
            map.sweep();
        }
        Some(lane)
    }

    /// Forgets lanes that are idle and out of their pacing window.
    pub(crate) fn sweep(&self) {
        lock(&self.map).sweep();
    }

    /// Refuses new sends; what is queued still goes out.
    pub(crate) fn close(&self) {
        let mut map = lock(&self.map);
        map.closed = true;
        map.lanes.clear();
    }
}

impl LaneMap {
    fn sweep(&mut self) {
        let now = Instant::now();
        self.lanes.retain(|_, lane| !lane.forgettable(now));
        self.at_last_sweep = self.lanes.len();
    }
}

impl Lane {
    /// Whether forgetting the lane loses nothing: nobody holds or waits for
    /// it, and its sends no longer count against the pace.
    fn forgettable(self: &Arc<Self>, now: Instant) -> bool {
        if Arc::strong_count(self) > 1 {
            return false;
        }
        let state = lock(&self.state);
        state.queue.is_empty()
            && state
                .pacer
                .as_ref()
                .is_some_and(|p| p.until_idle(now).is_zero())
    }

    /// Frees the lane, or hands it with the queued jobs to a drain task.
    fn release(self: Arc<Self>, ctx: Arc<Delivery>, pacer: Pacer) {
        let mut state = lock(&self.state);
        if state.queue.is_empty() {
            state.pacer = Some(pacer);
            return;
        }
        drop(state);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(drain(ctx, self, pacer));
            }
            // No runtime left (teardown): nothing could send them anyway.
            Err(_) => lock(&self.state).pacer = Some(pacer),
        }
    }
}

/// What a sender found on the lane.
// Lives for one match on the requester's stack: boxing the larger variant
// would cost an allocation per send to save nothing.
#[allow(clippy::large_enum_variant)]
enum Claim {
    /// The lane was free: send now, with its pacer.
    Free(Pacer, Payload, Option<Origin>, tracing::Span),
    /// The lane was busy: the job waits in its queue for this answer.
    Queued(oneshot::Receiver<Result<Vec<SentMessage>, SendError>>),
}

/// Holding a lane to send on it. Dropped when the send ends, or when the
/// sending future is dropped midway (its handler was cancelled): either way
/// the send is counted out and the lane is freed or handed on.
struct Turn {
    ctx: Arc<Delivery>,
    lane: Arc<Lane>,
    pacer: Pacer,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.ctx.in_flight.end();
        // An empty pacer in its place costs nothing; the turn is over.
        let pacer = std::mem::replace(&mut self.pacer, Pacer::new(1, Duration::ZERO));
        self.lane.clone().release(self.ctx.clone(), pacer);
    }
}

/// Sends a lane's queued jobs in order, then frees the lane.
async fn drain(ctx: Arc<Delivery>, lane: Arc<Lane>, mut pacer: Pacer) {
    loop {
        let job = {
            let mut state = lock(&lane.state);
            match state.queue.pop_front() {
                Some(job) => job,
                None => {
                    state.pacer = Some(pacer);
                    return;
                }
            }
        };
        // Boxed: see `Lanes::submit`.
        Box::pin(process(&ctx, &mut pacer, *job)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ilink_core::{Endpoint, ILinkClient};
    use ilink_testkit::{BotAccount, BurstLimit, Fault, FaultAction, SimConfig, Simulator};
    use tokio::sync::broadcast;

    use super::*;
    use crate::account::AccountId;
    use crate::account_shared::AccountShared;
    use crate::events::EventSink;
    use crate::in_flight::InFlight;
    use crate::options::BotOptions;
    use crate::sender::quota::TokenBook;
    use crate::store::{ContextTokenRecord, MemoryStore, StateStore, now_ms};
    use tokio::sync::Semaphore;

    const USER: &str = "u@im.wechat";
    /// Generous: only reached when something is broken.
    const WAIT: Duration = Duration::from_secs(20);

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
        let token = said.context_token.unwrap();
        let at = now_ms();
        // What the Poller's batch commit stores before the Router observes.
        let record = ContextTokenRecord::after_inbound(None, token.clone(), at).unwrap();
        store
            .put_context_token(&account, USER, &record)
            .await
            .unwrap();
        tokens.observe(USER, token, at).await.unwrap();
        let shared = AccountShared::new(
            account,
            client,
            store,
            Arc::new(options),
            EventSink::new(events, Arc::new(|_| Box::pin(async {}))),
            None,
        );
        let permits = Semaphore::new(shared.options.max_concurrent_sends);
        let delivery = Delivery {
            retry: shared.options.send_retry(),
            shared,
            tokens,
            permits,
            in_flight: Arc::new(InFlight::default()),
        };
        (Lanes::new(Arc::new(delivery)), bot)
    }

    /// Lanes pacing one send per 500 ms, to a server that refuses a second
    /// send to a user within 300 ms (and blocks them for a minute).
    async fn paced_under_a_throttle() -> (Simulator, Lanes, BotAccount) {
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
        (sim, lanes, bot)
    }

    fn text(s: &str) -> Payload {
        Payload::Text(s.to_owned())
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

    /// Waits until every send was answered and counted out, as a flush does.
    impl Lanes {
        fn lock_map(&self) -> MutexGuard<'_, LaneMap> {
            lock(&self.map)
        }
    }

    async fn settled(lanes: &Lanes) {
        tokio::time::timeout(WAIT, lanes.ctx.in_flight.wait_idle())
            .await
            .expect("every send was counted out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sends_that_find_the_lane_busy_leave_in_order_after_it() {
        let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
        let (lanes, bot) = lanes(&sim, BotOptions::default()).await;
        // The first send is slow on the server, so the others find the lane
        // busy and queue; a queue that lost its order would show here.
        sim.inject(Fault::on(Endpoint::SendMessage, FaultAction::Delay { ms: 200 }).times(1));
        // `join!` polls in order: "one" takes the lane, the rest queue.
        let all = async {
            tokio::join!(
                lanes.submit(USER, text("one"), None),
                lanes.submit(USER, text("two"), None),
                lanes.submit(USER, text("three"), None),
            )
        };
        let (one, two, three) = tokio::time::timeout(WAIT, all)
            .await
            .expect("all were sent");
        assert!(one.is_ok() && two.is_ok() && three.is_ok());
        assert_eq!(
            delivered(&sim, &bot),
            (vec!["one".into(), "two".into(), "three".into()], 0)
        );
        settled(&lanes).await;
        // The drain task freed the lane: the next send goes out at once.
        assert!(lanes.submit(USER, text("four"), None).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pace_holds_across_sends_of_different_requesters() {
        // The server refuses a second send to the user within 300 ms; the
        // bot paces one send per 500 ms. Each send below takes the free lane
        // itself, so only a pacer kept with the lane keeps them apart.
        let (sim, lanes, bot) = paced_under_a_throttle().await;
        for t in ["a", "b", "c"] {
            assert!(lanes.submit(USER, text(t), None).await.is_ok(), "{t}");
        }
        assert_eq!(
            delivered(&sim, &bot),
            (vec!["a".into(), "b".into(), "c".into()], 0)
        );
        settled(&lanes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pace_counts_from_when_the_server_had_the_send() {
        // The server refuses a second send to the user within 300 ms; the
        // bot paces one send per 500 ms. The first send reaches the server
        // 400 ms late: paced from when it left, the second would reach it
        // 100 ms after the first.
        let (sim, lanes, bot) = paced_under_a_throttle().await;
        sim.inject(Fault::on(Endpoint::SendMessage, FaultAction::Delay { ms: 400 }).times(1));
        for t in ["a", "b"] {
            assert!(lanes.submit(USER, text(t), None).await.is_ok(), "{t}");
        }
        assert_eq!(delivered(&sim, &bot), (vec!["a".into(), "b".into()], 0));
        settled(&lanes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_send_cancelled_midway_frees_the_lane_for_the_next() {
        let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
        let (lanes, bot) = lanes(&sim, BotOptions::default()).await;
        let lanes = Arc::new(lanes);
        sim.inject(Fault::on(Endpoint::SendMessage, FaultAction::Hang).times(1));
        let stuck = tokio::spawn({
            let lanes = lanes.clone();
            async move { lanes.submit(USER, text("lost"), None).await }
        });
        // The hung request reached the server: the lane is held.
        sim.wait_for_request(Endpoint::SendMessage, WAIT)
            .await
            .expect("the first send reached the server");
        // Queued behind the hung send, then its handler is cancelled.
        let queued = tokio::spawn({
            let lanes = lanes.clone();
            async move { lanes.submit(USER, text("queued"), None).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        stuck.abort();
        let queued = tokio::time::timeout(WAIT, queued)
            .await
            .expect("the queued send went out after the cancelled one");
        assert!(queued.unwrap().is_ok());
        assert!(lanes.submit(USER, text("after"), None).await.is_ok());
        assert_eq!(
            delivered(&sim, &bot),
            (vec!["queued".into(), "after".into()], 0)
        );
        settled(&lanes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sweep_forgets_idle_lanes_once_out_of_the_pacing_window() {
        let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
        let options = BotOptions {
            pacing_window: Duration::from_secs(1),
            ..BotOptions::default()
        };
        let (lanes, _bot) = lanes(&sim, options).await;
        assert!(lanes.submit(USER, text("one"), None).await.is_ok());
        // Within the pacing window the lane's pace still matters.
        lanes.sweep();
        assert_eq!(lanes.lock_map().lanes.len(), 1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        lanes.sweep();
        assert_eq!(lanes.lock_map().lanes.len(), 0);
        // A later send opens a fresh lane.
        assert!(lanes.submit(USER, text("two"), None).await.is_ok());
        settled(&lanes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_lanes_refuse_new_sends_but_send_what_they_hold() {
        let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
        let (lanes, bot) = lanes(&sim, BotOptions::default()).await;
        sim.inject(Fault::on(Endpoint::SendMessage, FaultAction::Delay { ms: 200 }).times(1));
        let lanes = Arc::new(lanes);
        let all = async {
            tokio::join!(
                lanes.submit(USER, text("first"), None),
                lanes.submit(USER, text("held"), None),
                async {
                    // Closed while "first" is on the wire and "held" waits.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    lanes.close();
                    lanes.submit(USER, text("late"), None).await
                },
            )
        };
        let (first, held, late) = tokio::time::timeout(WAIT, all).await.expect("all answered");
        assert!(first.is_ok() && held.is_ok());
        assert!(matches!(late, Err(SendError::ShuttingDown)));
        assert_eq!(
            delivered(&sim, &bot),
            (vec!["first".into(), "held".into()], 0)
        );
        settled(&lanes).await;
    }
}
