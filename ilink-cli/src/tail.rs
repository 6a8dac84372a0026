//! `ilink tail`: long-poll one account and print what users write to it.
//!
//! After each batch the cursor is saved, and every sender's newest context
//! token is stored with a fresh send count, so `ilink send` can write to
//! them afterwards. Only one poller per account may run, so it takes the
//! account's lock, as a bot does, and fails at once (exit 6) while a bot or
//! another `ilink tail` holds it.
//!
//! Ctrl-c stops it (exit 0); the cursor of every printed batch is already saved.

use ilink_framework::ShutdownSignal;
use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use clap::Args;
use ilink_core::types::{MessageType, WeixinMessage};
use ilink_core::{Api, ILinkClient};
use ilink_framework::AccountId;
use ilink_framework::account_lock::AccountLock;
use ilink_framework::store::{ContextTokenRecord, ReceivedBatch, SqliteStore, StateStore, now_ms};

use crate::exit::CliError;
use crate::flags::Global;
use crate::render::{message_json, message_line, print_json, print_line};

/// Flags of `ilink tail`.
#[derive(Args, Debug)]
pub struct TailArgs {
    /// The bot account to poll (default: the only stored one)
    #[arg(
        long,
        env = "ILINK_ACCOUNT_ID",
        hide_env_values = true,
        value_name = "ID"
    )]
    pub account: Option<String>,

    /// Stop after printing this many messages
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

/// The official client's retry policy: 2 s after a failure, 30 s after three in a row.
fn retry_delay(consecutive_failures: u32) -> Duration {
    if consecutive_failures >= 3 {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(2)
    }
}

/// Runs `ilink tail` until ctrl-c, `--count`, or a fatal error.
pub async fn run(global: &Global, args: &TailArgs) -> Result<(), CliError> {
    let creds = global.credentials(args.account.as_deref()).await?;
    let store = global.store().await?;
    let account = creds.account_id.clone();
    // Held until this function returns, by the OS past a crash.
    let _lock = AccountLock::try_acquire(&global.state_dir()?, &account)?;
    let client = ILinkClient::from_api(Api::new(global.api_config(Some(&creds))?)?);
    if let Some(cursor) = store.load_cursor(&account).await? {
        client.set_cursor(cursor);
    }
    let mut signal = ShutdownSignal::new();
    if !global.json {
        eprintln!("tailing {account}; ctrl-c stops");
    }
    let mut seen = Seen::default();
    let mut printed = 0u64;
    let mut failures = 0u32;
    loop {
        let polled = tokio::select! {
            r = client.poll() => r,
            _ = signal.recv() => return Ok(()),
        };
        match polled {
            Ok(batch) => {
                failures = 0;
                for msg in &batch.msgs {
                    // Delivery is at least once; a repeat is not news.
                    if !seen.first_time(msg) {
                        continue;
                    }
                    observe_token(&store, &account, msg).await?;
                    if global.json {
                        print_json(&message_json(account.as_str(), msg));
                    } else {
                        print_line(message_line(msg));
                    }
                    printed += 1;
                }
                // The server never replays from an old cursor, so it is saved
                // only once everything before it has been printed and stored;
                // `--count` ends at the end of a batch for the same reason:
                // the rest of a batch cut short would never come again.
                let cursor = ReceivedBatch {
                    cursor: Some(client.cursor()),
                    ..Default::default()
                };
                store.commit_received(&account, &cursor).await?;
                if args.count.is_some_and(|n| printed >= n) {
                    return Ok(());
                }
            }
            Err(e) if e.is_session_expired() => {
                return Err(CliError::from_core(account.as_str(), e));
            }
            Err(e) => {
                failures += 1;
                let delay = retry_delay(failures);
                eprintln!(
                    "warning: poll failed: {e}; retrying in {}s",
                    delay.as_secs()
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = signal.recv() => return Ok(()),
                }
            }
        }
    }
}

/// Stores the sender's token as their newest, unless it is already known or
/// older than the stored one (a late redelivery must not reset the count).
async fn observe_token(
    store: &SqliteStore,
    account: &AccountId,
    msg: &WeixinMessage,
) -> Result<(), CliError> {
    if msg.message_type == Some(MessageType::Bot) {
        return Ok(());
    }
    let (Some(user), Some(token)) = (msg.from_user_id.as_deref(), msg.context_token.as_ref())
    else {
        return Ok(());
    };
    if user.is_empty() || token.is_empty() {
        return Ok(());
    }
    let at = msg.create_time_ms.filter(|t| *t > 0).unwrap_or_else(now_ms);
    let existing = store.context_token(account, user).await?;
    if let Some(record) = ContextTokenRecord::after_inbound(existing.as_ref(), token.clone(), at) {
        store.put_context_token(account, user, &record).await?;
    }
    Ok(())
}

/// Recently printed message ids, bounded.
#[derive(Default)]
struct Seen {
    ids: HashSet<u64>,
    order: VecDeque<u64>,
}

impl Seen {
    const CAP: usize = 4096;

    /// Whether `msg` has not been printed yet; messages without an id always count as new.
    fn first_time(&mut self, msg: &WeixinMessage) -> bool {
        let Some(id) = msg.message_id else {
            return true;
        };
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::CAP {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use ilink_core::Secret;

    use super::*;

    fn msg(id: u64, token: &str, at: i64) -> WeixinMessage {
        WeixinMessage {
            message_id: Some(id),
            from_user_id: Some("u@im.wechat".into()),
            context_token: Some(Secret::new(token)),
            create_time_ms: Some(at),
            message_type: Some(MessageType::User),
            ..WeixinMessage::default()
        }
    }

    #[tokio::test]
    async fn newest_token_is_stored_and_redeliveries_keep_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let a = AccountId::new("bot@im.bot");
        observe_token(&store, &a, &msg(1, "t1", 1000))
            .await
            .unwrap();
        let mut rec = store
            .context_token(&a, "u@im.wechat")
            .await
            .unwrap()
            .unwrap();
        rec.sent = 4;
        store
            .put_context_token(&a, "u@im.wechat", &rec)
            .await
            .unwrap();
        // Same token again, and an older one arriving late: both ignored.
        observe_token(&store, &a, &msg(1, "t1", 1000))
            .await
            .unwrap();
        observe_token(&store, &a, &msg(0, "t0", 500)).await.unwrap();
        let rec = store
            .context_token(&a, "u@im.wechat")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((rec.token.expose(), rec.sent), ("t1", 4));
        observe_token(&store, &a, &msg(2, "t2", 2000))
            .await
            .unwrap();
        let rec = store
            .context_token(&a, "u@im.wechat")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((rec.token.expose(), rec.sent), ("t2", 0));
    }

    #[test]
    fn duplicates_are_printed_once() {
        // One listener for the whole run: a ctrl-c that arrives while a batch
        // is being stored must still be seen by the next wait.
        let mut seen = Seen::default();
        assert!(seen.first_time(&msg(7, "t", 1)));
        assert!(!seen.first_time(&msg(7, "t", 1)));
        assert!(seen.first_time(&WeixinMessage::default()));
        assert!(seen.first_time(&WeixinMessage::default()));
    }

    #[test]
    fn retries_back_off_after_three_failures() {
        assert_eq!(retry_delay(1), Duration::from_secs(2));
        assert_eq!(retry_delay(3), Duration::from_secs(30));
    }
}
