//! The CDN (inbound media in both key encodings, bot uploads) and QR login.

mod common;

use std::time::Duration;

use common::{TestBot, get_json, post_json};
use ilink_core::crypto::{AesKey, ciphertext_size, md5_hex, random_filekey};
use ilink_core::types::WeixinMessage;
use ilink_testkit::harness::WAIT;
use ilink_testkit::{KeyEncoding, QrAction, Simulator};
use serde_json::{Value, json};

#[tokio::test]
async fn inbound_media_downloads_and_decrypts_in_both_encodings() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    let alice = sim.user(&bot, "alice@im.wechat");
    let png = b"\x89PNG fake image bytes".to_vec();
    alice.send_image(&png).await;
    alice
        .with_key_encoding(KeyEncoding::RawBase64)
        .send_file("a.txt", b"file body")
        .await;
    alice
        .send_voice(b"\x02#!SILK_V3", Some("hello there"))
        .await;
    alice.send_video(b"video bytes").await;
    let mut msgs = Vec::new();
    while msgs.len() < 4 {
        msgs.extend(client.poll_msgs().await);
    }
    let mut plain = Vec::new();
    for m in &msgs {
        let msg: WeixinMessage = serde_json::from_value(m.clone()).unwrap();
        let item = &msg.item_list[0];
        let media = item
            .image_item
            .as_ref()
            .and_then(|i| i.media.clone())
            .or_else(|| item.file_item.as_ref().and_then(|i| i.media.clone()))
            .or_else(|| item.voice_item.as_ref().and_then(|i| i.media.clone()))
            .or_else(|| item.video_item.as_ref().and_then(|i| i.media.clone()))
            .unwrap();
        let url = format!(
            "{}/download?encrypted_query_param={}",
            sim.cdn_base_url(),
            media.encrypt_query_param.unwrap().expose()
        );
        let ct = client.download(&url).await;
        let key = AesKey::from_media_key(media.aes_key.unwrap().expose()).unwrap();
        plain.push(key.decrypt(&ct).unwrap());
        assert_eq!(sim.decrypt_media(item).unwrap(), *plain.last().unwrap());
    }
    assert_eq!(plain[0], png);
    assert_eq!(plain[1], b"file body");
    let hex = msgs[0]["item_list"][0]["image_item"]["aeskey"]
        .as_str()
        .unwrap();
    assert_eq!(
        AesKey::from_hex(hex).unwrap().to_media_key(),
        msgs[0]["item_list"][0]["image_item"]["media"]["aes_key"]
    );
    assert_eq!(msgs[2]["item_list"][0]["voice_item"]["text"], "hello there");
}

async fn upload(
    client: &TestBot,
    sim_cdn: &str,
    data: &[u8],
    full: bool,
) -> (u16, Option<String>, Option<String>) {
    let key = AesKey::random();
    let filekey = random_filekey();
    let (_, r) = client
        .post("ilink/bot/getuploadurl", json!({
            "filekey": filekey, "media_type": 1, "to_user_id": "alice@im.wechat",
            "rawsize": data.len(), "rawfilemd5": md5_hex(data),
            "filesize": ciphertext_size(data.len() as u64).unwrap(), "no_need_thumb": true, "aeskey": key.to_hex(),
        }))
        .await;
    assert_eq!(r["ret"], 0, "{r}");
    let url = match (full, r["upload_full_url"].as_str()) {
        (true, Some(u)) => u.to_owned(),
        _ => format!(
            "{sim_cdn}/upload?encrypted_query_param={}&filekey={filekey}",
            r["upload_param"].as_str().unwrap()
        ),
    };
    let res = client
        .http
        .post(url)
        .header("Content-Type", "application/octet-stream")
        .body(key.encrypt(data))
        .send()
        .await
        .unwrap();
    let h = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    (
        res.status().as_u16(),
        h("x-encrypted-param"),
        h("x-error-message"),
    )
}

