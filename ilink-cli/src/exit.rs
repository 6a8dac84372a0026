//! Every way `ilink` can fail, and what the shell sees: an exit code, one
//! `error:` line and, when there is something to do about it, a `hint:` line.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | runtime or network error |
//! | 2 | usage error (bad flags or arguments; clap's own code) |
//! | 3 | not found: no credentials, unknown account, no context token |
//! | 4 | quota exhausted or refused by policy (locally or by the server's `ret -2`) |
//! | 5 | session expired (`-14`): log in again |
//! | 6 | account in use: another process polls it (its lock is held) |
//! | 7 | state unusable: the state directory or database cannot be used as it is |
//! | 8 | not ready: `ilink status` found the bot not ready (an account starting or expired) |
//! | 130 | interrupted (ctrl-c or SIGTERM) before the command finished |

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ilink_core::login::LoginError;
use ilink_core::{ApiCode, Error as CoreError};
use ilink_framework::account_lock::{LockError, LockHolder};
use ilink_framework::store::StoreError;

use crate::render::human_duration;

/// Exit code of a runtime or network failure.
pub const RUNTIME: u8 = 1;
/// Exit code of a usage error (the same as clap's).
pub const USAGE: u8 = 2;
/// Exit code when something needed is not there.
pub const NOT_FOUND: u8 = 3;
/// Exit code when a quota or policy refuses the action.
pub const REFUSED: u8 = 4;
/// Exit code when the bot session expired (`-14`).
pub const SESSION_EXPIRED: u8 = 5;
/// Exit code when another process polls the account.
pub const ACCOUNT_LOCKED: u8 = 6;
/// Exit code when the state directory or database cannot be used as it is
/// (not a directory, not writable, damaged, newer schema, disk full).
pub const STATE_UNUSABLE: u8 = 7;
/// Exit code when `ilink status` finds the bot not ready.
pub const NOT_READY: u8 = 8;
/// Exit code after ctrl-c, by the shell convention 128 + SIGINT.
pub const INTERRUPTED: u8 = 130;

