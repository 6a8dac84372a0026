//! Failure guarantees: handler errors and panics, retries, quota, pacing.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ilink_core::Endpoint;
use ilink_framework::prelude::*;
use ilink_testkit::{BurstLimit, Fault, FaultAction, SendOutcome};

#[derive(Default)]
struct Flaky {
    errors: Mutex<Vec<String>>,
}

#[async_trait]
impl Handler for Flaky {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        match msg.text() {
            Some("fail") => Err("the database is down".into()),
            Some("panic") => panic!("boom"),
            Some(other) => {
                ctx.reply(format!("ok {other}")).await?;
                Ok(())
            }
            None => Ok(()),
        }
    }

    async fn on_error(&self, ctx: &mut Context, error: FrameworkError) {
        let kind = match &error {
            FrameworkError::Handler(e) => format!("handler: {e}"),
            FrameworkError::Panic(p) => format!("panic: {p}"),
            other => format!("other: {other}"),
        };
        self.errors.lock().unwrap().push(kind);
        ilink_framework::default_on_error(ctx, &error).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_or_a_panic_costs_only_that_message() {
    let sim = sim().await;
    let bot = sim.add_account("flaky");
    let flaky = Arc::new(Flaky::default());
    let handle = start(&sim, &bot, flaky.clone(), fast_options()).await;
    let user = sim.user(&bot, "u@im.wechat");
    for text in ["fail", "panic", "after"] {
        user.say(text).await;
    }
    sim.wait_for_sent_to(&bot, "u@im.wechat", 3, WAIT)
        .await
        .unwrap();
    let texts = texts_to(&sim, &bot, "u@im.wechat");
    assert!(texts[0].starts_with("Sorry"), "{texts:?}");
    assert!(texts[1].starts_with("Sorry"), "{texts:?}");
    assert_eq!(texts[2], "ok after");
    assert_eq!(
        *flaky.errors.lock().unwrap(),
        vec![
            "handler: the database is down".to_owned(),
            "panic: boom".to_owned()
        ]
    );
    handle.shutdown().await;
}

struct Echo;

#[async_trait]
impl Handler for Echo {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        ctx.reply(format!("Echo: {}", msg.text().unwrap_or_default()))
            .await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_retried_after_5xx_is_delivered_exactly_once_with_one_client_id() {
    let sim = sim().await;
    let bot = sim.add_account("retry");
    let handle = start(&sim, &bot, Echo, fast_options()).await;
    // The server delivers the message but the answer is lost twice (HTTP 502):
    // only a retry with the same client_id keeps it from being delivered thrice.
    sim.inject(
        Fault::on(
            Endpoint::SendMessage,
            FaultAction::LostResponse { status: 502 },
        )
        .times(2),
    );
    sim.user(&bot, "u@im.wechat").say("hello").await;
    let attempts = sim
        .wait_for("three sendmessage attempts", WAIT, |sent| {
            (sent.len() >= 3).then(|| sent.to_vec())
        })
        .await
        .unwrap();
    let client_ids: Vec<_> = attempts.iter().map(|m| m.client_id.clone()).collect();
    assert!(client_ids[0].is_some());
    assert!(
        client_ids.iter().all(|c| *c == client_ids[0]),
        "{client_ids:?}"
    );
    assert!(matches!(attempts[0].outcome, SendOutcome::Delivered { .. }));
    assert!(
        attempts[1..]
            .iter()
            .all(|m| m.outcome == SendOutcome::Duplicate)
    );
    let delivered = sim.delivered_to(&bot, "u@im.wechat");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].text().as_deref(), Some("Echo: hello"));
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_failing_with_5xx_is_retried_until_it_gets_through() {
    let sim = sim().await;
    let bot = sim.add_account("retry5xx");
    let handle = start(&sim, &bot, Echo, fast_options()).await;
    sim.inject(Fault::on(Endpoint::SendMessage, FaultAction::Status { status: 500 }).times(2));
    sim.user(&bot, "u@im.wechat").say("hello").await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 1, WAIT)
        .await
        .unwrap();
    let attempts = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::SendMessage))
        .count();
    assert_eq!(attempts, 3, "two failures and one success");
    assert_eq!(sim.delivered_to(&bot, "u@im.wechat").len(), 1);
    handle.shutdown().await;
}

/// Sends `before` short replies, then `last`, and keeps how `last` ended.
struct RepliesThenOne {
    before: usize,
    last: String,
    result: Mutex<Option<String>>,
}

