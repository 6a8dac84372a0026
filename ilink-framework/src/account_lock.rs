//! One process per account: [`AccountLock`], an exclusive advisory lock on
//! `<state_dir>/locks/<account>.lock` held for as long as the account is
//! polled.
//!
//! Two pollers on one account split its messages between them (each long
//! poll hands a batch to whoever asked), so replies go missing. The lock is
//! an OS file lock (`flock` on Unix, `LockFileEx` on Windows, through `fs4`): the kernel
//! releases it when the process ends, `kill -9` included, so a crashed bot
//! never leaves a stale lock behind. The file itself stays; only the lock
//! on it matters. After taking the lock the holder writes its pid, host and
//! start time into the file, so a refused process can say who is in the way.
//!
//! Locks belong to an open file, not to a process: a second acquisition in
//! the same process conflicts too, which is what keeps two bots of one
//! process apart and makes the lock testable in-process.
//!
//! ```
//! use ilink_framework::AccountId;
//! use ilink_framework::account_lock::{AccountLock, LockError};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let account = AccountId::new("bot@im.bot");
//! let held = AccountLock::try_acquire(dir.path(), &account).unwrap();
//! let refused = AccountLock::try_acquire(dir.path(), &account).unwrap_err();
//! assert!(matches!(refused, LockError::Held { holder: Some(h), .. } if h.pid == std::process::id()));
//! drop(held);
//! AccountLock::try_acquire(dir.path(), &account).unwrap();
//! ```

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fs4::TryLockError;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::account::AccountId;

/// The directory under the state directory that holds the lock files.
pub const LOCKS_DIR: &str = "locks";

/// How often [`AccountLock::acquire_within`] tries again; there is no
/// portable way to wait on a file lock with a timeout.
const RETRY_EVERY: Duration = Duration::from_millis(250);

/// File names longer than this are shortened to a prefix and a hash; most
/// file systems refuse names over 255 bytes.
const MAX_STEM: usize = 120;

/// The process that holds an account's lock, as written in the lock file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// Its process id.
    pub pid: u32,
    /// The host it runs on (the state directory may be on a shared disk).
    pub host: String,
    /// When it took the lock, milliseconds since the epoch.
    pub since_ms: i64,
}

impl LockHolder {
    fn this_process() -> Self {
        Self {
            pid: std::process::id(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            since_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        }
    }

    /// Reads the holder written in a lock file; `None` when the file is
    /// empty (the holder has not written yet, or it stopped cleanly) or
    /// unreadable.
    pub fn read(lock_file: &Path) -> Option<Self> {
        let text = fs::read_to_string(lock_file).ok()?;
        serde_json::from_str(text.trim()).ok()
    }
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} on host {}, since {}",
            self.pid,
            self.host,
            utc(self.since_ms)
        )
    }
}

/// Who holds a lock, for an error message.
pub(crate) fn describe_holder(holder: Option<&LockHolder>) -> String {
    holder.map_or_else(|| "holder unknown".to_owned(), LockHolder::to_string)
}

/// Why an account's lock was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process (or another bot of this one) polls the account.
    #[error(
        "account {account} is in use by another process ({})",
        describe_holder(holder.as_ref())
    )]
    Held {
        /// The account.
        account: AccountId,
        /// The process holding the lock, when its lock file says.
        holder: Option<LockHolder>,
        /// The lock file.
        lock_file: PathBuf,
    },
    /// The lock file or its directory could not be created or locked.
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// An exclusive lock on one account, released when dropped (or by the
/// operating system when the process dies).
#[derive(Debug)]
pub struct AccountLock {
    file: File,
    path: PathBuf,
    account: AccountId,
}