/// A failure of a command, typed by what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments make no sense together.
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// How to call it instead.
        hint: Option<String>,
    },
    /// No account was named and none can be picked.
    #[error("no bot credentials: no account is stored in {state_dir} and ILINK_TOKEN is not set")]
    NoCredentials {
        /// The state directory that was searched.
        state_dir: String,
    },
    /// The named account is not stored.
    #[error("no stored account {account} in {state_dir}")]
    UnknownAccount {
        /// The account asked for.
        account: String,
        /// The state directory that was searched.
        state_dir: String,
    },
    /// No quarantined message has the id asked for.
    #[error("no quarantined message {id}")]
    NotQuarantined {
        /// The id asked for.
        id: u64,
    },
    /// The user never wrote to the bot (or `ilink tail` was not running when they did).
    #[error("no stored context token for {user}")]
    NoContextToken {
        /// The account.
        account: String,
        /// The user.
        user: String,
    },
    /// All messages allowed by the user's last message are used.
    #[error(
        "send quota used up for {user}: {sent} of {limit} messages sent since their last message"
    )]
    QuotaExhausted {
        /// The user.
        user: String,
        /// Messages sent with the newest token.
        sent: u32,
        /// Messages allowed per token.
        limit: u32,
    },
    /// The user's last message is too old to reply to.
    #[error("the context token of {user} is {} old; replies are allowed for {}", human_duration(*age), human_duration(*ttl))]
    ContextExpired {
        /// The user.
        user: String,
        /// Age of the newest token.
        age: Duration,
        /// How long a token allows replies.
        ttl: Duration,
    },
    /// The server refused a send with `ret -2`.
    #[error("the server refused the message (ret -2); {context}")]
    ServerRefused {
        /// What the client knows that may explain it (count, age, length).
        context: String,
    },
    /// `-14`: the bot token is stale.
    #[error("the session of {account} expired (-14)")]
    SessionExpired {
        /// The account.
        account: String,
    },
    /// Another process polls the account (a bot, or another `ilink tail`).
    #[error(
        "account {account} is in use by another process ({})",
        holder.as_ref().map_or_else(|| "holder unknown".to_owned(), LockHolder::to_string)
    )]
    AccountLocked {
        /// The account.
        account: String,
        /// The process holding the lock, when its lock file says.
        holder: Option<LockHolder>,
        /// The lock file.
        lock_file: PathBuf,
    },
    /// The QR login did not finish.
    #[error("login failed: {0}")]
    Login(#[from] LoginError),
    /// A protocol call failed.
    #[error("{0}")]
    Core(#[from] CoreError),
    /// The state directory could not be read or written.
    #[error("{}", store_problem(.0))]
    Store(#[from] StoreError),
    /// Reading or writing locally failed (stdin, the terminal, a file).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A bot's admin endpoint did not answer with its status.
    #[error("no bot status from the admin endpoint {addr}: {error}")]
    AdminUnreachable {
        /// The address asked.
        addr: SocketAddr,
        /// Why, for people.
        error: String,
    },
    /// The bot answered and is not ready.
    #[error("the bot is not ready: {}", reasons.join("; "))]
    NotReady {
        /// Why, one cause each.
        reasons: Vec<String>,
    },
    /// Ctrl-c arrived before the command finished.
    #[error("interrupted")]
    Interrupted,
}

impl CliError {
    /// A usage error with a hint.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::Usage {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// Wraps a protocol error of a call made for `account`, so that `-14`
    /// and refusals get their own exit codes.
    pub fn from_core(account: &str, error: CoreError) -> Self {
        if error.is_session_expired() {
            return Self::SessionExpired {
                account: account.to_owned(),
            };
        }
        Self::Core(error)
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Self::Usage { .. } => USAGE,
            Self::NoCredentials { .. }
            | Self::UnknownAccount { .. }
            | Self::NotQuarantined { .. }
            | Self::NoContextToken { .. } => NOT_FOUND,
            Self::QuotaExhausted { .. }
            | Self::ContextExpired { .. }
            | Self::ServerRefused { .. } => REFUSED,
            Self::SessionExpired { .. } => SESSION_EXPIRED,
            Self::AccountLocked { .. } => ACCOUNT_LOCKED,
            Self::Store(e) if e.is_state_unusable() => STATE_UNUSABLE,
            Self::Core(e) if e.api().is_some_and(|a| a.code() == ApiCode::Rejected) => REFUSED,
            Self::Login(LoginError::Request(e)) if e.is_session_expired() => SESSION_EXPIRED,
            Self::Interrupted => INTERRUPTED,
            Self::NotReady { .. } => NOT_READY,
            Self::Login(_)
            | Self::Core(_)
            | Self::Store(_)
            | Self::Io { .. }
            | Self::AdminUnreachable { .. } => RUNTIME,
        }
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Usage { hint, .. } => hint.clone(),
            Self::NoCredentials { .. } => Some(
                "run `ilink login` first, or set ILINK_TOKEN and ILINK_ACCOUNT_ID".into(),
            ),
            Self::UnknownAccount { .. } => Some(
                "`ilink accounts` lists the stored accounts; `ilink login` adds one".into(),
            ),
            Self::NotQuarantined { .. } => {
                Some("`ilink quarantine list` shows the quarantined messages and their ids".into())
            }
            Self::NoContextToken { account, .. } => Some(format!(
                "the user must write to the bot first; run `ilink tail --account {account}` while they do"
            )),
            Self::QuotaExhausted { .. } => Some(
                "the user must write to the bot again before it may send more (`--force` skips this check)"
                    .into(),
            ),
            Self::ContextExpired { .. } => Some(
                "the user must write to the bot again (`--force` skips this check)".into(),
            ),
            Self::ServerRefused { .. } => Some(
                "ret -2 means quota used up, context expired, sends too fast or text too long; \
                 wait, or let the user write again"
                    .into(),
            ),
            Self::SessionExpired { .. } => Some(
                "run `ilink login` again to get a new token (the server pauses a stale session for about an hour)"
                    .into(),
            ),
            Self::AccountLocked { lock_file, .. } => Some(format!(
                "only one process may poll an account: stop that one first \
                 (`ilink send` and `ilink accounts` work while it runs); lock file {}",
                lock_file.display()
            )),
            Self::Login(LoginError::TooManyQrCodes(_)) | Self::Login(LoginError::Timeout(_)) => {
                Some("run `ilink login` again and scan the code within its lifetime".into())
            }
            Self::Login(LoginError::VerifyCodeCancelled) => Some(
                "type the number shown on the phone when asked (stdin was closed)".into(),
            ),
            Self::Core(e) | Self::Login(LoginError::Request(e)) => core_hint(e),
            Self::Store(e) => store_hint(e),
            Self::AdminUnreachable { addr, .. } => Some(format!(
                "is the bot running with ILINK_ADMIN_ADDR={addr} (or BotBuilder::admin)?"
            )),
            Self::NotReady { reasons } if reasons.iter().any(|r| r.contains("session expired")) => {
                Some("run `ilink login` again for the expired account".into())
            }
            Self::Login(_) | Self::Io { .. } | Self::Interrupted | Self::NotReady { .. } => None,
        }
    }

    /// Prints the error and hint on stderr and returns the exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("error: {self}");
        if let Some(hint) = self.hint() {
            eprintln!("hint: {hint}");
        }
        ExitCode::from(self.code())
    }
}

