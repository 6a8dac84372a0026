//! Keys that recognize a redelivered inbound message.

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;
use std::ops::Deref;

use ilink_core::types::WeixinMessage;
use md5::{Digest as _, Md5};

/// One dedup key of a message: 16 bytes, written as 32 hex digits.
///
/// The server delivers at least once: the same message may come again about
/// a second later and again 30–50 minutes later, sometimes with a new
/// `message_id`. A message is a duplicate when any of its keys was seen on an
/// earlier message within the window: its `message_id`, its `client_id`, its
/// sender and `seq`, or a fingerprint of sender, group, content and
/// `create_time_ms` (which survives a new `message_id`).
///
/// Stores keep every key for `dedup_window` (2 h), so a key is a fixed
/// 16 bytes rather than a string: the `message_id` itself, or an md5 of what
/// identifies the message. Its first byte tells the four kinds apart, so keys
/// of different kinds never collide.
///
/// ```
/// use ilink_framework::core::types::{MessageItem, WeixinMessage};
/// use ilink_framework::{DedupKey, dedup_keys};
///
/// let msg = WeixinMessage {
///     message_id: Some(42),
///     item_list: vec![MessageItem::text("hi")],
///     ..Default::default()
/// };
/// let keys = dedup_keys(&msg);
/// assert_eq!(keys.len(), 1);
/// assert_eq!(DedupKey::parse(&keys[0].to_string()), Some(keys[0]));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DedupKey([u8; 16]);

/// The first byte of a key: which property of the message it stands for.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Kind {
    MessageId = 1,
    ClientId = 2,
    SenderSeq = 3,
    Fingerprint = 4,
}

impl DedupKey {
    /// A key from its 16 bytes, as [`DedupKey::as_bytes`] returned them.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The key's 16 bytes, for stores that keep binary values.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Reads a key as stores write it (32 hex digits, its `Display`), or as
    /// earlier versions wrote keys (`m:<id>`, `c:<client_id>`,
    /// `s:<sender>:<seq>`, `f:<md5>`), so that keys recorded before an
    /// upgrade still count.
    pub fn parse(s: &str) -> Option<Self> {
        let mut bytes = [0u8; 16];
        if hex::decode_to_slice(s, &mut bytes).is_ok() {
            return Some(Self(bytes));
        }
        let (kind, rest) = s.split_once(':')?;
        match kind {
            "m" => rest.parse().ok().map(Self::message_id),
            "f" => {
                hex::decode_to_slice(rest, &mut bytes).ok()?;
                Some(Self::tagged(Kind::Fingerprint, bytes))
            }
            // These were hashed from exactly this text (see `dedup_keys`).
            "c" => Some(Self::tagged(Kind::ClientId, Md5::digest(s).into())),
            "s" => Some(Self::tagged(Kind::SenderSeq, Md5::digest(s).into())),
            _ => None,
        }
    }

    fn tagged(kind: Kind, mut bytes: [u8; 16]) -> Self {
        // 120 bits of an md5 are still far beyond any collision in a window.
        bytes[0] = kind as u8;
        Self(bytes)
    }

    fn message_id(id: u64) -> Self {
        let mut bytes = [0u8; 16];
        bytes[0] = Kind::MessageId as u8;
        bytes[8..].copy_from_slice(&id.to_be_bytes());
        Self(bytes)
    }
}

impl std::hash::Hash for DedupKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // One write instead of a length prefix and sixteen bytes.
        state.write_u128(u128::from_ne_bytes(self.0));
    }
}

impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hex = [0u8; 32];
        // Cannot fail: the buffer is exactly twice the key's length.
        let _ = hex::encode_to_slice(self.0, &mut hex);
        f.write_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl fmt::Debug for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DedupKey({self})")
    }
}

/// The dedup keys of one message (at most four), most specific first.
#[derive(Clone, Copy, Debug)]
pub struct DedupKeys {
    keys: [DedupKey; 4],
    len: usize,
}

impl DedupKeys {
    fn push(&mut self, key: DedupKey) {
        self.keys[self.len] = key;
        self.len += 1;
    }
}

impl Deref for DedupKeys {
    type Target = [DedupKey];

    fn deref(&self) -> &[DedupKey] {
        &self.keys[..self.len]
    }
}

