//! The write transactions of [`SqliteStore`](super::SqliteStore): a received
//! batch, and a group commit of removals, sends and handled entries.
//!
//! Each statement is a round trip to the connection's worker thread, which
//! costs far more than SQLite's own work on a few rows. So a transaction
//! makes a fixed handful of statements whatever its size: rows go in
//! multi-row `INSERT`s (`QueryBuilder::push_values`), lookups in one `IN`
//! query, and decisions that depend on earlier rows of the same batch (is
//! this a duplicate of the message before it? which token is newest?) are
//! made in memory, in order, exactly as row-by-row statements would.

use std::collections::{HashMap, HashSet};

use sqlx::sqlite::Sqlite;
use sqlx::{QueryBuilder, Row, SqliteConnection};
use tokio::sync::oneshot;

use super::super::{
    ContextTokenRecord, JournaledSend, QUARANTINE_CAP, QuarantinedMessage, ReceivedBatch,
    SentCount, StateChange, StoreError,
};
use crate::account::AccountId;

/// Rows per multi-row statement: far below SQLite's bound-parameter limit
/// (32766) for the widest row here (6 columns).
const ROWS: usize = 500;

/// What a received batch's caller is told once its transaction committed.
pub(super) type ReceivedOutcome = Result<Vec<Option<u64>>, StoreError>;

/// A write that waits for a group commit.
#[derive(Debug)]
pub(super) enum Deferred {
    /// A received batch, in a savepoint of its own: a batch the store's
    /// rules refuse writes nothing and fails alone.
    Received {
        account: AccountId,
        batch: ReceivedBatch,
        outcome: Option<ReceivedOutcome>,
        done: Option<oneshot::Sender<ReceivedOutcome>>,
    },
    Remove {
        account: AccountId,
        ids: Vec<i64>,
    },
    Sent {
        account: AccountId,
        sends: Vec<SentCount>,
        journal: Vec<JournaledSend>,
    },
    Handled {
        account: AccountId,
        entry: i64,
        changes: Vec<StateChange>,
    },
}

/// An error of a write: the database's, or the store's own rule.
pub(super) enum WriteError {
    Db(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
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
/// open transaction `conn`; returns, per entry, the entry it duplicates.
pub(super) async fn commit_received(
    conn: &mut SqliteConnection,
    account: &AccountId,
    batch: &ReceivedBatch,
) -> Result<Vec<Option<u64>>, WriteError> {
    let acct = account.as_str();
    let ids = batch
        .entries
        .iter()
        .map(|r| db_id(account, r.entry.id))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(taken) = stored_ids(conn, account, &ids).await?.first() {
        return Err(WriteError::Store(StoreError::Conflict {
            account: account.to_string(),
            message: format!("inbox entry {taken} is already stored"),
        }));
    }
    if !batch.entries.is_empty() {
        sqlx::query("DELETE FROM dedup_keys WHERE account = ? AND recorded_at_ms < ?")
            .bind(acct)
            .bind(batch.now_ms.saturating_sub(batch.dedup_window_ms))
            .execute(&mut *conn)
            .await?;
    }
    // Who owns each key now, updated as the batch's own messages record
    // theirs, so a message is checked against those before it too.
    let keys: Vec<[u8; 16]> = batch
        .entries
        .iter()
        .flat_map(|r| r.dedup_keys.iter().map(|k| *k.as_bytes()))
        .collect();
    let mut owners = key_owners(conn, account, &keys).await?;
    let mut firsts = Vec::with_capacity(batch.entries.len());
    let mut new_keys: Vec<([u8; 16], i64)> = Vec::new();
    let mut new_entries = Vec::new();
    for (received, &id) in batch.entries.iter().zip(&ids) {
        let first = received
            .dedup_keys
            .iter()
            .find_map(|k| owners.get(k.as_bytes()).filter(|o| **o != id).copied());
        firsts.push(first.map(|o| o as u64));
        if first.is_some() {
            continue;
        }
        for key in &received.dedup_keys {
            owners.insert(*key.as_bytes(), id);
            new_keys.push((*key.as_bytes(), id));
        }
        new_entries.push((received, id));
    }
    for rows in new_keys.chunks(ROWS) {
        // A key already recorded keeps its time: it expires with the
        // message that first carried it.
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO dedup_keys (account, key, entry, recorded_at_ms) ",
        );
        q.push_values(rows, |mut b, (key, id)| {
            b.push_bind(acct)
                .push_bind(&key[..])
                .push_bind(*id)
                .push_bind(batch.now_ms);
        });
        q.push(" ON CONFLICT (account, key) DO UPDATE SET entry = excluded.entry");
        q.build().execute(&mut *conn).await?;
    }
    let mut messages = Vec::with_capacity(new_entries.len());
    for (received, id) in &new_entries {
        let json = serde_json::to_string(&*received.entry.msg).map_err(|e| {
            WriteError::Store(StoreError::Encode {
                what: format!("inbox entry {id} of {account}"),
                message: e.to_string(),
            })
        })?;
        messages.push((*id, received.entry.received_at_ms, json));
    }
    for rows in messages.chunks(ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO inbox (account, id, received_at_ms, message) ",
        );
        q.push_values(rows, |mut b, (id, at, json)| {
            b.push_bind(acct)
                .push_bind(*id)
                .push_bind(*at)
                .push_bind(json);
        });
        q.build().execute(&mut *conn).await?;
    }
    record_tokens(conn, account, &new_entries).await?;
    if !batch.quarantined.is_empty() {
        quarantine(conn, account, &batch.quarantined).await?;
    }
    if let Some(cursor) = &batch.cursor {
        sqlx::query(
            "INSERT INTO cursors (account, cursor) VALUES (?, ?) \
             ON CONFLICT (account) DO UPDATE SET cursor = excluded.cursor",
        )
        .bind(acct)
        .bind(cursor)
        .execute(&mut *conn)
        .await?;
    }
    Ok(firsts)
}