impl From<LockError> for CliError {
    fn from(e: LockError) -> Self {
        match e {
            LockError::Held {
                account,
                holder,
                lock_file,
            } => Self::AccountLocked {
                account: account.to_string(),
                holder,
                lock_file,
            },
            LockError::Io { path, source } => Self::Store(StoreError::io(path.display(), source)),
            other => Self::Io {
                context: "cannot lock the account".into(),
                source: std::io::Error::other(other.to_string()),
            },
        }
    }
}

/// What is wrong with the state, naming the file; what to do about it is
/// the hint (the store's own message says both on one line, for programs
/// without a hint line).
fn store_problem(e: &StoreError) -> String {
    match e {
        StoreError::NotADirectory { path } => format!("state directory {path} is not a directory"),
        StoreError::Io { path, source } => format!("cannot use {path}: {source}"),
        StoreError::Corrupt { path, message } => {
            format!("state database {path} is damaged ({message})")
        }
        StoreError::NewerSchema {
            path,
            found,
            supported,
        } => format!(
            "state database {path} has schema version {found}, newer than this ilink knows (up to {supported})"
        ),
        StoreError::Full { path } => format!("no space left for state database {path}"),
        StoreError::Busy { path } => {
            format!("state database {path} is locked by another process")
        }
        other => other.to_string(),
    }
}

fn store_hint(e: &StoreError) -> Option<String> {
    let hint = match e {
        StoreError::NotADirectory { .. } => {
            "remove or rename it, or choose another state directory with --state-dir or ILINK_STATE_DIR"
        }
        StoreError::Io { .. } => {
            "check that it exists and its owner and permissions, or choose another state directory with --state-dir"
        }
        StoreError::Corrupt { .. } => {
            "stop every bot that uses it, move the file aside with its -wal and -shm files, and run again; \
             context tokens and unhandled messages in it are lost, `ilink login` saves credentials again"
        }
        StoreError::NewerSchema { .. } => {
            "run the newer ilink that wrote it, or move the file aside (with its -wal and -shm files) to start afresh"
        }
        StoreError::Full { .. } => "free disk space, then run again",
        StoreError::Busy { .. } => {
            "end the other process's write transaction (an open sqlite3 shell, a backup tool), then run again"
        }
        StoreError::Database { .. } => {
            "check the permissions of the state directory, or pick another with --state-dir"
        }
        _ => return None,
    };
    Some(hint.to_owned())
}

