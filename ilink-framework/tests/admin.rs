//! The admin endpoint against the simulator: `/metrics` scraped during
//! traffic counts what the simulator saw (messages in, redeliveries, handler
//! outcomes, sends, failed polls, a session expiry), and `/readyz`,
//! `/status` and `BotHandle::status` tell the same story.

#![cfg(feature = "admin")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{creds, fast_options, within};
use ilink_framework::core::Endpoint;
use ilink_framework::prelude::*;
use ilink_framework::{AccountState, BotStatus};
use ilink_testkit::{BotAccount, ExpiryMode, Fault, FaultAction, Simulator};

/// Echoes texts; fails on "fail" and panics on "panic".
struct Echo;

#[async_trait]
impl Handler for Echo {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        match msg.text().unwrap_or_default() {
            "fail" => Err("asked to fail".into()),
            "panic" => panic!("asked to panic"),
            text => {
                ctx.reply(format!("echo: {text}")).await?;
                Ok(())
            }
        }
    }
}

/// The samples of a Prometheus text page: series (name and sorted labels) to value.
fn samples(page: &str) -> BTreeMap<String, f64> {
    page.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let series = match series.split_once('{') {
                Some((name, labels)) => {
                    let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                    labels.sort();
                    format!("{name}{{{}}}", labels.join(","))
                }
                None => series.to_owned(),
            };
            Some((series, value))
        })
        .collect()
}

struct Admin {
    http: reqwest::Client,
    base: String,
    account: String,
}