/// Which of `ids` the account's inbox already holds.
async fn stored_ids(
    conn: &mut SqliteConnection,
    account: &AccountId,
    ids: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    let mut found = Vec::new();
    for chunk in ids.chunks(ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new("SELECT id FROM inbox WHERE account = ");
        q.push_bind(account.as_str()).push(" AND id IN (");
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            found.push(row.try_get(0)?);
        }
    }
    Ok(found)
}

/// The entries that own `keys` (those that have one).
async fn key_owners(
    conn: &mut SqliteConnection,
    account: &AccountId,
    keys: &[[u8; 16]],
) -> Result<HashMap<[u8; 16], i64>, sqlx::Error> {
    let mut owners = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(ROWS) {
        let mut q =
            QueryBuilder::<Sqlite>::new("SELECT key, entry FROM dedup_keys WHERE account = ");
        q.push_bind(account.as_str()).push(" AND key IN (");
        let mut list = q.separated(", ");
        for key in chunk {
            list.push_bind(&key[..]);
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            let key: Vec<u8> = row.try_get(0)?;
            if let Ok(key) = <[u8; 16]>::try_from(key.as_slice()) {
                owners.insert(key, row.try_get(1)?);
            }
        }
    }
    Ok(owners)
}

/// Records the context tokens the new entries carry, in order, as
/// [`ContextTokenRecord::after_inbound`] says.
async fn record_tokens(
    conn: &mut SqliteConnection,
    account: &AccountId,
    new_entries: &[(&super::super::ReceivedEntry, i64)],
) -> Result<(), sqlx::Error> {
    let seen: Vec<_> = new_entries
        .iter()
        .filter_map(|(r, _)| r.context_token.as_ref())
        .collect();
    if seen.is_empty() {
        return Ok(());
    }
    let users: HashSet<&str> = seen.iter().map(|s| s.user.as_str()).collect();
    let mut records = load_tokens(conn, account, &users).await?;
    let mut changed: Vec<&str> = Vec::new();
    for s in &seen {
        if let Some(record) =
            ContextTokenRecord::after_inbound(records.get(&s.user), s.token.clone(), s.at_ms)
        {
            records.insert(s.user.clone(), record);
            if !changed.contains(&s.user.as_str()) {
                changed.push(&s.user);
            }
        }
    }
    for users in changed.chunks(ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO context_tokens (account, user_id, token, received_at_ms, sent) ",
        );
        q.push_values(users, |mut b, user| {
            let record = &records[*user];
            b.push_bind(account.as_str())
                .push_bind(*user)
                .push_bind(record.token.expose())
                .push_bind(record.received_at_ms)
                .push_bind(i64::from(record.sent));
        });
        q.push(
            " ON CONFLICT (account, user_id) DO UPDATE SET token = excluded.token, \
             received_at_ms = excluded.received_at_ms, sent = excluded.sent",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn load_tokens(
    conn: &mut SqliteConnection,
    account: &AccountId,
    users: &HashSet<&str>,
) -> Result<HashMap<String, ContextTokenRecord>, sqlx::Error> {
    let users: Vec<&str> = users.iter().copied().collect();
    let mut records = HashMap::with_capacity(users.len());
    for chunk in users.chunks(ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT user_id, token, received_at_ms, sent FROM context_tokens WHERE account = ",
        );
        q.push_bind(account.as_str()).push(" AND user_id IN (");
        let mut list = q.separated(", ");
        for user in chunk {
            list.push_bind(*user);
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            let user: String = row.try_get(0)?;
            let record = ContextTokenRecord {
                token: row.try_get::<String, _>(1)?.into(),
                received_at_ms: row.try_get(2)?,
                sent: u32::try_from(row.try_get::<i64, _>(3)?).unwrap_or(u32::MAX),
            };
            records.insert(user, record);
        }
    }
    Ok(records)
}

/// Adds quarantined messages and drops the oldest beyond the cap.
async fn quarantine(
    conn: &mut SqliteConnection,
    account: &AccountId,
    messages: &[QuarantinedMessage],
) -> Result<(), sqlx::Error> {
    let rows: Vec<_> = messages
        .iter()
        .filter_map(|m| i64::try_from(m.id).ok().map(|id| (id, m)))
        .collect();
    for chunk in rows.chunks(ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO quarantine (account, id, received_at_ms, reason, raw) ",
        );
        q.push_values(chunk, |mut b, (id, m)| {
            b.push_bind(account.as_str())
                .push_bind(*id)
                .push_bind(m.received_at_ms)
                .push_bind(&m.reason)
                .push_bind(&m.raw);
        });
        q.push(" ON CONFLICT (account, id) DO NOTHING");
        q.build().execute(&mut *conn).await?;
    }
    sqlx::query(
        "DELETE FROM quarantine WHERE account = ?1 AND id NOT IN \
         (SELECT id FROM quarantine WHERE account = ?1 ORDER BY id DESC LIMIT ?2)",
    )
    .bind(account.as_str())
    .bind(QUARANTINE_CAP as i64)
    .execute(conn)
    .await
    .map(drop)
}

