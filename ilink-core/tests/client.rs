//! The high-level client: cursor tracking, long-poll timeouts, outgoing
//! message shape, chunking and typing-ticket caching.

mod common;

use std::time::Duration;

use common::{MockServer, Reply, TOKEN};
use ilink_core::types::MessageItem;
use ilink_core::{ILinkClient, Secret};
use serde_json::json;

fn client(server: &MockServer) -> ILinkClient {
    ILinkClient::builder(&server.url, TOKEN)
        .http_client(reqwest::Client::new())
        .build()
        .unwrap()
}

#[tokio::test]
async fn poll_tracks_the_cursor_and_honours_the_server_timeout() {
    let server = MockServer::start(|_, i| match i {
        0 => Reply::json(json!({
            "ret": 0,
            "msgs": [{"message_id": 1, "item_list": [{"type": 1, "text_item": {"text": "hi"}}]}],
            "get_updates_buf": "c2",
            "longpolling_timeout_ms": 200
        })),
        // Never answers: only a client honouring the 200 ms comes back.
        1 => Reply::hang(),
        _ => Reply::json(json!({"ret": 0, "sync_buf": "c3"})),
    })
    .await;
    let client = client(&server);
    client.set_cursor("c1");

    let first = client.poll().await.unwrap();
    assert_eq!(first.msgs.len(), 1);
    assert_eq!(client.cursor(), "c2");

    let second = tokio::time::timeout(Duration::from_secs(20), client.poll())
        .await
        .expect("the poll used longpolling_timeout_ms, not the 35 s default")
        .unwrap();
    assert!(second.msgs.is_empty());
    assert_eq!(second.get_updates_buf.as_deref(), Some("c2"));
    assert_eq!(client.cursor(), "c2", "a timeout keeps the cursor");

    client.poll().await.unwrap();
    assert_eq!(client.cursor(), "c3", "the deprecated sync_buf is honoured");

    let sent: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.json()["get_updates_buf"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, ["c1", "c2", "c2"]);
}

#[tokio::test]
async fn an_empty_cursor_in_a_response_keeps_the_old_one() {
    let server =
        MockServer::start(|_, _| Reply::json(json!({"ret": 0, "get_updates_buf": ""}))).await;
    let client = ILinkClient::builder(&server.url, TOKEN)
        .cursor("saved")
        .build()
        .unwrap();
    client.poll().await.unwrap();
    assert_eq!(client.cursor(), "saved");
    assert_eq!(server.requests()[0].json()["get_updates_buf"], "saved");
}

#[tokio::test]
async fn send_text_follows_the_rules_for_outgoing_messages() {
    let server =
        MockServer::start(|_, _| Reply::json(json!({"ret": 0, "message_id": 9007199254740993u64})))
            .await;
    let client = client(&server);
    let ctx = Secret::new("ctx-1");
    let a = client
        .send_text("u@im.wechat", "hello", Some(&ctx))
        .await
        .unwrap();
    let b = client
        .send_text("u@im.wechat", "hello", None)
        .await
        .unwrap();
    assert_eq!(a.message_id, Some(9007199254740993));
    assert_ne!(a.client_id, b.client_id);

    let reqs = server.requests();
    let msg = &reqs[0].json()["msg"];
    assert_eq!(msg["from_user_id"], "");
    assert_eq!(msg["to_user_id"], "u@im.wechat");
    assert_eq!(msg["client_id"], a.client_id.as_str());
    assert!(a.client_id.starts_with("ilink-rs:"));
    assert_eq!(msg["message_type"], 2);
    assert_eq!(msg["message_state"], 2);
    assert_eq!(msg["context_token"], "ctx-1");
    assert_eq!(msg["item_list"].as_array().unwrap().len(), 1);
    assert_eq!(
        msg["item_list"][0],
        json!({"type": 1, "text_item": {"text": "hello"}})
    );
    assert!(reqs[1].json()["msg"].get("context_token").is_none());
}

