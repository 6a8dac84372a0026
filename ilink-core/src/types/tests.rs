//! Fixture tests in the shapes of [`docs/protocol.md`](https://github.com/ilink-rs/ilink-rs/blob/main/docs/protocol.md#messages).

use serde_json::{Value, json};

use super::*;

const BIG_ID: u64 = 7_489_534_892_789_344_264;

fn inbound_fixture() -> Value {
    json!({
        "ret": 0,
        "msgs": [{
            "seq": 17,
            "message_id": 7489534892789344264u64,
            "from_user_id": "o9cq80_AbC@im.wechat",
            "to_user_id": "e06c1ceea05e@im.bot",
            "client_id": "c-1",
            "create_time_ms": 1732000000000i64,
            "session_id": "s-1",
            "message_type": 1,
            "message_state": 2,
            "context_token": "AARzJWAFAAABAAAAAAAvKh",
            "item_list": [
                {"type": 1, "msg_id": "7489534892789344264", "text_item": {"text": "你好 👋"},
                 "ref_msg": {"title": "earlier", "svr_id": "7489534892789344265",
                             "partial_text": {"start": 0, "end": 3, "quotemd5": "abc"},
                             "message_item": {"type": 1, "text_item": {"text": "quoted"}}}},
                {"type": 2, "image_item": {"aeskey": "00112233445566778899aabbccddeeff",
                    "media": {"encrypt_query_param": "eqp", "aes_key": "a2V5", "encrypt_type": 1},
                    "mid_size": 1024, "thumb_width": 80}},
                {"type": 3, "voice_item": {"encode_type": 6, "sample_rate": 24000, "playtime": 3100, "text": "语音"}},
                {"type": 4, "file_item": {"file_name": "a.pdf", "md5": "d41d8cd98f00b204e9800998ecf8427e", "len": "102400"}},
                {"type": 5, "video_item": {"video_size": 4096, "play_length": 12}},
                {"type": 11, "tool_call_start_item": {"tool_name": "search", "tool_call_id": "t1"}},
                {"type": 12, "tool_call_result_item": {"tool_name": "search", "tool_call_id": "t1", "status": 0}},
                {"type": 99, "card_item": {"title": "a card", "nested": [1, 2, {"x": null}]}}
            ],
            "some_future_field": {"a": 1}
        }],
        "get_updates_buf": "cursor-2",
        "longpolling_timeout_ms": 35000,
        "unknown_top_level": true
    })
}

#[test]
fn inbound_batch_decodes_every_item_kind() {
    let resp: GetUpdatesResponse = serde_json::from_value(inbound_fixture()).unwrap();
    assert_eq!(resp.cursor(), Some("cursor-2"));
    assert_eq!(resp.longpolling_timeout_ms, Some(35000));
    let m = &resp.msgs[0];
    assert_eq!(m.message_id, Some(BIG_ID));
    assert_eq!(m.message_type, Some(MessageType::User));
    assert_eq!(m.message_state, Some(MessageState::Finish));
    assert_eq!(
        m.context_token.as_ref().unwrap().expose(),
        "AARzJWAFAAABAAAAAAAvKh"
    );
    let items = &m.item_list;
    assert_eq!(items[0].msg_id, Some(BIG_ID));
    let r = items[0].ref_msg.as_ref().unwrap();
    assert_eq!(r.svr_id, Some(BIG_ID + 1));
    assert_eq!(r.partial_text.as_ref().unwrap().end, Some(3));
    assert_eq!(
        r.message_item
            .as_ref()
            .unwrap()
            .text_item
            .as_ref()
            .unwrap()
            .text
            .as_deref(),
        Some("quoted")
    );
    assert_eq!(items[1].item_type, ItemType::Image);
    assert_eq!(items[1].image_item.as_ref().unwrap().mid_size, Some(1024));
    assert_eq!(
        items[2].voice_item.as_ref().unwrap().encode_type,
        Some(VoiceEncoding::Silk)
    );
    assert_eq!(
        items[3].file_item.as_ref().unwrap().len.as_deref(),
        Some("102400")
    );
    assert_eq!(items[4].video_item.as_ref().unwrap().video_size, Some(4096));
    assert_eq!(items[5].item_type, ItemType::ToolCallStart);
    assert_eq!(
        items[6].tool_call_result_item.as_ref().unwrap().status,
        Some(json!(0))
    );
    assert_eq!(items[7].item_type, ItemType::Unknown(99));
    assert!(items[7].extra.contains_key("card_item"));
    assert!(m.extra.contains_key("some_future_field"));
    assert_eq!(m.text().as_deref(), Some("你好 👋"));
}

