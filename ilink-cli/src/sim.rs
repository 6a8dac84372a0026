//! `ilink sim`: run the iLink server simulator of `ilink-testkit` on
//! 127.0.0.1 until ctrl-c, for trying bots and the CLI without WeChat.
//!
//! It prints its base URLs and the accounts it created with their tokens
//! (simulator tokens, worthless anywhere else); `--save` also stores those
//! accounts in the state directory, so `ilink tail` and `ilink send` work
//! against it at once. Its `/mock/*` control API scripts users and logins.

use ilink_framework::ShutdownSignal;
use std::time::Duration;

use clap::Args;
use ilink_framework::Credentials;
use ilink_framework::store::StateStore;
use ilink_testkit::{BotAccount, SimConfig, Simulator};
use serde_json::json;

use crate::exit::CliError;
use crate::flags::Global;
use crate::render::{print_json, print_line};

/// Flags of `ilink sim`: those of `ilink-sim`, plus `--fast` and `--save`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Port on 127.0.0.1 (0 picks a free one)
    #[arg(long, env = "ILINK_SIM_PORT", default_value_t = 8080)]
    pub port: u16,

    /// Number of bot accounts to create (bot-1@im.bot, …), besides explicit tokens
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub accounts: usize,

    /// An explicit bot token `<botid>@im.bot:<secret>`; repeatable
    #[arg(long = "token", value_name = "TOKEN")]
    pub tokens: Vec<String>,

    /// getupdates long-poll timeout in milliseconds [default: 35000, 1000 with --fast]
    #[arg(long, value_name = "MS")]
    pub longpoll_ms: Option<u64>,

    /// get_qrcode_status long-poll timeout in milliseconds [default: 35000, 1000 with --fast]
    #[arg(long, value_name = "MS")]
    pub qr_poll_ms: Option<u64>,

    /// Turn the send quota of 10 messages per inbound message off
    #[arg(long)]
    pub no_quota: bool,

    /// Turn the per-user burst throttling off
    #[arg(long)]
    pub no_burst: bool,

    /// Context token lifetime in seconds
    #[arg(long, value_name = "SECS", default_value_t = 24 * 3600)]
    pub context_ttl_secs: u64,

    /// Do not return `upload_full_url` (exercises the fallback upload URL)
    #[arg(long)]
    pub no_upload_full_url: bool,

    /// Put `full_url` on inbound media
    #[arg(long)]
    pub inbound_full_url: bool,

    /// Test timings: 1 s long-polls and no burst throttling
    #[arg(long)]
    pub fast: bool,

    /// Store the created accounts in the state directory for `ilink tail`/`send`
    #[arg(long)]
    pub save: bool,
}

