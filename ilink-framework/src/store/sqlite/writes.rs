//! The write transactions of [`SqliteStore`](super::SqliteStore): a received
//! batch, and a group commit of received batches, removals, sends and
//! handled entries. They run on the writer thread (see [`super::writer`]),
//! row by row with cached prepared statements, so each row costs SQLite's
//! own work and nothing more.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, Transaction, params};

use super::super::{
    ContextTokenRecord, QUARANTINE_CAP, QuarantinedMessage, ReceivedBatch, StoreError,
};
use super::dedup_index::{self, DedupIndex};
use super::known_rows::KnownRows;
use crate::account::AccountId;
use crate::dedup::DedupKey;
use crate::store::deferred::Deferred;
use crate::store::rows;

/// An error of a write: the database's, or the store's own rule.
pub(super) enum WriteError {
    Db(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e)
    }
}

/// An inbox id as the database stores it.
fn db_id(account: &AccountId, id: u64) -> Result<i64, WriteError> {
    i64::try_from(id).map_err(|_| {
        WriteError::Store(StoreError::Encode {
            what: format!("inbox entry {id} of {account}"),
            message: "ids above 2^63 do not fit".into(),
        })
    })
}

/// Writes a received batch (see `StateStore::commit_received`) in the
/// open transaction `tx`; returns, per entry, the entry it duplicates.
pub(super) fn commit_received(
    tx: &Transaction<'_>,
    index: &mut DedupIndex,
    known: &mut KnownRows,
    account: &AccountId,
    batch: &ReceivedBatch,
) -> Result<Vec<Option<u64>>, WriteError> {
    let acct = account.as_str();
    let ids = batch
        .entries
        .iter()
        .map(|r| db_id(account, r.entry.id))
        .collect::<Result<Vec<_>, _>>()?;
    let conflict = |taken: i64| {
        WriteError::Store(StoreError::Conflict {
            account: account.to_string(),
            message: format!("inbox entry {taken} is already stored"),
        })
    };
    let keys = index.account(tx, account)?;
    if !batch.entries.is_empty() {
        if let Some(through) = keys.expire(batch.now_ms.saturating_sub(batch.dedup_window_ms)) {
            dedup_index::delete_expired(tx, account, through)?;
        }
    }
    let mut insert_entry = tx.prepare_cached(
        "INSERT INTO inbox (account, id, received_at_ms, message) VALUES (?, ?, ?, ?)",
    )?;
    let mut firsts = Vec::with_capacity(batch.entries.len());
    for (received, &id) in batch.entries.iter().zip(&ids) {
        let keys = index.account(tx, account)?;
        let first = received
            .dedup_keys
            .iter()
            .find_map(|key| keys.owner(key).filter(|owner| *owner != id))
            .map(|owner| owner as u64);
        firsts.push(first);
        if first.is_some() {
            // Not inserted, so the insert below cannot tell whether the id
            // is taken: a duplicate is still refused on a taken id.
            let mut stored =
                tx.prepare_cached("SELECT 1 FROM inbox WHERE account = ? AND id = ?")?;
            if stored.exists(params![acct, id])? {
                return Err(conflict(id));
            }
            continue;
        }
        // A key already recorded (for this very entry, replayed) keeps its
        // row and time: it expires with the message that first carried it.
        let fresh: Vec<DedupKey> = received
            .dedup_keys
            .iter()
            .filter(|key| keys.owner(key).is_none())
            .copied()
            .collect();
        if !fresh.is_empty() {
            let seq = index.record(account, &fresh, id, batch.now_ms);
            dedup_index::append(tx, account, seq, &fresh, id, batch.now_ms)?;
        }
        let json = rows::message_json(account, id, received).map_err(WriteError::Store)?;
        // A taken id fails the insert on the primary key; the caller rolls
        // the batch back to its savepoint, rows and dedup keys alike.
        match insert_entry.execute(params![acct, id, received.entry.received_at_ms, json]) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                return Err(conflict(id));
            }
            other => other?,
        };
        if let Some(seen) = &received.context_token {
            store_seen_token(
                tx,
                known,
                account,
                &seen.user,
                seen.token.expose(),
                seen.at_ms,
            )?;
        }
    }
    if !batch.quarantined.is_empty() {
        quarantine(tx, account, &batch.quarantined)?;
    }
    if let Some(cursor) = &batch.cursor {
        tx.prepare_cached(
            "INSERT INTO cursors (account, cursor) VALUES (?, ?) \
             ON CONFLICT (account) DO UPDATE SET cursor = excluded.cursor",
        )?
        .execute(params![acct, cursor])?;
    }
    Ok(firsts)
}

