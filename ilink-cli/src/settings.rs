//! Settings shared by the subcommands: the state directory, network
//! overrides, and which account's credentials a command runs with.
//!
//! Precedence, highest first: a flag, its environment variable, what the
//! stored credentials say, the protocol's default.

use std::path::PathBuf;

use clap::Args;
use ilink_core::config::{DEFAULT_BASE_URL, DEFAULT_CDN_BASE_URL};
use ilink_core::{ApiConfig, Secret};
use ilink_framework::store::{SqliteStore, StateStore};
use ilink_framework::{AccountId, Credentials};

use crate::exit::CliError;
use ilink_framework::store::default_state_dir;

/// Environment variable with a bot token, used when no stored account is named.
pub const TOKEN_ENV: &str = "ILINK_TOKEN";

/// Flags every subcommand accepts.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Directory with credentials, cursors and context tokens
    /// [default: $XDG_STATE_HOME/ilink, ~/.local/state/ilink, ~/Library/Application Support/ilink or %APPDATA%\ilink]
    #[arg(
        long,
        global = true,
        env = "ILINK_STATE_DIR",
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub state_dir: Option<PathBuf>,

    /// API base URL (login host, or override of the stored one)
    #[arg(
        long,
        global = true,
        env = "ILINK_BASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub base_url: Option<String>,

    /// CDN base URL for media
    #[arg(
        long,
        global = true,
        env = "ILINK_CDN_BASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub cdn_base_url: Option<String>,

    /// SKRouteTag header value, when the deployment needs one
    #[arg(
        long,
        global = true,
        env = "ILINK_ROUTE_TAG",
        hide_env_values = true,
        value_name = "TAG"
    )]
    pub route_tag: Option<String>,

    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Log protocol traffic on stderr (-v info, -vv debug); secrets stay redacted
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Global {
    /// The state directory to use.
    pub fn state_dir(&self) -> Result<PathBuf, CliError> {
        self.state_dir
            .clone()
            .filter(|p| !p.as_os_str().is_empty())
            .or_else(default_state_dir)
            .ok_or_else(|| {
                CliError::usage(
                    "cannot tell where to keep state: no home directory is known",
                    "pass --state-dir DIR or set ILINK_STATE_DIR",
                )
            })
    }

    /// Opens the state store (the database in the state directory).
    pub async fn store(&self) -> Result<SqliteStore, CliError> {
        Ok(SqliteStore::open(self.state_dir()?).await?)
    }

    /// The API configuration for `creds` (or for a login when `None`), with
    /// every override applied.
    pub fn api_config(&self, creds: Option<&Credentials>) -> Result<ApiConfig, CliError> {
        let base = self
            .base_url
            .clone()
            .or_else(|| creds.and_then(|c| c.base_url.clone()))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let cdn = self
            .cdn_base_url
            .clone()
            .or_else(|| creds.and_then(|c| c.cdn_base_url.clone()))
            .unwrap_or_else(|| DEFAULT_CDN_BASE_URL.to_owned());
        let mut builder = ApiConfig::builder()
            .base_url(base)
            .cdn_base_url(cdn)
            .bot_agent(concat!("ilink-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(creds) = creds {
            builder = builder.token(creds.bot_token.clone());
        }
        if let Some(tag) = self.route_tag.as_deref().filter(|t| !t.is_empty()) {
            builder = builder.route_tag(tag);
        }
        builder.build().map_err(|e| {
            CliError::usage(
                e.to_string(),
                "check --base-url, --cdn-base-url and --route-tag",
            )
        })
    }
}

/// Picks the credentials of a command.
///
/// `account` names a stored account; when it is not stored, or none is
/// named, `token` (from `ILINK_TOKEN`) is used with `account` as its id.
/// With neither, the only stored account is used.
pub async fn resolve_credentials(
    store: &SqliteStore,
    account: Option<&str>,
    token: Option<Secret>,
) -> Result<Credentials, CliError> {
    let stored = store.list_credentials().await?;
    let state_dir = store.dir().display().to_string();
    let token = token.filter(|t| !t.expose().trim().is_empty());
    if let Some(id) = account {
        if let Some(c) = stored.iter().find(|c| c.account_id.as_str() == id) {
            return Ok(c.clone());
        }
        return match token {
            Some(token) => Ok(Credentials::new(AccountId::new(id), token)),
            None => Err(CliError::UnknownAccount {
                account: id.to_owned(),
                state_dir,
            }),
        };
    }
    if token.is_some() {
        return Err(CliError::usage(
            "ILINK_TOKEN is set but no account id is given",
            "set ILINK_ACCOUNT_ID (or pass --account) to the bot id the token belongs to",
        ));
    }
    match stored.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(CliError::NoCredentials { state_dir }),
        many => Err(CliError::usage(
            format!("{} accounts are stored; pick one", many.len()),
            format!(
                "pass --account with one of: {}",
                many.iter()
                    .map(|c| c.account_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The token from `ILINK_TOKEN`, if set. Read from the environment only:
/// a token on the command line would show in process lists.
pub fn env_token() -> Option<Secret> {
    std::env::var(TOKEN_ENV).ok().map(Secret::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with(ids: &[&str]) -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        for id in ids {
            store
                .save_credentials(&Credentials::new(*id, format!("{id}:secret")))
                .await
                .unwrap();
        }
        (dir, store)
    }

    #[tokio::test]
    async fn the_only_stored_account_is_picked() {
        let (_d, store) = store_with(&["a@im.bot"]).await;
        let c = resolve_credentials(&store, None, None).await.unwrap();
        assert_eq!(c.account_id.as_str(), "a@im.bot");
    }

    #[tokio::test]
    async fn several_accounts_need_a_choice() {
        let (_d, store) = store_with(&["a@im.bot", "b@im.bot"]).await;
        let e = resolve_credentials(&store, None, None).await.unwrap_err();
        assert_eq!(e.code(), crate::exit::USAGE);
        assert!(e.hint().unwrap().contains("a@im.bot, b@im.bot"));
        let c = resolve_credentials(&store, Some("b@im.bot"), None)
            .await
            .unwrap();
        assert_eq!(c.bot_token.expose(), "b@im.bot:secret");
    }

    #[tokio::test]
    async fn stored_accounts_win_over_the_environment_token() {
        let (_d, store) = store_with(&["a@im.bot"]).await;
        let c = resolve_credentials(&store, Some("a@im.bot"), Some("env".into()))
            .await
            .unwrap();
        assert_eq!(c.bot_token.expose(), "a@im.bot:secret");
        let c = resolve_credentials(&store, Some("x@im.bot"), Some("env".into()))
            .await
            .unwrap();
        assert_eq!(c.bot_token.expose(), "env");
    }

    #[tokio::test]
    async fn missing_credentials_are_not_found() {
        let (_d, store) = store_with(&[]).await;
        let e = resolve_credentials(&store, None, None).await.unwrap_err();
        assert_eq!(e.code(), crate::exit::NOT_FOUND);
        let e = resolve_credentials(&store, Some("x@im.bot"), None)
            .await
            .unwrap_err();
        assert_eq!(e.code(), crate::exit::NOT_FOUND);
        let e = resolve_credentials(&store, None, Some("tok".into()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), crate::exit::USAGE);
    }

    #[test]
    fn flags_override_stored_urls() {
        let creds = Credentials::new("a@im.bot", "t").with_base_url("http://127.0.0.1:1");
        let g = Global::default();
        assert_eq!(
            g.api_config(Some(&creds)).unwrap().base_url(),
            "http://127.0.0.1:1"
        );
        let g = Global {
            base_url: Some("http://127.0.0.1:2".into()),
            route_tag: Some("eu".into()),
            ..Global::default()
        };
        let c = g.api_config(Some(&creds)).unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:2");
        assert_eq!(c.route_tag(), Some("eu"));
        assert_eq!(c.cdn_base_url(), DEFAULT_CDN_BASE_URL);
    }
}
