//! `ilink-sim`: the iLink server simulator as a standalone process, for manual testing
//! and for tests written in any language (through the `/mock/*` control API).
//!
//! ```text
//! ilink-sim --port 8080 --accounts 2
//! ilink-sim --token demo@im.bot:secret --longpoll-ms 5000 --no-quota --no-burst
//! ```

use std::time::Duration;

use clap::Parser;
use ilink_testkit::{SimConfig, Simulator};

/// A faithful iLink Bot server simulator on 127.0.0.1.
#[derive(Parser, Debug)]
#[command(name = "ilink-sim", version)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "ILINK_SIM_PORT", default_value_t = 8080)]
    port: u16,
    /// Number of bot accounts to create (bot-1@im.bot, ...), besides explicit tokens.
    #[arg(long, default_value_t = 1)]
    accounts: usize,
    /// An explicit bot token `<botid>@im.bot:<secret>`; repeatable.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// getupdates long-poll timeout in milliseconds.
    #[arg(long, default_value_t = 35_000)]
    longpoll_ms: u64,
    /// get_qrcode_status long-poll timeout in milliseconds.
    #[arg(long, default_value_t = 35_000)]
    qr_poll_ms: u64,
    /// Disable the 10-sends-per-context-token quota.
    #[arg(long)]
    no_quota: bool,
    /// Disable per-user burst throttling.
    #[arg(long)]
    no_burst: bool,
    /// Context token lifetime in seconds.
    #[arg(long, default_value_t = 24 * 3600)]
    context_ttl_secs: u64,
    /// Do not return `upload_full_url` (exercise the fallback upload URL).
    #[arg(long)]
    no_upload_full_url: bool,
    /// Put `full_url` on inbound media.
    #[arg(long)]
    inbound_full_url: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = SimConfig {
        port: args.port,
        longpoll_timeout: Duration::from_millis(args.longpoll_ms),
        qr_poll_timeout: Duration::from_millis(args.qr_poll_ms),
        context_quota: (!args.no_quota).then_some(10),
        burst: if args.no_burst {
            None
        } else {
            SimConfig::default().burst
        },
        context_ttl: Some(Duration::from_secs(args.context_ttl_secs)),
        upload_full_url: !args.no_upload_full_url,
        inbound_full_url: args.inbound_full_url,
        ..SimConfig::default()
    };
    let sim = Simulator::start_with(config).await?;
    for token in &args.tokens {
        let bot_id = token.split(':').next().unwrap_or(token);
        sim.add_account_with(bot_id, Some(token.clone()));
    }
    for n in 1..=args.accounts {
        sim.add_account(&format!("bot-{n}"));
    }
    println!("ilink-sim listening");
    println!("  API base URL: {}", sim.base_url());
    println!("  CDN base URL: {}", sim.cdn_base_url());
    println!("  redirect URL: {}", sim.alt_base_url());
    println!("  control API:  {}/mock/", sim.base_url());
    for acct in sim.accounts() {
        // Printing the token is the point here: it is a local test server.
        println!("  account {}  token {}", acct.bot_id, acct.token.expose());
    }
    tokio::signal::ctrl_c().await?;
    println!("ilink-sim: shutting down");
    sim.shutdown().await;
    Ok(())
}
