//! `ilink-core`'s media pipeline against the simulator's CDN over real HTTP: the client
//! uploads each kind and the simulator decrypts it byte-exact (through `upload_full_url`
//! and through the fallback URL), and the client downloads and decrypts what scripted
//! users send (each kind, both key encodings, with and without `full_url`).

mod common;

use common::{Chat, alice_wrote};
use ilink_core::types::{ItemType, MessageItem};
use ilink_core::{ILinkClient, MediaKind};
use ilink_testkit::harness::{core_client, core_poll};
use ilink_testkit::{KeyEncoding, ScriptedUser, Simulator};

/// Bytes that are not a multiple of the AES block and large enough (> 96 KB) to
/// need `upload_full_url` on the real server.
fn payload(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt) ^ (i >> 8) as u8)
        .collect()
}

async fn uploads_each_kind(full_url: bool) {
    let sim = Simulator::start().await;
    sim.configure(|c| c.upload_full_url = full_url);
    let Chat {
        bot,
        client,
        alice,
        first,
    } = alice_wrote(&sim, "send me things").await;
    let ctx = first.context_token.as_ref();

    let cases = [
        (
            MediaKind::Image,
            payload(120_001, 1),
            "pic.png",
            1,
            ItemType::Image,
        ),
        (
            MediaKind::Video,
            payload(70_000, 2),
            "clip.mp4",
            2,
            ItemType::Video,
        ),
        (
            MediaKind::File,
            payload(5, 3),
            "notes.txt",
            3,
            ItemType::File,
        ),
    ];
    for (kind, bytes, name, media_type, item_type) in &cases {
        let sent = client
            .send_media("alice@im.wechat", *kind, bytes, name, ctx)
            .await
            .unwrap();
        assert!(sent.message_id.is_some(), "{kind:?}");
        let up = sim.uploads().pop().unwrap();
        assert_eq!(&up.plaintext[..], &bytes[..], "{kind:?}");
        assert_eq!(up.media_type, *media_type);
        assert_eq!(up.to_user_id, "alice@im.wechat");
        assert_eq!(up.via_full_url, full_url, "{kind:?}");

        let delivered = sim.delivered_to(&bot, alice.id()).pop().unwrap();
        let item = &delivered.message.item_list[0];
        assert_eq!(item.item_type, *item_type);
        assert_eq!(sim.decrypt_media(item).unwrap(), *bytes, "{kind:?}");
    }
    let file = &sim.delivered_to(&bot, alice.id())[2].message.item_list[0];
    let file_item = file.file_item.as_ref().unwrap();
    assert_eq!(file_item.file_name.as_deref(), Some("notes.txt"));
    assert_eq!(file_item.len.as_deref(), Some("5"));
    assert_eq!(sim.uploads().len(), 3);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn client_uploads_are_decrypted_byte_exact_via_upload_full_url() {
    uploads_each_kind(true).await;
}

#[tokio::test]
async fn client_uploads_use_the_fallback_url_without_upload_full_url() {
    uploads_each_kind(false).await;
}

/// Sends one of each kind from `user` and checks the client decrypts them byte-exact.
async fn user_media_round_trip(client: &ILinkClient, user: &ScriptedUser) {
    let image = payload(100_003, 4);
    let video = payload(33_333, 5);
    let file = payload(16, 6);
    let voice = [&[0x02u8][..], b"#!SILK_V3", &payload(1000, 7)].concat();
    user.send_image(&image).await;
    user.send_video(&video).await;
    user.send_file("report.pdf", &file).await;
    user.send_voice(&voice, Some("hello")).await;
    let msgs = core_poll(client, 4).await;
    let items: Vec<&MessageItem> = msgs.iter().map(|m| &m.item_list[0]).collect();
    let kinds: Vec<ItemType> = items.iter().map(|i| i.item_type).collect();
    assert_eq!(
        kinds,
        [
            ItemType::Image,
            ItemType::Video,
            ItemType::File,
            ItemType::Voice
        ]
    );
    for (item, expected) in items.iter().zip([&image, &video, &file, &voice]) {
        let plain = client.download_media(item).await.unwrap();
        assert_eq!(&plain, expected, "{:?}", item.item_type);
    }
}

#[tokio::test]
async fn client_decrypts_user_media_in_both_key_encodings() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = core_client(&sim, &bot);
    let alice = sim.user(&bot, "alice@im.wechat");
    for encoding in [KeyEncoding::HexBase64, KeyEncoding::RawBase64] {
        user_media_round_trip(&client, &alice.with_key_encoding(encoding)).await;
    }

    // Without the image's hex `aeskey`, the client falls back to `media.aes_key`.
    for encoding in [KeyEncoding::HexBase64, KeyEncoding::RawBase64] {
        let bytes = payload(2048, 8);
        let mut item = alice.with_key_encoding(encoding).image_item(&bytes);
        item.image_item.as_mut().unwrap().aeskey = None;
        alice.send_items(vec![item]).await;
        let msgs = core_poll(&client, 1).await;
        let plain = client.download_media(&msgs[0].item_list[0]).await.unwrap();
        assert_eq!(plain, bytes, "{encoding:?}");
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn client_downloads_from_full_url_when_inbound_media_carries_one() {
    let sim = Simulator::start().await;
    sim.configure(|c| c.inbound_full_url = true);
    let bot = sim.add_account("bot-a");
    // A CDN base URL nobody listens on: only `full_url` can make the downloads work.
    let client = ILinkClient::builder(sim.base_url(), bot.token.clone())
        .cdn_base_url("http://127.0.0.1:9/c2c")
        .build()
        .unwrap();
    let alice = sim.user(&bot, "alice@im.wechat");
    for encoding in [KeyEncoding::HexBase64, KeyEncoding::RawBase64] {
        user_media_round_trip(&client, &alice.with_key_encoding(encoding)).await;
    }
    let downloads = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/c2c/download")
        .count();
    assert_eq!(downloads, 8);
    sim.shutdown().await;
}

#[tokio::test]
async fn client_downloads_from_the_cdn_base_url_without_full_url() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = core_client(&sim, &bot);
    let alice = sim.user(&bot, "alice@im.wechat");
    let msg = alice.send_file("a.bin", b"0123456789abcdef").await;
    let media = msg.item_list[0].file_item.as_ref().unwrap().media.as_ref();
    assert!(media.unwrap().full_url.is_none());
    let msgs = core_poll(&client, 1).await;
    let plain = client.download_media(&msgs[0].item_list[0]).await.unwrap();
    assert_eq!(plain, b"0123456789abcdef");
    user_media_round_trip(&client, &alice).await;
    sim.shutdown().await;
}
