//! What the writer thread knows the database already holds, so that a
//! statement which would change nothing is not run at all.
//!
//! Two such statements came with every message on the durable store: the
//! upsert of the sender's context token (a no-op while the user's token is
//! the one stored, which it is for all but their first message after a new
//! token) and the removal of a handled entry's send journal rows (there are
//! none unless its sends were recorded before it was handled, in an earlier
//! group). Each costs a B-tree search on the writer thread.
//!
//! While an account runs, only this writer thread writes its tokens and
//! journal rows (the account lock keeps other bots and `ilink tail` off;
//! `ilink send` counts sends but writes neither), so what it remembers
//! stays true, as the dedup index's keys do; it is forgotten whenever a
//! direct job runs (which may write anything, `forget_account` included).
//! A transaction that fails, or a batch whose savepoint is rolled back,
//! undoes what it taught here, as the dedup index does. Tokens are
//! remembered as keyed hashes (two 64-bit hashes a user, however long the
//! token), so a wrongly skipped write would need two tokens with the same
//! 64-bit SipHash under a per-process random key.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use rusqlite::Connection;

use crate::account::AccountId;

/// Users remembered at most; beyond it the memory starts afresh (each user
/// then costs one more upsert), so it cannot grow with every user ever seen.
const TOKENS_MAX: usize = 200_000;

/// What the writer knows is stored.
#[derive(Debug, Default)]
pub(super) struct KnownRows {
    hasher: RandomState,
    /// Per (account, user) hash, the hash of the context token stored.
    tokens: HashMap<u64, u64>,
    /// Token changes of the transaction in progress: the user and what was
    /// known before, oldest first.
    undo: Vec<(u64, Option<u64>)>,
    /// Per account, the entries that may have send journal rows; `None`
    /// until loaded.
    journaled: Option<HashMap<AccountId, HashSet<i64>>>,
    /// Entries whose journal rows the transaction in progress deletes.
    unjournaled: Vec<(AccountId, i64)>,
}

/// Where undoing a batch's lessons stops (see [`KnownRows::undo_to`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Mark(usize);

impl KnownRows {
    fn user(&self, account: &AccountId, user: &str) -> u64 {
        self.hasher.hash_one((account.as_str(), user))
    }

    /// Whether `token` is known to be `user`'s stored context token.
    pub(super) fn token_is_stored(&self, account: &AccountId, user: &str, token: &str) -> bool {
        self.tokens.get(&self.user(account, user)) == Some(&self.hasher.hash_one(token))
    }

    /// `token` is now `user`'s stored context token (`None`: not known).
    pub(super) fn token_stored(&mut self, account: &AccountId, user: &str, token: Option<&str>) {
        let user = self.user(account, user);
        let before = match token {
            Some(token) => self.tokens.insert(user, self.hasher.hash_one(token)),
            None => self.tokens.remove(&user),
        };
        self.undo.push((user, before));
    }

    /// Whether `entry` may have send journal rows (loaded on first use).
    pub(super) fn may_be_journaled(
        &mut self,
        conn: &Connection,
        account: &AccountId,
        entry: i64,
    ) -> rusqlite::Result<bool> {
        let journaled = match &mut self.journaled {
            Some(journaled) => journaled,
            None => self.journaled.insert(load_journaled(conn)?),
        };
        Ok(journaled.get(account).is_some_and(|e| e.contains(&entry)))
    }

    /// `entry` may have send journal rows from now on.
    pub(super) fn journaled(&mut self, account: &AccountId, entry: i64) {
        if let Some(journaled) = &mut self.journaled {
            journaled.entry(account.clone()).or_default().insert(entry);
        }
    }

    /// `entry`'s journal rows are deleted once the transaction commits.
    pub(super) fn unjournaled(&mut self, account: &AccountId, entry: i64) {
        self.unjournaled.push((account.clone(), entry));
    }

    /// A mark to undo a batch's lessons to, should its savepoint roll back.
    pub(super) fn mark(&self) -> Mark {
        Mark(self.undo.len())
    }

    /// Undoes the token lessons since `mark`, newest first.
    pub(super) fn undo_to(&mut self, mark: Mark) {
        while self.undo.len() > mark.0 {
            let Some((user, before)) = self.undo.pop() else {
                break;
            };
            match before {
                Some(token) => self.tokens.insert(user, token),
                None => self.tokens.remove(&user),
            };
        }
    }

