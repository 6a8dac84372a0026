//! End-to-end tests of the examples: each example's own handler and script,
//! against the simulator on 127.0.0.1, asserting on what the bot sent.

mod common;

// The examples are compiled into this test as modules, so the tests run
// exactly the code a reader sees; their `main`s are not called here.
#[allow(dead_code)]
#[path = "../examples/commands.rs"]
mod commands;
#[allow(dead_code)]
#[path = "../examples/echo_bot.rs"]
mod echo_bot;
#[allow(dead_code)]
#[path = "../examples/long_reply.rs"]
mod long_reply;
#[allow(dead_code)]
#[path = "../examples/media.rs"]
mod media;
#[allow(dead_code)]
#[path = "../examples/multi_account.rs"]
mod multi_account;
#[allow(dead_code)]
#[path = "../examples/state.rs"]
mod state;

use std::sync::Arc;
use std::time::Duration;

use common::{run, start_with_store, stop, typed_to};
use ilink_examples::TINY_PNG;
use ilink_framework::core::types::ItemType;
use ilink_framework::store::SqliteStore;
use ilink_testkit::harness::WAIT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_bot_echoes_text_and_types() {
    let (playground, handle, transcript) = run(echo_bot::EchoBot, &echo_bot::script()).await;
    assert_eq!(
        transcript.bot_said_to("alice@im.wechat"),
        ["Echo: hello", "Echo: 你好，世界", "I can only echo text."]
    );
    assert!(typed_to(&playground, "alice@im.wechat").await);
    stop(playground, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_bot_answers_a_1_mb_text_within_the_quota_and_says_it_stopped() {
    let text = "长文本 long text ".repeat((1 << 20) / 20 + 1);
    assert!(text.len() >= 1 << 20);
    let script = ilink_examples::playground::Script::new().say("alice@im.wechat", &text, 10);
    let (playground, handle, transcript) = run(echo_bot::EchoBot, &script).await;
    let said = transcript.bot_said_to("alice@im.wechat");
    assert_eq!(said.len(), 10, "the default quota is 10 messages");
    assert!(said[0].starts_with("Echo: 长文本 long text"));
    assert!(said[9].ends_with(echo_bot::CUT_NOTE), "{}", said[9]);
    let sent: usize = said[..9].iter().map(|s| s.chars().count()).sum();
    assert!(sent > 9 * 3000, "the messages are full: {sent} characters");
    stop(playground, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_keeps_one_dialogue_per_conversation_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let playground = common::playground(&["demo"]).await;
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let handle = start_with_store(&playground, state::Registration, store.clone()).await;
    let before = playground.play(&state::first_half()).await;
    assert!(before.complete, "missing replies:\n{before}");
    // Stopped in the middle of both dialogues, the database closed.
    let report = handle.shutdown().await;
    assert_eq!(report.unhandled, 0);
    store.close().await;
    drop(store);

    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let handle = start_with_store(&playground, state::Registration, store).await;
    let after = playground.play(&state::second_half()).await;
    assert!(after.complete, "missing replies:\n{after}");
    let said = |user: &str| {
        let mut lines = before.bot_said_to(user);
        lines.extend(after.bot_said_to(user));
        lines
    };
    assert_eq!(
        said("alice@im.wechat"),
        [
            "Hi! What is your name?",
            "How old are you, Alice?",
            "Please send your age as a number.",
            "Alice, 30: nice to meet you! (4 messages so far)",
        ]
    );
    assert_eq!(
        said("bob@im.wechat"),
        [
            "Hi! What is your name?",
            "How old are you, Bob?",
            "Bob, 25: nice to meet you! (3 messages so far)",
        ]
    );
    stop(playground, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_receives_and_sends_images_files_and_voice() {
    let dir = tempfile::tempdir().unwrap();
    let bot = media::MediaBot {
        dir: dir.path().to_path_buf(),
    };
    let (playground, handle, transcript) = run(bot, &media::script()).await;
    let saved = dir.path().join("report.txt");
    assert_eq!(
        transcript.bot_said_to("alice@im.wechat"),
        [
            "Got image (70 bytes).".to_owned(),
            format!(
                "Got file report.txt (18 bytes), saved as {}.",
                saved.display()
            ),
            "Got voice message (320 bytes) saying \"see you at noon\".".to_owned(),
            "[image, 70 bytes]".to_owned(),
            "[file notes.txt, 31 bytes]".to_owned(),
        ]
    );
    assert_eq!(std::fs::read(&saved).unwrap(), b"quarterly numbers\n");

    // What arrived is what was sent, byte for byte, through the encrypted CDN.
    let sent = playground
        .sim()
        .delivered_to(&playground.accounts()[0], "alice@im.wechat");
    let image = sent
        .iter()
        .flat_map(|m| &m.message.item_list)
        .find(|i| i.item_type == ItemType::Image)
        .expect("an image was sent");
    assert_eq!(playground.sim().decrypt_media(image).unwrap(), TINY_PNG);
    stop(playground, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_reply_arrives_whole_to_users_asking_at_once() {
    let bot = long_reply::SlowBot {
        thinking: Duration::from_millis(300),
    };
    let (playground, handle, _) = run(bot, &long_reply::script()).await;
    let account = &playground.accounts()[0];
    for (user, question) in [
        ("alice@im.wechat", "Why is the sky blue?"),
        ("bob@im.wechat", "How do tides work?"),
    ] {
        let parts: Vec<String> = playground
            .sim()
            .delivered_to(account, user)
            .iter()
            .filter_map(|m| m.text())
            .collect();
        assert_eq!(parts.len(), 3, "{user}: {parts:?}");
        assert!(parts.iter().all(|p| p.encode_utf16().count() <= 4000));
        // Chunk boundaries may fall on whitespace; everything else survives in order.
        let squeeze = |s: &str| s.split_whitespace().collect::<String>();
        assert_eq!(
            squeeze(&parts.concat()),
            squeeze(&long_reply::answer(question))
        );
        assert!(typed_to(&playground, user).await, "{user} saw no typing");
    }
    stop(playground, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_account_serves_every_account_and_one_added_while_running() {
    let playground = common::playground(&["shop", "support"]).await;
    let handle = common::start(&playground, multi_account::Switchboard).await;
    let mut events = handle.events();
    let night = playground.add_account("night");
    handle.add_account(night).await.unwrap();
    // The late account announces itself like the others.
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(e)
                    if e.account.as_str() == "night@im.bot"
                        && e.kind == ilink_framework::AccountEventKind::Started =>
                {
                    break;
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("events closed: {e}"),
            }
        }
    })
    .await
    .expect("night@im.bot starts");

    let transcript = playground.play(&multi_account::script()).await;
    assert!(transcript.complete, "{transcript}");
    let replies: Vec<(String, String, String)> = transcript
        .bot_lines()
        .map(|l| (l.account.clone(), l.user.clone(), l.content.clone()))
        .collect();
    assert_eq!(
        replies,
        [
            (
                "shop@im.bot".into(),
                "alice@im.wechat".into(),
                "shop@im.bot here. You said: Do you sell umbrellas?".into()
            ),
            (
                "support@im.bot".into(),
                "alice@im.wechat".into(),
                "support@im.bot here. You said: My umbrella is broken.".into()
            ),
            (
                "night@im.bot".into(),
                "bob@im.wechat".into(),
                "night@im.bot here. You said: Anyone awake?".into()
            ),
        ]
    );
    stop(playground, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_parse_help_alias_check_cooldown_and_fallback() {
    let bot = commands::Calc {
        admins: vec!["root@im.wechat".to_owned()],
    };
    let (playground, handle, transcript) = run(bot, &commands::script()).await;
    let alice = transcript.bot_said_to("alice@im.wechat");
    assert_eq!(alice.len(), 7, "{transcript}");
    assert!(alice[0].starts_with("Commands:"), "{}", alice[0]);
    for usage in ["/add <a> <b>", "/roll [sides]", "/reset"] {
        assert!(
            alice[0].contains(usage),
            "{usage} missing from {}",
            alice[0]
        );
    }
    assert_eq!(alice[1], "2 + 40 = 42");
    assert_eq!(
        alice[2],
        "invalid <b>: `x` is not a valid i64 (invalid digit found in string)\nUsage: /add <a> <b>"
    );
    assert_eq!(alice[3], "You rolled 11 (d20)");
    assert!(
        alice[4].starts_with("The roll command is cooling down"),
        "{}",
        alice[4]
    );
    assert_eq!(alice[5], "You are not allowed to use the reset command.");
    assert_eq!(
        alice[6],
        "You said \"what is the total?\"; the total is 42. Try /help."
    );
    assert_eq!(transcript.bot_said_to("root@im.wechat"), ["Total reset."]);
    stop(playground, handle).await;
}
