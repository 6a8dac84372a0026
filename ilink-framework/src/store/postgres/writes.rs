//! The write transactions of [`PgStore`](super::PgStore): a received batch,
//! and a group commit of received batches, removals, sends and handled
//! entries.
//!
//! Every statement is a network round trip, so rows travel in arrays
//! (`UNNEST`): a received batch costs about eight statements however many
//! messages it holds, and a group of removals, sends and handled entries
//! about seven whatever its size. The dedup and token rules run in Rust on
//! the rows read, exactly as in the SQLite store.

use std::collections::{HashMap, HashSet};

use sqlx_core::error::Error as SqlxError;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::PgConnection;

use super::super::{
    ContextTokenRecord, QUARANTINE_CAP, QuarantinedMessage, ReceivedBatch, StoreError,
};
use crate::account::AccountId;
use crate::store::deferred::Deferred;
use crate::store::rows;

/// An error of a write: the database's, or the store's own rule.
pub(super) enum WriteError {
    Db(SqlxError),
    Store(StoreError),
}

impl From<SqlxError> for WriteError {
    fn from(e: SqlxError) -> Self {
        Self::Db(e)
    }
}

/// An inbox id as the database stores it.
pub(super) fn db_id(account: &AccountId, id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::Encode {
        what: format!("inbox entry {id} of {account}"),
        message: "ids above 2^63 do not fit".into(),
    })
}

fn conflict(account: &AccountId, message: String) -> WriteError {
    WriteError::Store(StoreError::Conflict {
        account: account.to_string(),
        message,
    })
}

