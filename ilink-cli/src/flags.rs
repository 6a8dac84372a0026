//! Flags shared by the subcommands: the state directory, network overrides,
//! output format and verbosity.
//!
//! Which account a command runs with follows the framework's one rule
//! ([`Settings`]): each flag is the value of its environment variable for
//! this run (clap merges the two, the flag winning), then what `ilink login`
//! saved, then the protocol's default.

use std::path::PathBuf;

use clap::Args;
use ilink_core::ApiConfig;
use ilink_core::config::{DEFAULT_BASE_URL, DEFAULT_CDN_BASE_URL};
use ilink_framework::store::SqliteStore;
use ilink_framework::{Credentials, Settings, SettingsError};

use crate::exit::CliError;

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

    /// PostgreSQL database of a cluster (`ilink login`, `accounts`,
    /// `quarantine` and `cluster` use it instead of the state directory)
    #[arg(
        long,
        global = true,
        env = "ILINK_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Log protocol traffic on stderr (-v info, -vv debug); secrets stay redacted
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// How logs are written: lines for people, or one JSON object per line
    #[arg(
        long,
        global = true,
        env = "ILINK_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
}

/// How logs are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

impl Global {
    /// The state directory to use.
    pub fn state_dir(&self) -> Result<PathBuf, CliError> {
        Settings::state_dir_from(self.vars(None, env)).map_err(settings_error)
    }

    /// The credentials of a command: the account `account` (from `--account`
    /// or `ILINK_ACCOUNT_ID`) names, else the only one configured.
    pub async fn credentials(&self, account: Option<&str>) -> Result<Credentials, CliError> {
        self.credentials_with(account, env).await
    }

    async fn credentials_with(
        &self,
        account: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, CliError> {
        let settings = Settings::from_vars(self.vars(account, env))
            .await
            .map_err(settings_error)?;
        match settings.accounts.as_slice() {
            [only] => Ok(only.clone()),
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

    /// The framework's variables as this command line sets them: a flag
    /// (already merged with its variable by clap) stands for its variable;
    /// the others, such as `ILINK_TOKEN`, come from `env`. The token is read
    /// from the environment only: on the command line it would show in
    /// process lists.
    fn vars<'a>(
        &'a self,
        account: Option<&'a str>,
        env: impl Fn(&str) -> Option<String> + 'a,
    ) -> impl Fn(&str) -> Option<String> + 'a {
        move |key| match key {
            Settings::STATE_DIR_VAR => self
                .state_dir
                .as_ref()
                .map(|dir| dir.to_string_lossy().into_owned()),
            Settings::BASE_URL_VAR => self.base_url.clone(),
            Settings::CDN_BASE_URL_VAR => self.cdn_base_url.clone(),
            Settings::ACCOUNT_ID_VAR => account.map(str::to_owned),
            // `send` and `tail` use the state directory's accounts, even
            // where a cluster's database is configured.
            Settings::DATABASE_URL_VAR => None,
            other => env(other),
        }
    }

    /// Opens the state store, the database in the state directory
    /// (creating both).
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

/// The process environment.
fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// The framework's configuration errors, with the CLI's wording and exit codes.
fn settings_error(e: SettingsError) -> CliError {
    match e {
        SettingsError::NoAccounts { state_dir } => CliError::NoCredentials {
            state_dir: state_dir.display().to_string(),
        },
        SettingsError::UnknownAccount { account, state_dir } => CliError::UnknownAccount {
            account,
            state_dir: state_dir.display().to_string(),
        },
        SettingsError::TokenWithoutAccount => CliError::usage(
            "ILINK_TOKEN is set but no account id is given",
            "set ILINK_ACCOUNT_ID (or pass --account) to the bot id the token belongs to",
        ),
        SettingsError::NoStateDir => CliError::usage(
            "cannot tell where to keep state: no home directory is known",
            "pass --state-dir DIR or set ILINK_STATE_DIR",
        ),
        SettingsError::Store(e) => e.into(),
        other => CliError::usage(other.to_string(), "see docs/deployment.md"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ilink_framework::store::StateStore;

    use super::*;

    /// A state directory with these accounts stored, and flags pointing at it.
    async fn stored(ids: &[&str]) -> (tempfile::TempDir, Global) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        for id in ids {
            store
                .save_credentials(&Credentials::new(*id, format!("{id}:secret")))
                .await
                .unwrap();
        }
        store.close().await;
        let global = Global {
            state_dir: Some(dir.path().to_path_buf()),
            ..Global::default()
        };
        (dir, global)
    }

    /// Exactly these environment variables.
    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[tokio::test]
    async fn the_only_stored_account_is_picked() {
        let (_d, g) = stored(&["a@im.bot"]).await;
        let c = g.credentials_with(None, env(&[])).await.unwrap();
        assert_eq!(c.account_id.as_str(), "a@im.bot");
    }

    #[tokio::test]
    async fn several_accounts_need_a_choice() {
        let (_d, g) = stored(&["a@im.bot", "b@im.bot"]).await;
        let e = g.credentials_with(None, env(&[])).await.unwrap_err();
        assert_eq!(e.code(), crate::exit::USAGE);
        assert!(e.hint().unwrap().contains("a@im.bot, b@im.bot"));
        let c = g
            .credentials_with(Some("b@im.bot"), env(&[]))
            .await
            .unwrap();
        assert_eq!(c.bot_token.expose(), "b@im.bot:secret");
    }

    #[tokio::test]
    async fn the_environment_token_wins_over_a_stored_account() {
        let (_d, g) = stored(&["a@im.bot"]).await;
        let token = env(&[("ILINK_TOKEN", "env")]);
        let c = g.credentials_with(Some("a@im.bot"), &token).await.unwrap();
        assert_eq!(c.bot_token.expose(), "env");
        let c = g.credentials_with(Some("x@im.bot"), &token).await.unwrap();
        assert_eq!(c.account_id.as_str(), "x@im.bot");
        assert_eq!(c.bot_token.expose(), "env");
    }

    #[tokio::test]
    async fn missing_credentials_are_not_found() {
        let (_d, g) = stored(&[]).await;
        let e = g.credentials_with(None, env(&[])).await.unwrap_err();
        assert_eq!(e.code(), crate::exit::NOT_FOUND);
        let e = g
            .credentials_with(Some("x@im.bot"), env(&[]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), crate::exit::NOT_FOUND);
        let e = g
            .credentials_with(None, env(&[("ILINK_TOKEN", "tok")]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), crate::exit::USAGE);
    }

    #[tokio::test]
    async fn the_base_url_flag_overrides_the_stored_one() {
        let (_d, mut g) = stored(&["a@im.bot"]).await;
        g.base_url = Some("http://127.0.0.1:2".into());
        let c = g.credentials_with(None, env(&[])).await.unwrap();
        assert_eq!(c.base_url.as_deref(), Some("http://127.0.0.1:2"));
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