impl SimArgs {
    /// The simulator configuration these flags ask for.
    pub fn config(&self) -> SimConfig {
        let mut config = if self.fast {
            SimConfig::for_tests()
        } else {
            SimConfig::default()
        };
        config.port = self.port;
        if let Some(ms) = self.longpoll_ms {
            config.longpoll_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = self.qr_poll_ms {
            config.qr_poll_timeout = Duration::from_millis(ms);
        }
        if self.no_quota {
            config.context_quota = None;
        }
        if self.no_burst {
            config.burst = None;
        }
        config.context_ttl = Some(Duration::from_secs(self.context_ttl_secs));
        config.upload_full_url = !self.no_upload_full_url;
        config.inbound_full_url = self.inbound_full_url;
        config
    }

    /// Creates the accounts: explicit tokens first, then `bot-1`, `bot-2`, ….
    fn create_accounts(&self, sim: &Simulator) -> Vec<BotAccount> {
        let mut out = Vec::new();
        for token in &self.tokens {
            let bot_id = token.split(':').next().unwrap_or(token);
            out.push(sim.add_account_with(bot_id, Some(token.clone())));
        }
        for n in 1..=self.accounts {
            out.push(sim.add_account(&format!("bot-{n}")));
        }
        out
    }
}

/// Runs `ilink sim` until ctrl-c.
pub async fn run(global: &Global, args: &SimArgs) -> Result<(), CliError> {
    let sim = Simulator::start_with(args.config())
        .await
        .map_err(|e| CliError::Io {
            context: format!("cannot start the simulator on 127.0.0.1:{}", args.port),
            source: std::io::Error::other(e.to_string()),
        })?;
    let accounts = args.create_accounts(&sim);
    if args.save {
        let store = global.store().await?;
        for bot in &accounts {
            let creds = Credentials::new(bot.bot_id.as_str(), bot.token.clone())
                .with_base_url(sim.base_url())
                .with_cdn_base_url(sim.cdn_base_url());
            store.save_credentials(&creds).await?;
        }
    }
    let mut signal = ShutdownSignal::new();
    announce(global.json, &sim, &accounts, args.save);
    signal.recv().await;
    sim.shutdown().await;
    Ok(())
}

fn announce(json: bool, sim: &Simulator, accounts: &[BotAccount], saved: bool) {
    if json {
        let accounts: Vec<_> = accounts
            .iter()
            .map(|a| json!({ "bot_id": a.bot_id, "token": a.token.expose() }))
            .collect();
        print_json(&json!({
            "base_url": sim.base_url(),
            "cdn_base_url": sim.cdn_base_url(),
            "alt_base_url": sim.alt_base_url(),
            "accounts": accounts,
            "saved": saved,
        }));
        return;
    }
    let base = sim.base_url();
    print_line("iLink simulator running; ctrl-c stops it");
    print_line(format_args!("  base URL      {base}"));
    print_line(format_args!("  CDN base URL  {}", sim.cdn_base_url()));
    print_line(format_args!(
        "  control API   {base}/mock/ (inbound, sent, qr/*, session/expire, reset…)"
    ));
    for a in accounts {
        // Simulator tokens open nothing but this process, and a developer
        // needs them to point a bot at it.
        print_line(format_args!(
            "  account       {}  token {}",
            a.bot_id,
            a.token.expose()
        ));
    }
    if saved {
        print_line("accounts saved: `ilink tail` and `ilink send` use this simulator now");
    } else {
        print_line(format_args!(
            "try: ILINK_BASE_URL={base} ilink login   (then POST {base}/mock/qr/scan and /mock/qr/confirm)"
        ));
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        sim: SimArgs,
    }

    fn parse(args: &[&str]) -> SimConfig {
        let mut all = vec!["sim"];
        all.extend_from_slice(args);
        Wrap::parse_from(all).sim.config()
    }

    #[test]
    fn defaults_are_the_real_servers() {
        let c = parse(&[]);
        assert_eq!(c.port, 8080);
        assert_eq!(c.longpoll_timeout, Duration::from_secs(35));
        assert_eq!(c.context_quota, Some(10));
        assert!(c.burst.is_some() && c.upload_full_url && !c.inbound_full_url);
    }

    #[test]
    fn flags_match_ilink_sim() {
        let c = parse(&[
            "--port",
            "0",
            "--longpoll-ms",
            "5000",
            "--qr-poll-ms",
            "200",
            "--no-quota",
            "--no-burst",
            "--context-ttl-secs",
            "60",
            "--no-upload-full-url",
            "--inbound-full-url",
        ]);
        assert_eq!(c.port, 0);
        assert_eq!(c.longpoll_timeout, Duration::from_secs(5));
        assert_eq!(c.qr_poll_timeout, Duration::from_millis(200));
        assert_eq!((c.context_quota, c.burst), (None, None));
        assert_eq!(c.context_ttl, Some(Duration::from_secs(60)));
        assert!(!c.upload_full_url && c.inbound_full_url);
    }

    #[test]
    fn fast_shortens_polls_unless_told_otherwise() {
        let c = parse(&["--fast"]);
        assert_eq!(c.longpoll_timeout, Duration::from_secs(1));
        assert!(c.burst.is_none());
        let c = parse(&["--fast", "--longpoll-ms", "3000"]);
        assert_eq!(c.longpoll_timeout, Duration::from_secs(3));
    }
}
