//! [`FileStore`]: crash-safe files under a state directory.
//!
//! Layout (every file is replaced atomically: temporary file, fsync, rename):
//!
//! ```text
//! <dir>/credentials/<account>.json          0600, directory 0700
//! <dir>/accounts/<account>/cursor
//! <dir>/accounts/<account>/inbox/<id>.json  one file per waiting message
//! <dir>/accounts/<account>/tokens/<user>.json
//! <dir>/accounts/<account>/dedup.log        append-only, compacted when it grows
//! ```
//!
//! `dedup.log` has one line per key: `<key>\t<entry>\t<ms>`, the key as 32
//! hex digits. Lines written by earlier versions (text keys such as `m:<id>`)
//! are read too, and a torn last line after a crash is skipped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::memory::DedupIndex;
use super::{ContextTokenRecord, InboxEntry, StateStore, StoreError};
use crate::account::{AccountId, Credentials};
use crate::dedup::DedupKey;

/// State kept in files under one directory.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    dedup: Mutex<HashMap<AccountId, DedupLog>>,
}

#[derive(Debug)]
struct DedupLog {
    index: DedupIndex,
    lines_written: usize,
}

fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Turns an id into a file name that cannot escape its directory.
fn file_name(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'@' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    if out.starts_with('.') {
        out.replace_range(0..1, "%2E");
    }
    out
}

impl FileStore {
    /// Opens (creating if needed) a store in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        Ok(Self {
            dir,
            dedup: Mutex::new(HashMap::new()),
        })
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn account_dir(&self, account: &AccountId) -> PathBuf {
        self.dir.join("accounts").join(file_name(account.as_str()))
    }

    fn credentials_dir(&self) -> PathBuf {
        self.dir.join("credentials")
    }

    fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
        match fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(path, e)),
        }
    }

    fn write_json<T: serde::Serialize>(
        path: &Path,
        value: &T,
        private: bool,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        write_atomic(path, &bytes, private)
    }

    fn with_dedup<R>(
        &self,
        account: &AccountId,
        f: impl FnOnce(&mut DedupLog, &Path) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut map = self.dedup.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.account_dir(account).join("dedup.log");
        if !map.contains_key(account) {
            let log = load_dedup_log(&path)?;
            map.insert(account.clone(), log);
        }
        let log = map.get_mut(account).expect("inserted above");
        f(log, &path)
    }
}

fn ensure_dir(dir: &Path, private: bool) -> Result<(), StoreError> {
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| io_err(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(())
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new
/// content, never a torn file.
fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_dir(dir, private)?;
    replace_file(dir, path, bytes, private)?;
    sync_dir(dir);
    Ok(())
}

/// Replaces `path` (in `dir`, which exists) by a synced temporary file; the
/// replacement is durable once [`sync_dir`] has run on `dir`, so several
/// files of one directory can share that sync.
fn replace_file(dir: &Path, path: &Path, bytes: &[u8], private: bool) -> Result<(), StoreError> {
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        rand::random::<u32>()
    ));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| io_err(path, e))
}

/// Makes the renames in `dir` durable.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Reads every `*.json` file of `dir` (none if it does not exist), skipping
/// the hidden temporary files an interrupted write may leave.
fn read_json_dir<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<Vec<T>, StoreError> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir, e)),
    };
    let mut out = Vec::new();
    for item in read {
        let path = item.map_err(|e| io_err(dir, e))?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden || path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        if let Some(value) = FileStore::read_json::<T>(&path)? {
            out.push(value);
        }
    }
    Ok(out)
}