#[tokio::test]
async fn send_item_reuses_a_given_client_id_for_retries() {
    let server = MockServer::start(|_, _| Reply::ok()).await;
    let client = client(&server);
    let first = client
        .send_item("u", MessageItem::text("x"), None, Some("retry-id-1".into()))
        .await
        .unwrap();
    assert_eq!(first.client_id, "retry-id-1");
    assert_eq!(
        first.message_id, None,
        "no id means not delivered; surfaced as None"
    );
    client
        .send_item(
            "u",
            MessageItem::text("x"),
            None,
            Some(first.client_id.clone()),
        )
        .await
        .unwrap();
    let ids: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.json()["msg"]["client_id"].clone())
        .collect();
    assert_eq!(ids, [json!("retry-id-1"), json!("retry-id-1")]);
    assert!(
        client.send_text("", "x", None).await.is_err(),
        "empty recipient refused"
    );
}

#[tokio::test]
async fn send_text_chunked_sends_ordered_chunks_with_fresh_ids() {
    let server = MockServer::start(|_, _| Reply::ok()).await;
    let client = client(&server);
    let text = format!(
        "{}\n{}\n{}",
        "a".repeat(3000),
        "b".repeat(3000),
        "c".repeat(3000)
    );
    let n = client
        .send_text_chunked("u", &text, Some(&Secret::new("ctx")), None)
        .await
        .unwrap();
    let reqs = server.requests();
    assert_eq!(n, reqs.len());
    assert!(n >= 3, "{n}");
    let texts: Vec<String> = reqs
        .iter()
        .map(|r| {
            r.json()["msg"]["item_list"][0]["text_item"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(texts.iter().all(|t| t.chars().count() <= 4000));
    assert_eq!(texts.concat(), text);
    let ids: std::collections::HashSet<_> = reqs
        .iter()
        .map(|r| r.json()["msg"]["client_id"].to_string())
        .collect();
    assert_eq!(ids.len(), n);
    assert!(
        reqs.iter()
            .all(|r| r.json()["msg"]["context_token"] == "ctx")
    );

    let short = client
        .send_text_chunked("u", "hi", None, Some(10))
        .await
        .unwrap();
    assert_eq!(short, 1);
}

#[tokio::test]
async fn typing_ticket_is_fetched_once_per_user() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/ilink/bot/getconfig" => Reply::json(json!({"ret": 0, "typing_ticket": "ticket-1"})),
        _ => Reply::ok(),
    })
    .await;
    let client = client(&server);
    let ctx = Secret::new("ctx");
    client.send_typing("u1", Some(&ctx)).await.unwrap();
    client.send_typing("u1", Some(&ctx)).await.unwrap();
    client.cancel_typing("u1").await.unwrap();

    assert_eq!(server.requests_to("/ilink/bot/getconfig").len(), 1);
    let typing = server.requests_to("/ilink/bot/sendtyping");
    let statuses: Vec<_> = typing.iter().map(|r| r.json()["status"].clone()).collect();
    assert_eq!(statuses, [json!(1), json!(1), json!(2)]);
    assert!(
        typing
            .iter()
            .all(|r| r.json()["typing_ticket"] == "ticket-1")
    );
    assert!(typing.iter().all(|r| r.json()["ilink_user_id"] == "u1"));

    client.send_typing("u2", None).await.unwrap();
    assert_eq!(
        server.requests_to("/ilink/bot/getconfig").len(),
        2,
        "cache is per user"
    );
}

#[tokio::test]
async fn a_missing_typing_ticket_is_an_error() {
    let server = MockServer::start(|_, _| Reply::ok()).await;
    let err = client(&server).send_typing("u", None).await.unwrap_err();
    assert!(err.to_string().contains("typing_ticket"), "{err}");
    assert!(server.requests_to("/ilink/bot/sendtyping").is_empty());
}
