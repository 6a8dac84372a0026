//! A database whose file opens but whose account state cannot be read stops
//! the bot's start with the store's own error (which file, what to do), not
//! with the actor runtime's "panicked during startup".

mod common;

use common::*;
use ilink_framework::prelude::*;
use ilink_framework::store::{DATABASE_FILE, SqliteStore, StoreError};

struct Silent;

#[async_trait]
impl Handler for Silent {
    async fn handle(&self, _ctx: &mut Context, _msg: Message) -> HandlerResult {
        Ok(())
    }
}

/// The error that starting a bot on account `name` gives once `damage`
/// (SQL with the account id as its one parameter) has been run on a fresh
/// state database. It names the database file, never "panicked".
async fn start_on_damaged_state(name: &str, damage: &str) -> String {
    let sim = sim().await;
    let bot = sim.add_account(name);
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path()).await.unwrap().close().await;
    rusqlite::Connection::open(dir.path().join(DATABASE_FILE))
        .unwrap()
        .execute(damage, [&bot.bot_id])
        .unwrap();
    let err = Bot::builder(Silent)
        .account(creds(&sim, &bot))
        .options(fast_options())
        .state_dir(dir.path())
        .build()
        .expect("bot builds")
        .start()
        .await
        .err()
        .expect("the start fails");
    assert!(
        matches!(&err, BotError::Store(StoreError::Corrupt { path, .. }) if path.contains(DATABASE_FILE)),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(!text.contains("panicked"), "{text}");
    sim.shutdown().await;
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_inbox_fails_the_start_with_the_store_error() {
    // A message left in the inbox that no longer reads as one: the start
    // fails rather than leave the inbox unread.
    let text = start_on_damaged_state(
        "damaged-inbox",
        "INSERT INTO inbox (account, id, received_at_ms, message) VALUES (?, 7, 1, '{not json')",
    )
    .await;
    assert!(text.contains("inbox entry 7"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_cursor_fails_the_start_with_the_store_error() {
    // What an outside tool (or a damaged page) can leave: bytes that are
    // not text where the schema keeps the cursor.
    let text = start_on_damaged_state(
        "damaged",
        "INSERT INTO cursors (account, cursor) VALUES (?, x'fffe00')",
    )
    .await;
    assert!(text.contains("move the file aside"), "{text}");
}