/// `ContextTokenRecord::after_inbound` in one statement: a new token, not
/// older than the stored one, replaces it with no sends counted. Nothing
/// is run for the token known to be stored (see [`KnownRows`]).
fn store_seen_token(
    tx: &Transaction<'_>,
    known: &mut KnownRows,
    account: &AccountId,
    user: &str,
    token: &str,
    at_ms: i64,
) -> rusqlite::Result<()> {
    if known.token_is_stored(account, user, token) {
        return Ok(());
    }
    let changed = tx
        .prepare_cached(
            "INSERT INTO context_tokens (account, user_id, token, received_at_ms, sent) \
             VALUES (?, ?, ?, ?, 0) \
             ON CONFLICT (account, user_id) DO UPDATE SET token = excluded.token, \
             received_at_ms = excluded.received_at_ms, sent = 0 \
             WHERE context_tokens.token <> excluded.token \
             AND context_tokens.received_at_ms <= excluded.received_at_ms",
        )?
        .execute(params![account.as_str(), user, token, at_ms])?;
    if changed > 0 {
        known.token_stored(account, user, Some(token));
    } else {
        // The same token (or a newer one) was stored already, by an earlier
        // run of the process: learn which, once.
        let stored = load_token(tx, account, user)?;
        known.token_stored(account, user, stored.as_ref().map(|r| r.token.expose()));
    }
    Ok(())
}

/// The context token record of `user`, if one is stored.
pub(super) fn load_token(
    conn: &rusqlite::Connection,
    account: &AccountId,
    user: &str,
) -> rusqlite::Result<Option<ContextTokenRecord>> {
    conn.prepare_cached(
        "SELECT token, received_at_ms, sent FROM context_tokens \
         WHERE account = ? AND user_id = ?",
    )?
    .query_row(params![account.as_str(), user], |row| {
        Ok(ContextTokenRecord {
            token: row.get::<_, String>(0)?.into(),
            received_at_ms: row.get(1)?,
            sent: u32::try_from(row.get::<_, i64>(2)?).unwrap_or(u32::MAX),
        })
    })
    .optional()
}

/// Stores the context token record of `user`, replacing any other.
pub(super) fn store_token(
    conn: &rusqlite::Connection,
    account: &AccountId,
    user: &str,
    record: &ContextTokenRecord,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO context_tokens (account, user_id, token, received_at_ms, sent) \
         VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (account, user_id) DO UPDATE SET token = excluded.token, \
         received_at_ms = excluded.received_at_ms, sent = excluded.sent",
    )?
    .execute(params![
        account.as_str(),
        user,
        record.token.expose(),
        record.received_at_ms,
        i64::from(record.sent)
    ])
    .map(drop)
}

/// Adds quarantined messages and drops the oldest beyond the cap.
fn quarantine(
    tx: &Transaction<'_>,
    account: &AccountId,
    messages: &[QuarantinedMessage],
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO quarantine (account, id, received_at_ms, reason, raw) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (account, id) DO NOTHING",
    )?;
    for m in messages {
        // Ids above 2^63 are never stored.
        if let Ok(id) = i64::try_from(m.id) {
            insert.execute(params![
                account.as_str(),
                id,
                m.received_at_ms,
                m.reason,
                m.raw
            ])?;
        }
    }
    tx.prepare_cached(
        "DELETE FROM quarantine WHERE account = ?1 AND id NOT IN \
         (SELECT id FROM quarantine WHERE account = ?1 ORDER BY id DESC LIMIT ?2)",
    )?
    .execute(params![account.as_str(), QUARANTINE_CAP as i64])
    .map(drop)
}