    /// The transaction committed: its lessons hold.
    pub(super) fn committed(&mut self) {
        self.undo.clear();
        let gone = std::mem::take(&mut self.unjournaled);
        if let Some(journaled) = &mut self.journaled {
            for (account, entry) in gone {
                if let Some(entries) = journaled.get_mut(&account) {
                    entries.remove(&entry);
                }
            }
        }
        if self.tokens.len() > TOKENS_MAX {
            self.tokens = HashMap::new();
        }
    }

    /// The transaction failed: nothing it taught holds. Entries it added to
    /// the journaled set stay there, which costs a statement, not a row.
    pub(super) fn rolled_back(&mut self) {
        self.undo_to(Mark(0));
        self.unjournaled.clear();
    }

    /// Forgets everything: a direct job may have written any row.
    pub(super) fn forget(&mut self) {
        self.tokens = HashMap::new();
        self.undo.clear();
        self.journaled = None;
        self.unjournaled.clear();
    }
}

fn load_journaled(conn: &Connection) -> rusqlite::Result<HashMap<AccountId, HashSet<i64>>> {
    let mut journaled: HashMap<AccountId, HashSet<i64>> = HashMap::new();
    let mut rows = conn.prepare_cached("SELECT DISTINCT account, entry FROM send_journal")?;
    let mut rows = rows.query([])?;
    while let Some(row) = rows.next()? {
        let account = AccountId::new(row.get::<_, String>(0)?);
        journaled.entry(account).or_default().insert(row.get(1)?);
    }
    Ok(journaled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal_db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE send_journal (account TEXT, entry INTEGER, position INTEGER);
             INSERT INTO send_journal VALUES ('a', 7, 0), ('a', 7, 1), ('b', 8, 0);",
        )
        .unwrap();
        conn
    }

    #[test]
    fn a_token_is_known_only_once_stored_and_until_it_changes() {
        let (mut known, a) = (KnownRows::default(), AccountId::new("a"));
        assert!(!known.token_is_stored(&a, "u", "t1"));
        known.token_stored(&a, "u", Some("t1"));
        assert!(known.token_is_stored(&a, "u", "t1"));
        assert!(!known.token_is_stored(&a, "u", "t2"));
        assert!(!known.token_is_stored(&a, "v", "t1"));
        assert!(!known.token_is_stored(&AccountId::new("b"), "u", "t1"));
        known.token_stored(&a, "u", None);
        assert!(!known.token_is_stored(&a, "u", "t1"));
    }

    #[test]
    fn a_rolled_back_batch_or_transaction_unlearns_its_tokens() {
        let (mut known, a) = (KnownRows::default(), AccountId::new("a"));
        known.token_stored(&a, "u", Some("t1"));
        known.committed();
        let mark = known.mark();
        known.token_stored(&a, "u", Some("t2"));
        known.token_stored(&a, "v", Some("t3"));
        known.undo_to(mark);
        assert!(known.token_is_stored(&a, "u", "t1"));
        assert!(!known.token_is_stored(&a, "v", "t3"));
        known.token_stored(&a, "u", Some("t4"));
        known.rolled_back();
        assert!(known.token_is_stored(&a, "u", "t1"));
        known.forget();
        assert!(!known.token_is_stored(&a, "u", "t1"));
    }

    #[test]
    fn journal_rows_stored_before_the_writer_started_are_known() {
        let (conn, mut known, a) = (journal_db(), KnownRows::default(), AccountId::new("a"));
        assert!(known.may_be_journaled(&conn, &a, 7).unwrap());
        assert!(!known.may_be_journaled(&conn, &a, 8).unwrap());
        assert!(
            known
                .may_be_journaled(&conn, &AccountId::new("b"), 8)
                .unwrap()
        );
        known.journaled(&a, 9);
        assert!(known.may_be_journaled(&conn, &a, 9).unwrap());
    }

    #[test]
    fn journal_rows_count_as_deleted_only_once_committed() {
        let (conn, mut known, a) = (journal_db(), KnownRows::default(), AccountId::new("a"));
        assert!(known.may_be_journaled(&conn, &a, 7).unwrap());
        known.unjournaled(&a, 7);
        known.rolled_back();
        assert!(known.may_be_journaled(&conn, &a, 7).unwrap());
        known.unjournaled(&a, 7);
        known.committed();
        assert!(!known.may_be_journaled(&conn, &a, 7).unwrap());
        // A direct job may have written rows: the set is read again.
        known.forget();
        assert!(known.may_be_journaled(&conn, &a, 7).unwrap());
    }
}
