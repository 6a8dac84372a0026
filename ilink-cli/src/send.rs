//! `ilink send`: one proactive message (text or a file) to a user who wrote
//! to the bot before.
//!
//! The user's newest context token comes from the state directory (stored by
//! `ilink tail` or a bot using the same directory). The quota that token
//! allows is checked and shown before anything is sent, the server's
//! `message_id` (or its absence) is reported, and the stored send count goes
//! up with every accepted message.

use std::path::PathBuf;
use std::time::Instant;

use clap::{ArgGroup, Args};
use ilink_core::chunk::{DEFAULT_CHUNK_LIMIT, split_text};
use ilink_core::{Api, ApiCode, Error as CoreError, ILinkClient, SentMessage};
use ilink_framework::store::{ContextTokenRecord, SentCount, SqliteStore, StateStore, now_ms};
use ilink_framework::{AccountId, BotOptions, Pacer, QuotaState, SendError};
use serde_json::{Value, json};

use crate::exit::CliError;
use crate::flags::Global;
use crate::render::{human_duration, print_json, print_line};

/// Flags of `ilink send`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("content").required(true).args(["text", "file"])))]
pub struct SendArgs {
    /// The bot account to send from (default: the only stored one)
    #[arg(
        long,
        env = "ILINK_ACCOUNT_ID",
        hide_env_values = true,
        value_name = "ID"
    )]
    pub account: Option<String>,

    /// The user to write to, byte-exact, e.g. `o9cq8…@im.wechat`
    #[arg(long, value_name = "USER")]
    pub to: String,

    /// The text to send (split into several messages above 4000 characters)
    pub text: Option<String>,

    /// Send this file instead: images and videos by extension, anything else as a file
    #[arg(long, value_name = "PATH", conflicts_with = "text")]
    pub file: Option<PathBuf>,

    /// Send even when the local quota check says the server will refuse
    #[arg(long)]
    pub force: bool,
}

/// The framework's quota rule (the one the Sender enforces), with the
/// CLI's wording and exit codes.
pub struct Quota(QuotaState);

impl Quota {
    fn of(record: &ContextTokenRecord, options: &BotOptions, now_ms: i64) -> Self {
        Self(QuotaState::of(Some(record), options, now_ms))
    }

    /// Whether `n` more messages may be sent to `user`; the error says why not.
    pub fn check(&self, user: &str, n: u32) -> Result<(), CliError> {
        let q = &self.0;
        match q.check(user, n) {
            Ok(()) => Ok(()),
            Err(SendError::ContextExpired { age, .. }) => Err(CliError::ContextExpired {
                user: user.to_owned(),
                age,
                ttl: q.ttl,
            }),
            Err(_) => Err(CliError::QuotaExhausted {
                user: user.to_owned(),
                sent: q.sent,
                limit: q.limit,
            }),
        }
    }

    /// The human line shown before sending.
    pub fn line(&self, user: &str) -> String {
        let q = &self.0;
        format!(
            "quota for {user}: {} of {} sent, {} remaining; context token age {}",
            q.sent,
            q.limit,
            q.remaining,
            human_duration(q.token_age)
        )
    }

    fn json(&self) -> Value {
        let q = &self.0;
        json!({
            "sent": q.sent,
            "limit": q.limit,
            "remaining": q.remaining,
            "token_age_secs": q.token_age.as_secs(),
            "expired": q.expired,
        })
    }
}

/// Runs `ilink send`.
pub async fn run(global: &Global, args: &SendArgs) -> Result<(), CliError> {
    let creds = global.credentials(args.account.as_deref()).await?;
    let store = global.store().await?;
    let account = creds.account_id.clone();
    let client = ILinkClient::from_api(Api::new(global.api_config(Some(&creds))?)?);

    let record = store
        .context_token(&account, &args.to)
        .await?
        .ok_or_else(|| CliError::NoContextToken {
            account: account.to_string(),
            user: args.to.clone(),
        })?;
    let options = BotOptions::default();
    let quota = Quota::of(&record, &options, now_ms());
    let chunks = match &args.text {
        Some(text) => split_text(text, DEFAULT_CHUNK_LIMIT),
        None => Vec::new(),
    };
    if args.text.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(CliError::usage(
            "the text is empty",
            "give the text to send, or --file PATH",
        ));
    }
    if let Some(path) = args.file.as_deref().filter(|p| !p.is_file()) {
        return Err(CliError::usage(
            format!("{} is not a readable file", path.display()),
            "give the path of an existing file to --file",
        ));
    }
    let planned = if args.file.is_some() {
        1
    } else {
        chunks.len() as u32
    };
    if !global.json {
        print_line(quota.line(&args.to));
    }
    if !args.force {
        quota.check(&args.to, planned)?;
    }

    let mut sent = Vec::new();
    let result = match &args.file {
        Some(path) => client
            .send_media_file(&args.to, path, Some(&record.token))
            .await
            .map(|m| sent.push(m)),
        None => {
            let mut r = Ok(());
            // Paced as a bot paces its sends to one user: chunks sent back to
            // back draw the server's burst throttle (`ret -2` and a block).
            let options = BotOptions::default();
            let mut pacer = Pacer::new(options.pacing_burst, options.pacing_window);
            for chunk in &chunks {
                tokio::time::sleep(pacer.delay(Instant::now())).await;
                let answer = client.send_text(&args.to, chunk, Some(&record.token)).await;
                pacer.record(Instant::now());
                match answer {
                    Ok(m) => {
                        // Counted one by one, so a failure half-way keeps
                        // the count of what the server did accept.
                        sent.push(m);
                        count_sent(&store, &account, &args.to, &record, sent.len()).await?;
                    }
                    Err(e) => {
                        r = Err(e);
                        break;
                    }
                }
            }
            r
        }
    };
    if args.file.is_some() && result.is_ok() {
        count_sent(&store, &account, &args.to, &record, 1).await?;
    }
    report(global.json, &account, &args.to, &quota, &sent);
    result.map_err(|e| {
        let len = args.text.as_deref().map(|t| t.chars().count());
        send_error(&account, e, &quota, sent.len() as u32, len)
    })
}

