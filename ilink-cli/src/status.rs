//! `ilink status`: asks a running bot's admin endpoint (`GET /status`) how
//! it is and prints it: whether it is ready, then one line per account.
//! Exits 0 when the bot is ready and 8 when it is not (the reasons on
//! stderr), so scripts and probes can use it as they use `/readyz`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use ilink_framework::{AccountState, AccountStatus, BotStatus};
use serde_json::Value;

use crate::exit::CliError;
use crate::flags::Global;
use crate::render::{print_json, print_text};

/// How long the admin endpoint may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Flags of `ilink status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The bot's admin endpoint, as it was given to the bot
    #[arg(
        long,
        env = "ILINK_ADMIN_ADDR",
        hide_env_values = true,
        value_name = "ADDR"
    )]
    pub admin: Option<SocketAddr>,
}

/// Runs `ilink status`.
pub async fn run(global: &Global, args: &StatusArgs) -> Result<(), CliError> {
    let Some(addr) = args.admin else {
        return Err(CliError::usage(
            "no admin endpoint to ask",
            "pass --admin ADDR or set ILINK_ADMIN_ADDR to the address the bot serves it on",
        ));
    };
    let url = format!("http://{addr}/status");
    let unreachable = |e: reqwest::Error| CliError::AdminUnreachable {
        addr,
        error: e.without_url().to_string(),
    };
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(unreachable)?;
    let res = http.get(&url).send().await.map_err(unreachable)?;
    let res = res.error_for_status().map_err(unreachable)?;
    let json: Value = res.json().await.map_err(unreachable)?;
    let status: BotStatus =
        serde_json::from_value(json.clone()).map_err(|e| CliError::AdminUnreachable {
            addr,
            error: format!("not a bot status: {e}"),
        })?;
    if global.json {
        print_json(&json);
    } else {
        print_text(human(&status));
    }
    if status.ready {
        Ok(())
    } else {
        Err(CliError::NotReady {
            reasons: status.not_ready_reasons(),
        })
    }
}

/// The status for people: a headline, then one line per account.
fn human(status: &BotStatus) -> String {
    let mut out = String::new();
    out.push_str(match (status.ready, status.stopping) {
        (true, _) => "ready\n",
        (false, true) => "not ready: shutting down\n",
        (false, false) => "not ready\n",
    });
    if status.accounts.is_empty() {
        out.push_str("no accounts run\n");
    }
    for a in &status.accounts {
        out.push_str(&account_line(a));
        out.push('\n');
    }
    out
}

fn account_line(a: &AccountStatus) -> String {
    let state = match a.state {
        AccountState::Polling => "polling",
        AccountState::Starting => "starting",
        AccountState::SessionExpired => "session expired (-14)",
        _ => "unknown",
    };
    let mut line = format!(
        "{}  {state}  inbox {}  conversations {}",
        a.account, a.inbox_depth, a.conversations
    );
    if a.consecutive_poll_errors > 0 {
        line.push_str(&format!(
            "  {} failed polls in a row",
            a.consecutive_poll_errors
        ));
        if let Some(e) = &a.last_poll_error {
            line.push_str(&format!(" (last: {e})"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_see_the_headline_and_one_line_per_account() {
        let status: BotStatus = serde_json::from_value(serde_json::json!({
            "ready": false,
            "stopping": false,
            "accounts": [
                {"account": "a@im.bot", "state": "polling", "consecutive_poll_errors": 2,
                 "last_poll_error": "HTTP 502", "inbox_depth": 1, "conversations": 3},
                {"account": "b@im.bot", "state": "session_expired", "consecutive_poll_errors": 0,
                 "last_poll_error": null, "inbox_depth": 0, "conversations": 0},
            ],
        }))
        .unwrap();
        assert_eq!(
            human(&status),
            "not ready\n\
             a@im.bot  polling  inbox 1  conversations 3  2 failed polls in a row (last: HTTP 502)\n\
             b@im.bot  session expired (-14)  inbox 0  conversations 0\n"
        );
    }
}
