//! The CDN media pipeline against a fake API + CDN: byte-exact round trips,
//! the upload URL choice, retries, and failures.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{MockServer, Recorded, Reply, TOKEN};
use ilink_core::cdn;
use ilink_core::config::DEFAULT_MAX_DOWNLOAD_BYTES;
use ilink_core::crypto::{AesKey, md5_hex};
use ilink_core::types::{CdnMedia, ItemType, MessageItem};
use ilink_core::{Endpoint, Error, ILinkClient, MediaKind, Secret};
use serde_json::json;

/// A fake server: `getuploadurl` answers with `upload_param` (or a full URL
/// when `full_url` is set), the CDN under `/c2c` stores ciphertexts.
async fn fake_server(full_url: bool) -> MockServer {
    let store: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    let port_cell: Arc<Mutex<Option<String>>> = Arc::default();
    let base = port_cell.clone();
    let server = MockServer::start(move |r: &Recorded, i| match r.path.as_str() {
        "/ilink/bot/getuploadurl" if full_url => {
            let base = base.lock().unwrap().clone().unwrap();
            Reply::json(
                json!({"ret": 0, "upload_full_url": format!("{base}/full/upload?sig=s%2F1"),
                               "upload_param": "should-not-be-used"}),
            )
        }
        "/ilink/bot/getuploadurl" => Reply::json(json!({"ret": 0, "upload_param": "up/param+1"})),
        "/c2c/upload" | "/full/upload" => {
            let param = format!("dl-{i}/x+y");
            store.lock().unwrap().insert(param.clone(), r.body.clone());
            Reply::ok().with_header("x-encrypted-param", &param)
        }
        "/c2c/download" => {
            let param = r.query_param("encrypted_query_param").unwrap_or_default();
            match store.lock().unwrap().get(&param) {
                Some(bytes) => Reply::raw(bytes),
                None => Reply::status(404, "no such blob"),
            }
        }
        _ => Reply::json(json!({"ret": 0, "message_id": 5})),
    })
    .await;
    *port_cell.lock().unwrap() = Some(server.url.clone());
    server
}

fn client(server: &MockServer) -> ILinkClient {
    ILinkClient::builder(&server.url, TOKEN)
        .cdn_base_url(format!("{}/c2c", server.url))
        .build()
        .unwrap()
}

fn sent_item(server: &MockServer) -> MessageItem {
    let msg = server
        .requests_to("/ilink/bot/sendmessage")
        .pop()
        .unwrap()
        .json();
    assert_eq!(msg["msg"]["item_list"].as_array().unwrap().len(), 1);
    serde_json::from_value(msg["msg"]["item_list"][0].clone()).unwrap()
}

