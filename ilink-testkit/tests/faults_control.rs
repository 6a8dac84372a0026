//! Fault injection and the `/mock/*` control API.

mod common;

use std::time::Duration;

use common::{TestBot, get_json, post_json};
use ilink_core::Endpoint;
use ilink_testkit::harness::WAIT;
use ilink_testkit::{Fault, FaultAction, Simulator};
use serde_json::{Value, json};

#[tokio::test]
async fn status_api_malformed_truncated_faults_then_recovery() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    let call = || {
        client
            .request("ilink/bot/msg/notifystart")
            .json(&json!({ "base_info": common::base_info() }))
            .send()
    };
    sim.inject(Fault::on(Endpoint::NotifyStart, FaultAction::Status { status: 503 }).times(2));
    assert_eq!(call().await.unwrap().status(), 503);
    assert_eq!(call().await.unwrap().status(), 503);
    assert_eq!(call().await.unwrap().status(), 200);
    sim.inject(Fault::on(
        Endpoint::NotifyStart,
        FaultAction::Api {
            ret: Some(-14),
            errcode: None,
            errmsg: None,
        },
    ));
    assert_eq!(
        call().await.unwrap().json::<Value>().await.unwrap()["ret"],
        -14
    );
    sim.inject(Fault::on(Endpoint::NotifyStart, FaultAction::Malformed));
    assert!(call().await.unwrap().json::<Value>().await.is_err());
    sim.inject(Fault::on(Endpoint::NotifyStart, FaultAction::Truncated));
    assert!(call().await.unwrap().json::<Value>().await.is_err());
    sim.inject(Fault::on(
        Endpoint::NotifyStart,
        FaultAction::Delay { ms: 50 },
    ));
    assert_eq!(call().await.unwrap().status(), 200);
}

#[tokio::test]
async fn reset_and_hang_faults_fail_the_client() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    sim.inject(Fault::on(Endpoint::SendMessage, FaultAction::Reset));
    let r = client
        .request("ilink/bot/sendmessage")
        .json(&json!({}))
        .send()
        .await;
    assert!(r.is_err(), "{r:?}");
    sim.inject(Fault::any(FaultAction::Hang));
    let r = client
        .request("ilink/bot/getconfig")
        .timeout(Duration::from_millis(300))
        .json(&json!({}))
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    // Shutdown ends hanging requests instead of waiting for them.
    sim.inject(Fault::any(FaultAction::Hang));
    let pending = client
        .request("ilink/bot/getconfig")
        .json(&json!({}))
        .send();
    let h = tokio::spawn(pending);
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(WAIT, sim.shutdown()).await.unwrap();
    let _ = tokio::time::timeout(WAIT, h).await.unwrap();
}

#[tokio::test]
async fn a_hanging_request_can_be_waited_for_while_it_hangs() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    sim.inject(Fault::on(Endpoint::GetConfig, FaultAction::Hang));
    let pending = client
        .request("ilink/bot/getconfig")
        .json(&json!({}))
        .send();
    let h = tokio::spawn(pending);
    let seen = sim
        .wait_for_request(Endpoint::GetConfig, WAIT)
        .await
        .unwrap();
    assert_eq!(seen.endpoint, Some(Endpoint::GetConfig));
    assert!(!h.is_finished(), "the request is still hanging");
    // Nothing else arrived: waiting for it times out with a clear error.
    let none = sim
        .wait_for_request(Endpoint::SendMessage, Duration::from_millis(100))
        .await;
    assert!(none.unwrap_err().to_string().contains("sendmessage"));
    h.abort();
}