fn core_hint(e: &CoreError) -> Option<String> {
    match e {
        CoreError::Transport { .. } => {
            Some("check the network and the base URL (--base-url / ILINK_BASE_URL)".into())
        }
        CoreError::HttpStatus { status, .. } if *status >= 500 => {
            Some("the server is in trouble; try again later".into())
        }
        CoreError::Api(api) => api.code().hint().map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use ilink_core::{ApiError, Endpoint, TransportKind};

    use super::*;

    fn api(ret: i64) -> CoreError {
        CoreError::from_status(Endpoint::SendMessage, ret, None, Some("x")).expect("non-zero")
    }

    #[test]
    fn codes_follow_the_documented_table() {
        let cases: Vec<(CliError, u8)> = vec![
            (CliError::usage("bad", "do this"), USAGE),
            (
                CliError::NoCredentials {
                    state_dir: "/s".into(),
                },
                NOT_FOUND,
            ),
            (
                CliError::UnknownAccount {
                    account: "a".into(),
                    state_dir: "/s".into(),
                },
                NOT_FOUND,
            ),
            (
                CliError::NoContextToken {
                    account: "a".into(),
                    user: "u".into(),
                },
                NOT_FOUND,
            ),
            (
                CliError::QuotaExhausted {
                    user: "u".into(),
                    sent: 10,
                    limit: 10,
                },
                REFUSED,
            ),
            (
                CliError::ContextExpired {
                    user: "u".into(),
                    age: Duration::from_secs(90_000),
                    ttl: Duration::from_secs(86_400),
                },
                REFUSED,
            ),
            (CliError::Core(api(-2)), REFUSED),
            (CliError::Core(api(-3)), RUNTIME),
            (CliError::from_core("a", api(-14)), SESSION_EXPIRED),
            (
                CliError::Login(LoginError::Request(api(-14))),
                SESSION_EXPIRED,
            ),
            (CliError::Login(LoginError::TooManyQrCodes(3)), RUNTIME),
            (CliError::Interrupted, INTERRUPTED),
            (
                CliError::AccountLocked {
                    account: "a".into(),
                    holder: None,
                    lock_file: "/s/locks/a.lock".into(),
                },
                ACCOUNT_LOCKED,
            ),
            (
                CliError::Store(StoreError::Corrupt {
                    path: "/s/ilink.db".into(),
                    message: "file is not a database".into(),
                }),
                STATE_UNUSABLE,
            ),
            (
                CliError::Store(StoreError::NewerSchema {
                    path: "/s/ilink.db".into(),
                    found: 9,
                    supported: 1,
                }),
                STATE_UNUSABLE,
            ),
            (
                CliError::Store(StoreError::NotADirectory { path: "/s".into() }),
                STATE_UNUSABLE,
            ),
            (
                CliError::Store(StoreError::Full {
                    path: "/s/ilink.db".into(),
                }),
                STATE_UNUSABLE,
            ),
            (
                CliError::Store(StoreError::io(
                    "/s",
                    std::io::Error::from(std::io::ErrorKind::PermissionDenied),
                )),
                STATE_UNUSABLE,
            ),
            (CliError::Store(StoreError::Closed), RUNTIME),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code, "{err:?}");
        }
    }

    #[test]
    fn not_found_errors_say_what_to_do() {
        let e = CliError::NoContextToken {
            account: "bot@im.bot".into(),
            user: "u@im.wechat".into(),
        };
        assert_eq!(e.to_string(), "no stored context token for u@im.wechat");
        assert_eq!(
            e.hint().as_deref(),
            Some(
                "the user must write to the bot first; run `ilink tail --account bot@im.bot` while they do"
            )
        );
        let e = CliError::NoCredentials {
            state_dir: "/s".into(),
        };
        assert!(e.hint().unwrap().contains("ilink login"));
    }

    #[test]
    fn a_held_lock_names_the_holder_and_what_to_do() {
        let e = CliError::AccountLocked {
            account: "bot@im.bot".into(),
            holder: Some(LockHolder {
                pid: 4242,
                host: "web-1".into(),
                since_ms: 1_700_000_000_000,
            }),
            lock_file: "/s/locks/bot@im.bot.lock".into(),
        };
        assert_eq!(
            e.to_string(),
            "account bot@im.bot is in use by another process \
             (pid 4242 on host web-1, since 2023-11-14 22:13:20 UTC)"
        );
        let hint = e.hint().unwrap();
        assert!(hint.contains("stop that one first"), "{hint}");
        assert!(hint.contains("/s/locks/bot@im.bot.lock"), "{hint}");
    }

    #[test]
    fn unusable_state_names_the_file_and_hints_what_to_do() {
        let cases = [
            (
                StoreError::Corrupt {
                    path: "/s/ilink.db".into(),
                    message: "file is not a database".into(),
                },
                "move the file aside",
            ),
            (
                StoreError::NewerSchema {
                    path: "/s/ilink.db".into(),
                    found: 9,
                    supported: 1,
                },
                "newer ilink",
            ),
            (
                StoreError::Full {
                    path: "/s/ilink.db".into(),
                },
                "free disk space",
            ),
        ];
        for (store, remedy) in cases {
            let e = CliError::Store(store);
            let text = e.to_string();
            assert!(text.contains("/s/ilink.db"), "{text}");
            // The remedy is the hint's, not repeated on the error line.
            assert!(!text.contains(remedy), "{text}");
            assert!(e.hint().unwrap().contains(remedy), "{e:?}");
        }
        let e = CliError::Store(StoreError::NotADirectory { path: "/s".into() });
        assert_eq!(e.to_string(), "state directory /s is not a directory");
        assert!(e.hint().unwrap().contains("--state-dir"));
    }

    #[test]
    fn session_expiry_is_recognized_in_either_field() {
        let by_errcode =
            CoreError::from_status(Endpoint::GetUpdates, 0, Some(-14), None).expect("error");
        assert_eq!(CliError::from_core("a", by_errcode).code(), SESSION_EXPIRED);
    }

    #[test]
    fn transport_errors_hint_at_the_base_url() {
        let e = CliError::Core(CoreError::Transport {
            endpoint: Endpoint::GetUpdates,
            kind: TransportKind::Connect,
            message: "refused".into(),
        });
        assert_eq!(e.code(), RUNTIME);
        assert!(e.hint().unwrap().contains("--base-url"));
        let refused = CliError::Core(CoreError::Api(ApiError {
            endpoint: Endpoint::GetUploadUrl,
            ret: -1,
            errcode: None,
            errmsg: None,
        }));
        assert_eq!(refused.hint().as_deref(), Some("refused by the server"));
    }
}
