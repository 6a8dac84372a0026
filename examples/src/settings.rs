//! Where the examples run: against real WeChat when credentials are found,
//! else against the embedded simulator.
//!
//! The rule, first match wins:
//!
//! 1. `ILINK_TOKEN` is set: one account, `ILINK_ACCOUNT_ID` (required) with
//!    that token, at `ILINK_BASE_URL` / `ILINK_CDN_BASE_URL` (default: the
//!    real hosts).
//! 2. The state directory holds credentials saved by `ilink login`: those
//!    accounts (only `ILINK_ACCOUNT_ID` if it is set), with their stored
//!    URLs unless `ILINK_BASE_URL` / `ILINK_CDN_BASE_URL` override them.
//! 3. Otherwise: the embedded simulator.
//!
//! The state directory is `ILINK_STATE_DIR`, else the one `ilink login`
//! uses by default ([`default_state_dir`](ilink_framework::store::default_state_dir)).
//!
//! ```
//! use std::path::PathBuf;
//! use ilink_examples::settings::{Target, resolve};
//!
//! let env = |key: &str| match key {
//!     "ILINK_TOKEN" => Some("bot@im.bot:secret".to_owned()),
//!     "ILINK_ACCOUNT_ID" => Some("bot@im.bot".to_owned()),
//!     "ILINK_STATE_DIR" => Some("/tmp/ilink-doc".to_owned()),
//!     _ => None,
//! };
//! let target = resolve(env, None, |_| Ok(vec![])).unwrap();
//! let Target::Real { accounts, state_dir } = target else { panic!() };
//! assert_eq!(accounts[0].account_id.as_str(), "bot@im.bot");
//! assert_eq!(state_dir, PathBuf::from("/tmp/ilink-doc"));
//! ```

use std::path::{Path, PathBuf};

use ilink_framework::Credentials;
use ilink_framework::core::Secret;
use ilink_framework::store::{SqliteStore, StateStore, StoreError, default_state_dir};

use crate::LaunchError;

/// Bot token of a single account.
pub const TOKEN: &str = "ILINK_TOKEN";
/// Account id that goes with [`TOKEN`], or picks one stored account.
pub const ACCOUNT_ID: &str = "ILINK_ACCOUNT_ID";
/// API base URL override.
pub const BASE_URL: &str = "ILINK_BASE_URL";
/// CDN base URL override.
pub const CDN_BASE_URL: &str = "ILINK_CDN_BASE_URL";
/// State directory (credentials from `ilink login`, cursors, inbox, tokens).
pub const STATE_DIR: &str = "ILINK_STATE_DIR";

/// What the examples run against.
#[derive(Debug)]
pub enum Target {
    /// The embedded simulator on 127.0.0.1; nothing leaves the machine.
    Simulator,
    /// A server that speaks the protocol (real WeChat unless the URLs say otherwise).
    Real {
        /// The accounts to run.
        accounts: Vec<Credentials>,
        /// Where cursors, the inbox and context tokens are kept.
        state_dir: PathBuf,
    },
}

/// Reads the process environment and the state directory.
pub async fn from_env() -> Result<Target, LaunchError> {
    let env = |key: &str| std::env::var(key).ok();
    let dir = env(STATE_DIR)
        .filter(|v| !v.trim().is_empty())
        .map(PathBuf::from)
        .or_else(default_state_dir);
    // Read before `resolve`, which is synchronous; a failure counts only if
    // the rule needs the stored credentials.
    let stored = match dir {
        // Opening a store creates its directory; a bare check must not.
        Some(dir) if dir.try_exists().unwrap_or(false) => stored_credentials(&dir).await,
        _ => Ok(Vec::new()),
    };
    resolve(env, default_state_dir(), |_| stored)
}

/// The credentials `ilink login` saved in `dir`.
async fn stored_credentials(dir: &Path) -> Result<Vec<Credentials>, StoreError> {
    let store = SqliteStore::open(dir).await?;
    let all = store.list_credentials().await;
    store.close().await;
    all
}

/// Applies the rule of this module to an environment (`env`), the default
/// state directory and a way to list the credentials stored in a directory.
pub fn resolve(
    env: impl Fn(&str) -> Option<String>,
    default_dir: Option<PathBuf>,
    stored: impl FnOnce(&Path) -> Result<Vec<Credentials>, StoreError>,
) -> Result<Target, LaunchError> {
    // An empty variable counts as unset, as in most shells' `VAR= cmd`.
    let var = |key: &str| env(key).filter(|v| !v.trim().is_empty());
    let base_url = var(BASE_URL);
    let cdn_base_url = var(CDN_BASE_URL);
    let account = var(ACCOUNT_ID);
    let state_dir = var(STATE_DIR).map(PathBuf::from).or(default_dir);
    let with_urls = |mut creds: Credentials| {
        if let Some(url) = &base_url {
            creds.base_url = Some(url.clone());
        }
        if let Some(url) = &cdn_base_url {
            creds.cdn_base_url = Some(url.clone());
        }
        creds
    };

    if let Some(token) = var(TOKEN) {
        let Some(account) = account else {
            return Err(LaunchError::Config(format!(
                "{TOKEN} is set but {ACCOUNT_ID} is not: set it to the bot id the token belongs to"
            )));
        };
        let state_dir = state_dir.ok_or_else(no_state_dir)?;
        let creds = with_urls(Credentials::new(account, Secret::new(token)));
        return Ok(Target::Real {
            accounts: vec![creds],
            state_dir,
        });
    }

    let mut accounts = match &state_dir {
        Some(dir) => stored(dir)?,
        None => Vec::new(),
    };
    if let Some(id) = &account {
        accounts.retain(|c| c.account_id.as_str() == id);
        if accounts.is_empty() {
            return Err(LaunchError::Config(format!(
                "{ACCOUNT_ID}={id}, but there are no credentials for it in {}: \
                 run `ilink login`, or set {TOKEN}",
                state_dir
                    .as_deref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|| "the state directory".into())
            )));
        }
    }
    match state_dir {
        Some(state_dir) if !accounts.is_empty() => Ok(Target::Real {
            accounts: accounts.into_iter().map(with_urls).collect(),
            state_dir,
        }),
        _ if base_url.is_some() => Err(LaunchError::Config(format!(
            "{BASE_URL} is set but there are no credentials: set {TOKEN} and {ACCOUNT_ID}, \
             or run `ilink login` (unset {BASE_URL} to use the embedded simulator)"
        ))),
        _ => Ok(Target::Simulator),
    }
}