#[tokio::test]
async fn probabilistic_faults_are_deterministic_per_seed() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let sim = Simulator::start().await;
        let bot = sim.add_account("bot-a");
        let client = TestBot::new(&sim, &bot);
        sim.inject(
            Fault::on(Endpoint::NotifyStop, FaultAction::Status { status: 500 })
                .with_probability(0.5),
        );
        let mut pattern = Vec::new();
        for _ in 0..20 {
            let r = client
                .request("ilink/bot/msg/notifystop")
                .json(&json!({ "base_info": {} }))
                .send()
                .await
                .unwrap();
            pattern.push(r.status().as_u16());
        }
        assert!(pattern.contains(&500) && pattern.contains(&200));
        runs.push(pattern);
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn control_bodies_may_be_empty_and_bad_json_is_a_clear_400() {
    let sim = Simulator::start().await;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    // No body at all reads as `{}`: an account with a generated id.
    let res = http
        .post(format!("{base}/mock/accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(sim.accounts().len(), 1);
    let res = http
        .post(format!("{base}/mock/faults"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("bad JSON"));
}

#[tokio::test]
async fn control_api_drives_a_conversation() {
    let sim = Simulator::start().await;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let acct = post_json(
        &http,
        format!("{base}/mock/accounts"),
        json!({ "bot_id": "ctl" }),
    )
    .await;
    assert_eq!(acct["bot_id"], "ctl@im.bot");
    let bot = sim.accounts().into_iter().next().unwrap();
    let client = TestBot::new(&sim, &bot);
    let msg = post_json(
        &http,
        format!("{base}/mock/inbound"),
        json!({ "sender": "carol@im.wechat", "text": "hi",
            "items": [{ "type": "image", "data": "aGVsbG8=" }], "group_id": "g@chatroom" }),
    )
    .await;
    assert_eq!(msg["item_list"].as_array().unwrap().len(), 2);
    let got = client.poll_msgs().await;
    assert_eq!(got[0]["group_id"], "g@chatroom");
    let r = client
        .send_text("carol@im.wechat", &got[0]["context_token"], "hello carol")
        .await;
    assert_eq!(r["ret"], 0);
    let sent = get_json(&http, format!("{base}/mock/sent?recipient=carol@im.wechat")).await;
    assert_eq!(sent[0]["text"], "hello carol");
    assert_eq!(sent[0]["ret"], 0);

    let ok = |p: &'static str, body: Value| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.post(format!("{base}{p}"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        ok("/mock/session/expire", json!({ "mode": "errcode" })).await,
        200
    );
    assert_eq!(
        client.post("ilink/bot/msg/notifystart", json!({})).await.1["errcode"],
        -14
    );
    assert_eq!(ok("/mock/session/clear", json!({})).await, 200);
    assert_eq!(
        ok(
            "/mock/faults",
            json!({ "endpoint": "notifystart", "action": { "kind": "status", "status": 502 } })
        )
        .await,
        200
    );
    assert_eq!(
        client.post("ilink/bot/msg/notifystart", json!({})).await.0,
        502
    );
    assert_eq!(
        ok("/mock/config", json!({ "upload_full_url": false })).await,
        200
    );
    assert_eq!(ok("/mock/reset", json!({})).await, 200);
    let v = get_json(&http, format!("{base}/mock/violations")).await;
    assert!(v.as_array().unwrap().is_empty());

    http.post(format!("{base}/ilink/bot/get_bot_qrcode?bot_type=3"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok("/mock/qr/scan", json!({})).await, 200);
    let c = post_json(
        &http,
        format!("{base}/mock/qr/confirm"),
        json!({ "bot_id": "new@im.bot" }),
    )
    .await;
    assert_eq!(c["ilink_bot_id"], "new@im.bot");
    assert_eq!(sim.accounts().len(), 2);
}

#[tokio::test]
async fn a_lost_response_still_delivers_the_message() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    sim.user(&bot, "u@im.wechat").say("hi").await;
    let msgs = client.poll_msgs().await;
    let ctx = msgs[0]["context_token"].clone();
    sim.inject(Fault::on(
        Endpoint::SendMessage,
        FaultAction::LostResponse { status: 502 },
    ));
    let (status, _) = client
        .post(
            "ilink/bot/sendmessage",
            json!({"msg": {
                "from_user_id": "", "to_user_id": "u@im.wechat", "client_id": "lost-1",
                "message_type": 2, "message_state": 2, "context_token": ctx,
                "item_list": [{"type": 1, "text_item": {"text": "hello"}}]
            }}),
        )
        .await;
    assert_eq!(status, 502, "the client never sees the real answer");
    let delivered = sim.delivered_to(&bot, "u@im.wechat");
    assert_eq!(delivered.len(), 1, "but the server did deliver");
    assert_eq!(delivered[0].client_id.as_deref(), Some("lost-1"));
}

#[tokio::test]
async fn a_longpoll_timeout_past_what_the_clock_can_add_means_never() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("forever");
    // What the control API accepts from anyone: the longest duration there is.
    sim.configure(|c| c.longpoll_timeout = Duration::MAX);
    let api = ilink_core::Api::new(
        ilink_core::ApiConfig::builder()
            .base_url(sim.base_url())
            .token(bot.token.clone())
            .build()
            .unwrap(),
    )
    .unwrap();
    // The poll holds (the client's own timeout ends it, an empty batch);
    // a panic in its handler would drop the connection instead.
    for _ in 0..2 {
        let idle = api
            .get_updates("", Some(Duration::from_millis(300)))
            .await
            .expect("a held poll, not a dropped connection");
        assert!(idle.msgs.is_empty());
    }
}
