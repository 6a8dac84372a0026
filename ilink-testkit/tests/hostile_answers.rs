//! The simulator's hostile answers over plain HTTP: a raw `getupdates` batch sent
//! verbatim, bodies of an exact size with and without `Content-Length`, and a trickled
//! answer that arrives whole. How `ilink-core` copes with them is in `core_hostile.rs`.

mod common;

use std::time::{Duration, Instant};

use common::{TestBot, base_info, post_json};
use ilink_core::Endpoint;
use ilink_testkit::{Fault, FaultAction, Simulator};
use reqwest::header::CONTENT_LENGTH;
use serde_json::{Value, json};

/// The raw text of the next `getupdates` answer.
async fn poll_text(client: &TestBot) -> String {
    client
        .request("ilink/bot/getupdates")
        .json(&json!({ "get_updates_buf": "", "base_info": base_info() }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_raw_batch_is_the_next_answer_verbatim_and_its_senders_can_be_answered() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    sim.user(&bot, "bob@im.wechat").say("queued").await;
    let raw =
        r#"[{"from_user_id":"alice@im.wechat","context_token":"ctx-raw","t":"\ud800"}, 5,null ]"#;
    sim.push_raw_batch(&bot, raw);

    let text = poll_text(&client).await;
    assert!(text.contains(&format!(r#""msgs":{raw},"#)), "{text}");
    // Only the raw text is not JSON serde accepts; the rest of the answer is usual.
    let fixed = text.replace(r"\ud800", "");
    let answer: Value = serde_json::from_str(&fixed).unwrap();
    assert_eq!(answer["ret"], 0);
    assert!(
        answer["get_updates_buf"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );

    // The queued message waited for the next answer.
    let next = client.poll_msgs().await;
    assert_eq!(next[0]["from_user_id"], "bob@im.wechat");
    // The raw batch's sender and context token were issued.
    let reply = client
        .send_text("alice@im.wechat", &json!("ctx-raw"), "hello")
        .await;
    assert_eq!(reply["ret"], 0, "{reply}");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[tokio::test]
async fn the_control_api_queues_raw_batches_as_text_or_json() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    let url = format!("{}/mock/raw_batch", sim.base_url());
    let http = reqwest::Client::new();
    let ok = post_json(
        &http,
        url.clone(),
        json!({ "msgs": r#"{"not":"an array"}"# }),
    )
    .await;
    assert_eq!(ok["bot_id"], "bot-a@im.bot");
    post_json(&http, url, json!({ "msgs": [{ "message_id": "x" }] })).await;
    assert!(
        poll_text(&client)
            .await
            .contains(r#""msgs":{"not":"an array"},"#)
    );
    assert!(
        poll_text(&client)
            .await
            .contains(r#""msgs":[{"message_id":"x"}],"#)
    );
}

#[tokio::test]
async fn sized_bodies_have_exactly_the_size_asked_for() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    for (bytes, chunked) in [
        (5, false),
        (9, true),
        (21, false),
        (22, true),
        (200_001, false),
    ] {
        sim.inject(Fault::on(
            Endpoint::NotifyStart,
            FaultAction::SizedBody { bytes, chunked },
        ));
        let res = client
            .request("ilink/bot/msg/notifystart")
            .json(&json!({ "base_info": base_info() }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers().contains_key(CONTENT_LENGTH), !chunked);
        let body = res.bytes().await.unwrap();
        assert_eq!(body.len() as u64, bytes);
        if bytes >= 9 {
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["ret"], 0, "{bytes}");
        }
    }
    sim.inject(Fault::on(
        Endpoint::CdnDownload,
        FaultAction::SizedBody {
            bytes: 70_000,
            chunked: true,
        },
    ));
    let body = client
        .download(&format!(
            "{}/download?encrypted_query_param=x",
            sim.cdn_base_url()
        ))
        .await;
    assert_eq!(body.len(), 70_000);
    assert!(body.iter().all(|b| *b == b'a'));
}

#[tokio::test]
async fn a_trickled_answer_arrives_whole() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    sim.user(&bot, "alice@im.wechat").say("slowly").await;
    let (chunk_bytes, interval_ms) = (64, 10);
    sim.inject(Fault::on(
        Endpoint::GetUpdates,
        FaultAction::Trickle {
            chunk_bytes,
            interval_ms,
        },
    ));
    let started = Instant::now();
    let res = client
        .request("ilink/bot/getupdates")
        .json(&json!({ "get_updates_buf": "", "base_info": base_info() }))
        .send()
        .await
        .unwrap();
    let announced = res.content_length();
    let body = res.bytes().await.unwrap();
    assert_eq!(announced, Some(body.len() as u64));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["msgs"][0]["item_list"][0]["text_item"]["text"], "slowly");
    // A lower bound only: the pauses between pieces cannot end early.
    let pauses = (body.len() as u64).div_ceil(chunk_bytes) - 1;
    assert!(started.elapsed() >= Duration::from_millis(pauses * interval_ms));
}