/// The dedup keys of a message, most specific first.
///
/// Computed for every inbound message, so nothing here allocates unless a
/// sender or client id holds control characters; the hashed text is what
/// earlier versions stored as the key itself, which keeps keys recorded by
/// them valid (see [`DedupKey::parse`]).
pub fn dedup_keys(msg: &WeixinMessage) -> DedupKeys {
    let mut keys = DedupKeys {
        keys: [DedupKey([0; 16]); 4],
        len: 0,
    };
    if let Some(id) = msg.message_id.filter(|id| *id != 0) {
        keys.push(DedupKey::message_id(id));
    }
    if let Some(cid) = msg.client_id.as_deref().filter(|c| !c.is_empty()) {
        let mut h = Md5::new();
        h.update(b"c:");
        h.update(sanitize(cid).as_bytes());
        keys.push(DedupKey::tagged(Kind::ClientId, h.finalize().into()));
    }
    let from = msg.from_user_id.as_deref().unwrap_or_default();
    if let Some(seq) = msg.seq.filter(|s| *s != 0) {
        let mut h = Md5::new();
        // Writing into a hasher cannot fail.
        let _ = write!(h, "s:{}:{seq}", sanitize(from));
        keys.push(DedupKey::tagged(Kind::SenderSeq, h.finalize().into()));
    }
    if let Some(at) = msg.create_time_ms.filter(|t| *t != 0) {
        keys.push(DedupKey::tagged(
            Kind::Fingerprint,
            fingerprint(msg, from, at),
        ));
    }
    keys
}

/// md5 of `{from}\u{1}{group}\u{1}{at}\u{1}{items as JSON}`, built in one
/// buffer: the JSON serializer writes in many small pieces, which a buffer
/// takes far more cheaply than the hasher.
fn fingerprint(msg: &WeixinMessage, from: &str, at: i64) -> [u8; 16] {
    let group = msg.group_id.as_deref().unwrap_or_default();
    let mut buf = Vec::with_capacity(from.len() + group.len() + 256);
    let _ = write!(buf, "{from}\u{1}{group}\u{1}{at}\u{1}");
    let start = buf.len();
    if serde_json::to_writer(&mut buf, &msg.item_list).is_err() {
        // As before: content that cannot be serialized counts as empty.
        buf.truncate(start);
    }
    Md5::digest(&buf).into()
}

/// Earlier versions stored keys one per line with tab separators and
/// replaced control characters; the text hashed for a key still does, so
/// that its hash matches a key stored then.
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
    use ilink_core::crypto::md5_hex;
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
        assert_eq!(a.len(), 3);
        assert_ne!(a[0], b[0]);
        assert_eq!(a[2], b[2], "same fingerprint");
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
    fn keys_of_different_kinds_never_collide() {
        // A message id equal to the bytes of another key's hash still differs by kind.
        let m = DedupKey::message_id(u64::MAX);
        let f = DedupKey::tagged(Kind::Fingerprint, m.0);
        assert_ne!(m, f);
        let mut with_client = msg(1);
        with_client.client_id = Some("c-1".into());
        let keys = dedup_keys(&with_client);
        assert_eq!(keys.len(), 4);
        let kinds: Vec<u8> = keys.iter().map(|k| k.0[0]).collect();
        assert_eq!(kinds, vec![1, 2, 3, 4]);
    }

    #[test]
    fn keys_match_those_earlier_versions_stored_as_text() {
        let mut m = msg(1);
        m.group_id = Some("g".into());
        m.client_id = Some("a\tb".into());
        m.item_list.push(MessageItem::text("two"));
        let content = serde_json::to_string(&m.item_list).unwrap();
        let fingerprint =
            md5_hex(format!("u@im.wechat\u{1}g\u{1}1700000000000\u{1}{content}").as_bytes());
        let legacy = [
            "m:1".to_owned(),
            "c:a?b".to_owned(),
            "s:u@im.wechat:7".to_owned(),
            format!("f:{fingerprint}"),
        ];
        let parsed: Vec<DedupKey> = legacy.iter().map(|k| DedupKey::parse(k).unwrap()).collect();
        assert_eq!(&*dedup_keys(&m), parsed.as_slice());
    }

    #[test]
    fn a_key_reads_back_from_its_text() {
        for key in dedup_keys(&msg(1)).iter() {
            let text = key.to_string();
            assert_eq!(text.len(), 32);
            assert!(text.bytes().all(|b| b.is_ascii_hexdigit()), "{text}");
            assert_eq!(DedupKey::parse(&text), Some(*key));
        }
        assert_eq!(DedupKey::parse("x:1"), None);
        assert_eq!(DedupKey::parse("m:not-a-number"), None);
        assert_eq!(DedupKey::parse("garbage"), None);
    }
}
