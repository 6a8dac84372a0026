//! [`Settings`]: which accounts a bot runs and where it keeps its state, read
//! from the environment and from the accounts `ilink login` saved.
//!
//! [`Bot::from_env`](crate::Bot::from_env), the examples and the `ilink`
//! command all read their configuration through this one rule:
//!
//! | variable | meaning |
//! |---|---|
//! | `ILINK_STATE_DIR` | the state directory (default: [`default_state_dir`](crate::store::default_state_dir)) |
//! | `ILINK_ACCOUNT_ID` | run only this account |
//! | `ILINK_TOKEN` | the bot token of `ILINK_ACCOUNT_ID` |
//! | `ILINK_BASE_URL`, `ILINK_CDN_BASE_URL` | the API and CDN hosts of every account |
//! | `ILINK_DATABASE_URL` | run as a worker of the cluster of this PostgreSQL database (docs/scaling.md) |
//! | `ILINK_LEASE_TTL_MS` | a cluster worker's lease TTL in milliseconds (default 10000) |
//! | `ILINK_ADMIN_ADDR` | serve the admin endpoint here, e.g. `127.0.0.1:9464` (default: none) |
//! | `ILINK_DURABILITY` | `full` (the default) or `normal`: what a commit of the state database survives ([`Durability`]) |
//!
//! A cluster worker runs the accounts saved in its database (`ilink login
//! --database-url …`); `ILINK_ACCOUNT_ID` with `ILINK_TOKEN` adds one there.
//!
//! Which accounts: `ILINK_ACCOUNT_ID` if set, else every account saved in
//! the state directory. Each value of an account, highest first: its
//! environment variable, then what `ilink login` saved for that account, then
//! the protocol's default. So `ILINK_TOKEN` wins over a saved token for the
//! same account: the environment is set for this run by whoever starts the
//! process (a deployment, a secrets manager that rotates the token, a test),
//! while the saved token is what some earlier login returned; the explicit,
//! more recent choice wins, as a command-line flag wins over a variable, and
//! a stale saved token can be overridden without deleting it. Empty
//! variables count as unset.
//!
//! ```
//! use ilink_framework::Settings;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let dir = tempfile::tempdir().unwrap();
//! let dir = dir.path().to_str().unwrap().to_owned();
//! let settings = Settings::from_vars(|key| match key {
//!     "ILINK_TOKEN" => Some("bot@im.bot:secret".to_owned()),
//!     "ILINK_ACCOUNT_ID" => Some("bot@im.bot".to_owned()),
//!     "ILINK_STATE_DIR" => Some(dir.clone()),
//!     _ => None,
//! })
//! .await
//! .unwrap();
//! assert_eq!(settings.accounts[0].account_id.as_str(), "bot@im.bot");
//! assert_eq!(settings.state_dir.to_str(), Some(dir.as_str()));
//! # }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ilink_core::Secret;

use crate::account::{AccountId, Credentials};
use crate::cluster::Cluster;
use crate::store::{Durability, Platform, SqliteStore, StateStore, StoreError, state_dir_for};

/// The accounts to run and the directory their state lives in.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// The accounts, sorted by id.
    pub accounts: Vec<Credentials>,
    /// Where credentials, cursors, the inbox and context tokens are kept.
    pub state_dir: PathBuf,
    /// The cluster to work in instead (`ILINK_DATABASE_URL`): then state
    /// and accounts live in its database, not in `state_dir`.
    pub cluster: Option<Cluster>,
    /// Where to serve the admin endpoint (`/metrics`, `/healthz`,
    /// `/readyz`, `/status`); `None`: nowhere.
    pub admin_addr: Option<SocketAddr>,
    /// What a commit of the state database survives (`ILINK_DURABILITY`;
    /// a cluster's database is PostgreSQL's to make durable).
    pub durability: Durability,
}

