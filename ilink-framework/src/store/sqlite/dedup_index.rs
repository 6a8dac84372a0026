//! The dedup keys of [`SqliteStore`](super::SqliteStore): an append-only
//! log in the database, looked up in memory.
//!
//! A message's keys are 16 random-looking bytes. Kept in a table keyed by
//! them, each key of a received batch lands on its own B-tree page, and a
//! commit rewrites every page it touched: a batch of 240 messages wrote
//! about 600 pages (2.4 MB of WAL) for 960 keys of 16 bytes. Appended in
//! the order they are recorded, the same keys fill a dozen pages at the
//! end of the log, and the oldest expire from its front.
//!
//! Lookups then need an index: this one, in the writer thread's memory,
//! loaded from the log the first time an account's batch is written. Only
//! the writer changes the log, so the two agree; a transaction that fails
//! (or a batch whose savepoint is rolled back) undoes what it recorded
//! here. Expiry is not undone: an expired key no longer counts whether or
//! not its row is gone yet, and the next deletion takes every row up to
//! the newest expired one.

use std::collections::{HashMap, VecDeque};

use rusqlite::{Connection, params};

use crate::account::AccountId;
use crate::dedup::DedupKey;

/// The keys of every account the writer has written a batch for.
#[derive(Debug, Default)]
pub(super) struct DedupIndex {
    accounts: HashMap<AccountId, AccountKeys>,
    /// Rows recorded by the transaction in progress, oldest first: the
    /// account and how many keys the row holds.
    undo: Vec<(AccountId, usize)>,
}

/// Where undoing a batch's records stops (see [`DedupIndex::undo_to`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Mark(usize);

/// One account's live keys.
#[derive(Debug, Default)]
pub(super) struct AccountKeys {
    /// Each key to the inbox entry that first carried it.
    owners: HashMap<DedupKey, i64>,
    /// The keys in the order of their rows, so the oldest expire first.
    order: VecDeque<Recorded>,
    next_seq: i64,
}

#[derive(Debug)]
struct Recorded {
    seq: i64,
    at_ms: i64,
    key: DedupKey,
}

impl DedupIndex {
    /// The keys of `account`, loaded from the log on first use.
    pub(super) fn account(
        &mut self,
        conn: &Connection,
        account: &AccountId,
    ) -> rusqlite::Result<&mut AccountKeys> {
        if !self.accounts.contains_key(account) {
            let keys = AccountKeys::load(conn, account)?;
            self.accounts.insert(account.clone(), keys);
        }
        Ok(self.accounts.get_mut(account).expect("inserted just above"))
    }

    /// Records the `keys` of `entry` at `at_ms`: one row to append, at the
    /// sequence number returned. The caller has checked that none of them
    /// is live.
    pub(super) fn record(
        &mut self,
        account: &AccountId,
        keys: &[DedupKey],
        entry: i64,
        at_ms: i64,
    ) -> i64 {
        let live = self
            .accounts
            .get_mut(account)
            .expect("an account is loaded before its keys are recorded");
        let seq = live.next_seq;
        live.next_seq += 1;
        for key in keys {
            live.owners.insert(*key, entry);
            live.order.push_back(Recorded {
                seq,
                at_ms,
                key: *key,
            });
        }
        self.undo.push((account.clone(), keys.len()));
        seq
    }

    /// Where the records made from now on start.
    pub(super) fn mark(&self) -> Mark {
        Mark(self.undo.len())
    }

    /// Undoes the records made since `mark`, newest first: their rows were
    /// rolled back.
    pub(super) fn undo_to(&mut self, mark: Mark) {
        while self.undo.len() > mark.0 {
            let Some((account, n)) = self.undo.pop() else {
                break;
            };
            if let Some(live) = self.accounts.get_mut(&account) {
                for _ in 0..n {
                    if let Some(undone) = live.order.pop_back() {
                        live.owners.remove(&undone.key);
                    }
                }
                live.next_seq -= 1;
            }
        }
    }

    /// The transaction committed: its records stay.
    pub(super) fn committed(&mut self) {
        self.undo.clear();
    }

    /// The transaction failed: its records go.
    pub(super) fn rolled_back(&mut self) {
        self.undo_to(Mark(0));
    }

    /// Drops what is known of `account`: the next batch reloads it from the
    /// log (after `forget_account` emptied it).
    pub(super) fn forget(&mut self, account: &AccountId) {
        self.accounts.remove(account);
    }
}

