//! Simulator policies over plain HTTP: a verify code blocked after repeated wrong codes,
//! `binded_redirect`, `full_url` on inbound media, how long a burst block lasts, and
//! automatic redelivery (`SimConfig::redelivery`).

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{TestBot, get_json, post_json};
use ilink_core::crypto::AesKey;
use ilink_testkit::harness::WAIT;
use ilink_testkit::{BurstLimit, Redelivery, SimConfig, Simulator};
use serde_json::{Value, json};

/// Starts a QR login over HTTP and returns its `qrcode`.
async fn new_qrcode(http: &reqwest::Client, base: &str) -> String {
    let r = post_json(
        http,
        format!("{base}/ilink/bot/get_bot_qrcode?bot_type=3"),
        json!({ "local_token_list": [] }),
    )
    .await;
    r["qrcode"].as_str().unwrap().to_owned()
}

async fn qr_status(http: &reqwest::Client, base: &str, qrcode: &str, code: Option<&str>) -> Value {
    let code = code
        .map(|c| format!("&verify_code={c}"))
        .unwrap_or_default();
    get_json(
        http,
        format!("{base}/ilink/bot/get_qrcode_status?qrcode={qrcode}{code}"),
    )
    .await
}

#[tokio::test]
async fn repeated_wrong_verify_codes_block_the_qr_code() {
    let sim = Simulator::start().await;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let qrcode = new_qrcode(&http, &base).await;
    let r = post_json(
        &http,
        format!("{base}/mock/qr/need_verify_code"),
        json!({ "code": "4321" }),
    )
    .await;
    assert_eq!(r["ok"], true);
    assert_eq!(
        qr_status(&http, &base, &qrcode, None).await["status"],
        "need_verifycode"
    );
    // Three wrong codes (SimConfig::max_verify_attempts): asked again twice, then blocked.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = qr_status(&http, &base, &qrcode, Some("0000")).await;
        statuses.push(r["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        statuses,
        ["need_verifycode", "need_verifycode", "verify_code_blocked"]
    );
    // Once blocked, even the right code does not help: the client must refresh.
    let r = qr_status(&http, &base, &qrcode, Some("4321")).await;
    assert_eq!(r["status"], "verify_code_blocked");
    assert!(r.get("bot_token").is_none());
    let sessions = get_json(&http, format!("{base}/mock/qr")).await;
    assert_eq!(sessions[0]["status"], "verify_code_blocked");

    // With one attempt allowed, the first wrong code blocks.
    sim.configure(|c| c.max_verify_attempts = 1);
    let qrcode = new_qrcode(&http, &base).await;
    post_json(
        &http,
        format!("{base}/mock/qr/need_verify_code"),
        json!({ "code": "9", "qrcode": qrcode }),
    )
    .await;
    let r = qr_status(&http, &base, &qrcode, Some("8")).await;
    assert_eq!(r["status"], "verify_code_blocked");
    sim.shutdown().await;
}

#[tokio::test]
async fn binded_redirect_over_http_gives_no_credentials() {
    let sim = Simulator::start().await;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let qrcode = new_qrcode(&http, &base).await;
    let waiting = {
        let (http, base, qrcode) = (http.clone(), base.clone(), qrcode.clone());
        tokio::spawn(async move { qr_status(&http, &base, &qrcode, None).await })
    };
    let r = post_json(
        &http,
        format!("{base}/mock/qr/binded_redirect"),
        json!({ "qrcode": qrcode }),
    )
    .await;
    assert_eq!(r["ok"], true);
    // Whether the pending long-poll or a fresh one sees it, the answer is the same.
    let first = waiting.await.unwrap();
    let r = if first["status"] == "binded_redirect" {
        first
    } else {
        qr_status(&http, &base, &qrcode, None).await
    };
    assert_eq!(r["status"], "binded_redirect");
    for field in ["bot_token", "ilink_bot_id", "baseurl"] {
        assert!(r.get(field).is_none(), "{field} in {r}");
    }
    assert!(sim.accounts().is_empty());
    sim.shutdown().await;
}

/// The `media` object of the first item of a raw message.
fn media_of(msg: &Value) -> &Value {
    let item = &msg["item_list"][0];
    ["image_item", "video_item", "file_item", "voice_item"]
        .iter()
        .map(|k| &item[k]["media"])
        .find(|m| m.is_object())
        .unwrap()
}

#[tokio::test]
async fn inbound_full_url_is_a_working_download_url() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    let base = sim.base_url();
    let inbound = |kind: &str, data: &[u8]| {
        json!({
            "recipient": bot.bot_id, "sender": "alice@im.wechat",
            "items": [{ "type": kind, "data": BASE64.encode(data), "file_name": "f.bin" }],
        })
    };

    post_json(
        &client.http,
        format!("{base}/mock/inbound"),
        inbound("file", b"plain"),
    )
    .await;
    let msgs = client.poll_msgs().await;
    assert!(media_of(&msgs[0]).get("full_url").is_none());

    let r = post_json(
        &client.http,
        format!("{base}/mock/config"),
        json!({ "inbound_full_url": true }),
    )
    .await;
    assert_eq!(r["inbound_full_url"], true);
    let kinds = ["image", "video", "file", "voice"];
    for (n, kind) in kinds.iter().enumerate() {
        let data = vec![n as u8; 1000 + n];
        post_json(
            &client.http,
            format!("{base}/mock/inbound"),
            inbound(kind, &data),
        )
        .await;
        let msgs = client.poll_msgs().await;
        let media = media_of(&msgs[0]);
        let url = media["full_url"].as_str().unwrap();
        assert!(url.starts_with(&sim.cdn_base_url()), "{url}");
        let ct = client.download(url).await;
        let key = AesKey::from_media_key(media["aes_key"].as_str().unwrap()).unwrap();
        assert_eq!(key.decrypt(&ct).unwrap(), data, "{kind}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_burst_block_lasts_its_duration_for_that_user_only() {
    // A short window, so waiting it out is cheap; a long block, so it cannot end early.
    let sim = Simulator::start_with(SimConfig {
        burst: Some(BurstLimit {
            sends: 3,
            window: Duration::from_millis(100),
            block: Duration::from_secs(600),
        }),
        ..SimConfig::for_tests()
    })
    .await
    .unwrap();
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    for user in ["alice@im.wechat", "bob@im.wechat", "carol@im.wechat"] {
        sim.user(&bot, user).say("hi").await;
    }
    let msgs = client.poll_msgs().await;
    let ctx = |user: &str| {
        msgs.iter()
            .find(|m| m["from_user_id"] == user)
            .map(|m| m["context_token"].clone())
            .unwrap()
    };
    let alice = ctx("alice@im.wechat");
    for n in 0..2 {
        let r = client.send_text("alice@im.wechat", &alice, "ok").await;
        assert_eq!(r["ret"], 0, "send {n}: {r}");
    }
    let r = client.send_text("alice@im.wechat", &alice, "burst").await;
    assert_eq!(r["ret"], -2);

    // Past the window, alice is still blocked; bob is not affected.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let r = client.send_text("alice@im.wechat", &alice, "later").await;
    assert_eq!(r["ret"], -2, "{r}");
    assert!(r["errmsg"].as_str().unwrap().contains("blocked"), "{r}");
    let r = client
        .send_text("bob@im.wechat", &ctx("bob@im.wechat"), "hi bob")
        .await;
    assert_eq!(r["ret"], 0, "{r}");

    // A short block ends: carol is refused, then accepted again once it has passed.
    sim.configure(|c| {
        if let Some(b) = c.burst.as_mut() {
            b.block = Duration::from_millis(300);
        }
    });
    let carol = ctx("carol@im.wechat");
    for _ in 0..2 {
        client.send_text("carol@im.wechat", &carol, "ok").await;
    }
    assert_eq!(
        client.send_text("carol@im.wechat", &carol, "burst").await["ret"],
        -2
    );
    let unblocked = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let r = client.send_text("carol@im.wechat", &carol, "again").await;
            if r["ret"] == 0 {
                return;
            }
        }
    };
    tokio::time::timeout(WAIT, unblocked)
        .await
        .expect("the block should end");
    sim.shutdown().await;
}

async fn redelivered_pair(new_message_id: bool) -> (Value, Value) {
    let sim = Simulator::start_with(SimConfig {
        redelivery: Some(Redelivery {
            delay: Duration::from_millis(50),
            new_message_id,
        }),
        ..SimConfig::for_tests()
    })
    .await
    .unwrap();
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    let sent = sim.user(&bot, "alice@im.wechat").say("hi once").await;
    let mut msgs = Vec::new();
    while msgs.len() < 2 {
        msgs.extend(client.poll_msgs().await);
    }
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["message_id"], json!(sent.message_id.unwrap()));
    sim.shutdown().await;
    (msgs[0].clone(), msgs[1].clone())
}

#[tokio::test]
async fn automatic_redelivery_repeats_every_inbound_message() {
    let (first, again) = redelivered_pair(false).await;
    assert_eq!(first, again);

    let (first, again) = redelivered_pair(true).await;
    assert_ne!(first["message_id"], again["message_id"]);
    for same in [
        "seq",
        "client_id",
        "context_token",
        "item_list",
        "create_time_ms",
    ] {
        assert_eq!(first[same], again[same], "{same}");
    }
}
