//! The web chat page: it is served, and the JSON endpoints it uses show one conversation
//! (the person's messages and the bot's replies, media included) in order.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ilink_core::MediaKind;
use ilink_testkit::Simulator;
use ilink_testkit::harness::{core_client, core_poll};
use serde_json::{Value, json};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n fake image";

#[tokio::test]
async fn the_page_is_served_without_external_assets() {
    let sim = Simulator::start().await;
    let http = reqwest::Client::new();
    let res = http
        .get(format!("{}/chat", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ctype = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ctype.starts_with("text/html"), "{ctype}");
    let html = res.text().await.unwrap();
    assert!(html.contains("<title>ilink-sim chat</title>"));
    for used in ["/mock/chat/messages", "/mock/inbound", "/mock/accounts"] {
        assert!(html.contains(used), "the page should use {used}");
    }
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));

    // `/` leads to the page; neither counts as bot traffic.
    let res = http.get(sim.base_url()).send().await.unwrap();
    assert_eq!(res.url().path(), "/chat");
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());
    sim.shutdown().await;
}

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    let res = http.get(url).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_browser_conversation_with_a_bot() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let http = reqwest::Client::new();
    let base = sim.base_url();

    // What the page does when the person writes and attaches an image.
    for body in [
        json!({ "recipient": bot.bot_id, "sender": "alice@im.wechat", "text": "hi bot" }),
        json!({ "recipient": bot.bot_id, "sender": "alice@im.wechat",
                "items": [{ "type": "image", "file_name": "cat.png", "data": BASE64.encode(PNG) }] }),
    ] {
        let res = http
            .post(format!("{base}/mock/inbound"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // Someone else's conversation stays out of alice's view.
    sim.user(&bot, "bob@im.wechat").say("not for alice").await;

    // The bot under test answers with text, typing, and a file.
    let client = core_client(&sim, &bot);
    let msgs = core_poll(&client, 3).await;
    let ctx = msgs[0].context_token.as_ref();
    client.send_typing("alice@im.wechat", ctx).await.unwrap();
    let url = format!(
        "{base}/mock/chat/messages?bot_id={}&user=alice@im.wechat",
        bot.bot_id
    );
    assert_eq!(get(&http, url.clone()).await.1["typing"], true);
    client
        .send_text("alice@im.wechat", "hello alice", ctx)
        .await
        .unwrap();
    client
        .send_media(
            "alice@im.wechat",
            MediaKind::File,
            b"report body",
            "r.txt",
            ctx,
        )
        .await
        .unwrap();
    client.cancel_typing("alice@im.wechat").await.unwrap();

    let (status, conv) = get(&http, url.clone()).await;
    assert_eq!(status, 200, "{conv}");
    assert_eq!(conv["typing"], false);
    let m = conv["messages"].as_array().unwrap();
    let from: Vec<&str> = m.iter().map(|m| m["from"].as_str().unwrap()).collect();
    assert_eq!(from, ["user", "user", "bot", "bot"], "{conv}");
    assert_eq!(m[0]["items"][0]["text"], "hi bot");
    assert_eq!(m[2]["items"][0]["text"], "hello alice");
    assert!(m.iter().all(|m| m["status"] == "delivered"));

    // Media come back decrypted, with a type the browser can show.
    let image = m[1]["items"][0]["url"].as_str().unwrap();
    let res = http.get(format!("{base}{image}")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(&res.bytes().await.unwrap()[..], PNG);
    let file = &m[3]["items"][0];
    assert_eq!(file["type"], "file");
    assert_eq!(file["file_name"], "r.txt");
    let res = http
        .get(format!("{base}{}", file["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("r.txt")
    );
    assert_eq!(&res.bytes().await.unwrap()[..], b"report body");

    // A refused send is listed with its reason.
    client
        .send_text("alice@im.wechat", "x".repeat(6000).as_str(), ctx)
        .await
        .unwrap_err();
    let (_, conv) = get(&http, url).await;
    let last = conv["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["status"], "rejected");
    assert!(
        last["error"].as_str().unwrap().starts_with("ret -2"),
        "{last}"
    );

    // Bad requests are answered, not crashed on.
    let (status, _) = get(&http, format!("{base}/mock/chat/messages?bot_id=x")).await;
    assert_eq!(status, 400);
    let (status, _) = get(
        &http,
        format!("{base}/mock/chat/messages?bot_id=nobody&user=a"),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get(&http, format!("{base}/mock/chat/media?ref=in-1-0")).await;
    assert_eq!(status, 404);
    sim.shutdown().await;
}
