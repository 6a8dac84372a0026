//! The exact requests of the low-level API: methods, paths, queries,
//! headers and bodies, as protocol.md lists them.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{MockServer, Recorded, Reply, TOKEN};
use ilink_core::types::{
    GetUploadUrlRequest, MessageItem, TypingStatus, UploadMediaType, WeixinMessage,
};
use ilink_core::{Api, ApiConfig, ClientVersion, Secret};
use serde_json::json;

fn api(server: &MockServer, token: &str) -> Api {
    let config = ApiConfig::builder()
        .base_url(format!("{}/", server.url))
        .token(token)
        .client_version(ClientVersion::new(1, 0, 11))
        .channel_version("1.0.11")
        .bot_agent("TestBot/2.0 (ci) bad/agent/x")
        .build()
        .unwrap();
    Api::with_http(reqwest::Client::new(), config)
}

fn assert_bot_headers(r: &Recorded) {
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        r.header("authorizationtype").as_deref(),
        Some("ilink_bot_token")
    );
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {TOKEN}")),
        "token is trimmed and sent as a bearer"
    );
    assert_eq!(r.header("ilink-app-id").as_deref(), Some("bot"));
    assert_eq!(
        r.header("ilink-app-clientversion").as_deref(),
        Some("65547")
    );
    let uin = r.header("x-wechat-uin").expect("X-WECHAT-UIN");
    let decoded = String::from_utf8(BASE64.decode(uin).unwrap()).unwrap();
    decoded.parse::<u32>().expect("decimal u32");
    let body = r.json();
    assert_eq!(body["base_info"]["channel_version"], "1.0.11");
    assert_eq!(body["base_info"]["bot_agent"], "TestBot/2.0 (ci)");
}

#[tokio::test]
async fn every_bot_post_has_the_protocol_headers_and_base_info() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/ilink/bot/getconfig" => Reply::json(json!({"ret":0,"typing_ticket":"dGlj"})),
        "/ilink/bot/getupdates" => Reply::json(json!({"ret":0,"get_updates_buf":"c2"})),
        _ => Reply::ok(),
    })
    .await;
    let api = api(&server, &format!("  {TOKEN}\n"));
    let ctx = Secret::new("ctx-token-value");
    api.get_updates("c1", None).await.unwrap();
    api.send_message(WeixinMessage::default()).await.unwrap();
    let cfg = api.get_config("u@im.wechat", Some(&ctx)).await.unwrap();
    api.send_typing(
        "u@im.wechat",
        cfg.typing_ticket.as_ref().unwrap(),
        TypingStatus::Typing,
    )
    .await
    .unwrap();
    api.get_upload_url(GetUploadUrlRequest {
        filekey: "fk".into(),
        media_type: Some(UploadMediaType::File),
        ..Default::default()
    })
    .await
    .unwrap();
    api.notify_start().await.unwrap();
    api.notify_stop().await.unwrap();

    let reqs = server.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/ilink/bot/getupdates",
            "/ilink/bot/sendmessage",
            "/ilink/bot/getconfig",
            "/ilink/bot/sendtyping",
            "/ilink/bot/getuploadurl",
            "/ilink/bot/msg/notifystart",
            "/ilink/bot/msg/notifystop",
        ]
    );
    for r in &reqs {
        assert_bot_headers(r);
        assert!(
            r.header("skroutetag").is_none(),
            "no route tag unless configured"
        );
        assert!(r.query.is_none());
    }
    assert_eq!(reqs[0].json()["get_updates_buf"], "c1");
    assert_eq!(reqs[2].json()["ilink_user_id"], "u@im.wechat");
    assert_eq!(reqs[2].json()["context_token"], "ctx-token-value");
    assert_eq!(reqs[3].json()["typing_ticket"], "dGlj");
    assert_eq!(reqs[3].json()["status"], 1);
    assert_eq!(reqs[4].json()["media_type"], 3);
    let uins: std::collections::HashSet<_> = reqs
        .iter()
        .map(|r| r.header("x-wechat-uin").unwrap())
        .collect();
    assert!(uins.len() > 1, "X-WECHAT-UIN is fresh per request");
}