/// Why no usable configuration was found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// Neither the environment nor the state directory names an account.
    #[error(
        "no bot account configured: set ILINK_TOKEN and ILINK_ACCOUNT_ID, or run `ilink login` \
         (it saves accounts in {}; ILINK_STATE_DIR picks another directory)",
        state_dir.display()
    )]
    NoAccounts {
        /// The state directory that was searched.
        state_dir: PathBuf,
    },
    /// `ILINK_TOKEN` is set without the account it belongs to.
    #[error(
        "ILINK_TOKEN is set but ILINK_ACCOUNT_ID is not: set it to the bot id the token belongs to"
    )]
    TokenWithoutAccount,
    /// `ILINK_ACCOUNT_ID` names an account with no token anywhere.
    #[error(
        "ILINK_ACCOUNT_ID is {account}, but no account of that id is saved in {}: \
         run `ilink login`, or set ILINK_TOKEN",
        state_dir.display()
    )]
    UnknownAccount {
        /// The account asked for.
        account: String,
        /// The state directory that was searched.
        state_dir: PathBuf,
    },
    /// `ILINK_ADMIN_ADDR` is not an address with a port.
    #[error("ILINK_ADMIN_ADDR is {value:?}, not an address and port such as 127.0.0.1:9464")]
    BadAdminAddr {
        /// The value given.
        value: String,
    },
    /// No state directory is set and the platform's default is unknown.
    #[error("no state directory: no home directory is known; set ILINK_STATE_DIR")]
    NoStateDir,
    /// The saved accounts could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A variable holds a value of the wrong shape.
    #[error("{var} is {value:?}, which is not {expected}")]
    BadValue {
        /// The variable.
        var: &'static str,
        /// What it holds.
        value: String,
        /// What it should hold.
        expected: &'static str,
    },
}

impl Settings {
    /// The variable with the state directory.
    pub const STATE_DIR_VAR: &str = "ILINK_STATE_DIR";
    /// The variable that picks one account.
    pub const ACCOUNT_ID_VAR: &str = "ILINK_ACCOUNT_ID";
    /// The variable with the bot token of [`Settings::ACCOUNT_ID_VAR`].
    pub const TOKEN_VAR: &str = "ILINK_TOKEN";
    /// The variable with the API base URL of every account.
    pub const BASE_URL_VAR: &str = "ILINK_BASE_URL";
    /// The variable with the CDN base URL of every account.
    pub const CDN_BASE_URL_VAR: &str = "ILINK_CDN_BASE_URL";
    /// The variable with a cluster's database URL.
    pub const DATABASE_URL_VAR: &str = "ILINK_DATABASE_URL";
    /// The variable with a cluster worker's lease TTL, in milliseconds.
    pub const LEASE_TTL_VAR: &str = "ILINK_LEASE_TTL_MS";
    /// The variable with the admin endpoint's address.
    pub const ADMIN_ADDR_VAR: &str = "ILINK_ADMIN_ADDR";
    /// The variable with the state database's durability.
    pub const DURABILITY_VAR: &str = "ILINK_DURABILITY";