fn load_dedup_log(path: &Path) -> Result<DedupLog, StoreError> {
    let mut index = DedupIndex::default();
    let mut lines_written = 0;
    match File::open(path) {
        Ok(f) => {
            for line in BufReader::new(f).lines() {
                let line = line.map_err(|e| io_err(path, e))?;
                lines_written += 1;
                // A torn last line after a crash is skipped, not fatal.
                let mut parts = line.rsplitn(3, '\t');
                let (Some(at), Some(entry), Some(key)) = (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                if let (Ok(at), Ok(entry), Some(key)) = (
                    at.parse::<i64>(),
                    entry.parse::<u64>(),
                    DedupKey::parse(key),
                ) {
                    index.insert(key, entry, at);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path, e)),
    }
    Ok(DedupLog {
        index,
        lines_written,
    })
}

fn push_dedup_line(buf: &mut String, key: DedupKey, entry: u64, at_ms: i64) {
    // Writing to a String cannot fail.
    let _ = writeln!(buf, "{key}\t{entry}\t{at_ms}");
}

fn rewrite_dedup_log(log: &mut DedupLog, path: &Path) -> Result<(), StoreError> {
    let mut buf = String::new();
    let mut n = 0;
    for (key, entry, at) in log.index.entries() {
        push_dedup_line(&mut buf, key, entry, at);
        n += 1;
    }
    write_atomic(path, buf.as_bytes(), false)?;
    log.lines_written = n;
    Ok(())
}

impl StateStore for FileStore {
    fn load_cursor(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        let path = self.account_dir(account).join("cursor");
        match fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    fn save_cursor(&self, account: &AccountId, cursor: &str) -> Result<(), StoreError> {
        write_atomic(
            &self.account_dir(account).join("cursor"),
            cursor.as_bytes(),
            false,
        )
    }

    fn inbox_put(&self, account: &AccountId, entries: &[InboxEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let dir = self.account_dir(account).join("inbox");
        ensure_dir(&dir, false)?;
        for e in entries {
            let path = dir.join(format!("{:020}.json", e.id));
            let bytes = serde_json::to_vec(e).map_err(|err| StoreError::Corrupt {
                path: path.display().to_string(),
                message: err.to_string(),
            })?;
            replace_file(&dir, &path, &bytes, false)?;
        }
        // One directory sync for the whole batch: every entry is durable
        // when this returns, before the cursor moves.
        sync_dir(&dir);
        Ok(())
    }

    fn inbox_remove(&self, account: &AccountId, id: u64) -> Result<(), StoreError> {
        let path = self
            .account_dir(account)
            .join("inbox")
            .join(format!("{id:020}.json"));
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    fn inbox_load(&self, account: &AccountId) -> Result<Vec<InboxEntry>, StoreError> {
        let mut out: Vec<InboxEntry> = read_json_dir(&self.account_dir(account).join("inbox"))?;
        out.sort_by_key(|e| e.id);
        Ok(out)
    }

    fn context_token(
        &self,
        account: &AccountId,
        user: &str,
    ) -> Result<Option<ContextTokenRecord>, StoreError> {
        let path = self
            .account_dir(account)
            .join("tokens")
            .join(format!("{}.json", file_name(user)));
        Self::read_json(&path)
    }

    fn put_context_token(
        &self,
        account: &AccountId,
        user: &str,
        record: &ContextTokenRecord,
    ) -> Result<(), StoreError> {
        let path = self
            .account_dir(account)
            .join("tokens")
            .join(format!("{}.json", file_name(user)));
        Self::write_json(&path, record, true)
    }

    fn dedup_check_insert(
        &self,
        account: &AccountId,
        keys: &[DedupKey],
        entry: u64,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        let first = self.dedup_check_insert_batch(account, &[(entry, keys)], now_ms, window_ms)?;
        Ok(first.into_iter().next().flatten())
    }

    fn dedup_check_insert_batch(
        &self,
        account: &AccountId,
        batch: &[(u64, &[DedupKey])],
        now_ms: i64,
        window_ms: i64,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        self.with_dedup(account, |log, path| {
            let mut firsts = Vec::with_capacity(batch.len());
            let mut buf = String::new();
            let mut lines = 0;
            for (entry, keys) in batch {
                let first = log.index.check_insert(keys, *entry, now_ms, window_ms);
                if first.is_none() {
                    for key in *keys {
                        push_dedup_line(&mut buf, *key, *entry, now_ms);
                    }
                    lines += keys.len();
                }
                firsts.push(first);
            }
            if lines == 0 {
                return Ok(firsts);
            }
            if let Some(dir) = path.parent() {
                ensure_dir(dir, false)?;
            }
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| io_err(path, e))?;
            // One append and one sync for the whole batch.
            f.write_all(buf.as_bytes()).map_err(|e| io_err(path, e))?;
            f.sync_data().map_err(|e| io_err(path, e))?;
            log.lines_written += lines;
            if log.lines_written > 1024 && log.lines_written > log.index.len() * 2 {
                rewrite_dedup_log(log, path)?;
            }
            Ok(firsts)
        })
    }

    fn forget_account(&self, account: &AccountId) -> Result<(), StoreError> {
        self.dedup
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account);
        let dir = self.account_dir(account);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&dir, e)),
        }
    }

    fn save_credentials(&self, creds: &Credentials) -> Result<(), StoreError> {
        let dir = self.credentials_dir();
        ensure_dir(&dir, true)?;
        let path = dir.join(format!("{}.json", file_name(creds.account_id.as_str())));
        Self::write_json(&path, creds, true)
    }

    fn list_credentials(&self) -> Result<Vec<Credentials>, StoreError> {
        let mut out: Vec<Credentials> = read_json_dir(&self.credentials_dir())?;
        out.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        Ok(out)
    }

    fn remove_credentials(&self, account: &AccountId) -> Result<bool, StoreError> {
        let path = self
            .credentials_dir()
            .join(format!("{}.json", file_name(account.as_str())));
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(&path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::dedup_keys;
    use ilink_core::types::{MessageItem, WeixinMessage};

    fn key(text: &str) -> DedupKey {
        DedupKey::parse(text).unwrap()
    }

    #[test]
    fn file_names_cannot_escape() {
        assert_eq!(file_name("e06c@im.bot"), "e06c@im.bot");
        assert_eq!(file_name("../x"), "%2E.%2Fx");
        assert_eq!(file_name("a/b"), "a%2Fb");
    }

    #[cfg(unix)]
    #[test]
    fn credentials_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        store
            .save_credentials(&Credentials::new("b@im.bot", "b@im.bot:secret"))
            .unwrap();
        let f = dir.path().join("credentials/b@im.bot.json");
        let mode = fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let d = fs::metadata(dir.path().join("credentials"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(d, 0o700);
    }

    #[test]
    fn state_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let acct = AccountId::new("b@im.bot");
        {
            let s = FileStore::open(dir.path()).unwrap();
            s.save_cursor(&acct, "c-9").unwrap();
            assert_eq!(
                s.dedup_check_insert(&acct, &[key("m:1")], 1, 1000, 10_000)
                    .unwrap(),
                None
            );
        }
        let s = FileStore::open(dir.path()).unwrap();
        assert_eq!(s.load_cursor(&acct).unwrap().as_deref(), Some("c-9"));
        assert_eq!(
            s.dedup_check_insert(&acct, &[key("m:1")], 2, 2000, 10_000)
                .unwrap(),
            Some(1)
        );
    }

    #[test]
    fn torn_dedup_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let acct = AccountId::new("b");
        let s = FileStore::open(dir.path()).unwrap();
        s.dedup_check_insert(&acct, &[key("m:1")], 1, 1000, 10_000)
            .unwrap();
        let log = dir.path().join("accounts/b/dedup.log");
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"m:2\t2").unwrap();
        drop(f);
        let s = FileStore::open(dir.path()).unwrap();
        assert_eq!(
            s.dedup_check_insert(&acct, &[key("m:1")], 5, 2000, 10_000)
                .unwrap(),
            Some(1)
        );
        assert_eq!(
            s.dedup_check_insert(&acct, &[key("m:2")], 5, 2000, 10_000)
                .unwrap(),
            None
        );
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(dir.path()).unwrap();
        let acct = AccountId::new("b");
        let tdir = dir.path().join("accounts/b/tokens");
        fs::create_dir_all(&tdir).unwrap();
        fs::write(tdir.join("u.json"), b"{not json").unwrap();
        let err = s.context_token(&acct, "u").unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
    }

    #[test]
    fn the_dedup_log_has_one_readable_line_per_key() {
        let dir = tempfile::tempdir().unwrap();
        let acct = AccountId::new("b");
        let s = FileStore::open(dir.path()).unwrap();
        let k = key("m:7");
        s.dedup_check_insert(&acct, &[k], 3, 1000, 10_000).unwrap();
        let log = fs::read_to_string(dir.path().join("accounts/b/dedup.log")).unwrap();
        assert_eq!(log, format!("{k}\t3\t1000\n"));
        assert_eq!(k.to_string().len(), 32);
    }

    #[test]
    fn dedup_keys_logged_by_earlier_versions_still_count() {
        let dir = tempfile::tempdir().unwrap();
        let acct = AccountId::new("b");
        let msg = WeixinMessage {
            message_id: Some(9),
            seq: Some(4),
            from_user_id: Some("u@im.wechat".into()),
            create_time_ms: Some(1_700_000_000_000),
            item_list: vec![MessageItem::text("hi")],
            ..Default::default()
        };
        let content = serde_json::to_string(&msg.item_list).unwrap();
        let fingerprint = ilink_core::crypto::md5_hex(
            format!("u@im.wechat\u{1}\u{1}1700000000000\u{1}{content}").as_bytes(),
        );
        // What the previous version wrote for this message, as entry 1.
        let legacy = format!("m:9\t1\t1000\ns:u@im.wechat:4\t1\t1000\nf:{fingerprint}\t1\t1000\n");
        fs::create_dir_all(dir.path().join("accounts/b")).unwrap();
        fs::write(dir.path().join("accounts/b/dedup.log"), legacy).unwrap();
        let s = FileStore::open(dir.path()).unwrap();
        let keys = dedup_keys(&msg);
        // Each key on its own, as a redelivery sharing only one of them would carry it.
        for k in keys.iter() {
            assert_eq!(
                s.dedup_check_insert(&acct, &[*k], 2, 2000, 10_000).unwrap(),
                Some(1)
            );
        }
    }
}