#[tokio::test]
async fn route_tag_is_sent_only_when_configured() {
    let server = MockServer::ok().await;
    let config = ApiConfig::builder()
        .base_url(&server.url)
        .token(TOKEN)
        .route_tag("tag-7")
        .build()
        .unwrap();
    let api = Api::with_http(reqwest::Client::new(), config);
    api.notify_start().await.unwrap();
    api.get_qrcode_status(&Secret::new("q"), None)
        .await
        .unwrap();
    for r in server.requests() {
        assert_eq!(
            r.header("skroutetag").as_deref(),
            Some("tag-7"),
            "{}",
            r.path
        );
    }
}

#[tokio::test]
async fn empty_token_sends_no_authorization() {
    let server = MockServer::ok().await;
    api(&server, "   ").notify_start().await.unwrap();
    let r = &server.requests()[0];
    assert!(r.header("authorization").is_none());
    assert_eq!(
        r.header("authorizationtype").as_deref(),
        Some("ilink_bot_token")
    );
    assert!(r.header("x-wechat-uin").is_some());
}

#[tokio::test]
async fn qr_calls_carry_no_auth_and_no_base_info() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/ilink/bot/get_bot_qrcode" => {
            Reply::json(json!({"qrcode":"qr-value","qrcode_img_content":"https://qr/x"}))
        }
        _ => Reply::json(json!({"status":"scaned"})),
    })
    .await;
    let api = api(&server, TOKEN);
    let qr = api
        .get_bot_qrcode(&[Secret::new("old-token")])
        .await
        .unwrap();
    assert_eq!(qr.qrcode.expose(), "qr-value");
    let st = api
        .get_qrcode_status(&qr.qrcode, Some("12 34"))
        .await
        .unwrap();
    assert_eq!(st.status.as_str(), "scaned");

    let reqs = server.requests();
    let get_qr = &reqs[0];
    assert_eq!(get_qr.method, "POST");
    assert_eq!(get_qr.path, "/ilink/bot/get_bot_qrcode");
    assert_eq!(get_qr.query.as_deref(), Some("bot_type=3"));
    assert_eq!(get_qr.json(), json!({"local_token_list": ["old-token"]}));
    assert_eq!(
        get_qr.header("content-type").as_deref(),
        Some("application/json")
    );

    let status = &reqs[1];
    assert_eq!(status.method, "GET");
    assert_eq!(status.path, "/ilink/bot/get_qrcode_status");
    assert_eq!(status.query_param("qrcode").as_deref(), Some("qr-value"));
    assert_eq!(status.query_param("verify_code").as_deref(), Some("12 34"));
    assert!(status.body.is_empty());
    for r in &reqs {
        assert!(r.header("authorization").is_none());
        assert!(r.header("authorizationtype").is_none());
        assert!(r.header("x-wechat-uin").is_none());
        assert_eq!(r.header("ilink-app-id").as_deref(), Some("bot"));
        assert_eq!(
            r.header("ilink-app-clientversion").as_deref(),
            Some("65547")
        );
    }
}

#[tokio::test]
async fn base_url_without_trailing_slash_and_redirected_copies_work() {
    let a = MockServer::ok().await;
    let b = MockServer::ok().await;
    let config = ApiConfig::builder()
        .base_url(&a.url)
        .token(TOKEN)
        .build()
        .unwrap();
    let api = Api::with_http(reqwest::Client::new(), config);
    api.notify_stop().await.unwrap();
    let moved = api
        .with_base_url(b.url.clone())
        .unwrap()
        .with_token(Secret::new("new-token"));
    moved.notify_stop().await.unwrap();
    assert_eq!(a.requests()[0].path, "/ilink/bot/msg/notifystop");
    let r = &b.requests()[0];
    assert_eq!(r.path, "/ilink/bot/msg/notifystop");
    assert_eq!(
        r.header("authorization").as_deref(),
        Some("Bearer new-token")
    );
}

#[tokio::test]
async fn send_message_posts_the_message_as_given() {
    let server =
        MockServer::start(|_, _| Reply::json(json!({"ret":0,"message_id":"18446744073709551615"})))
            .await;
    let msg = WeixinMessage {
        to_user_id: Some("u@im.wechat".into()),
        item_list: vec![MessageItem::text("hi")],
        ..Default::default()
    };
    let resp = api(&server, TOKEN).send_message(msg).await.unwrap();
    assert_eq!(resp.message_id, Some(u64::MAX));
    let body = server.requests()[0].json();
    assert_eq!(body["msg"]["to_user_id"], "u@im.wechat");
    assert_eq!(body["msg"]["item_list"][0]["text_item"]["text"], "hi");
}