impl AccountLock {
    /// Takes the lock of `account` under `state_dir`, or fails at once with
    /// [`LockError::Held`] naming the holder.
    pub fn try_acquire(state_dir: &Path, account: &AccountId) -> Result<Self, LockError> {
        let path = lock_path(state_dir, account);
        let dir = path.parent().unwrap_or(state_dir);
        create_private_dir(dir).map_err(|source| LockError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        // No truncation on open: the holder's details must survive a
        // refused attempt.
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&path).map_err(io_err)?;
        // fs4 rather than std's `File::try_lock` (Rust 1.89), for the
        // workspace's minimum Rust version; both are `flock`/`LockFileEx`.
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    account: account.clone(),
                    holder: LockHolder::read(&path),
                    lock_file: path.clone(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let mut lock = Self {
            file,
            path: path.clone(),
            account: account.clone(),
        };
        lock.write_holder().map_err(io_err)?;
        Ok(lock)
    }

    /// Like [`AccountLock::try_acquire`], but while another process holds
    /// the lock, tries again until `wait` has passed (for a rolling deploy:
    /// the new process starts before the old one has stopped).
    pub async fn acquire_within(
        state_dir: &Path,
        account: &AccountId,
        wait: Duration,
    ) -> Result<Self, LockError> {
        let deadline = Instant::now() + wait;
        let mut logged = false;
        loop {
            match Self::try_acquire(state_dir, account) {
                Err(LockError::Held { holder, .. }) if Instant::now() < deadline => {
                    if !logged {
                        tracing::info!(
                            %account,
                            holder = %describe_holder(holder.as_ref()),
                            wait_secs = wait.as_secs(),
                            "account is locked by another process; waiting for it to stop"
                        );
                        logged = true;
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::sleep(left.min(RETRY_EVERY)).await;
                }
                other => return other,
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The locked account.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    fn write_holder(&mut self) -> io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // The file may predate this process with looser permissions.
            self.file
                .set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        let mut text = serde_json::to_string(&LockHolder::this_process())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        text.push('\n');
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(text.as_bytes())
    }
}

impl Drop for AccountLock {
    fn drop(&mut self) {
        // Emptied so nobody reading the file later takes a stopped process
        // for the holder; closing the file then releases the lock.
        let _ = self.file.set_len(0);
    }
}

/// Where the lock of `account` lives under `state_dir`.
pub fn lock_path(state_dir: &Path, account: &AccountId) -> PathBuf {
    state_dir.join(LOCKS_DIR).join(file_name(account))
}

/// A file name for `account` that is safe on every file system and
/// unambiguous even where names are case-insensitive: lower-case letters,
/// digits and `@._-` stay, every other byte becomes `%XX` (so upper-case
/// letters are escaped, and a leading dot too, to keep the file visible).
/// Over-long names keep a prefix and gain an md5 of the whole id after a
/// `~`, a byte the escaped form never contains.
fn file_name(account: &AccountId) -> String {
    let id = account.as_str();
    let mut stem = String::with_capacity(id.len());
    for (i, b) in id.bytes().enumerate() {
        let keep = b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || matches!(b, b'@' | b'_' | b'-')
            || (b == b'.' && i > 0);
        if keep {
            stem.push(char::from(b));
        } else {
            stem.push_str(&format!("%{b:02X}"));
        }
    }
    if stem.len() > MAX_STEM {
        let digest = hex::encode(Md5::digest(id.as_bytes()));
        // The stem is ASCII, so any byte offset is a character boundary.
        stem = format!("{}~{digest}", &stem[..MAX_STEM - 33]);
    }
    stem + ".lock"
}

/// Creates `dir` (and missing parents) readable by the owner only.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

/// `ms` since the epoch as `YYYY-MM-DD hh:mm:ss UTC`.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> AccountId {
        AccountId::new(s)
    }

    #[test]
    fn the_same_account_conflicts_and_different_accounts_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let a = AccountLock::try_acquire(dir.path(), &id("a@im.bot")).unwrap();
        let _b = AccountLock::try_acquire(dir.path(), &id("b@im.bot")).unwrap();
        let err = AccountLock::try_acquire(dir.path(), &id("a@im.bot")).unwrap_err();
        let LockError::Held {
            account,
            holder,
            lock_file,
        } = err
        else {
            panic!("expected Held, got {err:?}");
        };
        assert_eq!(account, id("a@im.bot"));
        assert_eq!(lock_file, a.path());
        assert_eq!(lock_file, dir.path().join("locks").join("a@im.bot.lock"));
        let holder = holder.expect("holder written");
        assert_eq!(holder.pid, std::process::id());
        assert!(!holder.host.is_empty());
        assert!(holder.since_ms > 0);
    }

    #[test]
    fn dropping_the_lock_frees_it_and_empties_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = id("a@im.bot");
        let lock = AccountLock::try_acquire(dir.path(), &a).unwrap();
        let path = lock.path().to_owned();
        assert!(LockHolder::read(&path).is_some());
        drop(lock);
        assert_eq!(LockHolder::read(&path), None);
        let again = AccountLock::try_acquire(dir.path(), &a).unwrap();
        assert_eq!(
            LockHolder::read(again.path()).map(|h| h.pid),
            Some(std::process::id())
        );
    }