#[test]
fn messages_round_trip_without_loss() {
    let original = inbound_fixture()["msgs"][0].clone();
    let m: WeixinMessage = serde_json::from_value(original.clone()).unwrap();
    let back = serde_json::to_value(&m).unwrap();
    // Ids are re-serialized as numbers; everything else is identical.
    let mut expected = original;
    expected["item_list"][0]["msg_id"] = json!(BIG_ID);
    expected["item_list"][0]["ref_msg"]["svr_id"] = json!(BIG_ID + 1);
    assert_eq!(back, expected);
}

#[test]
fn unknown_item_type_is_reserialized_unchanged() {
    let raw = json!({"type": 77, "weird": {"deep": [1, "two", null]}, "text_item": 5});
    let item: MessageItem = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(item.item_type, ItemType::Unknown(77));
    // A known key with an unreadable shape is kept, not dropped.
    assert_eq!(item.text_item, None);
    assert_eq!(item.extra.get("text_item"), Some(&json!(5)));
    assert_eq!(serde_json::to_value(&item).unwrap(), raw);
}

#[test]
fn big_ids_parse_exactly_from_number_or_string() {
    for text in [
        r#"{"message_id": 7489534892789344264}"#,
        r#"{"message_id": "7489534892789344264"}"#,
    ] {
        let m: WeixinMessage = serde_json::from_str(text).unwrap();
        assert_eq!(m.message_id, Some(BIG_ID), "{text}");
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"message_id":7489534892789344264,"item_list":[]}"#
        );
    }
    let r: SendMessageResponse =
        serde_json::from_str(r#"{"ret":0,"message_id":"18446744073709551615"}"#).unwrap();
    assert_eq!(r.message_id, Some(u64::MAX));
}

#[test]
fn bad_ids_are_errors_not_panics() {
    for text in [
        r#"{"message_id": -1}"#,
        r#"{"message_id": "12x"}"#,
        r#"{"message_id": 1.5}"#,
        r#"{"message_id": "99999999999999999999999"}"#,
    ] {
        assert!(
            serde_json::from_str::<WeixinMessage>(text).is_err(),
            "{text}"
        );
    }
}