impl RepliesThenOne {
    fn new(before: usize, last: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            before,
            last: last.into(),
            result: Mutex::new(None),
        })
    }

    /// How `last` ended, once the handler has tried it.
    async fn outcome(&self) -> String {
        within("the handler's last reply", async {
            loop {
                if let Some(result) = self.result.lock().unwrap().clone() {
                    return result;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }
}

#[async_trait]
impl Handler for RepliesThenOne {
    async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
        for i in 0..self.before {
            ctx.reply(format!("part {i}")).await?;
        }
        let last = ctx.reply(self.last.as_str()).await;
        *self.result.lock().unwrap() = Some(match last {
            Err(SendError::QuotaExhausted { sent, limit, .. }) => format!("quota {sent}/{limit}"),
            other => format!("unexpected: {other:?}"),
        });
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_reply_is_refused_before_it_reaches_the_server() {
    let sim = sim().await;
    let bot = sim.add_account("quota");
    let chatty = RepliesThenOne::new(10, "one too many");
    let handle = start(&sim, &bot, chatty.clone(), fast_options()).await;
    sim.user(&bot, "u@im.wechat").say("talk").await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 10, WAIT)
        .await
        .unwrap();
    assert_eq!(chatty.outcome().await, "quota 10/10");
    let rejected = sim
        .sent(&bot)
        .iter()
        .filter(|m| matches!(m.outcome, SendOutcome::Rejected { .. }))
        .count();
    assert_eq!(rejected, 0, "the server never saw an over-quota send");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_does_not_fit_the_quota_whole_is_refused_before_its_first_message() {
    let sim = sim().await;
    let bot = sim.add_account("whole");
    // Eight replies, then one text of three 10-character chunks: two are left.
    let handler = RepliesThenOne::new(8, "a".repeat(10) + &"b".repeat(10) + &"c".repeat(10));
    let handle = start(&sim, &bot, handler.clone(), fast_options().chunk_limit(10)).await;
    sim.user(&bot, "u@im.wechat").say("talk").await;
    assert_eq!(handler.outcome().await, "quota 8/10");
    let texts: Vec<String> = sim
        .sent(&bot)
        .iter()
        .filter_map(|m| m.message.text())
        .collect();
    assert_eq!(
        texts.len(),
        8,
        "no part of the long reply went out: {texts:?}"
    );
    assert!(texts.iter().all(|t| t.starts_with("part ")), "{texts:?}");
    handle.shutdown().await;
}

struct Burst;

#[async_trait]
impl Handler for Burst {
    async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
        for i in 0..5 {
            ctx.reply(format!("burst {i}")).await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_keeps_a_burst_under_the_servers_throttle() {
    let sim = sim().await;
    sim.configure(|c| {
        c.burst = Some(BurstLimit {
            sends: 3,
            window: Duration::from_millis(1000),
            block: Duration::from_secs(60),
        })
    });
    let bot = sim.add_account("pace");
    let options = fast_options()
        .pacing_burst(2)
        .pacing_window(Duration::from_millis(1100));
    let handle = start(&sim, &bot, Burst, options).await;
    sim.user(&bot, "u@im.wechat").say("go").await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 5, WAIT)
        .await
        .unwrap();
    let texts = texts_to(&sim, &bot, "u@im.wechat");
    assert_eq!(
        texts,
        (0..5).map(|i| format!("burst {i}")).collect::<Vec<_>>()
    );
    let rejected = sim
        .sent(&bot)
        .iter()
        .filter(|m| matches!(m.outcome, SendOutcome::Rejected { .. }))
        .count();
    assert_eq!(rejected, 0);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_send_to_one_user_does_not_hold_back_another_users_reply() {
    let sim = sim().await;
    sim.configure(|c| c.hang_duration = Duration::from_secs(3));
    let bot = sim.add_account("lanes");
    let handle = start(&sim, &bot, Echo, fast_options()).await;
    // The next sendmessage hangs on the server: it will be A's reply.
    sim.inject(Fault::on(Endpoint::SendMessage, FaultAction::Hang));
    sim.user(&bot, "a@im.wechat").say("first").await;
    sim.wait_for_request(Endpoint::SendMessage, WAIT)
        .await
        .unwrap();
    sim.user(&bot, "b@im.wechat").say("second").await;
    sim.wait_for_sent_to(&bot, "b@im.wechat", 1, WAIT)
        .await
        .unwrap();
    assert!(
        sim.delivered_to(&bot, "a@im.wechat").is_empty(),
        "B was answered while A's send still hung"
    );
    // A's reply is retried after the hang and arrives too.
    sim.wait_for_sent_to(&bot, "a@im.wechat", 1, WAIT)
        .await
        .unwrap();
    handle.shutdown().await;
}
