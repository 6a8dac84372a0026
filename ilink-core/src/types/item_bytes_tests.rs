//! `MessageItem` is written without building a `Value` per field, and must
//! still give the very bytes the `Value`-map form gave: the dedup
//! fingerprint of a stored message is computed from them.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::*;

/// The form items were written in before: every field a `Value` in a
/// sorted map, `extra` merged in without overriding a known field.
fn reference(item: &MessageItem) -> String {
    let mut map = Map::new();
    let unread_type = item.item_type == ItemType::default() && item.extra.contains_key("type");
    if !unread_type {
        map.insert("type".into(), Value::from(item.item_type.code()));
    }
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            map.insert(key.to_owned(), v);
        }
    };
    fn value<T: Serialize>(v: &Option<T>) -> Option<Value> {
        v.as_ref().map(|v| serde_json::to_value(v).unwrap())
    }
    put("create_time_ms", item.create_time_ms.map(Value::from));
    put("update_time_ms", item.update_time_ms.map(Value::from));
    put("is_completed", item.is_completed.map(Value::from));
    put("msg_id", item.msg_id.map(Value::from));
    put("ref_msg", value(&item.ref_msg));
    put("text_item", value(&item.text_item));
    put("image_item", value(&item.image_item));
    put("voice_item", value(&item.voice_item));
    put("file_item", value(&item.file_item));
    put("video_item", value(&item.video_item));
    put("tool_call_start_item", value(&item.tool_call_start_item));
    put("tool_call_result_item", value(&item.tool_call_result_item));
    for (k, v) in &item.extra {
        map.entry(k.clone()).or_insert_with(|| v.clone());
    }
    serde_json::to_string(&map).unwrap()
}

fn item(v: Value) -> MessageItem {
    serde_json::from_value(v).unwrap()
}

#[test]
fn items_are_written_as_the_sorted_value_map_wrote_them() {
    let cases = [
        json!({"type": 1, "text_item": {"text": "hi \"there\" 👋\n"}}),
        json!({"type": 1, "text_item": {}}),
        json!({"type": 1, "text_item": {"text": "x", "a_first": 1, "z_last": [1, 2.5]}}),
        json!({"type": 1, "text_item": {"text": "x"}, "aaa": 1, "msg_id": "18446744073709551615",
               "create_time_ms": -5, "is_completed": true, "update_time_ms": 9, "zzz": {"b": 1, "a": 2}}),
        // Keys of `extra` before, between and after every known key.
        json!({"type": 2, "a": 0, "d": 1, "f": 2, "h": 3, "j": 4, "n": 5, "s": 6, "t": 7,
               "tool_call_q": 8, "tool_call_s": 9, "tp": 10, "u": 11, "v": 12, "vj": 13, "w": 14,
               "image_item": {"mid_size": 1024, "aeskey": "k", "media": {"encrypt_type": 1}}}),
        // A known key with an unreadable value stays in `extra`, in its place.
        json!({"type": 1, "text_item": "not an object", "msg_id": [1], "is_completed": "yes"}),
        // An unreadable type is written back as received.
        json!({"type": "three", "voice_item": {"playtime": 3, "text": "said"}}),
        json!({"type": 99, "unknown_item": {"x": 1}}),
        json!({"type": 4, "file_item": {"file_name": "a.txt", "len": "12", "md5": "m"},
               "video_item": {"video_size": 3}, "ref_msg": {"title": "t",
               "message_item": {"type": 1, "text_item": {"text": "q"}}}}),
        json!({"type": 1, "tool_call_start_item": {"name": "f"}, "tool_call_result_item": {"ok": true},
               "create_time_ms": 1.5e300}),
        json!({}),
    ];
    for case in cases {
        let item = item(case.clone());
        assert_eq!(
            serde_json::to_string(&item).unwrap(),
            reference(&item),
            "{case}"
        );
        // And it reads back as the same item.
        let again: MessageItem =
            serde_json::from_str(&serde_json::to_string(&item).unwrap()).unwrap();
        assert_eq!(again, item, "{case}");
    }
}

#[test]
fn known_fields_of_a_built_item_are_written_in_key_order() {
    let mut built = MessageItem::text("hello");
    built.msg_id = Some(7);
    built.create_time_ms = Some(1);
    built.update_time_ms = Some(2);
    built.is_completed = Some(false);
    built.extra.insert("text_item".into(), json!("shadowed"));
    built.extra.insert("b".into(), json!(null));
    assert_eq!(
        serde_json::to_string(&built).unwrap(),
        r#"{"b":null,"create_time_ms":1,"is_completed":false,"msg_id":7,"text_item":{"text":"hello"},"type":1,"update_time_ms":2}"#
    );
    assert_eq!(serde_json::to_string(&built).unwrap(), reference(&built));
}

/// The merge relies on `extra` iterating in key order, which holds while
/// serde_json's `preserve_order` feature is off.
#[test]
fn extra_iterates_in_key_order() {
    let mut extra = Map::new();
    for k in ["z", "a", "m"] {
        extra.insert(k.into(), Value::Null);
    }
    let keys: Vec<&str> = extra.keys().map(String::as_str).collect();
    assert_eq!(keys, ["a", "m", "z"]);
}