impl AccountKeys {
    fn load(conn: &Connection, account: &AccountId) -> rusqlite::Result<Self> {
        let mut keys = Self::default();
        let mut rows = conn.prepare_cached(
            "SELECT seq, keys, entry, recorded_at_ms FROM dedup_log \
             WHERE account = ? ORDER BY seq",
        )?;
        let mut rows = rows.query([account.as_str()])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let bytes: Vec<u8> = row.get(1)?;
            let (entry, at_ms): (i64, i64) = (row.get(2)?, row.get(3)?);
            keys.next_seq = seq + 1;
            // Bytes past the last whole key were not written by this
            // store; they cannot match a key.
            for chunk in bytes.chunks_exact(16) {
                let mut key = [0u8; 16];
                key.copy_from_slice(chunk);
                let key = DedupKey::from_bytes(key);
                keys.owners.entry(key).or_insert(entry);
                keys.order.push_back(Recorded { seq, at_ms, key });
            }
        }
        Ok(keys)
    }

    /// The entry that first carried `key`, while the key is live.
    pub(super) fn owner(&self, key: &DedupKey) -> Option<i64> {
        self.owners.get(key).copied()
    }

    /// Forgets the keys recorded before `cutoff_ms`; returns the sequence
    /// number up to which the log's rows can go, if any expired.
    pub(super) fn expire(&mut self, cutoff_ms: i64) -> Option<i64> {
        let mut through = None;
        while self.order.front().is_some_and(|r| r.at_ms < cutoff_ms) {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.owners.remove(&old.key);
            through = Some(old.seq);
        }
        through
    }
}

/// Deletes the log rows of `account` up to `through`.
pub(super) fn delete_expired(
    conn: &Connection,
    account: &AccountId,
    through: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM dedup_log WHERE account = ? AND seq <= ?")?
        .execute(params![account.as_str(), through])
        .map(drop)
}

/// Appends the row of one entry's `keys` to the log.
pub(super) fn append(
    conn: &Connection,
    account: &AccountId,
    seq: i64,
    keys: &[DedupKey],
    entry: i64,
    at_ms: i64,
) -> rusqlite::Result<()> {
    let bytes: Vec<u8> = keys.iter().flat_map(|k| *k.as_bytes()).collect();
    conn.prepare_cached(
        "INSERT INTO dedup_log (account, seq, keys, entry, recorded_at_ms) VALUES (?, ?, ?, ?, ?)",
    )?
    .execute(params![account.as_str(), seq, bytes, entry, at_ms])
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> DedupKey {
        DedupKey::from_bytes([n; 16])
    }

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::open::migrate(&mut conn, std::path::Path::new(":memory:"))
            .expect("a new database migrates");
        conn
    }

    #[test]
    fn undone_records_are_gone_and_their_sequence_numbers_reused() {
        let conn = db();
        let a = AccountId::new("a");
        let mut index = DedupIndex::default();
        index.account(&conn, &a).unwrap();
        assert_eq!(index.record(&a, &[key(1)], 10, 0), 0);
        index.committed();
        let mark = index.mark();
        assert_eq!(index.record(&a, &[key(2), key(3)], 11, 0), 1);
        assert_eq!(index.record(&a, &[key(5)], 13, 0), 2);
        index.undo_to(mark);
        let keys = index.account(&conn, &a).unwrap();
        assert_eq!(keys.owner(&key(1)), Some(10));
        assert_eq!(keys.owner(&key(2)), None);
        assert_eq!(keys.owner(&key(3)), None);
        assert_eq!(keys.owner(&key(5)), None);
        assert_eq!(index.record(&a, &[key(4)], 12, 0), 1);
        index.rolled_back();
        assert_eq!(index.account(&conn, &a).unwrap().owner(&key(4)), None);
        assert_eq!(index.record(&a, &[key(4)], 12, 0), 1);
    }

    #[test]
    fn keys_expire_oldest_first_and_say_how_far_the_log_can_go() {
        let conn = db();
        let a = AccountId::new("a");
        let mut index = DedupIndex::default();
        index.account(&conn, &a).unwrap();
        index.record(&a, &[key(1)], 1, 100);
        index.record(&a, &[key(2), key(4)], 2, 200);
        index.record(&a, &[key(3)], 3, 300);
        let keys = index.account(&conn, &a).unwrap();
        assert_eq!(keys.expire(100), None);
        assert_eq!(keys.expire(250), Some(1));
        assert_eq!(keys.owner(&key(1)), None);
        assert_eq!(keys.owner(&key(2)), None);
        assert_eq!(keys.owner(&key(4)), None);
        assert_eq!(keys.owner(&key(3)), Some(3));
    }

    #[test]
    fn an_account_loads_its_log_in_order() {
        let conn = db();
        let a = AccountId::new("a");
        append(&conn, &a, 4, &[key(1), key(8)], 40, 1000).unwrap();
        append(&conn, &a, 5, &[key(2)], 50, 2000).unwrap();
        append(&conn, &AccountId::new("b"), 9, &[key(7)], 1, 1).unwrap();
        let mut index = DedupIndex::default();
        let keys = index.account(&conn, &a).unwrap();
        assert_eq!(keys.owner(&key(1)), Some(40));
        assert_eq!(keys.owner(&key(8)), Some(40));
        assert_eq!(keys.owner(&key(2)), Some(50));
        assert_eq!(keys.owner(&key(7)), None);
        assert_eq!(keys.expire(1500), Some(4));
        assert_eq!(keys.owner(&key(8)), None);
        assert_eq!(index.record(&a, &[key(3)], 60, 3000), 6);
    }
}