#[tokio::test]
async fn bot_uploads_are_verified_and_decryptable() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = TestBot::new(&sim, &bot);
    let data = vec![7u8; 100_000];
    let (status, param, _) = upload(&client, &sim.cdn_base_url(), &data, true).await;
    assert_eq!(status, 200);
    assert!(param.is_some());
    sim.configure(|c| c.upload_full_url = false);
    let (status, _, _) = upload(&client, &sim.cdn_base_url(), b"small", true).await;
    assert_eq!(status, 200);
    let ups = sim.uploads();
    assert_eq!(ups.len(), 2);
    assert!(ups[0].via_full_url && !ups[1].via_full_url);
    assert_eq!(&ups[0].plaintext[..], &data[..]);

    // A body that does not match the announced filesize is refused with a 4xx.
    let key = AesKey::random();
    let (_, r) = client
        .post("ilink/bot/getuploadurl", json!({
            "filekey": "fk", "media_type": 3, "to_user_id": "alice@im.wechat", "rawsize": 5,
            "rawfilemd5": md5_hex(b"hello"), "filesize": 16, "no_need_thumb": true, "aeskey": key.to_hex(),
        }))
        .await;
    let url = format!(
        "{}/upload?encrypted_query_param={}&filekey=fk",
        sim.cdn_base_url(),
        r["upload_param"].as_str().unwrap()
    );
    let res = client
        .http
        .post(url)
        .body(key.encrypt(b"hello, longer"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("x-error-message").is_some());
    // Announcing a wrong filesize is refused at getuploadurl.
    let (_, r) = client
        .post("ilink/bot/getuploadurl", json!({
            "filekey": "fk", "media_type": 3, "to_user_id": "a", "rawsize": 5,
            "rawfilemd5": md5_hex(b"hello"), "filesize": 5, "no_need_thumb": true, "aeskey": key.to_hex(),
        }))
        .await;
    assert_eq!(r["ret"], -3);
}

async fn qr_status(client: &TestBot, base: &str, qrcode: &str, code: Option<&str>) -> Value {
    let mut url = format!("{base}/ilink/bot/get_qrcode_status?qrcode={qrcode}");
    if let Some(c) = code {
        url.push_str(&format!("&verify_code={c}"));
    }
    get_json(&client.http, url).await
}

#[tokio::test]
async fn qr_login_runs_through_every_state() {
    let sim = Simulator::start().await;
    let seed = sim.add_account("seed");
    let client = TestBot::new(&sim, &seed);
    let base = sim.base_url();
    let r = post_json(
        &client.http,
        format!("{base}/ilink/bot/get_bot_qrcode?bot_type=3"),
        json!({ "local_token_list": [] }),
    )
    .await;
    let qrcode = r["qrcode"].as_str().unwrap().to_owned();
    assert!(r["qrcode_img_content"].as_str().is_some());
    assert_eq!(
        qr_status(&client, &base, &qrcode, None).await["status"],
        "wait"
    );

    let login = sim.wait_for_qr(WAIT).await.unwrap();
    let poll = {
        let (c, b, q) = (TestBot::new(&sim, &seed), base.clone(), qrcode.clone());
        tokio::spawn(async move { qr_status(&c, &b, &q, None).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    login.scan();
    assert_eq!(poll.await.unwrap()["status"], "scaned");

    login.act(QrAction::NeedVerifyCode {
        code: "4321".into(),
    });
    assert_eq!(
        qr_status(&client, &base, &qrcode, None).await["status"],
        "need_verifycode"
    );
    assert_eq!(
        qr_status(&client, &base, &qrcode, Some("0000")).await["status"],
        "need_verifycode"
    );
    assert_eq!(
        qr_status(&client, &base, &qrcode, Some("4321")).await["status"],
        "scaned"
    );

    login.act(QrAction::Redirect { host: None });
    let r = qr_status(&client, &base, &qrcode, None).await;
    assert_eq!(r["status"], "scaned_but_redirect");
    let alt = format!("http://{}", r["redirect_host"].as_str().unwrap());
    assert_eq!(alt, sim.alt_base_url());

    let acct = login.confirm().unwrap();
    let r = qr_status(&client, &alt, &qrcode, None).await;
    assert_eq!(r["status"], "confirmed");
    assert_eq!(r["bot_token"].as_str().unwrap(), acct.token.expose());
    assert_eq!(r["ilink_bot_id"].as_str().unwrap(), acct.bot_id);
    assert_eq!(r["baseurl"].as_str().unwrap(), base);
    assert_eq!(r["ilink_user_id"], "owner@im.wechat");
    let (_, v) = TestBot::new(&sim, &acct)
        .post("ilink/bot/msg/notifystart", json!({}))
        .await;
    assert_eq!(v["ret"], 0);

    // A re-login of the same bot retires the old token: from then on it answers -14,
    // so the old process learns its session ended rather than that its token is unknown.
    let again = login
        .act(QrAction::Confirm {
            bot_id: Some(acct.bot_id.clone()),
            bot_token: None,
            base_url: None,
            ilink_user_id: None,
        })
        .unwrap();
    assert_ne!(again.token, acct.token);
    let (_, v) = TestBot::new(&sim, &acct)
        .post("ilink/bot/msg/notifystart", json!({}))
        .await;
    assert_eq!(v["errcode"], -14);

    login.act(QrAction::Expire);
    assert_eq!(
        qr_status(&client, &base, &qrcode, None).await["status"],
        "expired"
    );
}