    /// Settings with these accounts and this state directory.
    pub fn new(accounts: Vec<Credentials>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            accounts,
            state_dir: state_dir.into(),
            cluster: None,
            admin_addr: None,
            durability: Durability::default(),
        }
    }

    /// Reads the process environment and the accounts saved in the state
    /// directory, by the rule of this module. Async because the saved
    /// accounts are read from the state database.
    pub async fn from_env() -> Result<Self, SettingsError> {
        Self::from_vars(|key| std::env::var(key).ok()).await
    }

    /// [`Settings::from_env`] with the variables read through `vars`
    /// (including `HOME` and the like, for the default state directory).
    pub async fn from_vars(vars: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let var = |key: &str| vars(key).filter(|v| !v.trim().is_empty());
        let state_dir = Self::state_dir_from(&vars)?;
        let admin_addr = Self::admin_addr_from(&vars)?;
        let durability = Self::durability_from(&vars)?;
        if let Some(url) = var(Self::DATABASE_URL_VAR) {
            return Self::cluster_from(url, state_dir, admin_addr, &var);
        }
        let mut accounts = saved_accounts(&state_dir).await?;
        match (var(Self::ACCOUNT_ID_VAR), var(Self::TOKEN_VAR)) {
            (None, Some(_)) => return Err(SettingsError::TokenWithoutAccount),
            (None, None) => {}
            (Some(id), token) => {
                accounts.retain(|c| c.account_id.as_str() == id);
                match (accounts.first_mut(), token) {
                    (Some(saved), Some(token)) => saved.bot_token = Secret::new(token),
                    (Some(_), None) => {}
                    (None, Some(token)) => {
                        accounts.push(Credentials::new(AccountId::new(id), Secret::new(token)));
                    }
                    (None, None) => {
                        return Err(SettingsError::UnknownAccount {
                            account: id,
                            state_dir,
                        });
                    }
                }
            }
        }
        if accounts.is_empty() {
            return Err(SettingsError::NoAccounts { state_dir });
        }
        for creds in &mut accounts {
            if let Some(url) = var(Self::BASE_URL_VAR) {
                creds.base_url = Some(url);
            }
            if let Some(url) = var(Self::CDN_BASE_URL_VAR) {
                creds.cdn_base_url = Some(url);
            }
        }
        Ok(Self {
            accounts,
            state_dir,
            cluster: None,
            admin_addr,
            durability,
        })
    }

    /// A cluster worker's settings: the accounts are the database's, plus
    /// the one of `ILINK_ACCOUNT_ID` and `ILINK_TOKEN` if both are set.
    fn cluster_from(
        url: String,
        state_dir: PathBuf,
        admin_addr: Option<SocketAddr>,
        var: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let mut cluster = Cluster::new(url);
        if let Some(ttl) = var(Self::LEASE_TTL_VAR) {
            let ms: u64 = ttl.trim().parse().map_err(|_| SettingsError::BadValue {
                var: Self::LEASE_TTL_VAR,
                value: ttl.clone(),
                expected: "a whole number of milliseconds",
            })?;
            cluster = cluster.lease_ttl(std::time::Duration::from_millis(ms));
        }
        let accounts = match (var(Self::ACCOUNT_ID_VAR), var(Self::TOKEN_VAR)) {
            (Some(id), Some(token)) => {
                let mut creds = Credentials::new(AccountId::new(id), Secret::new(token));
                creds.base_url = var(Self::BASE_URL_VAR);
                creds.cdn_base_url = var(Self::CDN_BASE_URL_VAR);
                vec![creds]
            }
            (None, Some(_)) => return Err(SettingsError::TokenWithoutAccount),
            _ => Vec::new(),
        };
        Ok(Self {
            accounts,
            state_dir,
            cluster: Some(cluster),
            admin_addr,
            durability: Durability::default(),
        })
    }

    /// The admin endpoint's address alone: `ILINK_ADMIN_ADDR`, if set, with
    /// the variables read through `vars`.
    pub fn admin_addr_from(
        vars: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<SocketAddr>, SettingsError> {
        vars(Self::ADMIN_ADDR_VAR)
            .filter(|v| !v.trim().is_empty())
            .map(|value| {
                value
                    .trim()
                    .parse::<SocketAddr>()
                    .map_err(|_| SettingsError::BadAdminAddr { value })
            })
            .transpose()
    }

    /// The durability alone: `ILINK_DURABILITY` (`full` or `normal`, in any
    /// case), else [`Durability::Full`], with the variables read through
    /// `vars`.
    pub fn durability_from(
        vars: impl Fn(&str) -> Option<String>,
    ) -> Result<Durability, SettingsError> {
        let Some(value) = vars(Self::DURABILITY_VAR).filter(|v| !v.trim().is_empty()) else {
            return Ok(Durability::default());
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(Durability::Full),
            "normal" => Ok(Durability::Normal),
            _ => Err(SettingsError::BadValue {
                var: Self::DURABILITY_VAR,
                value,
                expected: "full or normal",
            }),
        }
    }

    /// The state directory alone: `ILINK_STATE_DIR`, else the platform's
    /// default (see [`default_state_dir`](crate::store::default_state_dir)),
    /// with the variables read through `vars`.
    pub fn state_dir_from(vars: impl Fn(&str) -> Option<String>) -> Result<PathBuf, SettingsError> {
        vars(Self::STATE_DIR_VAR)
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from)
            .or_else(|| state_dir_for(Platform::current(), |key| vars(key).map(PathBuf::from)))
            .ok_or(SettingsError::NoStateDir)
    }
}

