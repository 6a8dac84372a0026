//! `ilink tail` against the simulator: messages are printed, the cursor and
//! each sender's context token are stored, ctrl-c ends it cleanly.

mod common;

use common::Env;
use ilink_framework::store::StateStore;
use ilink_testkit::harness::WAIT;
use predicates::prelude::*;

const ALICE: &str = "alice@im.wechat";
const BOB: &str = "bob@im.wechat";

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_messages_stores_tokens_and_stops_on_ctrl_c() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    let mut cli = env.spawn(&["tail", "--account", &bot.bot_id]);

    let alice = env.sim.user(&bot, ALICE);
    alice.say("hello there").await;
    cli.until("alice@im.wechat: hello there").await;
    alice.send_file("notes.pdf", b"%PDF-1.4 tiny").await;
    cli.until("alice@im.wechat: [file notes.pdf").await;

    cli.interrupt();
    let (code, out, err) = cli.finish().await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(err.contains("tailing bot@im.bot; ctrl-c stops"), "{err}");

    let store = env.store().await;
    let account = bot.bot_id.as_str().into();
    let rec = store
        .context_token(&account, ALICE)
        .await
        .unwrap()
        .expect("token stored");
    assert_eq!(Some(rec.token), alice.context_token());
    assert_eq!(rec.sent, 0);
    let cursor = store
        .load_cursor(&account)
        .await
        .unwrap()
        .expect("cursor stored");
    assert!(!cursor.is_empty());

    // What tail stored is what send needs.
    env.run(&["send", "--to", ALICE, "thanks for the notes"])
        .await
        .success()
        .stdout(predicate::str::contains("0 of 10 sent, 10 remaining"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_ends_quietly_when_its_reader_goes_away() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    let mut cli = env.spawn(&["tail", "--account", &bot.bot_id]);
    let alice = env.sim.user(&bot, ALICE);
    alice.say("first").await;
    cli.until("alice@im.wechat: first").await;
    // `ilink tail | head -1`: head has its line and exits; the next message
    // finds nobody reading.
    let (code, err) = cli
        .close_stdout_then(async {
            alice.say("second").await;
        })
        .await;
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_json_prints_one_object_per_message_and_resumes_from_the_cursor() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    let alice = env.sim.user(&bot, ALICE);
    alice.say("first").await;
    alice.say("second").await;

    let out = env
        .run(&["tail", "--json", "--count", "2"])
        .await
        .success()
        .get_output()
        .stdout
        .clone();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["from"], ALICE);
    assert_eq!(lines[0]["text"], "first");
    assert_eq!(lines[1]["items"][0]["type"], "text");
    assert_eq!(lines[1]["has_context_token"], true);
    let token = alice.context_token().unwrap();
    assert!(!lines.iter().any(|l| l.to_string().contains(token.expose())));

    // The saved cursor means the next run sees only what is new.
    alice.say("third").await;
    env.run(&["tail", "--count", "1"])
        .await
        .success()
        .stdout(predicate::str::diff("alice@im.wechat: third\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_count_prints_the_whole_batch_that_reaches_it() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    // Two users write while nothing polls: one batch brings both.
    env.sim.user(&bot, ALICE).say("from alice").await;
    env.sim.user(&bot, BOB).say("from bob").await;
    env.run(&["tail", "--count", "1"])
        .await
        .success()
        .stdout(predicate::str::diff(
            "alice@im.wechat: from alice\nbob@im.wechat: from bob\n",
        ));
    // Bob's token is stored too: the cursor has moved past his message.
    let account = bot.bot_id.as_str().into();
    let store = env.store().await;
    assert!(store.context_token(&account, BOB).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_exits_5_when_the_session_expires() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    env.sim.expire_session(&bot, ilink_testkit::ExpiryMode::Ret);
    env.run(&["tail"])
        .await
        .code(5)
        .stderr(predicate::str::contains("expired (-14)"));
    let _ = WAIT;
}
