//! `ilink accounts`: list the stored accounts (the default) or remove one.
//!
//! Tokens are never shown, only a redacted prefix and their length.

use clap::{Args, Subcommand};
use ilink_framework::account_lock::AccountLock;
use ilink_framework::{AccountId, Credentials};
use serde_json::{Value, json};

use crate::account_store::AccountStore;
use crate::exit::CliError;
use crate::flags::Global;
use crate::render::{print_json, print_line};

/// Flags of `ilink accounts`.
#[derive(Args, Debug)]
pub struct AccountsArgs {
    /// What to do (default: list)
    #[command(subcommand)]
    pub action: Option<Action>,
}

/// The actions of `ilink accounts`.
#[derive(Subcommand, Debug)]
pub enum Action {
    /// List the stored accounts
    List,
    /// Forget an account: its credentials and everything stored for it
    /// (cursor, inbox, context tokens, saved conversation state, quarantine)
    Remove {
        /// The bot account id, e.g. `e06c1ceea05e@im.bot`
        account: String,
    },
}

/// Runs `ilink accounts`.
pub async fn run(global: &Global, args: &AccountsArgs) -> Result<(), CliError> {
    let opened = AccountStore::open(global).await?;
    let result = act(global, args, &opened).await;
    opened.close().await;
    result
}

async fn act(global: &Global, args: &AccountsArgs, opened: &AccountStore) -> Result<(), CliError> {
    let store = opened.store();
    match &args.action {
        None | Some(Action::List) => {
            let all = store.list_credentials().await?;
            if global.json {
                print_json(&Value::Array(all.iter().map(account_json).collect()));
            } else if all.is_empty() {
                print_line(format_args!(
                    "no accounts in {}; `ilink login` adds one",
                    opened.location()
                ));
            } else {
                for c in &all {
                    print_line(account_line(c));
                }
            }
        }
        Some(Action::Remove { account }) => {
            let id = AccountId::new(account);
            // A bot polling the account would write its cursor, inbox and
            // tokens back, and go on answering: refused while one holds it.
            let _lock = match opened.state_dir() {
                Some(dir) => Some(AccountLock::try_acquire(dir, &id)?),
                None => None,
            };
            if !store.remove_credentials(&id).await? {
                return Err(CliError::UnknownAccount {
                    account: account.clone(),
                    state_dir: opened.location(),
                });
            }
            store.forget_account(&id).await?;
            if global.json {
                print_json(&json!({ "removed": account }));
            } else {
                print_line(format_args!("removed {account}"));
            }
        }
    }
    Ok(())
}

/// One human line per account: id, who scanned, host, redacted token.
fn account_line(c: &Credentials) -> String {
    let mut line = c.account_id.to_string();
    if let Some(user) = &c.user_id {
        line.push_str(&format!("  owner {user}"));
    }
    line.push_str(&format!(
        "  base {}",
        c.base_url.as_deref().unwrap_or("(default)")
    ));
    if let Some(cdn) = &c.cdn_base_url {
        line.push_str(&format!("  cdn {cdn}"));
    }
    line.push_str(&format!("  token {}", c.bot_token.redacted()));
    line
}

/// The `--json` object of an account.
fn account_json(c: &Credentials) -> Value {
    json!({
        "account_id": c.account_id.as_str(),
        "user_id": c.user_id,
        "base_url": c.base_url,
        "cdn_base_url": c.cdn_base_url,
        "token": c.bot_token.redacted(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_never_show_the_token() {
        let c = Credentials::new("abc@im.bot", "abc@im.bot:TOPSECRETVALUE")
            .with_base_url("http://127.0.0.1:1");
        let line = account_line(&c);
        assert!(
            line.starts_with("abc@im.bot  base http://127.0.0.1:1  token abc@…<"),
            "{line}"
        );
        assert!(!line.contains("TOPSECRET"));
        assert!(!account_json(&c).to_string().contains("TOPSECRET"));
    }
}
