//! Auth and header checks, session expiry, typing tickets and notify calls.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{TestBot, base_info};
use ilink_testkit::{ExpiryMode, Simulator, ViolationKind};
use serde_json::json;

#[tokio::test]
async fn bad_credentials_are_401_and_violations() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    let url = format!("{}/ilink/bot/getupdates", sim.base_url());
    let body = json!({ "get_updates_buf": "", "base_info": base_info() });
    let none = client.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let no_token = client
        .http
        .post(&url)
        .header("AuthorizationType", "ilink_bot_token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let mut bad = TestBot::new(&sim, &bot);
    bad.token = "nobody@im.bot:nope".into();
    assert_eq!(bad.post("ilink/bot/getupdates", json!({})).await.0, 401);
    let bad_uin = client
        .http
        .post(&url)
        .header("AuthorizationType", "ilink_bot_token")
        .header("Authorization", format!("Bearer {}", bot.token.expose()))
        .header("X-WECHAT-UIN", BASE64.encode("12ab"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_uin.status(), 401);
    let kinds: Vec<_> = sim.violations().iter().map(|v| v.kind).collect();
    for k in [
        ViolationKind::BadAuthorizationType,
        ViolationKind::MissingToken,
        ViolationKind::UnknownToken,
        ViolationKind::BadUin,
        ViolationKind::MissingAppId,
    ] {
        assert!(kinds.contains(&k), "{k:?} not in {kinds:?}");
    }
}

#[tokio::test]
async fn missing_base_info_is_minus_three() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    let r = client
        .request("ilink/bot/getupdates")
        .json(&json!({ "get_updates_buf": "" }))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["ret"], -3);
    let garbage = client
        .request("ilink/bot/getupdates")
        .body("{nope")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = garbage.json().await.unwrap();
    assert_eq!(v["ret"], -3);
    let kinds: Vec<_> = sim.violations().iter().map(|v| v.kind).collect();
    assert!(kinds.contains(&ViolationKind::MissingBaseInfo));
    assert!(kinds.contains(&ViolationKind::MalformedBody));
}

#[tokio::test]
async fn session_expiry_in_each_shape_until_cleared() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let other = sim.add_account("bot-b");
    let client = TestBot::new(&sim, &bot);
    for (mode, ret, errcode) in [
        (ExpiryMode::Ret, Some(-14), None),
        (ExpiryMode::Errcode, None, Some(-14)),
        (ExpiryMode::Both, Some(-14), Some(-14)),
    ] {
        sim.expire_session(&bot, mode);
        let (_, v) = client
            .post("ilink/bot/getconfig", json!({ "ilink_user_id": "x" }))
            .await;
        assert_eq!(v["ret"].as_i64(), ret, "{mode:?} {v}");
        assert_eq!(v["errcode"].as_i64(), errcode, "{mode:?} {v}");
    }
    let (_, v) = TestBot::new(&sim, &other)
        .post("ilink/bot/msg/notifystart", json!({}))
        .await;
    assert_eq!(v["ret"], 0, "other accounts are unaffected");
    sim.clear_session_expiry(&bot);
    let (_, v) = client.post("ilink/bot/msg/notifystop", json!({})).await;
    assert_eq!(v["ret"], 0);
    assert_eq!(sim.notifications().len(), 2);
}

#[tokio::test]
async fn getconfig_needs_context_and_typing_needs_its_ticket() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    let alice = sim.user(&bot, "alice@im.wechat");
    let (_, v) = client
        .post(
            "ilink/bot/getconfig",
            json!({ "ilink_user_id": alice.id() }),
        )
        .await;
    assert_eq!(v["ret"], -4);
    let (_, v) = client.post("ilink/bot/getconfig", json!({})).await;
    assert_eq!(v["ret"], -2);
    alice.say("hi").await;
    let (_, v) = client
        .post(
            "ilink/bot/getconfig",
            json!({ "ilink_user_id": alice.id(), "context_token": alice.context_token() }),
        )
        .await;
    assert_eq!(v["ret"], 0);
    let ticket = v["typing_ticket"].as_str().unwrap().to_owned();
    let typing = |t: &str, user: &str, status: i64| {
        client.post(
            "ilink/bot/sendtyping",
            json!({ "ilink_user_id": user, "typing_ticket": t, "status": status }),
        )
    };
    assert_eq!(typing(&ticket, alice.id(), 1).await.1["ret"], 0);
    assert_eq!(typing(&ticket, alice.id(), 2).await.1["ret"], 0);
    assert_eq!(typing("forged", alice.id(), 1).await.1["ret"], -3);
    assert_eq!(typing(&ticket, "", 1).await.1["ret"], -2);
    let events = sim.typing_events();
    assert_eq!(events.len(), 4);
    assert_eq!((events[0].status, events[1].status), (1, 2));
    assert!(
        sim.violations()
            .iter()
            .any(|v| v.kind == ViolationKind::BadTypingTicket)
    );
    assert_eq!(sim.config_calls().len(), 3);
}