#[tokio::test]
async fn media_round_trips_byte_exact_for_every_kind() {
    let server = fake_server(false).await;
    let client = client(&server);
    let plaintext: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    for (kind, media_type) in [
        (MediaKind::Image, 1),
        (MediaKind::Video, 2),
        (MediaKind::File, 3),
    ] {
        let sent = client
            .send_media(
                "u@im.wechat",
                kind,
                &plaintext,
                "data.bin",
                Some(&Secret::new("ctx")),
            )
            .await
            .unwrap();
        assert_eq!(sent.message_id, Some(5));

        let req = server
            .requests_to("/ilink/bot/getuploadurl")
            .pop()
            .unwrap()
            .json();
        assert_eq!(req["media_type"], media_type);
        assert_eq!(req["to_user_id"], "u@im.wechat");
        assert_eq!(req["rawsize"], 5000);
        assert_eq!(req["filesize"], 5008);
        assert_eq!(req["rawfilemd5"], md5_hex(&plaintext));
        assert_eq!(req["no_need_thumb"], true);
        assert_eq!(req["filekey"].as_str().unwrap().len(), 32);
        let key_hex = req["aeskey"].as_str().unwrap().to_owned();
        let key = AesKey::from_hex(&key_hex).unwrap();

        let upload = server.requests_to("/c2c/upload").pop().unwrap();
        assert_eq!(upload.method, "POST");
        assert_eq!(
            upload.header("content-type").as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(
            upload.query_param("encrypted_query_param").as_deref(),
            Some("up/param+1")
        );
        assert_eq!(
            upload.query_param("filekey").as_deref(),
            req["filekey"].as_str()
        );
        assert_eq!(key.decrypt(&upload.body).unwrap(), plaintext);

        let item = sent_item(&server);
        let media = match kind {
            MediaKind::Image => {
                assert_eq!(item.item_type, ItemType::Image);
                assert_eq!(item.image_item.as_ref().unwrap().mid_size, Some(5008));
                item.image_item.as_ref().unwrap().media.clone()
            }
            MediaKind::Video => {
                assert_eq!(item.video_item.as_ref().unwrap().video_size, Some(5008));
                item.video_item.as_ref().unwrap().media.clone()
            }
            MediaKind::File => {
                let f = item.file_item.as_ref().unwrap();
                assert_eq!(f.file_name.as_deref(), Some("data.bin"));
                assert_eq!(f.len.as_deref(), Some("5000"));
                assert_eq!(f.md5.as_deref(), Some(md5_hex(&plaintext).as_str()));
                f.media.clone()
            }
        }
        .unwrap();
        assert_eq!(media.encrypt_type, Some(1));
        assert_eq!(
            media.aes_key.as_ref().unwrap().expose(),
            BASE64.encode(&key_hex)
        );
        assert!(
            media
                .encrypt_query_param
                .as_ref()
                .unwrap()
                .expose()
                .starts_with("dl-")
        );

        assert_eq!(
            client.download_media(&item).await.unwrap(),
            plaintext,
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn upload_full_url_is_preferred_over_the_constructed_one() {
    let server = fake_server(true).await;
    let client = client(&server);
    let item = client
        .upload_media("u", MediaKind::File, b"tiny", "t.txt")
        .await
        .unwrap();
    assert!(server.requests_to("/c2c/upload").is_empty());
    let full = server.requests_to("/full/upload");
    assert_eq!(full.len(), 1);
    assert_eq!(full[0].query_param("sig").as_deref(), Some("s/1"));
    assert_eq!(client.download_media(&item).await.unwrap(), b"tiny");
}

async fn upload_against(
    reply: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> (MockServer, ilink_core::Result<Secret>) {
    let server = MockServer::start(move |_, i| reply(i)).await;
    let result = cdn::upload(
        &reqwest::Client::new(),
        &format!("{}/c2c/", server.url),
        None,
        Some(&Secret::new("p")),
        "fk",
        vec![0u8; 16],
        Endpoint::CdnUpload.default_timeout(),
    )
    .await;
    (server, result)
}

#[tokio::test]
async fn upload_4xx_fails_at_once_with_the_error_header() {
    let (server, result) = upload_against(|_| {
        Reply::status(403, "body").with_header("x-error-message", "bad signature")
    })
    .await;
    match result.unwrap_err() {
        Error::HttpStatus {
            endpoint,
            status,
            body,
        } => {
            assert_eq!(endpoint, Endpoint::CdnUpload);
            assert_eq!(status, 403);
            assert_eq!(body, "bad signature");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].path, "/c2c/upload");
}

#[tokio::test]
async fn upload_5xx_is_tried_three_times() {
    let (server, result) = upload_against(|_| Reply::status(502, "gateway")).await;
    assert!(
        matches!(result, Err(Error::HttpStatus { status: 502, .. })),
        "{result:?}"
    );
    assert_eq!(server.requests().len(), 3);

    let (server, result) = upload_against(|i| {
        if i < 2 {
            Reply::status(500, "")
        } else {
            Reply::ok().with_header("x-encrypted-param", "third-time")
        }
    })
    .await;
    assert_eq!(result.unwrap().expose(), "third-time");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn upload_without_the_encrypted_param_header_is_an_error() {
    let (_server, result) = upload_against(|_| Reply::ok()).await;
    let err = result.unwrap_err();
    assert!(err.to_string().contains("x-encrypted-param"), "{err}");
}

#[tokio::test]
async fn download_prefers_full_url_and_reports_http_errors() {
    let server = MockServer::start(|r, _| match r.path.as_str() {
        "/direct" => Reply::raw(b"cipher"),
        _ => Reply::status(404, "missing"),
    })
    .await;
    let http = reqwest::Client::new();
    let media = CdnMedia {
        full_url: Some(Secret::new(format!("{}/direct", server.url))),
        encrypt_query_param: Some(Secret::new("p")),
        ..CdnMedia::default()
    };
    assert_eq!(
        cdn::download(
            &http,
            &server.url,
            &media,
            DEFAULT_MAX_DOWNLOAD_BYTES,
            Endpoint::CdnDownload.default_timeout()
        )
        .await
        .unwrap(),
        b"cipher"
    );
    let media = CdnMedia {
        encrypt_query_param: Some(Secret::new("a b&c")),
        ..CdnMedia::default()
    };
    let err = cdn::download(
        &http,
        &format!("{}/c2c", server.url),
        &media,
        DEFAULT_MAX_DOWNLOAD_BYTES,
        Endpoint::CdnDownload.default_timeout(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    let last = server.requests().pop().unwrap();
    assert_eq!(last.path, "/c2c/download");
    assert_eq!(
        last.query_param("encrypted_query_param").as_deref(),
        Some("a b&c")
    );
}

#[tokio::test]
async fn send_media_file_guesses_the_kind_and_reports_unreadable_files() {
    let server = fake_server(false).await;
    let client = client(&server);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.PNG");
    std::fs::write(&path, b"not really a png").unwrap();
    client.send_media_file("u", &path, None).await.unwrap();
    assert_eq!(sent_item(&server).item_type, ItemType::Image);
    let req = server
        .requests_to("/ilink/bot/getuploadurl")
        .pop()
        .unwrap()
        .json();
    assert_eq!(req["media_type"], 1);

    let missing = dir.path().join("missing.pdf");
    let err = client
        .send_media_file("u", &missing, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.pdf"), "{err}");
}

#[tokio::test]
async fn the_configured_cdn_download_timeout_applies() {
    let server = MockServer::start(|_, _| Reply::hang()).await;
    let client = ILinkClient::builder(&server.url, TOKEN)
        .cdn_base_url(format!("{}/c2c", server.url))
        .timeout(Endpoint::CdnDownload, std::time::Duration::from_millis(200))
        .build()
        .unwrap();
    let item = MessageItem::file(ilink_core::types::FileItem {
        media: Some(CdnMedia {
            encrypt_query_param: Some(Secret::new("p")),
            aes_key: Some(Secret::new(
                BASE64.encode("00112233445566778899aabbccddeeff"),
            )),
            ..CdnMedia::default()
        }),
        ..Default::default()
    });
    // Three tries of 200 ms with backoff between them, well within 20 s;
    // at the default 60 s each, the outer limit comes first.
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        client.download_media(&item),
    )
    .await
    .expect("the configured timeout ends each try");
    assert!(
        matches!(
            result,
            Err(Error::Transport {
                kind: ilink_core::TransportKind::Timeout,
                ..
            })
        ),
        "{result:?}"
    );
}
