//! What only the simulator's own tests need: a minimal well-behaved bot client over
//! plain reqwest, and a chat whose first message an `ilink-core` client has polled.
//! Shared helpers are in `ilink_testkit::harness`.
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ilink_testkit::harness::{core_client, core_poll};
use ilink_testkit::{BotAccount, Simulator};
use serde_json::{Value, json};

pub struct TestBot {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub next_client_id: std::sync::atomic::AtomicU64,
}

pub fn base_info() -> Value {
    json!({ "channel_version": "1.0.11", "bot_agent": "ilink-tests/0.1" })
}

impl TestBot {
    pub fn new(sim: &Simulator, bot: &BotAccount) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: sim.base_url(),
            token: bot.token.expose().to_owned(),
            next_client_id: 0.into(),
        }
    }

    pub fn request(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/{path}", self.base))
            .header("AuthorizationType", "ilink_bot_token")
            .header("Authorization", format!("Bearer {}", self.token))
            .header("X-WECHAT-UIN", BASE64.encode("123456789"))
            .header("iLink-App-Id", "bot")
            .header("iLink-App-ClientVersion", "65547")
    }

    /// POSTs `body` (with base_info added) and returns (HTTP status, JSON body).
    pub async fn post(&self, path: &str, mut body: Value) -> (u16, Value) {
        body["base_info"] = base_info();
        let res = self.request(path).json(&body).send().await.unwrap();
        let status = res.status().as_u16();
        let v = res.json().await.unwrap_or(Value::Null);
        (status, v)
    }

    pub async fn poll(&self, cursor: &str) -> Value {
        self.post("ilink/bot/getupdates", json!({ "get_updates_buf": cursor }))
            .await
            .1
    }

    /// Polls until at least one message arrives.
    pub async fn poll_msgs(&self) -> Vec<Value> {
        for _ in 0..20 {
            let r = self.poll("").await;
            let msgs = r["msgs"].as_array().cloned().unwrap_or_default();
            if !msgs.is_empty() {
                return msgs;
            }
        }
        panic!("no messages arrived");
    }

    /// GETs `url` (a CDN download) and returns the body.
    pub async fn download(&self, url: &str) -> axum::body::Bytes {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    }

    pub fn client_id(&self) -> String {
        let n = self
            .next_client_id
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!("cid-{n}")
    }

    pub async fn send_text(&self, to: &str, ctx: &Value, text: &str) -> Value {
        let cid = self.client_id();
        self.send_text_cid(to, ctx, text, &cid).await
    }

    pub async fn send_text_cid(&self, to: &str, ctx: &Value, text: &str, cid: &str) -> Value {
        self.post(
            "ilink/bot/sendmessage",
            json!({ "msg": {
                "from_user_id": "", "to_user_id": to, "client_id": cid,
                "message_type": 2, "message_state": 2, "context_token": ctx,
                "item_list": [{ "type": 1, "text_item": { "text": text } }],
            }}),
        )
        .await
        .1
    }
}

/// A bot with an `ilink-core` client, and a user whose first message the
/// client has already polled (so its context token is at hand).
pub struct Chat {
    pub bot: BotAccount,
    pub client: ilink_core::ILinkClient,
    pub alice: ilink_testkit::ScriptedUser,
    pub first: ilink_core::types::WeixinMessage,
}

/// `alice@im.wechat` writes `text` to a new bot `bot-a` on `sim`; the bot's
/// client polls it.
pub async fn alice_wrote(sim: &Simulator, text: &str) -> Chat {
    let bot = sim.add_account("bot-a");
    let client = core_client(sim, &bot);
    let alice = sim.user(&bot, "alice@im.wechat");
    alice.say(text).await;
    let first = core_poll(&client, 1).await.remove(0);
    Chat {
        bot,
        client,
        alice,
        first,
    }
}

/// A raw client of a new bot `bot-a`, a user who wrote "hi", and the context token
/// the client polled with that message.
pub struct RawChat {
    pub bot: BotAccount,
    pub client: TestBot,
    pub user: ilink_testkit::ScriptedUser,
    pub ctx: Value,
}

/// `user_id` writes "hi" to a new bot `bot-a` on `sim`; the raw client polls it.
pub async fn said_hi(sim: &Simulator, user_id: &str) -> RawChat {
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(sim, &bot);
    let user = sim.user(&bot, user_id);
    user.say("hi").await;
    let ctx = client.poll_msgs().await[0]["context_token"].clone();
    RawChat {
        bot,
        client,
        user,
        ctx,
    }
}

/// Sends `req` with the app headers every request carries (no bot auth: QR login and
/// the control API) and returns the JSON answer.
async fn app_json(req: reqwest::RequestBuilder) -> Value {
    req.header("iLink-App-Id", "bot")
        .header("iLink-App-ClientVersion", "65547")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// GETs `url` without bot auth and returns the JSON answer.
pub async fn get_json(http: &reqwest::Client, url: String) -> Value {
    app_json(http.get(url)).await
}

/// POSTs `body` to `url` without bot auth and returns the JSON answer.
pub async fn post_json(http: &reqwest::Client, url: String, body: Value) -> Value {
    app_json(http.post(url).json(&body)).await
}