/// Writes a received batch (see `StateStore::commit_received`) in the open
/// transaction `conn`; returns, per entry, the entry it duplicates.
///
/// Every rule of the store is checked before the first write, so a batch
/// refused with a [`WriteError::Store`] has written nothing and the group
/// it is part of goes on without a savepoint (one round trip less each).
pub(super) async fn commit_received(
    conn: &mut PgConnection,
    account: &AccountId,
    batch: &ReceivedBatch,
) -> Result<Vec<Option<u64>>, WriteError> {
    let acct = account.as_str();
    let mut ids = Vec::with_capacity(batch.entries.len());
    let mut messages = Vec::with_capacity(batch.entries.len());
    for received in &batch.entries {
        let id = db_id(account, received.entry.id).map_err(WriteError::Store)?;
        if ids.contains(&id) {
            return Err(conflict(
                account,
                format!("inbox entry {id} is twice in the batch"),
            ));
        }
        ids.push(id);
        messages.push(rows::message_json(account, id, received).map_err(WriteError::Store)?);
    }
    let taken: Option<(i64,)> =
        query_as("SELECT id FROM inbox WHERE account = $1 AND id = ANY($2) ORDER BY id LIMIT 1")
            .bind(acct)
            .bind(&ids)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((taken,)) = taken {
        return Err(conflict(
            account,
            format!("inbox entry {taken} is already stored"),
        ));
    }

    // From here on only the database can fail.
    if !batch.entries.is_empty() {
        query("DELETE FROM dedup_keys WHERE account = $1 AND recorded_at_ms < $2")
            .bind(acct)
            .bind(batch.now_ms.saturating_sub(batch.dedup_window_ms))
            .execute(&mut *conn)
            .await?;
    }
    let keys: Vec<&[u8]> = batch
        .entries
        .iter()
        .flat_map(|r| r.dedup_keys.iter().map(|k| k.as_bytes().as_slice()))
        .collect();
    let mut owners: HashMap<Vec<u8>, i64> = if keys.is_empty() {
        HashMap::new()
    } else {
        query_as("SELECT key, entry FROM dedup_keys WHERE account = $1 AND key = ANY($2)")
            .bind(acct)
            .bind(&keys)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect()
    };
    // In order: an entry is checked against the keys of earlier batches
    // and of the new entries before it.
    let mut firsts = Vec::with_capacity(ids.len());
    let mut recorded: HashMap<&[u8], i64> = HashMap::new();
    for (received, &id) in batch.entries.iter().zip(&ids) {
        let first = received.dedup_keys.iter().find_map(|key| {
            owners
                .get(key.as_bytes().as_slice())
                .copied()
                .filter(|owner| *owner != id)
        });
        firsts.push(first.map(|owner| owner as u64));
        if first.is_none() {
            for key in &received.dedup_keys {
                owners.insert(key.as_bytes().to_vec(), id);
                recorded.insert(key.as_bytes().as_slice(), id);
            }
        }
    }
    let is_new = |i: usize| firsts[i].is_none();
    if !recorded.is_empty() {
        let (keys, entries): (Vec<&[u8]>, Vec<i64>) = recorded.into_iter().unzip();
        // A key already recorded keeps its time: it expires with the
        // message that first carried it.
        query(
            "INSERT INTO dedup_keys (account, key, entry, recorded_at_ms) \
             SELECT $1, k, e, $4 FROM UNNEST($2::bytea[], $3::bigint[]) AS t(k, e) \
             ON CONFLICT (account, key) DO UPDATE SET entry = excluded.entry",
        )
        .bind(acct)
        .bind(&keys)
        .bind(&entries)
        .bind(batch.now_ms)
        .execute(&mut *conn)
        .await?;
    }
    let new: Vec<usize> = (0..ids.len()).filter(|&i| is_new(i)).collect();
    if !new.is_empty() {
        query(
            "INSERT INTO inbox (account, id, received_at_ms, message) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::text[])",
        )
        .bind(acct)
        .bind(new.iter().map(|&i| ids[i]).collect::<Vec<_>>())
        .bind(
            new.iter()
                .map(|&i| batch.entries[i].entry.received_at_ms)
                .collect::<Vec<_>>(),
        )
        .bind(new.iter().map(|&i| &*messages[i]).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    let seen: Vec<_> = new
        .iter()
        .filter_map(|&i| batch.entries[i].context_token.as_ref())
        .collect();
    if !seen.is_empty() {
        let users: Vec<&str> = seen.iter().map(|s| s.user.as_str()).collect();
        let mut tokens = load_tokens(conn, account, &users).await?;
        let mut changed = HashSet::new();
        for s in seen {
            if let Some(record) =
                ContextTokenRecord::after_inbound(tokens.get(&s.user), s.token.clone(), s.at_ms)
            {
                tokens.insert(s.user.clone(), record);
                changed.insert(s.user.as_str());
            }
        }
        let records: Vec<_> = changed
            .into_iter()
            .filter_map(|user| Some((user, tokens.get(user)?)))
            .collect();
        store_tokens(conn, account, &records).await?;
    }
    if !batch.quarantined.is_empty() {
        quarantine(conn, account, &batch.quarantined).await?;
    }
    if let Some(cursor) = &batch.cursor {
        query(
            "INSERT INTO cursors (account, cursor) VALUES ($1, $2) \
             ON CONFLICT (account) DO UPDATE SET cursor = excluded.cursor",
        )
        .bind(acct)
        .bind(cursor)
        .execute(&mut *conn)
        .await?;
    }
    Ok(firsts)
}

/// The context token records of `users` that are stored, by user.
pub(super) async fn load_tokens(
    conn: &mut PgConnection,
    account: &AccountId,
    users: &[&str],
) -> Result<HashMap<String, ContextTokenRecord>, SqlxError> {
    let rows: Vec<(String, String, i64, i64)> = query_as(
        "SELECT user_id, token, received_at_ms, sent FROM context_tokens \
         WHERE account = $1 AND user_id = ANY($2)",
    )
    .bind(account.as_str())
    .bind(users)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user, token, received_at_ms, sent)| {
            let record = ContextTokenRecord {
                token: token.into(),
                received_at_ms,
                sent: u32::try_from(sent).unwrap_or(u32::MAX),
            };
            (user, record)
        })
        .collect())
}