impl Admin {
    async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the admin endpoint answers");
        (res.status().as_u16(), res.text().await.unwrap())
    }

    async fn metrics(&self) -> BTreeMap<String, f64> {
        let (code, page) = self.get("/metrics").await;
        assert_eq!(code, 200, "{page}");
        samples(&page)
    }

    /// The value of `name` for this account (and `outcome`, when given); 0 when absent.
    fn value(&self, samples: &BTreeMap<String, f64>, name: &str, outcome: Option<&str>) -> f64 {
        let mut labels = vec![format!("account=\"{}\"", self.account)];
        if let Some(o) = outcome {
            labels.push(format!("outcome=\"{o}\""));
        }
        labels.sort();
        let key = format!("{name}{{{}}}", labels.join(","));
        samples.get(&key).copied().unwrap_or(0.0)
    }

    /// Scrapes until `done` holds for the samples; returns them.
    async fn until(
        &self,
        what: &str,
        done: impl Fn(&Self, &BTreeMap<String, f64>) -> bool,
    ) -> BTreeMap<String, f64> {
        within(what, async {
            loop {
                let s = self.metrics().await;
                if done(self, &s) {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
    }

    /// Reads `/readyz` until its status is `code`; returns the body.
    async fn readyz_until(&self, code: u16) -> String {
        within(&format!("/readyz to answer {code}"), async {
            loop {
                let (got, body) = self.get("/readyz").await;
                if got == code {
                    return body;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
    }
}

/// Starts the echo bot on `bot` with its admin endpoint on a free port.
async fn start_with_admin(sim: &Simulator, bot: &BotAccount) -> (BotHandle, Admin) {
    let handle = Bot::builder(Echo)
        .account(creds(sim, bot))
        .options(fast_options())
        .admin("127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let addr = handle
        .admin_addr()
        .await
        .expect("the admin endpoint listens");
    let admin = Admin {
        http: reqwest::Client::new(),
        base: format!("http://{addr}"),
        account: bot.bot_id.clone(),
    };
    (handle, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_simulator_saw_and_readiness_follows_the_session() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("admin-metrics");
    // The first two polls fail.
    sim.inject(Fault::on(Endpoint::GetUpdates, FaultAction::Status { status: 500 }).times(2));
    let (handle, admin) = start_with_admin(&sim, &bot).await;
    assert_eq!(admin.get("/healthz").await, (200, "ok\n".to_owned()));
    admin.readyz_until(200).await;

    let alice = sim.user(&bot, "alice@im.wechat");
    let bob = sim.user(&bot, "bob@im.wechat");
    let first = alice.say("one").await;
    alice.say("two").await;
    bob.say("three").await;
    alice.say("fail").await;
    alice.say("panic").await;
    // At-least-once delivery: the first message comes again, same id.
    sim.redeliver(&bot, &first, Duration::ZERO, false);

    let m = admin
        .until("five handler runs and one redelivery dropped", |a, s| {
            let handled: f64 = ["ok", "error", "panic"]
                .iter()
                .map(|o| a.value(s, "ilink_messages_handled_total", Some(o)))
                .sum();
            handled >= 5.0
                && a.value(s, "ilink_messages_deduplicated_total", None) >= 1.0
                && a.value(s, "ilink_inbox_depth", None) == 0.0
                && a.value(s, "ilink_sends_total", Some("ok")) >= 5.0
        })
        .await;
    let delivered = sim.sent(&bot).iter().filter(|m| m.delivered()).count() as f64;
    // Three echoes and the error hook's apology for "fail" and "panic".
    assert_eq!(delivered, 5.0);
    let v = |name: &str, outcome: Option<&str>| admin.value(&m, name, outcome);
    assert_eq!(v("ilink_messages_received_total", None), 6.0);
    assert_eq!(v("ilink_messages_deduplicated_total", None), 1.0);
    assert_eq!(v("ilink_messages_quarantined_total", None), 0.0);
    assert_eq!(v("ilink_messages_handled_total", Some("ok")), 3.0);
    assert_eq!(v("ilink_messages_handled_total", Some("error")), 1.0);
    assert_eq!(v("ilink_messages_handled_total", Some("panic")), 1.0);
    assert_eq!(v("ilink_handler_duration_seconds_count", None), 5.0);
    assert_eq!(v("ilink_sends_total", Some("ok")), delivered);
    for outcome in ["quota", "throttled", "expired", "failed"] {
        assert_eq!(v("ilink_sends_total", Some(outcome)), 0.0, "{outcome}");
    }
    assert_eq!(v("ilink_send_duration_seconds_count", None), delivered);
    assert_eq!(v("ilink_poll_errors_total", None), 2.0);
    assert_eq!(v("ilink_session_expired_total", None), 0.0);
    assert_eq!(v("ilink_conversations", None), 2.0);
    assert_eq!(v("ilink_account_up", None), 1.0);
    assert!(v("ilink_store_transaction_duration_seconds_count", None) >= 5.0);

    // The page has help texts and true histograms.
    let (_, page) = admin.get("/metrics").await;
    assert!(page.contains("# TYPE ilink_sends_total counter"), "{page}");
    assert!(page.contains("# HELP ilink_sends_total "), "{page}");
    assert!(
        page.contains("# TYPE ilink_handler_duration_seconds histogram"),
        "{page}"
    );

    // A session expiry makes the bot unready, with the reason.
    sim.expire_session(&bot, ExpiryMode::Ret);
    let body = admin.readyz_until(503).await;
    assert!(body.starts_with("not ready\n"), "{body}");
    assert!(
        body.contains(&format!("{}: session expired", bot.bot_id)),
        "{body}"
    );
    let status = handle.status().await;
    assert!(!status.ready);
    assert_eq!(status.accounts[0].state, AccountState::SessionExpired);
    let (code, json) = admin.get("/status").await;
    assert_eq!(code, 200);
    let served: BotStatus = serde_json::from_str(&json).unwrap();
    assert_eq!(served.accounts[0].state, AccountState::SessionExpired);
    let m = admin.metrics().await;
    assert_eq!(admin.value(&m, "ilink_session_expired_total", None), 1.0);
    assert_eq!(admin.value(&m, "ilink_account_up", None), 0.0);

    sim.clear_session_expiry(&bot);
    admin.readyz_until(200).await;
    assert!(handle.status().await.ready);

    handle.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_account_s_gauges_read_zero() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("admin-removed");
    let (handle, admin) = start_with_admin(&sim, &bot).await;
    sim.user(&bot, "carol@im.wechat").say("hello").await;
    admin
        .until("the account to be up with one conversation", |a, s| {
            a.value(s, "ilink_account_up", None) == 1.0
                && a.value(s, "ilink_conversations", None) == 1.0
        })
        .await;

    handle
        .remove_account(&AccountId::from(bot.bot_id.as_str()))
        .await
        .unwrap();
    let m = admin.metrics().await;
    assert_eq!(admin.value(&m, "ilink_account_up", None), 0.0);
    assert_eq!(admin.value(&m, "ilink_conversations", None), 0.0);
    assert_eq!(admin.value(&m, "ilink_inbox_depth", None), 0.0);
    // Its counters keep their totals, as Prometheus counters must.
    assert_eq!(admin.value(&m, "ilink_messages_received_total", None), 1.0);

    handle.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn an_address_in_use_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let result = Bot::builder(Echo)
        .admin(addr)
        .build()
        .unwrap()
        .start()
        .await;
    match result {
        Err(BotError::AdminBind { addr: a, .. }) => assert_eq!(a, addr),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("the bot started on an address in use"),
    }
}

#[tokio::test]
async fn without_an_address_there_is_no_endpoint() {
    let handle = Bot::builder(Echo).build().unwrap().start().await.unwrap();
    assert_eq!(handle.admin_addr().await, None);
    let status = handle.status().await;
    assert!(status.ready && status.accounts.is_empty());
    handle.shutdown().await;
}