/// The accounts `ilink login` saved in `dir`, sorted by id; none when the
/// directory does not exist (opening a store would create it).
async fn saved_accounts(dir: &Path) -> Result<Vec<Credentials>, StoreError> {
    if !dir.try_exists().unwrap_or(false) {
        return Ok(Vec::new());
    }
    let store = SqliteStore::open(dir).await?;
    let accounts = store.list_credentials().await;
    store.close().await;
    accounts
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A state directory with these accounts saved, as `ilink login` would.
    async fn saved(ids: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        for id in ids {
            let creds = Credentials::new(*id, format!("{id}:saved")).with_base_url("https://saved");
            store.save_credentials(&creds).await.unwrap();
        }
        store.close().await;
        dir
    }

    /// Exactly these variables; nothing from the process environment.
    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |key| map.get(key).cloned()
    }

    fn dir_of(dir: &tempfile::TempDir) -> &str {
        dir.path().to_str().unwrap()
    }

    fn ids(settings: &Settings) -> Vec<&str> {
        settings
            .accounts
            .iter()
            .map(|c| c.account_id.as_str())
            .collect()
    }

    #[tokio::test]
    async fn every_saved_account_runs_when_none_is_named() {
        let dir = saved(&["a@im.bot", "b@im.bot"]).await;
        let s = Settings::from_vars(vars(&[("ILINK_STATE_DIR", dir_of(&dir))]))
            .await
            .unwrap();
        assert_eq!(ids(&s), ["a@im.bot", "b@im.bot"]);
        assert_eq!(s.state_dir, dir.path());
        assert_eq!(s.accounts[1].bot_token.expose(), "b@im.bot:saved");
        assert_eq!(s.accounts[1].base_url.as_deref(), Some("https://saved"));
    }

    #[tokio::test]
    async fn the_account_id_picks_one_saved_account() {
        let dir = saved(&["a@im.bot", "b@im.bot"]).await;
        let s = Settings::from_vars(vars(&[
            ("ILINK_STATE_DIR", dir_of(&dir)),
            ("ILINK_ACCOUNT_ID", "b@im.bot"),
        ]))
        .await
        .unwrap();
        assert_eq!(ids(&s), ["b@im.bot"]);
        assert_eq!(s.accounts[0].bot_token.expose(), "b@im.bot:saved");
    }

    #[tokio::test]
    async fn the_environment_token_wins_over_the_saved_one_of_the_same_account() {
        let dir = saved(&["a@im.bot", "b@im.bot"]).await;
        let s = Settings::from_vars(vars(&[
            ("ILINK_STATE_DIR", dir_of(&dir)),
            ("ILINK_ACCOUNT_ID", "a@im.bot"),
            ("ILINK_TOKEN", "fresh"),
        ]))
        .await
        .unwrap();
        assert_eq!(ids(&s), ["a@im.bot"]);
        assert_eq!(s.accounts[0].bot_token.expose(), "fresh");
        // Only the token came from the environment; the saved host stays.
        assert_eq!(s.accounts[0].base_url.as_deref(), Some("https://saved"));
    }

    #[tokio::test]
    async fn a_token_alone_runs_an_account_nothing_was_saved_for() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("never-created");
        let s = Settings::from_vars(vars(&[
            ("ILINK_STATE_DIR", missing.to_str().unwrap()),
            ("ILINK_ACCOUNT_ID", "x@im.bot"),
            ("ILINK_TOKEN", "t"),
        ]))
        .await
        .unwrap();
        assert_eq!(ids(&s), ["x@im.bot"]);
        assert_eq!(s.accounts[0].bot_token.expose(), "t");
        assert_eq!(s.accounts[0].base_url, None);
        assert!(!missing.exists(), "looking must not create the directory");
    }

    #[tokio::test]
    async fn url_variables_win_over_saved_urls_for_every_account() {
        let dir = saved(&["a@im.bot", "b@im.bot"]).await;
        let s = Settings::from_vars(vars(&[
            ("ILINK_STATE_DIR", dir_of(&dir)),
            ("ILINK_BASE_URL", "http://127.0.0.1:9"),
            ("ILINK_CDN_BASE_URL", "http://127.0.0.1:9/c2c"),
        ]))
        .await
        .unwrap();
        for c in &s.accounts {
            assert_eq!(c.base_url.as_deref(), Some("http://127.0.0.1:9"));
            assert_eq!(c.cdn_base_url.as_deref(), Some("http://127.0.0.1:9/c2c"));
        }
    }

    #[tokio::test]
    async fn nothing_configured_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Settings::from_vars(vars(&[
            ("ILINK_STATE_DIR", dir_of(&dir)),
            ("ILINK_TOKEN", " "),
            ("ILINK_ACCOUNT_ID", ""),
        ]))
        .await
        .unwrap_err();
        assert!(matches!(e, SettingsError::NoAccounts { .. }), "{e:?}");
        let text = e.to_string();
        for needle in [
            "ILINK_TOKEN",
            "ILINK_ACCOUNT_ID",
            "ilink login",
            dir_of(&dir),
        ] {
            assert!(text.contains(needle), "{needle} missing from: {text}");
        }
        assert!(!text.contains('\n'), "{text}");
    }

    #[tokio::test]
    async fn a_token_needs_its_account_id() {
        let dir = saved(&["a@im.bot"]).await;
        let e = Settings::from_vars(vars(&[
            ("ILINK_STATE_DIR", dir_of(&dir)),
            ("ILINK_TOKEN", "t"),
        ]))
        .await
        .unwrap_err();
        assert!(matches!(e, SettingsError::TokenWithoutAccount), "{e:?}");
        assert!(e.to_string().contains("ILINK_ACCOUNT_ID"), "{e}");
    }

    #[tokio::test]
    async fn the_admin_address_is_read_and_checked() {
        let dir = saved(&["a@im.bot"]).await;
        let s = Settings::from_vars(vars(&[("ILINK_STATE_DIR", dir_of(&dir))]))
            .await
            .unwrap();
        assert_eq!(s.admin_addr, None);
        let s = Settings::from_vars(vars(&[
            ("ILINK_STATE_DIR", dir_of(&dir)),
            ("ILINK_ADMIN_ADDR", "127.0.0.1:9464"),
        ]))
        .await
        .unwrap();
        assert_eq!(s.admin_addr, Some("127.0.0.1:9464".parse().unwrap()));
        let e = Settings::from_vars(vars(&[
            ("ILINK_STATE_DIR", dir_of(&dir)),
            ("ILINK_ADMIN_ADDR", "localhost"),
        ]))
        .await
        .unwrap_err();
        assert!(
            matches!(&e, SettingsError::BadAdminAddr { value } if value == "localhost"),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn the_durability_is_read_and_checked() {
        let dir = saved(&["a@im.bot"]).await;
        let with = |value: &'static str| {
            let dir = dir_of(&dir).to_owned();
            Settings::from_vars(move |key| match key {
                "ILINK_STATE_DIR" => Some(dir.clone()),
                "ILINK_DURABILITY" => Some(value.to_owned()),
                _ => None,
            })
        };
        assert_eq!(with("").await.unwrap().durability, Durability::Full);
        assert_eq!(with("full").await.unwrap().durability, Durability::Full);
        assert_eq!(with("normal").await.unwrap().durability, Durability::Normal);
        assert_eq!(
            with(" NORMAL ").await.unwrap().durability,
            Durability::Normal
        );
        let e = with("off").await.unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"ILINK_DURABILITY is "off", which is not full or normal"#
        );
    }

    #[tokio::test]
    async fn an_account_id_without_a_token_must_be_saved() {
        let dir = saved(&["a@im.bot"]).await;
        let e = Settings::from_vars(vars(&[
            ("ILINK_STATE_DIR", dir_of(&dir)),
            ("ILINK_ACCOUNT_ID", "x@im.bot"),
        ]))
        .await
        .unwrap_err();
        assert!(
            matches!(&e, SettingsError::UnknownAccount { account, .. } if account == "x@im.bot"),
            "{e:?}"
        );
        assert!(e.to_string().contains("ilink login"), "{e}");
    }

    // Unix paths stand in for every platform's: only the rule is under test.
    #[cfg(unix)]
    #[test]
    fn the_state_directory_defaults_to_the_platforms() {
        let s = Settings::state_dir_from(vars(&[
            ("HOME", "/home/u"),
            ("XDG_STATE_HOME", "/xdg"),
            ("APPDATA", "/appdata"),
        ]))
        .unwrap();
        let expected = match Platform::current() {
            Platform::Unix => "/xdg/ilink",
            Platform::MacOs => "/home/u/Library/Application Support/ilink",
            Platform::Windows => "/appdata/ilink",
        };
        assert_eq!(s, PathBuf::from(expected));
        let s = Settings::state_dir_from(vars(&[("ILINK_STATE_DIR", "/mine"), ("HOME", "/h")]));
        assert_eq!(s.unwrap(), PathBuf::from("/mine"));
        let e = Settings::state_dir_from(vars(&[])).unwrap_err();
        assert!(matches!(e, SettingsError::NoStateDir), "{e:?}");
    }
}