    #[test]
    fn the_error_names_the_account_and_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let _held = AccountLock::try_acquire(dir.path(), &id("a@im.bot")).unwrap();
        let msg = AccountLock::try_acquire(dir.path(), &id("a@im.bot"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("account a@im.bot is in use by another process (pid "),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("pid {} on host ", std::process::id())),
            "{msg}"
        );
        assert!(msg.ends_with(" UTC)"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn the_lock_file_and_directory_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let lock = AccountLock::try_acquire(dir.path(), &id("a@im.bot")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(lock.path()), 0o600);
        assert_eq!(mode(&dir.path().join(LOCKS_DIR)), 0o700);
    }

    #[test]
    fn file_names_are_safe_and_unambiguous() {
        assert_eq!(file_name(&id("bot@im.bot")), "bot@im.bot.lock");
        assert_eq!(file_name(&id("Bot@im.bot")), "%42ot@im.bot.lock");
        assert_ne!(file_name(&id("Bot")), file_name(&id("bot")));
        assert_eq!(file_name(&id("../x")), "%2E.%2Fx.lock");
        assert_eq!(file_name(&id("a%41")), "a%2541.lock");
        assert_ne!(file_name(&id("a%41")), file_name(&id("aA")));
        assert_eq!(file_name(&id("")), ".lock");
        let long = "x".repeat(500);
        let name = file_name(&id(&long));
        assert!(name.len() <= MAX_STEM + ".lock".len(), "{name}");
        assert_ne!(name, file_name(&id(&format!("{long}y"))));
    }

    #[test]
    fn unreadable_holder_details_are_unknown_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        fs::write(&path, "not json").unwrap();
        assert_eq!(LockHolder::read(&path), None);
        assert_eq!(LockHolder::read(&dir.path().join("missing")), None);
        assert_eq!(describe_holder(None), "holder unknown");
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000_999), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(-1_000), "1969-12-31 23:59:59 UTC");
    }

    #[tokio::test]
    async fn waiting_takes_the_lock_once_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let a = id("a@im.bot");
        let held = AccountLock::try_acquire(dir.path(), &a).unwrap();
        let (state, account) = (dir.path().to_owned(), a.clone());
        let waiter = tokio::spawn(async move {
            AccountLock::acquire_within(&state, &account, Duration::from_secs(60)).await
        });
        // The waiter must still be waiting while the lock is held: give it
        // a few of its retries, then let go.
        tokio::time::sleep(RETRY_EVERY * 3).await;
        assert!(!waiter.is_finished());
        drop(held);
        let lock = waiter.await.unwrap().expect("taken after release");
        assert_eq!(lock.account(), &a);
    }

    #[tokio::test]
    async fn waiting_gives_up_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let a = id("a@im.bot");
        let _held = AccountLock::try_acquire(dir.path(), &a).unwrap();
        let err = AccountLock::acquire_within(dir.path(), &a, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err:?}");
    }
}