/// Raises the stored count to `used.sent + accepted`, unless a newer token
/// has arrived meanwhile (its count starts from zero). A bot sending with
/// the same token at the same time counts its own sends: the higher count
/// wins, so the two do not add up.
async fn count_sent(
    store: &SqliteStore,
    account: &AccountId,
    user: &str,
    used: &ContextTokenRecord,
    accepted: usize,
) -> Result<(), CliError> {
    let record = SentCount {
        user: user.to_owned(),
        token: used.token.clone(),
        sent: used.sent.saturating_add(accepted as u32),
    };
    store.record_sent(account, &[record], &[]).await?;
    Ok(())
}

fn report(json: bool, account: &AccountId, to: &str, quota: &Quota, sent: &[SentMessage]) {
    if json {
        let messages: Vec<Value> = sent
            .iter()
            .map(|m| {
                json!({
                    "client_id": m.client_id,
                    // As a string: u64 ids exceed what JSON readers hold exactly.
                    "message_id": m.message_id.map(|id| id.to_string()),
                })
            })
            .collect();
        print_json(&json!({
            "account": account.as_str(),
            "to": to,
            "quota_before": quota.json(),
            "messages": messages,
        }));
        return;
    }
    for m in sent {
        match m.message_id {
            Some(id) => print_line(format_args!("sent: message_id {id}")),
            None => print_line("accepted but no message_id: the server may not deliver it"),
        }
    }
}

/// Explains a failed send with what the client knows.
fn send_error(
    account: &AccountId,
    e: CoreError,
    quota: &Quota,
    accepted: u32,
    text_chars: Option<usize>,
) -> CliError {
    if e.api().is_some_and(|a| a.code() == ApiCode::Rejected) {
        let mut context = format!(
            "{} of {} messages were sent with this context token, which is {} old",
            quota.0.sent + accepted,
            quota.0.limit,
            human_duration(quota.0.token_age)
        );
        if let Some(n) = text_chars {
            context.push_str(&format!("; the text has {n} characters"));
        }
        return CliError::ServerRefused { context };
    }
    CliError::from_core(account.as_str(), e)
}

#[cfg(test)]
mod tests {
    use ilink_core::{Endpoint, Secret};

    use super::*;

    fn quota(sent: u32, age_secs: u64) -> Quota {
        let record = ContextTokenRecord {
            token: Secret::new("t"),
            received_at_ms: 1_000_000_000 - age_secs as i64 * 1000,
            sent,
        };
        Quota::of(&record, &BotOptions::default(), 1_000_000_000)
    }

    #[test]
    fn quota_allows_ten_messages_per_token() {
        let q = quota(9, 60);
        assert_eq!(q.0.remaining, 1);
        assert!(q.check("u", 1).is_ok());
        assert_eq!(q.check("u", 2).unwrap_err().code(), crate::exit::REFUSED);
        assert_eq!(
            quota(10, 60).check("u", 1).unwrap_err().code(),
            crate::exit::REFUSED
        );
        assert_eq!(
            quota(9, 60).line("u@im.wechat"),
            "quota for u@im.wechat: 9 of 10 sent, 1 remaining; context token age 1m 00s"
        );
    }

    #[test]
    fn tokens_older_than_a_day_are_refused() {
        let e = quota(0, 25 * 3600).check("u", 1).unwrap_err();
        assert!(matches!(e, CliError::ContextExpired { .. }), "{e:?}");
        assert!(quota(0, 23 * 3600).check("u", 1).is_ok());
    }

    #[test]
    fn ret_minus_two_is_explained_with_what_is_known() {
        let e = CoreError::from_status(Endpoint::SendMessage, -2, None, None).unwrap();
        let err = send_error(&AccountId::new("a"), e, &quota(3, 120), 1, Some(12));
        assert_eq!(err.code(), crate::exit::REFUSED);
        let text = err.to_string();
        assert!(text.contains("4 of 10"), "{text}");
        assert!(
            text.contains("2m 00s") && text.contains("12 characters"),
            "{text}"
        );
        let e = CoreError::from_status(Endpoint::SendMessage, -14, None, None).unwrap();
        let err = send_error(&AccountId::new("a"), e, &quota(0, 1), 0, None);
        assert_eq!(err.code(), crate::exit::SESSION_EXPIRED);
    }
}
