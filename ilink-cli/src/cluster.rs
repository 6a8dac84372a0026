//! `ilink cluster status`: the workers of a cluster (host, pid, heartbeat),
//! which holds each account at which epoch, and how many messages wait in
//! each account's inbox. Reads the database of `--database-url` /
//! `ILINK_DATABASE_URL`.

use clap::{Args, Subcommand};
use ilink_framework::cluster::ClusterStatus;
use ilink_framework::store::PgStore;

use crate::exit::CliError;
use crate::flags::Global;
use crate::render::{print_json, print_text};

/// Flags of `ilink cluster`.
#[derive(Args, Debug)]
pub struct ClusterArgs {
    /// What to show (default: status)
    #[command(subcommand)]
    pub action: Option<Action>,
}

/// The actions of `ilink cluster`.
#[derive(Subcommand, Debug)]
pub enum Action {
    /// Workers, leases and epochs, accounts per worker, inbox depths
    Status,
}

/// Runs `ilink cluster`.
pub async fn run(global: &Global, args: &ClusterArgs) -> Result<(), CliError> {
    let Some(url) = global.database_url.as_deref().filter(|u| !u.is_empty()) else {
        return Err(CliError::usage(
            "no cluster database given",
            "pass --database-url postgres://user@host/db or set ILINK_DATABASE_URL",
        ));
    };
    let store = PgStore::connect(url).await?;
    let status = ClusterStatus::load(&store).await;
    store.close().await;
    let status = status?;
    match args.action {
        None | Some(Action::Status) => {
            if global.json {
                print_json(&serde_json::to_value(&status).unwrap_or_default());
            } else {
                print_text(render(&status));
            }
        }
    }
    Ok(())
}

/// The human form: one line per worker, then one per account.
fn render(status: &ClusterStatus) -> String {
    let alive = status.workers.iter().filter(|w| w.alive).count();
    let mut out = format!("workers: {} ({alive} alive)\n", status.workers.len());
    for w in &status.workers {
        let state = match (w.alive, w.stopping) {
            (true, false) => "alive",
            (true, true) => "stopping",
            (false, _) => "dead",
        };
        out.push_str(&format!(
            "  {}  host {}  pid {}  {state}  heartbeat {:.1} s ago (ttl {:.1} s)  {} account(s)\n",
            w.id,
            w.host,
            w.pid,
            w.heartbeat_age_ms as f64 / 1000.0,
            w.ttl_ms as f64 / 1000.0,
            w.accounts
        ));
    }
    let held = status.accounts.iter().filter(|a| a.held).count();
    out.push_str(&format!(
        "accounts: {} ({held} held)\n",
        status.accounts.len()
    ));
    for a in &status.accounts {
        let holder = match (&a.worker, a.held) {
            (Some(w), true) => format!("held by {w}"),
            (Some(w), false) => format!("free (last held by {w})"),
            (None, _) => "free".to_owned(),
        };
        out.push_str(&format!(
            "  {}  {holder}  epoch {}  inbox {}\n",
            a.account, a.epoch, a.inbox_depth
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use ilink_framework::cluster::{LeaseStatus, WorkerStatus};

    use super::*;

    #[test]
    fn the_status_names_workers_leases_and_inbox_depths() {
        let status = ClusterStatus {
            workers: vec![WorkerStatus {
                id: "h-1-a".into(),
                host: "h".into(),
                pid: 1,
                heartbeat_age_ms: 1500,
                ttl_ms: 10_000,
                alive: true,
                stopping: false,
                accounts: 1,
            }],
            accounts: vec![
                LeaseStatus {
                    account: "a@im.bot".into(),
                    worker: Some("h-1-a".into()),
                    epoch: 3,
                    held: true,
                    inbox_depth: 2,
                },
                LeaseStatus {
                    account: "b@im.bot".into(),
                    worker: None,
                    epoch: 0,
                    held: false,
                    inbox_depth: 0,
                },
            ],
        };
        assert_eq!(
            render(&status),
            "workers: 1 (1 alive)\n\
             \x20 h-1-a  host h  pid 1  alive  heartbeat 1.5 s ago (ttl 10.0 s)  1 account(s)\n\
             accounts: 2 (1 held)\n\
             \x20 a@im.bot  held by h-1-a  epoch 3  inbox 2\n\
             \x20 b@im.bot  free  epoch 0  inbox 0\n"
        );
    }
}
