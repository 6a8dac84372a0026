//! Keys that recognize a redelivered inbound message.
//!
//! The server delivers at least once: the same message may come again about
//! a second later and again 30–50 minutes later, sometimes with a new
//! `message_id`. A message is a duplicate when any of its keys was seen on an
//! earlier message within the window: its `message_id`, its `client_id`, its
//! sender and `seq`, or a fingerprint of sender, group, content and
//! `create_time_ms` (which survives a new `message_id`).

use std::borrow::Cow;

use ilink_core::crypto::md5_hex;
use ilink_core::types::WeixinMessage;

/// The dedup keys of a message, most specific first.
pub fn dedup_keys(msg: &WeixinMessage) -> Vec<String> {
    let mut keys = Vec::with_capacity(4);
    if let Some(id) = msg.message_id.filter(|id| *id != 0) {
        keys.push(format!("m:{id}"));
    }
    if let Some(cid) = msg.client_id.as_deref().filter(|c| !c.is_empty()) {
        keys.push(format!("c:{}", sanitize(cid)));
    }
    let from = msg.from_user_id.as_deref().unwrap_or_default();
    if let Some(seq) = msg.seq.filter(|s| *s != 0) {
        keys.push(format!("s:{}:{seq}", sanitize(from)));
    }
    if let Some(at) = msg.create_time_ms.filter(|t| *t != 0) {
        keys.push(format!("f:{}", fingerprint(msg, from, at)));
    }
    keys
}

/// md5 of `{from}\u{1}{group}\u{1}{at}\u{1}{items as JSON}`, built in one
/// buffer (the items are serialized straight into it).
fn fingerprint(msg: &WeixinMessage, from: &str, at: i64) -> String {
    use std::io::Write as _;
    let group = msg.group_id.as_deref().unwrap_or_default();
    let mut buf = Vec::with_capacity(from.len() + group.len() + 256);
    let _ = write!(buf, "{from}\u{1}{group}\u{1}{at}\u{1}");
    let start = buf.len();
    if serde_json::to_writer(&mut buf, &msg.item_list).is_err() {
        // As before: content that cannot be serialized counts as empty.
        buf.truncate(start);
    }
    md5_hex(&buf)
}

/// Keys are stored one per line with tab separators; ids never legitimately
/// contain control characters, so they are replaced rather than escaped.
fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ilink_core::types::MessageItem;

    fn msg(id: u64) -> WeixinMessage {
        WeixinMessage {
            message_id: Some(id),
            seq: Some(7),
            from_user_id: Some("u@im.wechat".into()),
            create_time_ms: Some(1_700_000_000_000),
            item_list: vec![MessageItem::text("hi")],
            ..Default::default()
        }
    }

    #[test]
    fn redelivery_with_a_new_id_shares_the_fingerprint() {
        let a = dedup_keys(&msg(1));
        let b = dedup_keys(&msg(2));
        assert_ne!(a[0], b[0]);
        assert!(a.iter().any(|k| k.starts_with("f:") && b.contains(k)));
    }

    #[test]
    fn different_content_at_the_same_time_differs() {
        let mut other = msg(2);
        other.seq = Some(8);
        other.item_list = vec![MessageItem::text("bye")];
        let a = dedup_keys(&msg(1));
        let b = dedup_keys(&other);
        assert!(a.iter().all(|k| !b.contains(k)), "{a:?} vs {b:?}");
    }

    #[test]
    fn fingerprint_is_md5_of_the_serialized_items() {
        let mut m = msg(1);
        m.group_id = Some("g".into());
        m.item_list.push(MessageItem::text("two"));
        let content = serde_json::to_string(&m.item_list).unwrap();
        let expected = format!(
            "f:{}",
            md5_hex(format!("u@im.wechat\u{1}g\u{1}1700000000000\u{1}{content}").as_bytes())
        );
        assert!(dedup_keys(&m).contains(&expected));
    }

    #[test]
    fn keys_have_no_separators() {
        let mut m = msg(1);
        m.client_id = Some("a\tb\nc".into());
        for k in dedup_keys(&m) {
            assert!(!k.contains('\t') && !k.contains('\n'), "{k:?}");
        }
    }
}