/// Applies a group of deferred writes in the open transaction `conn`, with
/// the same result as applying them one after the other: removals and
/// counts are idempotent and order-free, a journal row is only written for
/// an entry still in the inbox (so a removal in the same group wins either
/// way), and the last change of a saved value wins.
pub(super) async fn commit_deferred(
    conn: &mut SqliteConnection,
    ops: &mut [Deferred],
) -> Result<(), sqlx::Error> {
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
            sqlx::query("SAVEPOINT received")
                .execute(&mut *conn)
                .await?;
            let result = match commit_received(conn, account, batch).await {
                Ok(firsts) => Ok(firsts),
                Err(WriteError::Db(e)) => return Err(e),
                Err(WriteError::Store(e)) => {
                    sqlx::query("ROLLBACK TO received")
                        .execute(&mut *conn)
                        .await?;
                    Err(e)
                }
            };
            sqlx::query("RELEASE received").execute(&mut *conn).await?;
            *outcome = Some(result);
        }
    }
    let mut removed: Vec<(&AccountId, i64)> = Vec::new();
    let mut counts: HashMap<(&AccountId, &str, &str), u32> = HashMap::new();
    let mut journal: Vec<(&AccountId, i64, &JournaledSend)> = Vec::new();
    let mut states: HashMap<(&AccountId, &str, &str), Option<&str>> = HashMap::new();
    for op in ops.iter() {
        match op {
            Deferred::Received { .. } => {}
            Deferred::Remove { account, ids } => {
                removed.extend(ids.iter().map(|id| (account, *id)));
            }
            Deferred::Sent {
                account,
                sends,
                journal: rows,
            } => {
                for s in sends {
                    let count = counts
                        .entry((account, s.user.as_str(), s.token.expose()))
                        .or_default();
                    *count = (*count).max(s.sent);
                }
                // Ids above 2^63 are never stored in the inbox.
                journal.extend(
                    rows.iter()
                        .filter_map(|j| i64::try_from(j.entry).ok().map(|e| (account, e, j))),
                );
            }
            Deferred::Handled {
                account,
                entry,
                changes,
            } => {
                removed.push((account, *entry));
                for c in changes {
                    states.insert(
                        (account, c.conversation.as_str(), c.key.as_str()),
                        c.value.as_deref(),
                    );
                }
            }
        }
    }
    let counts: Vec<_> = counts.into_iter().collect();
    for chunk in counts.chunks(ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "UPDATE context_tokens SET sent = MAX(context_tokens.sent, v.column4) FROM (",
        );
        q.push_values(chunk, |mut b, ((account, user, token), sent)| {
            b.push_bind(account.as_str())
                .push_bind(*user)
                .push_bind(*token)
                .push_bind(i64::from(*sent));
        });
        q.push(
            ") AS v WHERE context_tokens.account = v.column1 \
             AND context_tokens.user_id = v.column2 AND context_tokens.token = v.column3",
        );
        q.build().execute(&mut *conn).await?;
    }
    for chunk in journal.chunks(ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO send_journal (account, entry, position, chunk, client_id, message_id) \
             SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6 FROM (",
        );
        q.push_values(chunk, |mut b, (account, entry, j)| {
            b.push_bind(account.as_str())
                .push_bind(*entry)
                .push_bind(i64::from(j.position))
                .push_bind(i64::from(j.chunk))
                .push_bind(j.sent.client_id.as_str())
                // Stored bit for bit: message ids are u64, SQLite integers i64.
                .push_bind(j.sent.message_id.map(|id| id as i64));
        });
        q.push(
            ") AS v WHERE EXISTS (SELECT 1 FROM inbox WHERE inbox.account = v.column1 \
             AND inbox.id = v.column2) \
             ON CONFLICT (account, entry, position, chunk) DO UPDATE SET \
             client_id = excluded.client_id, message_id = excluded.message_id",
        );
        q.build().execute(&mut *conn).await?;
    }
    let mut by_account: HashMap<&AccountId, Vec<i64>> = HashMap::new();
    for (account, id) in removed {
        by_account.entry(account).or_default().push(id);
    }
    for (account, ids) in by_account {
        for chunk in ids.chunks(ROWS) {
            for head in [
                "DELETE FROM inbox WHERE account = ",
                "DELETE FROM send_journal WHERE account = ",
            ] {
                let column = if head.contains("inbox") {
                    "id"
                } else {
                    "entry"
                };
                let mut q = QueryBuilder::<Sqlite>::new(head);
                q.push_bind(account.as_str())
                    .push(format!(" AND {column} IN ("));
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build().execute(&mut *conn).await?;
            }
        }
    }
    let (set, gone): (Vec<_>, Vec<_>) = states.into_iter().partition(|(_, v)| v.is_some());
    for chunk in set.chunks(ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO conversation_state (account, conversation, key, value) ",
        );
        q.push_values(chunk, |mut b, ((account, conversation, key), value)| {
            b.push_bind(account.as_str())
                .push_bind(*conversation)
                .push_bind(*key)
                .push_bind(value.unwrap_or_default());
        });
        q.push(" ON CONFLICT (account, conversation, key) DO UPDATE SET value = excluded.value");
        q.build().execute(&mut *conn).await?;
    }
    for ((account, conversation, key), _) in gone {
        sqlx::query(
            "DELETE FROM conversation_state WHERE account = ? AND conversation = ? AND key = ?",
        )
        .bind(account.as_str())
        .bind(conversation)
        .bind(key)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Tells the callers of received batches how they went, once the group's
/// transaction committed.
pub(super) fn deliver_outcomes(ops: Vec<Deferred>) {
    for op in ops {
        if let Deferred::Received {
            outcome: Some(outcome),
            done: Some(done),
            ..
        } = op
        {
            // A caller that stopped waiting does not need the answer.
            let _ = done.send(outcome);
        }
    }
}
