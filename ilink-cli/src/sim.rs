//! `ilink sim`: run the iLink server simulator of `ilink-testkit` on
//! 127.0.0.1 until ctrl-c, for trying bots and the CLI without WeChat.
//!
//! It prints its base URLs and the accounts it created with their tokens
//! (simulator tokens, worthless anywhere else); `--save` also stores those
//! accounts in the state directory, so `ilink tail` and `ilink send` work
//! against it at once. Its `/mock/*` control API scripts users and logins.

use clap::Args;
use ilink_framework::Credentials;
use ilink_framework::store::StateStore;
use ilink_testkit::{BotAccount, SimConfig, Simulator};
use serde_json::json;

use crate::exit::CliError;
use crate::render::print_json;
use crate::settings::Global;

/// Flags of `ilink sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Port on 127.0.0.1 (0 picks a free one)
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Create a bot account NAME (`NAME@im.bot`); repeatable
    #[arg(long = "account", value_name = "NAME", default_value = "demo")]
    pub accounts: Vec<String>,

    /// Short long-polls (1 s) and no burst throttling, as in tests
    #[arg(long)]
    pub fast: bool,

    /// Turn the send quota of 10 messages per inbound message off
    #[arg(long)]
    pub no_quota: bool,

    /// Turn the per-user burst throttling off
    #[arg(long)]
    pub no_burst: bool,

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
        if self.no_quota {
            config.context_quota = None;
        }
        if self.no_burst {
            config.burst = None;
        }
        config
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
    let accounts: Vec<BotAccount> = args.accounts.iter().map(|n| sim.add_account(n)).collect();
    if args.save {
        let store = global.store()?;
        for bot in &accounts {
            let creds = Credentials::new(bot.bot_id.as_str(), bot.token.clone())
                .with_base_url(sim.base_url())
                .with_cdn_base_url(sim.cdn_base_url());
            store.save_credentials(&creds)?;
        }
    }
    let ctrl_c = crate::interrupt::listen().await;
    announce(global.json, &sim, &accounts, args.save);
    ctrl_c.await;
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
    println!("iLink simulator running; ctrl-c stops it");
    println!("  base URL      {base}");
    println!("  CDN base URL  {}", sim.cdn_base_url());
    println!("  control API   {base}/mock/ (inbound, sent, qr/*, session/expire, reset…)");
    for a in accounts {
        // Simulator tokens open nothing but this process, and a developer
        // needs them to point a bot at it.
        println!("  account       {}  token {}", a.bot_id, a.token.expose());
    }
    if saved {
        println!("accounts saved: `ilink tail` and `ilink send` use this simulator now");
    } else {
        println!(
            "try: ILINK_BASE_URL={base} ilink login   (then POST {base}/mock/qr/scan and /mock/qr/confirm)"
        );
    }
}
