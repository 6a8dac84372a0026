//! Values to and from the rows of the SQL stores ([`SqliteStore`](super::SqliteStore),
//! [`PgStore`](super::PgStore)): both keep the same columns, so one place
//! encodes them, decodes them and says which row was damaged.

use std::borrow::Cow;

use ilink_core::SentMessage;

use super::{InboxEntry, JournaledSend, ReceivedEntry, StoreError};
use crate::account::{AccountId, Credentials};

/// A stored JSON value of `database` that does not decode.
fn corrupt(database: &str, what: String, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        path: format!("{database} ({what})"),
        message: e.to_string(),
    }
}

/// The message JSON of inbox entry `id` of `account`: as received when the
/// entry carries it (the poller's entries do), else the message serialized.
pub(crate) fn message_json<'a>(
    account: &AccountId,
    id: i64,
    received: &'a ReceivedEntry,
) -> Result<Cow<'a, str>, StoreError> {
    if let Some(json) = &received.json {
        return Ok(Cow::Borrowed(json.as_str()));
    }
    serde_json::to_string(&*received.entry.msg)
        .map(Cow::Owned)
        .map_err(|e| StoreError::Encode {
            what: format!("inbox entry {id} of {account}"),
            message: e.to_string(),
        })
}

/// Inbox entries from `(id, received_at_ms, message JSON)` rows of `account`.
pub(crate) fn inbox_entries(
    database: &str,
    account: &AccountId,
    rows: Vec<(i64, i64, String)>,
) -> Result<Vec<InboxEntry>, StoreError> {
    rows.into_iter()
        .map(|(id, received_at_ms, message)| {
            let msg = serde_json::from_str(&message)
                .map_err(|e| corrupt(database, format!("inbox entry {id} of {account}"), e))?;
            Ok(InboxEntry {
                id: id as u64,
                msg,
                received_at_ms,
            })
        })
        .collect()
}

/// Credentials from `(account, credentials JSON)` rows.
pub(crate) fn credentials(
    database: &str,
    rows: Vec<(String, String)>,
) -> Result<Vec<Credentials>, StoreError> {
    rows.into_iter()
        .map(|(account, json)| {
            serde_json::from_str(&json)
                .map_err(|e| corrupt(database, format!("credentials of {account}"), e))
        })
        .collect()
}

/// A journal row of `entry`: position, chunk, client id, message id (a
/// u64 stored bit for bit in a signed 64-bit column).
pub(crate) fn journaled(
    entry: u64,
    position: i64,
    chunk: i64,
    client_id: String,
    message_id: Option<i64>,
) -> JournaledSend {
    JournaledSend {
        entry,
        position: u32::try_from(position).unwrap_or(u32::MAX),
        chunk: u32::try_from(chunk).unwrap_or(u32::MAX),
        sent: SentMessage {
            client_id,
            message_id: message_id.map(|id| id as u64),
        },
    }
}