#[test]
fn missing_fields_are_fine() {
    let r: GetUpdatesResponse = serde_json::from_str("{}").unwrap();
    assert_eq!(r.ret, 0);
    assert!(r.msgs.is_empty());
    let r: GetUpdatesResponse =
        serde_json::from_str(r#"{"ret":0,"msgs":null,"sync_buf":"old"}"#).unwrap();
    assert_eq!(r.cursor(), Some("old"));
    let m: WeixinMessage = serde_json::from_str(r#"{"item_list":[{}]}"#).unwrap();
    assert_eq!(m.item_list[0].item_type, ItemType::None);
}

#[test]
fn outbound_message_has_the_required_shape() {
    let req = SendMessageRequest {
        msg: WeixinMessage {
            from_user_id: Some(String::new()),
            to_user_id: Some("u@im.wechat".into()),
            client_id: Some("cid".into()),
            message_type: Some(MessageType::Bot),
            message_state: Some(MessageState::Finish),
            context_token: Some("ctx".into()),
            item_list: vec![MessageItem::text("hello")],
            ..Default::default()
        },
        base_info: Some(BaseInfo {
            channel_version: "1.0.11".into(),
            bot_agent: None,
        }),
    };
    assert_eq!(
        serde_json::to_value(&req).unwrap(),
        json!({
            "msg": {
                "from_user_id": "", "to_user_id": "u@im.wechat", "client_id": "cid",
                "message_type": 2, "message_state": 2, "context_token": "ctx",
                "item_list": [{"type": 1, "text_item": {"text": "hello"}}]
            },
            "base_info": {"channel_version": "1.0.11"}
        })
    );
}

#[test]
fn other_bodies_match_protocol_names() {
    let v = serde_json::to_value(SendTypingRequest {
        ilink_user_id: "u".into(),
        typing_ticket: "t".into(),
        status: TypingStatus::Cancel,
        base_info: None,
    })
    .unwrap();
    assert_eq!(
        v,
        json!({"ilink_user_id": "u", "typing_ticket": "t", "status": 2})
    );

    let v = serde_json::to_value(GetUploadUrlRequest {
        filekey: "k".into(),
        media_type: Some(UploadMediaType::File),
        to_user_id: "u".into(),
        rawsize: 17,
        rawfilemd5: "m".into(),
        filesize: 32,
        no_need_thumb: true,
        aeskey: "00".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        v,
        json!({"filekey": "k", "media_type": 3, "to_user_id": "u", "rawsize": 17,
               "rawfilemd5": "m", "filesize": 32, "no_need_thumb": true, "aeskey": "00"})
    );

    let s: QrStatusResponse = serde_json::from_value(json!({
        "status": "confirmed", "bot_token": "b@im.bot:s", "ilink_bot_id": "b@im.bot",
        "baseurl": "https://x", "ilink_user_id": "u@im.wechat"
    }))
    .unwrap();
    assert_eq!(s.status, QrStatus::Confirmed);
    assert_eq!(s.bot_token.unwrap().expose(), "b@im.bot:s");
}

#[test]
fn debug_output_never_shows_secrets() {
    let resp: GetUpdatesResponse = serde_json::from_value(inbound_fixture()).unwrap();
    let dbg = format!("{resp:?}");
    assert!(
        !dbg.contains("AARzJWAFAAABAAAAAAAvKh"),
        "context token leaked"
    );
    assert!(
        !dbg.contains("00112233445566778899aabbccddeeff"),
        "aeskey leaked"
    );
}

#[test]
fn a_payload_that_did_not_decode_keeps_its_secrets_out_of_debug_output() {
    // A size that cannot be one: the image item is kept whole in `extra`,
    // its AES key and CDN parameter with it.
    let item: MessageItem = serde_json::from_value(serde_json::json!({
        "type": 2,
        "image_item": {
            "hd_size": -1,
            "media": {
                "encrypt_query_param": "PARAMSECRET0123456789",
                "aes_key": "MDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmY="
            }
        }
    }))
    .unwrap();
    assert!(
        item.file_item.is_none(),
        "the test needs a payload in extra"
    );
    let dbg = format!("{item:?}");
    assert!(!dbg.contains("PARAMSECRET0123456789"), "{dbg}");
    assert!(!dbg.contains("MDAxMTIyMzM0NDU1NjY3Nzg4"), "{dbg}");
    assert!(
        dbg.contains("\"hd_size\":-1"),
        "what is not secret still shows: {dbg}"
    );
}

#[test]
fn a_file_size_sent_as_a_number_keeps_the_file() {
    let item: MessageItem = serde_json::from_value(serde_json::json!({
        "type": 4,
        "file_item": {"len": 1234, "file_name": "a.pdf", "media": {"encrypt_query_param": "p"}}
    }))
    .unwrap();
    let file = item.file_item.expect("the file item decodes");
    assert_eq!(file.len.as_deref(), Some("1234"));
    assert!(file.media.is_some());
    assert!(item.extra.is_empty(), "{:?}", item.extra);
}

#[test]
fn an_item_stays_small_whatever_payloads_it_could_hold() {
    // Every item of every message is moved and allocated at this size;
    // with the media payloads inline it was 1,664 bytes.
    let size = std::mem::size_of::<MessageItem>();
    assert!(size <= 256, "MessageItem is {size} bytes");
}
