//! Per-message decoding of `getupdates`: one malformed message never costs its
//! batch, and what is tolerated versus rejected follows docs/protocol.md
//! ("Malformed messages").

use serde_json::json;

use super::repair::from_slice_lenient;
use super::*;

const GOOD: &str = r#"{"message_id":7489534892789344264,"from_user_id":"alice@im.wechat","context_token":"ctx-good","item_list":[{"type":1,"text_item":{"text":"hi"}}]}"#;

/// A batch of `msgs` with a cursor and a poll timeout, decoded as the API decodes it.
fn batch(msgs: &[&str]) -> GetUpdatesResponse {
    let body = format!(
        r#"{{"ret":0,"msgs":[{}],"get_updates_buf":"cursor-9","longpolling_timeout_ms":"30000"}}"#,
        msgs.join(",")
    );
    from_slice_lenient(body.as_bytes()).expect("the envelope decodes")
}

#[test]
fn each_malformed_message_is_rejected_alone() {
    for (case, bad) in [
        (
            "message_id a word",
            r#"{"message_id":"seven","context_token":"ctx-secret"}"#,
        ),
        ("message_id negative", r#"{"message_id":-5}"#),
        ("item_list an object", r#"{"item_list":{"type":1}}"#),
        ("a null item", r#"{"item_list":[{"type":1},null]}"#),
        ("create_time_ms a word", r#"{"create_time_ms":"yesterday"}"#),
        ("a null message", "null"),
        ("a number as message", "42"),
        ("an array as message", r#"[1,"two"]"#),
        ("a string as message", r#""ctx-secret""#),
        ("message_type a word", r#"{"message_type":"user"}"#),
        // Valid JSON no f64 holds (found by the getupdates fuzz target).
        (
            "a number beyond f64",
            r#"{"item_list":[{"type":92789e34422}]}"#,
        ),
        ("a message_id beyond f64", r#"{"message_id":1e400}"#),
    ] {
        let resp = batch(&[GOOD, bad]);
        assert_eq!(resp.msgs.len(), 1, "{case}");
        assert_eq!(resp.msgs[0].text().as_deref(), Some("hi"), "{case}");
        assert_eq!(resp.rejected.len(), 1, "{case}");
        let rejected = &resp.rejected[0];
        assert_eq!(rejected.index, 1, "{case}");
        assert_eq!(rejected.raw, bad, "{case}");
        assert!(!rejected.error.is_empty(), "{case}");
        assert!(
            !rejected.error.contains("seven"),
            "{case}: {}",
            rejected.error
        );
        assert!(!format!("{rejected:?}").contains("ctx-secret"), "{case}");
        assert_eq!(resp.cursor(), Some("cursor-9"), "{case}");
        assert_eq!(resp.longpolling_timeout_ms, Some(30_000), "{case}");
    }
}

#[test]
fn rejected_messages_keep_their_index_among_good_ones() {
    let resp = batch(&[r#"{"message_id":-1}"#, GOOD, "null", GOOD]);
    assert_eq!(resp.msgs.len(), 2);
    let indexes: Vec<usize> = resp.rejected.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [0, 2]);
}

#[test]
fn the_error_names_the_field_without_its_value() {
    let resp = batch(&[
        r#"{"message_id":"12x-secret"}"#,
        r#"{"item_list":[{},null]}"#,
    ]);
    let errors: Vec<&str> = resp.rejected.iter().map(|r| r.error.as_str()).collect();
    assert!(errors[0].starts_with("message_id: "), "{}", errors[0]);
    assert!(!errors[0].contains("12x-secret"), "{}", errors[0]);
    assert!(errors[1].starts_with("item_list[1]: "), "{}", errors[1]);
}

#[test]
fn numbers_as_strings_and_unknown_values_are_tolerated() {
    let resp = batch(&[
        r#"{"seq":"17","message_id":"7489534892789344264","create_time_ms":"1732000000000",
            "message_type":"1","message_state":"9","future":{"x":[1]},
            "item_list":[{"type":"77","msg_id":"5","odd":true}]}"#,
        r#"{"message_id":" 12 ","create_time_ms":"","item_list":null}"#,
    ]);
    assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
    let m = &resp.msgs[0];
    assert_eq!(m.seq, Some(17));
    assert_eq!(m.message_id, Some(7_489_534_892_789_344_264));
    assert_eq!(m.create_time_ms, Some(1_732_000_000_000));
    assert_eq!(m.message_type, Some(MessageType::User));
    assert_eq!(m.message_state, Some(MessageState::Unknown(9)));
    assert_eq!(m.item_list[0].item_type, ItemType::Unknown(77));
    assert_eq!(m.item_list[0].msg_id, Some(5));
    assert!(m.extra.contains_key("future"));
    let m = &resp.msgs[1];
    assert_eq!(m.message_id, Some(12));
    assert_eq!(m.create_time_ms, None);
    assert!(m.item_list.is_empty());
}

#[test]
fn unpaired_surrogates_become_replacement_characters() {
    let text = |t: &str| {
        format!(r#"{{"message_id":1,"item_list":[{{"type":1,"text_item":{{"text":"{t}"}}}}]}}"#)
    };
    let cut = text(r"half \ud83d");
    let low = text(r"\ude00 low");
    let followed = text(r"\ud83dx");
    let pair = text(r"\ud83d\ude00");
    let bad_escape = text(r"\q");
    let resp = batch(&[&cut, &low, &followed, &pair, &bad_escape]);
    assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
    let texts: Vec<String> = resp.msgs.iter().filter_map(|m| m.text()).collect();
    assert_eq!(
        texts,
        [
            "half \u{fffd}",
            "\u{fffd} low",
            "\u{fffd}x",
            "😀",
            "\u{fffd}"
        ]
    );
}

#[test]
fn an_envelope_that_does_not_decode_fails_as_a_whole() {
    for body in [
        r#"{"ret":0,"msgs":{"a":1}}"#,
        r#"{"ret":0,"msgs":"none"}"#,
        r#"{"ret":"zero","msgs":[]}"#,
        r#"{"ret":0,"msgs":[{"message_id":1}"#,
    ] {
        assert!(
            from_slice_lenient::<GetUpdatesResponse>(body.as_bytes()).is_err(),
            "{body}"
        );
    }
    let resp: GetUpdatesResponse = from_slice_lenient(br#"{"msgs":null}"#).unwrap();
    assert!(resp.msgs.is_empty() && resp.rejected.is_empty());
}

#[test]
fn rejected_messages_are_not_serialized_and_decode_from_values_too() {
    let value = json!({"msgs": [{"message_id": 1}, {"message_id": "x"}], "get_updates_buf": "c"});
    let resp: GetUpdatesResponse = serde_json::from_value(value).unwrap();
    assert_eq!((resp.msgs.len(), resp.rejected.len()), (1, 1));
    assert_eq!(resp.rejected[0].raw, r#"{"message_id":"x"}"#);
    let back = serde_json::to_value(&resp).unwrap();
    assert_eq!(
        back,
        json!({"ret": 0, "msgs": [{"message_id": 1, "item_list": []}], "get_updates_buf": "c"})
    );
}

#[test]
fn the_shape_hides_strings_and_is_bounded() {
    let resp = batch(&[
        r#"{"message_id":-1,"context_token":"ctx-secret","item_list":[{"type":1,"text_item":{"text":"héllo"}}],"ok":true,"n":null}"#,
    ]);
    let shape = resp.rejected[0].shape();
    assert!(!shape.contains("ctx-secret"), "{shape}");
    for part in [
        r#""context_token":"<10 chars>""#,
        r#""message_id":-1"#,
        r#""text_item":{"text":"<5 chars>"}"#,
        r#""ok":true"#,
        r#""n":null"#,
    ] {
        assert!(shape.contains(part), "{part} in {shape}");
    }

    let long = format!(
        r#"{{"message_id":-1,"item_list":[{}]}}"#,
        vec!["{}"; 5000].join(",")
    );
    let resp = batch(&[&long]);
    let shape = resp.rejected[0].shape();
    assert!(shape.chars().count() <= SHAPE_LIMIT + 1, "{}", shape.len());
    assert!(shape.ends_with('…'), "{shape}");
    let debug = format!("{:?}", resp.rejected[0]);
    assert!(
        debug.contains(&format!("<{} bytes>", long.len())),
        "{debug}"
    );
}

/// serde reads a struct from an array of its fields in order; an answer
/// written as an empty array is an answer with nothing in it, as `{}` is
/// (the official client's `JSON.parse(body).msgs` finds nothing either).
/// Found by the getupdates fuzz target.
#[test]
fn an_empty_array_answer_decodes_like_an_empty_object() {
    let from_array: GetUpdatesResponse = from_slice_lenient(b" [ ] ").unwrap();
    let from_object: GetUpdatesResponse = from_slice_lenient(b"{}").unwrap();
    for resp in [&from_array, &from_object] {
        assert!(resp.msgs.is_empty() && resp.rejected.is_empty());
        assert_eq!(resp.cursor(), None);
        assert_eq!(resp.ret(), from_object.ret());
    }
}

/// An item whose `type` cannot be read keeps it as received, through a
/// round trip too (found by the getupdates fuzz target).
#[test]
fn an_unreadable_item_type_reads_back_as_received() {
    let resp = batch(&[r#"{"message_id":1,"item_list":[{"type":{"odd":"x"}},{"type":"77"}]}"#]);
    let msg = &resp.msgs[0];
    let json = serde_json::to_string(msg).unwrap();
    assert!(json.contains(r#""type":{"odd":"x"}"#), "{json}");
    let again: WeixinMessage = serde_json::from_str(&json).unwrap();
    assert_eq!(&again, msg);
}

#[test]
fn a_raw_control_character_in_one_message_costs_no_other_message() {
    // JSON forbids a raw NUL or tab inside a string; `JSON.parse` refuses
    // the whole body. The character is kept, as its escape.
    let body = "{\"ret\":0,\"msgs\":[{\"message_id\":1,\"from_user_id\":\"b\",\"item_list\":[{\"type\":1,\"text_item\":{\"text\":\"a\0b\tc\"}}]},{\"message_id\":2,\"from_user_id\":\"c\",\"item_list\":[{\"type\":1,\"text_item\":{\"text\":\"fine\"}}]}],\"get_updates_buf\":\"next\"}";
    let resp: GetUpdatesResponse =
        from_slice_lenient(body.as_bytes()).expect("the envelope decodes");
    assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
    assert_eq!(resp.msgs.len(), 2);
    assert_eq!(resp.msgs[0].text().as_deref(), Some("a\0b\tc"));
    assert_eq!(resp.msgs[1].text().as_deref(), Some("fine"));
    assert_eq!(resp.cursor(), Some("next"));
}

#[test]
fn each_decoded_message_keeps_the_json_it_came_from() {
    let resp = batch(&[r#"{"message_id":-1}"#, GOOD, r#"{"message_id":"8","x":1}"#]);
    assert_eq!(resp.msgs.len(), 2);
    assert_eq!(resp.msgs_json.len(), resp.msgs.len());
    assert_eq!(resp.msgs_json[0].as_str(), GOOD);
    // As it came, numbers in strings and unknown fields included; it
    // decodes to the very message decoded from it.
    assert_eq!(resp.msgs_json[1].as_str(), r#"{"message_id":"8","x":1}"#);
    for (msg, json) in resp.msgs.iter().zip(&resp.msgs_json) {
        let again: WeixinMessage = serde_json::from_str(json.as_str()).unwrap();
        assert_eq!(&again, msg);
    }
    // The text holds the context token: `Debug` shows its size only.
    let shown = format!("{resp:?}");
    assert!(!shown.contains("ctx-good"), "{shown}");
    assert!(shown.contains(&format!("MessageJson(<{} bytes>)", GOOD.len())));
    // Not part of the answer's JSON form.
    let back = serde_json::to_value(&resp).unwrap();
    assert!(back.get("msgs_json").is_none());
}

#[test]
fn a_repaired_message_keeps_its_repaired_json() {
    let body = "{\"ret\":0,\"msgs\":[{\"message_id\":1,\"from_user_id\":\"b\",\"item_list\":[{\"type\":1,\"text_item\":{\"text\":\"a\0b\"}}]}]}";
    let resp: GetUpdatesResponse =
        from_slice_lenient(body.as_bytes()).expect("the envelope decodes");
    let json = resp.msgs_json[0].as_str();
    assert!(json.contains("a\\u0000b"), "{json}");
    let again: WeixinMessage = serde_json::from_str(json).unwrap();
    assert_eq!(again, resp.msgs[0]);
}
