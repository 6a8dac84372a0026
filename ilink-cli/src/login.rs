//! `ilink login`: QR login in the terminal, then the credentials are stored
//! (owner-only permissions) under the state directory. Each login adds or
//! renews one account.
//!
//! The QR code and every status go to stdout (stderr with `--json`, so
//! stdout holds only the result). A verify code is read from stdin.

use ilink_framework::ShutdownSignal;
use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use crate::account_store::AccountStore;
use clap::Args;
use ilink_core::login::{BoxFuture, LoginCallbacks, LoginOptions, LoginOutcome, login_with_qr};
use ilink_core::types::QrStatus;
use ilink_core::{Api, Secret};
use ilink_framework::Credentials;
use serde_json::json;

use crate::exit::CliError;
use crate::flags::Global;
use crate::render::{QrStyle, print_json, print_line, print_text, render_qr, status_line};

/// Flags of `ilink login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Draw the QR code for a terminal with dark text on a light background
    #[arg(long)]
    pub light_terminal: bool,

    /// Total time limit of the login, in seconds (protocol default: 8 minutes)
    #[arg(long, value_name = "SECS", default_value_t = 480, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

/// Runs `ilink login`.
pub async fn run(global: &Global, args: &LoginArgs) -> Result<(), CliError> {
    let opened = AccountStore::open(global).await?;
    let result = login(global, args, &opened).await;
    opened.close().await;
    result
}

async fn login(global: &Global, args: &LoginArgs, opened: &AccountStore) -> Result<(), CliError> {
    let store = opened.store();
    let config = global.api_config(None)?;
    // Redirect hosts come without a scheme; a plain-HTTP login host (a local
    // simulator) gets plain-HTTP redirects, the real one HTTPS.
    let redirect_scheme = if config.base_url().starts_with("http://") {
        "http"
    } else {
        "https"
    };
    let api = Api::new(config)?;
    let options = LoginOptions {
        total_timeout: Duration::from_secs(args.timeout),
        redirect_scheme: redirect_scheme.to_owned(),
        // The server uses the tokens already held here to recognize a bot
        // that is bound to this client (`binded_redirect`).
        local_tokens: store
            .list_credentials()
            .await?
            .into_iter()
            .rev()
            .take(10)
            .map(|c| c.bot_token)
            .collect(),
        ..LoginOptions::default()
    };
    let mut callbacks = Terminal {
        to_stderr: global.json,
        style: if args.light_terminal {
            QrStyle::LightTerminal
        } else {
            QrStyle::DarkTerminal
        },
        qr_codes: 0,
        max_qr_codes: options.max_qr_codes,
    };
    let mut signal = ShutdownSignal::new();
    let outcome = tokio::select! {
        r = login_with_qr(&api, &mut callbacks, options) => r?,
        _ = signal.recv() => return Err(CliError::Interrupted),
    };
    match outcome {
        LoginOutcome::AlreadyBound => {
            if global.json {
                print_json(&json!({ "status": "already_bound" }));
            } else {
                print_line("nothing to store: this bot is already bound to this client");
            }
        }
        LoginOutcome::Confirmed(result) => {
            let creds = Credentials {
                account_id: result.account_id.into(),
                bot_token: result.bot_token,
                base_url: Some(result.base_url),
                cdn_base_url: global.cdn_base_url.clone(),
                user_id: result.user_id,
            };
            store.save_credentials(&creds).await?;
            report_saved(global.json, opened, &creds);
        }
    }
    Ok(())
}

fn report_saved(json: bool, store: &AccountStore, creds: &Credentials) {
    let account = creds.account_id.as_str();
    if json {
        let mut out = json!({
            "status": "confirmed",
            "account_id": account,
            "user_id": creds.user_id,
            "base_url": creds.base_url,
            "token": creds.bot_token.redacted(),
        });
        out[store.location_key()] = store.location().into();
        print_json(&out);
        return;
    }
    let by = creds
        .user_id
        .as_deref()
        .map(|u| format!(" (scanned by {u})"))
        .unwrap_or_default();
    print_line(format_args!("logged in as {account}{by}"));
    print_line(format_args!(
        "credentials saved in {} (token {})",
        store.location(),
        creds.bot_token.redacted()
    ));
    print_line(format_args!(
        "next: `ilink tail --account {account}` shows what users write to the bot"
    ));
}

/// The login's user interface on a terminal.
struct Terminal {
    to_stderr: bool,
    style: QrStyle,
    qr_codes: u32,
    max_qr_codes: u32,
}

impl Terminal {
    fn say(&self, line: &str) {
        if self.to_stderr {
            eprintln!("{line}");
        } else {
            print_line(line);
        }
    }

    fn prompt(&self, text: &str) {
        if self.to_stderr {
            eprint!("{text}");
            let _ = std::io::stderr().flush();
        } else {
            print_text(text);
        }
    }
}

impl LoginCallbacks for Terminal {
    fn on_qr_code(&mut self, content: &Secret) {
        self.qr_codes += 1;
        let url = content.expose();
        self.say(&format!(
            "QR code {} of {}: scan it with WeChat on the phone",
            self.qr_codes, self.max_qr_codes
        ));
        match render_qr(url, self.style) {
            Ok(qr) => self.say(&qr),
            Err(e) => self.say(&format!("(cannot draw this QR code: {e})")),
        }
        // The person needs the URL itself when the terminal cannot show the
        // code; it goes to their terminal only, never to a log.
        self.say(&format!("or open: {url}"));
    }

    fn on_status(&mut self, status: &QrStatus) {
        self.say(&status_line(status));
    }

    fn verify_code(&mut self, attempt: u32) -> BoxFuture<'_, Option<String>> {
        if attempt > 1 {
            self.say("that number was not accepted; look at the phone again");
        }
        self.prompt("number shown on the phone: ");
        Box::pin(async {
            let line = tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                match std::io::stdin().read_line(&mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => Some(line.trim().to_owned()),
                }
            })
            .await
            .ok()
            .flatten();
            if line.is_some() && !std::io::stdin().is_terminal() {
                // A typed answer ends the prompt's line with its Enter; a
                // piped one does not, so end it here.
                self.say("");
            }
            line
        })
    }
}
