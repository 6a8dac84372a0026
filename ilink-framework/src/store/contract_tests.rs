//! The same behaviour checks run against every [`StateStore`] implementation.

use ilink_core::types::{MessageItem, WeixinMessage};

use super::*;
use crate::dedup::DedupKey;

fn key(text: &str) -> DedupKey {
    DedupKey::parse(text).unwrap()
}

fn stores() -> Vec<(Box<dyn StateStore>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    vec![
        (Box::new(MemoryStore::new()), None),
        (Box::new(FileStore::open(dir.path()).unwrap()), Some(dir)),
    ]
}

fn entry(id: u64, text: &str) -> InboxEntry {
    InboxEntry {
        id,
        msg: WeixinMessage {
            item_list: vec![MessageItem::text(text)],
            ..Default::default()
        }
        .into(),
        received_at_ms: 1,
    }
}

#[test]
fn cursor_round_trip() {
    for (s, _d) in stores() {
        let a = AccountId::new("a@im.bot");
        assert_eq!(s.load_cursor(&a).unwrap(), None);
        s.save_cursor(&a, "one").unwrap();
        s.save_cursor(&a, "two").unwrap();
        assert_eq!(s.load_cursor(&a).unwrap().as_deref(), Some("two"));
        assert_eq!(s.load_cursor(&AccountId::new("other")).unwrap(), None);
    }
}

#[test]
fn inbox_keeps_order_and_removes() {
    for (s, _d) in stores() {
        let a = AccountId::new("a");
        s.inbox_put(&a, &[entry(12, "b"), entry(3, "a")]).unwrap();
        s.inbox_put(&a, &[entry(40, "c")]).unwrap();
        s.inbox_remove(&a, 12).unwrap();
        s.inbox_remove(&a, 999).unwrap();
        let ids: Vec<u64> = s.inbox_load(&a).unwrap().iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![3, 40]);
        assert_eq!(
            s.inbox_load(&a).unwrap()[0].msg.text().as_deref(),
            Some("a")
        );
    }
}

#[test]
fn context_tokens_per_user() {
    for (s, _d) in stores() {
        let a = AccountId::new("a");
        let rec = ContextTokenRecord {
            token: "t1".into(),
            received_at_ms: 5,
            sent: 2,
        };
        s.put_context_token(&a, "u@im.wechat", &rec).unwrap();
        assert_eq!(s.context_token(&a, "u@im.wechat").unwrap(), Some(rec));
        assert_eq!(
            s.context_token(&a, "U@im.wechat").unwrap(),
            None,
            "ids are case-sensitive"
        );
    }
}

#[test]
fn dedup_recognizes_other_entries_only_within_window() {
    for (s, _d) in stores() {
        let a = AccountId::new("a");
        let k = |x: &str| vec![key(x)];
        assert_eq!(
            s.dedup_check_insert(&a, &k("m:1"), 1, 0, 100).unwrap(),
            None
        );
        // The same entry seen again (replay after restart) is not a duplicate.
        assert_eq!(
            s.dedup_check_insert(&a, &k("m:1"), 1, 10, 100).unwrap(),
            None
        );
        assert_eq!(
            s.dedup_check_insert(&a, &k("m:1"), 2, 20, 100).unwrap(),
            Some(1)
        );
        // Any shared key is enough.
        assert_eq!(
            s.dedup_check_insert(&a, &[key("m:9"), key("m:1")], 3, 30, 100)
                .unwrap(),
            Some(1)
        );
        // After the window the key is forgotten.
        assert_eq!(
            s.dedup_check_insert(&a, &k("m:1"), 4, 500, 100).unwrap(),
            None
        );
    }
}

#[test]
fn a_batch_is_checked_in_order_against_itself_and_earlier_entries() {
    for (s, _d) in stores() {
        let a = AccountId::new("a@im.bot");
        assert_eq!(
            s.dedup_check_insert(&a, &[key("m:1")], 1, 0, 100).unwrap(),
            None
        );
        let (k2, k3, k1) = ([key("m:2")], [key("m:3"), key("m:2")], [key("m:1")]);
        let batch: [(u64, &[DedupKey]); 3] = [(2, &k2), (3, &k3), (4, &k1)];
        assert_eq!(
            s.dedup_check_insert_batch(&a, &batch, 10, 100).unwrap(),
            vec![None, Some(2), Some(1)]
        );
        // Entry 3 was a duplicate: its other key was not recorded.
        assert_eq!(
            s.dedup_check_insert(&a, &[key("m:3")], 5, 20, 100).unwrap(),
            None
        );
        // And entry 2's key counts from now on.
        assert_eq!(
            s.dedup_check_insert(&a, &[key("m:2")], 6, 30, 100).unwrap(),
            Some(2)
        );
    }
}

#[test]
fn credentials_list_and_remove() {
    for (s, _d) in stores() {
        s.save_credentials(&Credentials::new("b", "tok-b")).unwrap();
        s.save_credentials(&Credentials::new("a", "tok-a").with_base_url("http://127.0.0.1:1"))
            .unwrap();
        let ids: Vec<String> = s
            .list_credentials()
            .unwrap()
            .iter()
            .map(|c| c.account_id.to_string())
            .collect();
        assert_eq!(ids, vec!["a", "b"]);
        assert!(s.remove_credentials(&AccountId::new("a")).unwrap());
        assert!(!s.remove_credentials(&AccountId::new("a")).unwrap());
        assert_eq!(s.list_credentials().unwrap().len(), 1);
    }
}

#[test]
fn forgetting_an_account_keeps_only_its_credentials_and_other_accounts() {
    for (s, _d) in stores() {
        let a = AccountId::new("a");
        let b = AccountId::new("b");
        for acct in [&a, &b] {
            s.save_cursor(acct, "c").unwrap();
            s.inbox_put(acct, &[entry(1, "x")]).unwrap();
            let rec = ContextTokenRecord {
                token: "t".into(),
                received_at_ms: 1,
                sent: 0,
            };
            s.put_context_token(acct, "u", &rec).unwrap();
            s.dedup_check_insert(acct, &[key("m:1")], 1, 0, 100)
                .unwrap();
        }
        s.save_credentials(&Credentials::new("a", "tok-a")).unwrap();
        s.forget_account(&a).unwrap();
        s.forget_account(&AccountId::new("never-seen")).unwrap();
        assert_eq!(s.load_cursor(&a).unwrap(), None);
        assert!(s.inbox_load(&a).unwrap().is_empty());
        assert_eq!(s.context_token(&a, "u").unwrap(), None);
        assert_eq!(
            s.dedup_check_insert(&a, &[key("m:1")], 2, 10, 100).unwrap(),
            None
        );
        assert_eq!(s.list_credentials().unwrap().len(), 1);
        assert_eq!(s.load_cursor(&b).unwrap().as_deref(), Some("c"));
        assert_eq!(
            s.dedup_check_insert(&b, &[key("m:1")], 2, 10, 100).unwrap(),
            Some(1)
        );
    }
}
