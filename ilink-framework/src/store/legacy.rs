//! A one-time import of the file-per-record layout that earlier releases
//! kept in the state directory:
//!
//! ```text
//! <dir>/credentials/<account>.json
//! <dir>/accounts/<account>/cursor
//! <dir>/accounts/<account>/inbox/<id>.json
//! <dir>/accounts/<account>/tokens/<user>.json
//! ```
//!
//! File names are ids with bytes outside `[A-Za-z0-9._@-]` written as `%XX`.
//! Credentials, cursors, context tokens and unhandled messages are copied
//! into the database; dedup keys are not (redeliveries within the next two
//! hours may be handled again). The two directories are then renamed with an
//! `.imported` suffix, so the import happens once and nothing is deleted.

use std::fs;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::{
    ContextTokenRecord, InboxEntry, ReceivedBatch, ReceivedEntry, SqliteStore, StateStore,
    StoreError, now_ms,
};
use crate::account::{AccountId, Credentials};

/// Imports the old layout in `store`'s directory, if there is one.
pub(super) async fn import(store: &SqliteStore) -> Result<(), StoreError> {
    let dir = store.dir().to_path_buf();
    let credentials = dir.join("credentials");
    let accounts = dir.join("accounts");
    if !credentials.is_dir() && !accounts.is_dir() {
        return Ok(());
    }
    let mut imported = 0;
    for (_, creds) in json_files::<Credentials>(&credentials)? {
        store.save_credentials(&creds).await?;
        imported += 1;
    }
    for account_dir in subdirs(&accounts)? {
        let Some(account) = decoded_name(&account_dir) else {
            continue;
        };
        import_account(store, &AccountId::new(account), &account_dir).await?;
    }
    for old in [credentials, accounts] {
        if old.is_dir() {
            let to = PathBuf::from(format!("{}.imported", old.display()));
            fs::rename(&old, &to).map_err(|e| StoreError::io(old.display(), e))?;
        }
    }
    tracing::info!(
        dir = %dir.display(), credentials = imported,
        "imported the state of an earlier release into {}", store.path().display()
    );
    Ok(())
}

async fn import_account(
    store: &SqliteStore,
    account: &AccountId,
    dir: &Path,
) -> Result<(), StoreError> {
    for (file, record) in json_files::<ContextTokenRecord>(&dir.join("tokens"))? {
        if let Some(user) = decoded_name(&file) {
            store.put_context_token(account, &user, &record).await?;
        }
    }
    for (_, entry) in json_files::<InboxEntry>(&dir.join("inbox"))? {
        let batch = ReceivedBatch {
            entries: vec![ReceivedEntry {
                entry,
                dedup_keys: Vec::new(),
                context_token: None,
                json: None,
            }],
            now_ms: now_ms(),
            ..Default::default()
        };
        match store.commit_received(account, &batch).await {
            // Imported by an earlier attempt that could not rename the directory.
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let cursor_file = dir.join("cursor");
    match fs::read_to_string(&cursor_file) {
        Ok(cursor) if !cursor.is_empty() => {
            let batch = ReceivedBatch {
                cursor: Some(cursor),
                ..Default::default()
            };
            store.commit_received(account, &batch).await?;
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(cursor_file.display(), e)),
    }
    Ok(())
}

/// The directories in `dir` (none if it does not exist).
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    Ok(entries(dir)?.into_iter().filter(|p| p.is_dir()).collect())
}

/// Every `*.json` file in `dir` with its decoded content, skipping the
/// hidden temporary files an interrupted write may have left.
fn json_files<T: DeserializeOwned>(dir: &Path) -> Result<Vec<(PathBuf, T)>, StoreError> {
    let mut out = Vec::new();
    for path in entries(dir)? {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden || path.extension().is_none_or(|x| x != "json") || !path.is_file() {
            continue;
        }
        let bytes = fs::read(&path).map_err(|e| StoreError::io(path.display(), e))?;
        let value = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: path.display().to_string(),
            message: format!("{e} (a file of an earlier release, being imported)"),
        })?;
        out.push((path, value));
    }
    Ok(out)
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir.display(), e)),
    };
    let mut out = Vec::new();
    for item in read {
        out.push(item.map_err(|e| StoreError::io(dir.display(), e))?.path());
    }
    out.sort();
    Ok(out)
}

/// The id a file or directory name stands for (its stem, `%XX` decoded).
fn decoded_name(path: &Path) -> Option<String> {
    let stem = if path.extension().is_some_and(|x| x == "json") {
        path.file_stem()?
    } else {
        path.file_name()?
    };
    percent_decode(stem.to_str()?)
}

fn percent_decode(name: &str) -> Option<String> {
    let mut out = Vec::with_capacity(name.len());
    let mut bytes = name.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            let mut byte = [0u8];
            hex::decode_to_slice(hex, &mut byte).ok()?;
            out.push(byte[0]);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decode_as_they_were_encoded() {
        assert_eq!(
            percent_decode("e06c@im.bot").as_deref(),
            Some("e06c@im.bot")
        );
        assert_eq!(percent_decode("%2E.%2Fx").as_deref(), Some("../x"));
        assert_eq!(percent_decode("a%2").as_deref(), None);
    }

    #[tokio::test]
    async fn an_old_layout_is_imported_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("credentials")).unwrap();
        let creds =
            Credentials::new("b@im.bot", "b@im.bot:secret").with_base_url("http://127.0.0.1:9");
        fs::write(
            d.join("credentials/b@im.bot.json"),
            serde_json::to_vec(&creds).unwrap(),
        )
        .unwrap();
        let acct = d.join("accounts/b@im.bot");
        fs::create_dir_all(acct.join("tokens")).unwrap();
        fs::create_dir_all(acct.join("inbox")).unwrap();
        fs::write(acct.join("cursor"), "c-7").unwrap();
        let token = ContextTokenRecord {
            token: "ctx".into(),
            received_at_ms: 5,
            sent: 3,
        };
        fs::write(
            acct.join("tokens/u%3Ax@im.wechat.json"),
            serde_json::to_vec(&token).unwrap(),
        )
        .unwrap();
        let entry = InboxEntry {
            id: 42,
            msg: Default::default(),
            received_at_ms: 9,
        };
        fs::write(
            acct.join("inbox/00000000000000000042.json"),
            serde_json::to_vec(&entry).unwrap(),
        )
        .unwrap();

        let store = SqliteStore::open(d).await.unwrap();
        let a = AccountId::new("b@im.bot");
        assert_eq!(store.list_credentials().await.unwrap(), vec![creds]);
        assert_eq!(store.load_cursor(&a).await.unwrap().as_deref(), Some("c-7"));
        assert_eq!(
            store.context_token(&a, "u:x@im.wechat").await.unwrap(),
            Some(token)
        );
        assert_eq!(store.inbox_load(&a).await.unwrap(), vec![entry]);
        assert!(d.join("credentials.imported").is_dir());
        assert!(!d.join("credentials").exists());
        // Once: what is removed afterwards stays removed.
        assert!(store.remove_credentials(&a).await.unwrap());
        store.close().await;
        drop(store);
        let store = SqliteStore::open(d).await.unwrap();
        assert!(store.list_credentials().await.unwrap().is_empty());
    }
}
