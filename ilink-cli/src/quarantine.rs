//! `ilink quarantine`: the received messages a bot could not handle (they did
//! not decode, or had no sender), kept as received: list them, show one,
//! remove one or all of an account's.
//!
//! A message's JSON may hold a context token: `show` masks every
//! `context_token` value unless `--reveal` is given.

use clap::{Args, Subcommand};
use ilink_framework::AccountId;
use ilink_framework::store::{QuarantinedMessage, StateStore};
use serde_json::{Value, json};

use crate::account_store::AccountStore;
use crate::exit::CliError;
use crate::flags::Global;
use crate::render::{print_json, print_line};

/// Flags of `ilink quarantine`.
#[derive(Args, Debug)]
pub struct QuarantineArgs {
    /// What to do (default: list)
    #[command(subcommand)]
    pub action: Option<Action>,
}

/// The actions of `ilink quarantine`.
#[derive(Subcommand, Debug)]
pub enum Action {
    /// List the quarantined messages: account, id, when, why, size
    List {
        /// Only this bot account's
        #[arg(long, env = "ILINK_ACCOUNT_ID", hide_env_values = true)]
        account: Option<String>,
    },
    /// Print a quarantined message's JSON as received (context tokens masked)
    Show {
        /// Its id, as `list` shows it
        id: u64,
        /// The bot account, when several have a message with this id
        #[arg(long, env = "ILINK_ACCOUNT_ID", hide_env_values = true)]
        account: Option<String>,
        /// Print context tokens too
        #[arg(long)]
        reveal: bool,
    },
    /// Remove a quarantined message, or every one of an account with --all
    Remove {
        /// Its id, as `list` shows it
        #[arg(required_unless_present = "all")]
        id: Option<u64>,
        /// The bot account (required with --all)
        #[arg(long, env = "ILINK_ACCOUNT_ID", hide_env_values = true)]
        account: Option<String>,
        /// Remove all of the account's quarantined messages
        #[arg(long, requires = "account", conflicts_with = "id")]
        all: bool,
    },
}

/// Runs `ilink quarantine`.
pub async fn run(global: &Global, args: &QuarantineArgs) -> Result<(), CliError> {
    let opened = AccountStore::open(global).await?;
    let result = act(global, args, opened.store()).await;
    opened.close().await;
    result
}

async fn act(
    global: &Global,
    args: &QuarantineArgs,
    store: &dyn StateStore,
) -> Result<(), CliError> {
    match &args.action {
        None => list(global, store, None).await,
        Some(Action::List { account }) => list(global, store, account.as_deref()).await,
        Some(Action::Show {
            id,
            account,
            reveal,
        }) => {
            let found = find(store, *id, account.as_deref()).await?;
            let raw = if *reveal {
                found.raw.clone()
            } else {
                masked(&found.raw).map_err(|e| {
                    CliError::usage(
                        format!("message {id} cannot be read as JSON ({e}), so its tokens cannot be masked"),
                        "pass --reveal to print it exactly as received",
                    )
                })?
            };
            if global.json {
                let mut value = entry_json(&found);
                value["raw"] = Value::String(raw);
                print_json(&value);
            } else {
                print_line(line(&found));
                print_line(raw);
            }
            Ok(())
        }
        Some(Action::Remove { id, account, all }) => {
            let removed = match (id, account) {
                (_, Some(account)) if *all => {
                    let account = AccountId::new(account);
                    let mut n = 0;
                    for m in store.quarantine_list(Some(&account)).await? {
                        n += usize::from(store.quarantine_remove(&account, m.id).await?);
                    }
                    n
                }
                (Some(id), account) => {
                    let found = find(store, *id, account.as_deref()).await?;
                    usize::from(store.quarantine_remove(&found.account, found.id).await?)
                }
                _ => {
                    return Err(CliError::usage(
                        "nothing to remove",
                        "give an id, or --account with --all",
                    ));
                }
            };
            if global.json {
                print_json(&json!({ "removed": removed }));
            } else {
                print_line(format_args!("removed {removed} quarantined message(s)"));
            }
            Ok(())
        }
    }
}

async fn list(
    global: &Global,
    store: &dyn StateStore,
    account: Option<&str>,
) -> Result<(), CliError> {
    let account = account.map(AccountId::new);
    let all = store.quarantine_list(account.as_ref()).await?;
    if global.json {
        print_json(&Value::Array(all.iter().map(entry_json).collect()));
    } else if all.is_empty() {
        print_line("no quarantined messages");
    } else {
        for m in &all {
            print_line(line(m));
        }
    }
    Ok(())
}

/// The quarantined message `id`, of `account` if given.
async fn find(
    store: &dyn StateStore,
    id: u64,
    account: Option<&str>,
) -> Result<QuarantinedMessage, CliError> {
    let account = account.map(AccountId::new);
    let mut found: Vec<_> = store
        .quarantine_list(account.as_ref())
        .await?
        .into_iter()
        .filter(|m| m.id == id)
        .collect();
    match found.len() {
        0 => Err(CliError::NotQuarantined { id }),
        1 => Ok(found.remove(0)),
        _ => Err(CliError::usage(
            format!("several accounts have a quarantined message {id}"),
            "pass --account",
        )),
    }
}

/// One human line: account, id, age, reason, size. The JSON is not shown.
fn line(m: &QuarantinedMessage) -> String {
    format!(
        "{}  #{}  received_at_ms {}  {} bytes  {}",
        m.account,
        m.id,
        m.received_at_ms,
        m.raw.len(),
        m.reason
    )
}

fn entry_json(m: &QuarantinedMessage) -> Value {
    json!({
        "account": m.account.as_str(),
        "id": m.id,
        "received_at_ms": m.received_at_ms,
        "reason": m.reason,
        "bytes": m.raw.len(),
    })
}

/// `raw` with every `context_token` string replaced, pretty-printed; an
/// error when it is not JSON, or holds a number no `f64` can (`1e400`).
fn masked(raw: &str) -> Result<String, serde_json::Error> {
    fn mask(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if key == "context_token" && v.is_string() {
                        *v = Value::String("<masked>".into());
                    } else {
                        mask(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(mask),
            _ => {}
        }
    }
    let mut value: Value = serde_json::from_str(raw)?;
    mask(&mut value);
    serde_json::to_string_pretty(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_tokens_are_masked_at_any_depth() {
        let raw = r#"{"context_token":"SECRET1","item_list":[{"x":{"context_token":"SECRET2"}}],"message_id":"bad"}"#;
        let shown = masked(raw).unwrap();
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains("<masked>") && shown.contains("\"bad\""),
            "{shown}"
        );
        assert!(masked("{not json").is_err());
        let beyond = masked(r#"{"item_list":[{"type":92789e34422}]}"#).unwrap_err();
        assert!(
            beyond.to_string().contains("number out of range"),
            "{beyond}"
        );
    }

    #[test]
    fn a_line_names_the_message_without_its_json() {
        let m = QuarantinedMessage {
            account: AccountId::new("bot@im.bot"),
            id: 7,
            received_at_ms: 1,
            reason: "no sender".into(),
            raw: r#"{"context_token":"SECRET"}"#.into(),
        };
        let l = line(&m);
        assert!(
            l.starts_with("bot@im.bot  #7") && l.ends_with("no sender"),
            "{l}"
        );
        assert!(!l.contains("SECRET") && !entry_json(&m).to_string().contains("SECRET"));
    }
}