/// Applies a group of deferred writes in the open transaction `tx`, with
/// the same result as applying them one after the other: removals and
/// counts are idempotent and order-free, a journal row is only written for
/// an entry still in the inbox and not removed by the group (so a removal
/// wins either way), and the last change of a saved value wins.
pub(super) fn commit_deferred(
    tx: &Transaction<'_>,
    index: &mut DedupIndex,
    known: &mut KnownRows,
    ops: &mut [Deferred],
) -> rusqlite::Result<()> {
    // Received batches first: nothing else in the group can refer to their
    // entries, which are dispatched only once this commits.
    for op in ops.iter_mut() {
        if let Deferred::Received {
            account,
            batch,
            outcome,
            ..
        } = op
        {
            tx.execute_batch("SAVEPOINT received")?;
            let (mark, known_mark) = (index.mark(), known.mark());
            let result = match commit_received(tx, index, known, account, batch) {
                Ok(firsts) => Ok(firsts),
                Err(WriteError::Db(e)) => return Err(e),
                Err(WriteError::Store(e)) => {
                    tx.execute_batch("ROLLBACK TO received")?;
                    index.undo_to(mark);
                    known.undo_to(known_mark);
                    Err(e)
                }
            };
            tx.execute_batch("RELEASE received")?;
            *outcome = Some(result);
        }
    }
    let mut count = tx.prepare_cached(
        "UPDATE context_tokens SET sent = MAX(sent, ?4) \
         WHERE account = ?1 AND user_id = ?2 AND token = ?3",
    )?;
    // Only for an entry still in the inbox: a removal earlier in the group
    // (or an earlier group) wins.
    let mut journal = tx.prepare_cached(
        "INSERT INTO send_journal (account, entry, position, chunk, client_id, message_id) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
         WHERE EXISTS (SELECT 1 FROM inbox WHERE account = ?1 AND id = ?2) \
         ON CONFLICT (account, entry, position, chunk) DO UPDATE SET \
         client_id = excluded.client_id, message_id = excluded.message_id",
    )?;
    let mut remove_entry = tx.prepare_cached("DELETE FROM inbox WHERE account = ? AND id = ?")?;
    let mut remove_journal =
        tx.prepare_cached("DELETE FROM send_journal WHERE account = ? AND entry = ?")?;
    let mut remove =
        |known: &mut KnownRows, account: &AccountId, id: i64| -> rusqlite::Result<()> {
            remove_entry.execute(params![account.as_str(), id])?;
            if known.may_be_journaled(tx, account, id)? {
                remove_journal.execute(params![account.as_str(), id])?;
                known.unjournaled(account, id);
            }
            Ok(())
        };
    // An entry the group removes keeps no journal row whatever the order,
    // so its rows are not written at all: under load most sends are of an
    // entry handled in the same group.
    let mut removed: HashSet<(&AccountId, i64)> = HashSet::with_capacity(ops.len());
    for op in ops.iter() {
        match op {
            Deferred::Remove { account, ids } => {
                removed.extend(ids.iter().map(|id| (account, *id)))
            }
            Deferred::Handled { account, entry, .. } => {
                removed.insert((account, *entry));
            }
            _ => {}
        }
    }
    // Counts only grow, so one update per token with the group's highest
    // count does what all of them would.
    let mut counts: HashMap<(&AccountId, &str, &str), u32> = HashMap::new();
    // Saved values, last change wins: written after every other row.
    let mut states: HashMap<(&AccountId, &str, &str), Option<&str>> = HashMap::new();
    for op in ops.iter() {
        match op {
            Deferred::Received { .. } => {}
            Deferred::Remove { account, ids } => {
                for id in ids {
                    remove(known, account, *id)?;
                }
            }
            Deferred::Sent {
                account,
                sends,
                journal: rows,
            } => {
                for s in sends {
                    let most = counts
                        .entry((account, s.user.as_str(), s.token.expose()))
                        .or_default();
                    *most = (*most).max(s.sent);
                }
                for j in rows {
                    // Ids above 2^63 are never stored in the inbox.
                    let Ok(entry) = i64::try_from(j.entry) else {
                        continue;
                    };
                    if removed.contains(&(account, entry)) {
                        continue;
                    }
                    known.journaled(account, entry);
                    journal.execute(params![
                        account.as_str(),
                        entry,
                        i64::from(j.position),
                        i64::from(j.chunk),
                        j.sent.client_id,
                        // Stored bit for bit: message ids are u64, SQLite integers i64.
                        j.sent.message_id.map(|id| id as i64)
                    ])?;
                }
            }
            Deferred::Handled {
                account,
                entry,
                changes,
            } => {
                remove(known, account, *entry)?;
                for c in changes {
                    states.insert(
                        (account, c.conversation.as_str(), c.key.as_str()),
                        c.value.as_deref(),
                    );
                }
            }
        }
    }
    for ((account, user, token), sent) in counts {
        count.execute(params![account.as_str(), user, token, i64::from(sent)])?;
    }
    let mut set = tx.prepare_cached(
        "INSERT INTO conversation_state (account, conversation, key, value) VALUES (?, ?, ?, ?) \
         ON CONFLICT (account, conversation, key) DO UPDATE SET value = excluded.value",
    )?;
    let mut unset = tx.prepare_cached(
        "DELETE FROM conversation_state WHERE account = ? AND conversation = ? AND key = ?",
    )?;
    for ((account, conversation, key), value) in states {
        match value {
            Some(value) => set.execute(params![account.as_str(), conversation, key, value])?,
            None => unset.execute(params![account.as_str(), conversation, key])?,
        };
    }
    Ok(())
}