/// Stores context token records (one per user), replacing any others.
pub(super) async fn store_tokens(
    conn: &mut PgConnection,
    account: &AccountId,
    records: &[(&str, &ContextTokenRecord)],
) -> Result<(), SqlxError> {
    query(
        "INSERT INTO context_tokens (account, user_id, token, received_at_ms, sent) \
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bigint[]) \
         ON CONFLICT (account, user_id) DO UPDATE SET token = excluded.token, \
         received_at_ms = excluded.received_at_ms, sent = excluded.sent",
    )
    .bind(account.as_str())
    .bind(records.iter().map(|(u, _)| *u).collect::<Vec<_>>())
    .bind(
        records
            .iter()
            .map(|(_, r)| r.token.expose())
            .collect::<Vec<_>>(),
    )
    .bind(
        records
            .iter()
            .map(|(_, r)| r.received_at_ms)
            .collect::<Vec<_>>(),
    )
    .bind(
        records
            .iter()
            .map(|(_, r)| i64::from(r.sent))
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await
    .map(drop)
}

/// `text` with each NUL character written as its JSON escape `\u0000`:
/// PostgreSQL text cannot hold NUL, and a quarantined message is kept for
/// people to read (a raw NUL byte in a message is what made it undecodable).
fn without_nul(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\\u0000"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Adds quarantined messages and drops the oldest beyond the cap.
async fn quarantine(
    conn: &mut PgConnection,
    account: &AccountId,
    messages: &[QuarantinedMessage],
) -> Result<(), SqlxError> {
    // Ids above 2^63 are never stored.
    let kept: Vec<_> = messages
        .iter()
        .filter_map(|m| Some((i64::try_from(m.id).ok()?, m)))
        .collect();
    query(
        "INSERT INTO quarantine (account, id, received_at_ms, reason, raw) \
         SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::text[], $5::text[]) \
         ON CONFLICT (account, id) DO NOTHING",
    )
    .bind(account.as_str())
    .bind(kept.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(
        kept.iter()
            .map(|(_, m)| m.received_at_ms)
            .collect::<Vec<_>>(),
    )
    .bind(
        kept.iter()
            .map(|(_, m)| without_nul(&m.reason))
            .collect::<Vec<_>>(),
    )
    .bind(
        kept.iter()
            .map(|(_, m)| without_nul(&m.raw))
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await?;
    query(
        "DELETE FROM quarantine WHERE account = $1 AND id NOT IN \
         (SELECT id FROM quarantine WHERE account = $1 ORDER BY id DESC LIMIT $2)",
    )
    .bind(account.as_str())
    .bind(QUARANTINE_CAP as i64)
    .execute(conn)
    .await
    .map(drop)
}

/// Applies a group of deferred writes in the open transaction `conn`, with
/// the same result as applying them one after the other: received batches
/// first (nothing else in the group can refer to their entries, which are
/// dispatched only once this commits), then counts and journal rows, then
/// removals (a journal row of an entry removed in the same group goes
/// with it, whichever came first), then saved values, the last change of
/// each winning.
pub(super) async fn commit_deferred(
    conn: &mut PgConnection,
    ops: &mut [Deferred],
) -> Result<(), SqlxError> {
    for op in ops.iter_mut() {
        if let Deferred::Received {
            account,
            batch,
            outcome,
            ..
        } = op
        {
            *outcome = Some(match commit_received(conn, account, batch).await {
                Ok(firsts) => Ok(firsts),
                Err(WriteError::Store(e)) => Err(e),
                Err(WriteError::Db(e)) => return Err(e),
            });
        }
    }
    // Rows by their primary key, so no statement touches a row twice.
    let mut counts: HashMap<(&str, &str, &str), u32> = HashMap::new();
    let mut journal: HashMap<JournalKey<'_>, (&str, Option<i64>)> = HashMap::new();
    let mut removed: Vec<(&str, i64)> = Vec::new();
    let mut states: HashMap<(&str, &str, &str), Option<&str>> = HashMap::new();
    for op in ops.iter() {
        match op {
            Deferred::Received { .. } => {}
            Deferred::Remove { account, ids } => {
                removed.extend(ids.iter().map(|id| (account.as_str(), *id)));
            }
            Deferred::Sent {
                account,
                sends,
                journal: rows,
            } => {
                for s in sends {
                    let count = counts
                        .entry((account.as_str(), s.user.as_str(), s.token.expose()))
                        .or_default();
                    *count = (*count).max(s.sent);
                }
                for j in rows {
                    // Ids above 2^63 are never stored in the inbox.
                    let Ok(entry) = i64::try_from(j.entry) else {
                        continue;
                    };
                    journal.insert(
                        (account.as_str(), entry, j.position, j.chunk),
                        // Stored bit for bit: message ids are u64, BIGINTs i64.
                        (
                            j.sent.client_id.as_str(),
                            j.sent.message_id.map(|id| id as i64),
                        ),
                    );
                }
            }
            Deferred::Handled {
                account,
                entry,
                changes,
            } => {
                removed.push((account.as_str(), *entry));
                for c in changes {
                    states.insert(
                        (account.as_str(), c.conversation.as_str(), c.key.as_str()),
                        c.value.as_deref(),
                    );
                }
            }
        }
    }
    if !counts.is_empty() {
        let (keys, sent): (Vec<_>, Vec<i64>) =
            counts.into_iter().map(|(k, n)| (k, i64::from(n))).unzip();
        let (accounts, users, tokens) = unzip3(keys);
        query(
            "UPDATE context_tokens AS c SET sent = GREATEST(c.sent, v.sent) \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) \
             AS v(account, user_id, token, sent) \
             WHERE c.account = v.account AND c.user_id = v.user_id AND c.token = v.token",
        )
        .bind(accounts)
        .bind(users)
        .bind(tokens)
        .bind(sent)
        .execute(&mut *conn)
        .await?;
    }
    if !journal.is_empty() {
        let (keys, values): (Vec<_>, Vec<_>) = journal.into_iter().unzip();
        let (mut accounts, mut entries, mut positions, mut chunks) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (account, entry, position, chunk) in keys {
            accounts.push(account);
            entries.push(entry);
            positions.push(i64::from(position));
            chunks.push(i64::from(chunk));
        }
        let (client_ids, message_ids): (Vec<&str>, Vec<Option<i64>>) = values.into_iter().unzip();
        // Only for an entry still in the inbox: a removal in an earlier
        // group wins (and one in this group runs after).
        query(
            "INSERT INTO send_journal (account, entry, position, chunk, client_id, message_id) \
             SELECT v.* FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], \
             $5::text[], $6::bigint[]) AS v(account, entry, position, chunk, client_id, message_id) \
             WHERE EXISTS (SELECT 1 FROM inbox i WHERE i.account = v.account AND i.id = v.entry) \
             ON CONFLICT (account, entry, position, chunk) DO UPDATE SET \
             client_id = excluded.client_id, message_id = excluded.message_id",
        )
        .bind(accounts)
        .bind(entries)
        .bind(positions)
        .bind(chunks)
        .bind(client_ids)
        .bind(message_ids)
        .execute(&mut *conn)
        .await?;
    }
    if !removed.is_empty() {
        let (accounts, ids): (Vec<&str>, Vec<i64>) = removed.into_iter().unzip();
        for statement in [
            "DELETE FROM inbox AS t USING UNNEST($1::text[], $2::bigint[]) AS v(account, id) \
             WHERE t.account = v.account AND t.id = v.id",
            "DELETE FROM send_journal AS t USING UNNEST($1::text[], $2::bigint[]) \
             AS v(account, id) WHERE t.account = v.account AND t.entry = v.id",
        ] {
            query(statement)
                .bind(&accounts)
                .bind(&ids)
                .execute(&mut *conn)
                .await?;
        }
    }
    let (set, unset): (Vec<_>, Vec<_>) = states.into_iter().partition(|(_, v)| v.is_some());
    if !set.is_empty() {
        let (keys, values): (Vec<_>, Vec<Option<&str>>) = set.into_iter().unzip();
        let (accounts, conversations, names) = unzip3(keys);
        query(
            "INSERT INTO conversation_state (account, conversation, key, value) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
             ON CONFLICT (account, conversation, key) DO UPDATE SET value = excluded.value",
        )
        .bind(accounts)
        .bind(conversations)
        .bind(names)
        .bind(values)
        .execute(&mut *conn)
        .await?;
    }
    if !unset.is_empty() {
        let (accounts, conversations, names) = unzip3(unset.into_iter().map(|(k, _)| k));
        query(
            "DELETE FROM conversation_state AS t \
             USING UNNEST($1::text[], $2::text[], $3::text[]) AS v(account, conversation, key) \
             WHERE t.account = v.account AND t.conversation = v.conversation AND t.key = v.key",
        )
        .bind(accounts)
        .bind(conversations)
        .bind(names)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A journal row's primary key: account, entry, position, chunk.
type JournalKey<'a> = (&'a str, i64, u32, u32);

/// Three columns of `rows`, for `UNNEST`.
fn unzip3<'a>(
    rows: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> (Vec<&'a str>, Vec<&'a str>, Vec<&'a str>) {
    let mut columns = (Vec::new(), Vec::new(), Vec::new());
    for (a, b, c) in rows {
        columns.0.push(a);
        columns.1.push(b);
        columns.2.push(c);
    }
    columns
}
