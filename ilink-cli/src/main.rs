//! `ilink`: log bot accounts in by QR code, list them, send a message, tail
//! what users write, and run the simulator.
//!
//! ```text
//! ilink login                              # scan the QR code with WeChat
//! ilink accounts                           # list stored accounts
//! ilink tail --account BOT                 # print incoming messages, store context tokens
//! ilink send --account BOT --to USER "hi"  # proactive message within the quota
//! ilink sim --save                         # a local simulator to try it all
//! ilink quarantine                         # messages a bot could not handle
//! ilink cluster status --database-url URL  # workers, leases, inbox depths
//! ilink status --admin 127.0.0.1:9464      # ask a running bot how it is
//! ```
//!
//! Exit codes are documented in [`exit`] and in `docs/cli.md`.

mod account_store;
mod accounts;
mod cluster;
mod exit;
mod flags;
mod login;
mod quarantine;
mod render;
mod send;
mod sim;
mod status;
mod tail;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::CliError;
use crate::flags::{Global, LogFormat};

/// Command line tool for WeChat iLink bots.
#[derive(Parser, Debug)]
#[command(name = "ilink", version, about, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ok, 1 runtime/network error, 2 usage error, \
    3 not found/missing credentials, 4 quota exhausted/refused, 5 session expired (-14), \
    6 account in use by another process, 7 state directory or database unusable, \
    8 bot not ready (ilink status), 130 interrupted."
)]
struct Cli {
    #[command(flatten)]
    global: Global,

    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Command {
    /// Log a bot account in by scanning a QR code; stores its credentials
    Login(login::LoginArgs),
    /// List stored accounts, or remove one
    Accounts(accounts::AccountsArgs),
    /// Send a text or a file to a user who wrote to the bot before
    Send(send::SendArgs),
    /// Print incoming messages of an account and store their context tokens
    Tail(tail::TailArgs),
    /// Run the iLink server simulator on 127.0.0.1 until ctrl-c
    Sim(sim::SimArgs),
    /// List, show or remove received messages a bot could not handle
    Quarantine(quarantine::QuarantineArgs),
    /// Show the workers of a cluster, their leases and inbox depths
    Cluster(cluster::ClusterArgs),
    /// Ask a running bot's admin endpoint how it and its accounts are
    Status(status::StatusArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose, cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(source) => {
            return CliError::Io {
                context: "cannot start the async runtime".into(),
                source,
            }
            .report();
        }
    };
    let result = runtime.block_on(run(cli));
    // A verify-code prompt may still block on stdin; don't wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let g = &cli.global;
    match &cli.command {
        Command::Login(args) => login::run(g, args).await,
        Command::Accounts(args) => accounts::run(g, args).await,
        Command::Send(args) => send::run(g, args).await,
        Command::Tail(args) => tail::run(g, args).await,
        Command::Sim(args) => sim::run(g, args).await,
        Command::Quarantine(args) => quarantine::run(g, args).await,
        Command::Cluster(args) => cluster::run(g, args).await,
        Command::Status(args) => status::run(g, args).await,
    }
}

/// Logs go to stderr, and only when asked for: stdout belongs to the output.
fn init_logging(verbose: u8, format: LogFormat) {
    let level = match verbose {
        0 => return,
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        // One JSON object per line, with the current span and its parents.
        LogFormat::Json => logs.json().with_span_list(true).init(),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn send_needs_text_or_file_but_not_both() {
        assert!(Cli::try_parse_from(["ilink", "send", "--to", "u"]).is_err());
        assert!(
            Cli::try_parse_from(["ilink", "send", "--to", "u", "hi", "--file", "a.png"]).is_err()
        );
        assert!(Cli::try_parse_from(["ilink", "send", "--to", "u", "hi"]).is_ok());
        assert!(Cli::try_parse_from(["ilink", "send", "--to", "u", "--file", "a.png"]).is_ok());
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::try_parse_from([
            "ilink",
            "accounts",
            "--json",
            "--state-dir",
            "/tmp/x",
            "--base-url",
            "http://127.0.0.1:1",
        ])
        .unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.base_url.as_deref(), Some("http://127.0.0.1:1"));
    }
}
