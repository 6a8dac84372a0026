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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_inbox_fails_the_start_with_the_store_error() {
    let sim = sim().await;
    let bot = sim.add_account("damaged-inbox");
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path()).await.unwrap().close().await;
    // A message left in the inbox that no longer reads as one.
    rusqlite::Connection::open(dir.path().join(DATABASE_FILE))
        .unwrap()
        .execute(
            "INSERT INTO inbox (account, id, received_at_ms, message) VALUES (?, 7, 1, '{not json')",
            [&bot.bot_id],
        )
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
        .expect("the start fails rather than leave the inbox unread");
    assert!(
        matches!(&err, BotError::Store(StoreError::Corrupt { path, .. }) if path.contains(DATABASE_FILE)),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("inbox entry 7"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_cursor_fails_the_start_with_the_store_error() {
    let sim = sim().await;
    let bot = sim.add_account("damaged");
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path()).await.unwrap().close().await;
    // What an outside tool (or a damaged page) can leave: bytes that are
    // not text where the schema keeps the cursor.
    let db = dir.path().join(DATABASE_FILE);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO cursors (account, cursor) VALUES (?, x'fffe00')",
            [&bot.bot_id],
        )
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
        matches!(&err, BotError::Store(StoreError::Corrupt { path, .. }) if path.ends_with(DATABASE_FILE)),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("move the file aside"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    sim.shutdown().await;
}