fn no_state_dir() -> LaunchError {
    LaunchError::Config(format!(
        "no home directory is known to keep state in: set {STATE_DIR}"
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |key| map.get(key).cloned()
    }

    fn stored(
        ids: &'static [&'static str],
    ) -> impl FnOnce(&Path) -> Result<Vec<Credentials>, StoreError> {
        move |_| {
            Ok(ids
                .iter()
                .map(|id| {
                    Credentials::new(*id, format!("{id}:secret")).with_base_url("https://stored")
                })
                .collect())
        }
    }

    fn home() -> Option<PathBuf> {
        Some(PathBuf::from("/home/u/.local/state/ilink"))
    }

    #[test]
    fn nothing_set_means_the_simulator() {
        let t = resolve(env(&[]), home(), stored(&[])).unwrap();
        assert!(matches!(t, Target::Simulator));
        let t = resolve(env(&[(TOKEN, ""), (ACCOUNT_ID, " ")]), None, stored(&[])).unwrap();
        assert!(matches!(t, Target::Simulator));
    }

    #[test]
    fn a_token_needs_an_account_id_and_takes_the_url_overrides() {
        let e = resolve(env(&[(TOKEN, "t")]), home(), stored(&[])).unwrap_err();
        assert!(e.to_string().contains(ACCOUNT_ID), "{e}");
        let t = resolve(
            env(&[
                (TOKEN, "t"),
                (ACCOUNT_ID, "a@im.bot"),
                (BASE_URL, "http://127.0.0.1:9"),
                (CDN_BASE_URL, "http://127.0.0.1:9/c2c"),
            ]),
            home(),
            stored(&["b@im.bot"]),
        )
        .unwrap();
        let Target::Real {
            accounts,
            state_dir,
        } = t
        else {
            panic!("expected real")
        };
        assert_eq!(state_dir, home().unwrap());
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].account_id.as_str(), "a@im.bot");
        assert_eq!(accounts[0].bot_token.expose(), "t");
        assert_eq!(accounts[0].base_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(
            accounts[0].cdn_base_url.as_deref(),
            Some("http://127.0.0.1:9/c2c")
        );
    }

    #[test]
    fn stored_credentials_run_all_or_the_one_named() {
        let t = resolve(
            env(&[(STATE_DIR, "/state")]),
            home(),
            stored(&["a@im.bot", "b@im.bot"]),
        )
        .unwrap();
        let Target::Real {
            accounts,
            state_dir,
        } = t
        else {
            panic!("expected real")
        };
        assert_eq!(state_dir, PathBuf::from("/state"));
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].base_url.as_deref(), Some("https://stored"));

        let t = resolve(
            env(&[(ACCOUNT_ID, "b@im.bot"), (BASE_URL, "http://127.0.0.1:9")]),
            home(),
            stored(&["a@im.bot", "b@im.bot"]),
        )
        .unwrap();
        let Target::Real { accounts, .. } = t else {
            panic!("expected real")
        };
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].account_id.as_str(), "b@im.bot");
        assert_eq!(accounts[0].base_url.as_deref(), Some("http://127.0.0.1:9"));

        let e = resolve(
            env(&[(ACCOUNT_ID, "x@im.bot")]),
            home(),
            stored(&["a@im.bot"]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("ilink login"), "{e}");
    }

    #[test]
    fn a_base_url_without_credentials_is_a_mistake_not_the_simulator() {
        let e = resolve(
            env(&[(BASE_URL, "http://127.0.0.1:9")]),
            home(),
            stored(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains(TOKEN), "{e}");
    }

    #[tokio::test]
    async fn a_real_store_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        store
            .save_credentials(&Credentials::new("a@im.bot", "a@im.bot:secret"))
            .await
            .unwrap();
        store.close().await;
        let dir_str = dir.path().to_str().unwrap().to_owned();
        let read = stored_credentials(dir.path()).await;
        let t = resolve(
            move |k| (k == STATE_DIR).then(|| dir_str.clone()),
            None,
            |_| read,
        )
        .unwrap();
        let Target::Real { accounts, .. } = t else {
            panic!("expected real")
        };
        assert_eq!(accounts[0].bot_token.expose(), "a@im.bot:secret");
    }
}
