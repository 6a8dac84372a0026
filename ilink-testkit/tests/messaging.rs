//! Inbound delivery, the cursor, poller takeover and sendmessage policies.

mod common;

use std::time::Duration;

use common::{RawChat, TestBot, said_hi};
use ilink_testkit::harness::WAIT;
use ilink_testkit::{BurstLimit, Quote, SendOutcome, SimConfig, Simulator, ViolationKind};
use serde_json::json;

#[tokio::test]
async fn inbound_text_has_real_server_fields_and_reply_is_delivered() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    assert!(bot.token.expose().starts_with("bot-a@im.bot:"));
    let client = TestBot::new(&sim, &bot);
    let alice = sim.user(&bot, "alice@im.wechat");
    let sent_in = alice.say("hi").await;
    let msgs = client.poll_msgs().await;
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert!(m["message_id"].as_u64().unwrap() > (1u64 << 53));
    assert_eq!(m["message_id"].as_u64(), sent_in.message_id);
    assert_eq!(m["message_type"], 1);
    assert_eq!(m["message_state"], 2);
    assert_eq!(m["to_user_id"], "bot-a@im.bot");
    assert_eq!(m["from_user_id"], "alice@im.wechat");
    assert!(m["seq"].as_i64().is_some() && m["create_time_ms"].as_i64().is_some());
    assert_eq!(m["item_list"][0]["text_item"]["text"], "hi");
    let ctx = &m["context_token"];
    assert!(ctx.as_str().unwrap().len() > 10);

    let r = client
        .send_text("alice@im.wechat", ctx, "hello alice")
        .await;
    assert_eq!(r["ret"], 0);
    assert!(r["message_id"].as_u64().unwrap() > (1u64 << 53));
    let sent = sim
        .wait_for_sent_to(&bot, alice.id(), 1, WAIT)
        .await
        .unwrap();
    assert_eq!(sent[0].text().as_deref(), Some("hello alice"));
    assert_eq!(
        sent[0].context_token.as_ref().unwrap().expose(),
        ctx.as_str().unwrap()
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn each_message_gets_a_fresh_context_token_and_cursor_moves_forward() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    let alice = sim.user(&bot, "alice@im.wechat");
    let a = alice.say("one").await;
    let b = alice.say("two").await;
    assert_ne!(a.context_token, b.context_token);
    let r1 = client.poll("").await;
    assert_eq!(r1["msgs"].as_array().unwrap().len(), 2);
    let c1 = r1["get_updates_buf"].as_str().unwrap().to_owned();
    assert!(r1["longpolling_timeout_ms"].as_u64().is_some());
    // An old cursor does not bring old messages back.
    let r2 = client.poll("").await;
    assert!(r2["msgs"].as_array().unwrap().is_empty());
    assert_ne!(r2["get_updates_buf"].as_str().unwrap(), c1);
}

#[tokio::test]
async fn a_second_poller_takes_over_the_first() {
    let sim = Simulator::start_with(SimConfig {
        longpoll_timeout: Duration::from_secs(20),
        ..SimConfig::for_tests()
    })
    .await
    .unwrap();
    let bot = sim.add_account("bot-a");
    let first = TestBot::new(&sim, &bot);
    let second = TestBot::new(&sim, &bot);
    let h = tokio::spawn(async move { first.poll("c0").await });
    // Wait until the first poll is registered before starting the second.
    sim.wait_for_state("first poll", WAIT, |r| {
        (!r.requests.is_empty()).then_some(())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let h2 = tokio::spawn(async move { second.poll("c0").await });
    let r1 = tokio::time::timeout(WAIT, h).await.unwrap().unwrap();
    assert!(r1["msgs"].as_array().unwrap().is_empty());
    sim.user(&bot, "alice@im.wechat")
        .say("to the new poller")
        .await;
    let r2 = tokio::time::timeout(WAIT, h2).await.unwrap().unwrap();
    assert_eq!(r2["msgs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn repeated_client_id_is_dropped_silently() {
    let sim = Simulator::start().await;
    let RawChat {
        bot,
        client,
        user: alice,
        ctx,
    } = said_hi(&sim, "alice@im.wechat").await;
    let r1 = client.send_text_cid(alice.id(), &ctx, "once", "same").await;
    let r2 = client.send_text_cid(alice.id(), &ctx, "once", "same").await;
    assert!(r1["message_id"].is_u64());
    assert_eq!(r2["ret"], 0);
    assert!(r2.get("message_id").is_none());
    assert_eq!(sim.delivered_to(&bot, alice.id()).len(), 1);
    assert_eq!(sim.sent(&bot)[1].outcome, SendOutcome::Duplicate);
    assert!(sim.violations().is_empty(), "a retry is not a violation");
}

#[tokio::test]
async fn a_client_id_reused_for_another_message_is_dropped_and_recorded() {
    let sim = Simulator::start().await;
    let RawChat {
        bot,
        client,
        user: alice,
        ctx,
    } = said_hi(&sim, "alice@im.wechat").await;
    client
        .send_text_cid(alice.id(), &ctx, "first", "same")
        .await;
    let r2 = client
        .send_text_cid(alice.id(), &ctx, "second", "same")
        .await;
    // The server's answer to a repeat: accepted, not delivered.
    assert_eq!(r2["ret"], 0);
    assert!(r2.get("message_id").is_none());
    assert_eq!(sim.delivered_to(&bot, alice.id()).len(), 1);
    let violations = sim.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].kind, ViolationKind::ClientIdReused);
}

#[tokio::test]
async fn the_eleventh_send_on_one_context_token_is_refused() {
    let sim = Simulator::start().await;
    let RawChat {
        client,
        user: alice,
        ctx,
        ..
    } = said_hi(&sim, "alice@im.wechat").await;
    for n in 0..10 {
        assert_eq!(
            client.send_text(alice.id(), &ctx, &format!("m{n}")).await["ret"],
            0
        );
    }
    assert_eq!(client.send_text(alice.id(), &ctx, "m10").await["ret"], -2);
    // A new inbound message opens a new bucket.
    alice.say("again").await;
    let ctx2 = client.poll_msgs().await[0]["context_token"].clone();
    assert_eq!(client.send_text(alice.id(), &ctx2, "ok").await["ret"], 0);
}

#[tokio::test]
async fn burst_to_one_user_is_throttled() {
    let sim = Simulator::start_with(SimConfig {
        burst: Some(BurstLimit {
            sends: 3,
            window: Duration::from_secs(60),
            block: Duration::ZERO,
        }),
        ..SimConfig::for_tests()
    })
    .await
    .unwrap();
    let RawChat {
        client,
        user: alice,
        ctx,
        ..
    } = said_hi(&sim, "alice@im.wechat").await;
    assert_eq!(client.send_text(alice.id(), &ctx, "1").await["ret"], 0);
    assert_eq!(client.send_text(alice.id(), &ctx, "2").await["ret"], 0);
    assert_eq!(client.send_text(alice.id(), &ctx, "3").await["ret"], -2);
}

#[tokio::test]
async fn expired_context_long_text_and_missing_token_get_minus_two() {
    let sim = Simulator::start_with(SimConfig {
        context_ttl: Some(Duration::from_millis(300)),
        max_text_chars: Some(10),
        ..SimConfig::for_tests()
    })
    .await
    .unwrap();
    let RawChat {
        client,
        user: alice,
        ctx,
        ..
    } = said_hi(&sim, "alice@im.wechat").await;
    assert_eq!(
        client.send_text(alice.id(), &ctx, "12345678901").await["ret"],
        -2
    );
    assert_eq!(
        client.send_text(alice.id(), &json!(null), "short").await["ret"],
        -2
    );
    assert_eq!(
        client
            .send_text(alice.id(), &json!("forged"), "short")
            .await["ret"],
        -2
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(client.send_text(alice.id(), &ctx, "late").await["ret"], -2);
}

#[tokio::test]
async fn invalid_arguments_get_minus_three_and_violations() {
    let sim = Simulator::start().await;
    let RawChat {
        bot,
        client,
        user: alice,
        ctx,
    } = said_hi(&sim, "Alice@im.wechat").await;
    assert_eq!(
        client.send_text("alice@im.wechat", &ctx, "x").await["ret"],
        -3
    );
    assert_eq!(
        client.send_text("nobody@im.wechat", &ctx, "x").await["ret"],
        -3
    );
    let send = |msg: serde_json::Value| client.post("ilink/bot/sendmessage", json!({ "msg": msg }));
    let base = json!({ "from_user_id": "", "to_user_id": alice.id(), "client_id": "c1",
        "message_type": 2, "message_state": 2, "context_token": ctx,
        "item_list": [{ "type": 1, "text_item": { "text": "t" } }] });
    let mut m = base.clone();
    m["from_user_id"] = json!("bot-a@im.bot");
    assert_eq!(send(m).await.1["ret"], -3);
    let mut m = base.clone();
    m.as_object_mut().unwrap().remove("client_id");
    assert_eq!(send(m).await.1["ret"], -3);
    let mut m = base.clone();
    m["message_type"] = json!(1);
    assert_eq!(send(m).await.1["ret"], -3);
    let mut m = base.clone();
    m["item_list"] =
        json!([{ "type": 1, "text_item": { "text": "t" } }, { "type": 3, "voice_item": {} }]);
    assert_eq!(send(m).await.1["ret"], -3);
    let mut m = base.clone();
    m["message_state"] = json!(1);
    m["item_list"] = json!([]);
    assert_eq!(send(m).await.1["ret"], -2);
    let kinds: Vec<_> = sim.violations().iter().map(|v| v.kind).collect();
    for k in [
        ViolationKind::WrongRecipient,
        ViolationKind::NonEmptyFromUser,
        ViolationKind::MissingClientId,
        ViolationKind::WrongMessageType,
        ViolationKind::TextWithVoice,
    ] {
        assert!(kinds.contains(&k), "{k:?} not in {kinds:?}");
    }
    assert_eq!(sim.delivered_to(&bot, alice.id()).len(), 0);
}

#[tokio::test]
async fn quotes_groups_and_redelivery() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    let alice = sim.user(&bot, "alice@im.wechat");
    let first = alice.say("original").await;
    alice.quote(Quote::of(&first), "with item").await;
    alice
        .quote(Quote::svr_id(first.message_id.unwrap()), "svr only")
        .await;
    alice.in_group("team@chatroom").say("in group").await;
    let mut msgs = Vec::new();
    while msgs.len() < 4 {
        msgs.extend(client.poll_msgs().await);
    }
    let r1 = &msgs[1]["item_list"][0]["ref_msg"];
    assert_eq!(r1["svr_id"].as_u64(), first.message_id);
    assert_eq!(r1["message_item"]["text_item"]["text"], "original");
    let r2 = &msgs[2]["item_list"][0]["ref_msg"];
    assert_eq!(r2["svr_id"].as_u64(), first.message_id);
    assert!(r2.get("message_item").is_none());
    assert_eq!(msgs[3]["group_id"], "team@chatroom");

    sim.redeliver(&bot, &first, Duration::from_millis(50), false);
    let again = client.poll_msgs().await;
    assert_eq!(again[0]["message_id"].as_u64(), first.message_id);
    sim.redeliver(&bot, &first, Duration::from_millis(50), true);
    let again = client.poll_msgs().await;
    assert_ne!(again[0]["message_id"].as_u64(), first.message_id);
    assert_eq!(again[0]["item_list"][0]["text_item"]["text"], "original");
}

#[tokio::test]
async fn accounts_are_independent_and_removable() {
    let sim = Simulator::start().await;
    let a = sim.add_account("bot-a");
    let b = sim.add_account("bot-b");
    let ca = TestBot::new(&sim, &a);
    let cb = TestBot::new(&sim, &b);
    sim.user(&a, "alice@im.wechat").say("for a").await;
    sim.user(&b, "bob@im.wechat").say("for b").await;
    assert_eq!(
        ca.poll_msgs().await[0]["item_list"][0]["text_item"]["text"],
        "for a"
    );
    assert_eq!(
        cb.poll_msgs().await[0]["item_list"][0]["text_item"]["text"],
        "for b"
    );
    sim.remove_account(&a);
    let (status, _) = ca
        .post("ilink/bot/getupdates", json!({ "get_updates_buf": "" }))
        .await;
    assert_eq!(status, 401);
    assert_eq!(sim.accounts().len(), 1);
}
