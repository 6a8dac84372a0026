//! `ilink send` against the simulator: the stored context token is used,
//! the quota is shown and enforced, the server's answer is reported.

mod common;

use common::Env;
use ilink_core::Endpoint;
use ilink_framework::store::StateStore;
use ilink_testkit::harness::WAIT;
use ilink_testkit::{ExpiryMode, Fault, FaultAction};
use predicates::prelude::*;

const ALICE: &str = "alice@im.wechat";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reports_the_message_id_and_counts_the_send() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    let alice = env.sim.user(&bot, ALICE);
    alice.say("hi bot").await;
    env.store_token(&bot, ALICE, alice.context_token().unwrap(), 3)
        .await;

    env.run(&[
        "send",
        "--account",
        &bot.bot_id,
        "--to",
        ALICE,
        "hello alice",
    ])
    .await
    .success()
    .stdout(predicate::str::contains(
        "quota for alice@im.wechat: 3 of 10 sent, 7 remaining; context token age",
    ))
    .stdout(predicate::str::is_match(r"sent: message_id \d+").unwrap());

    let sent = env
        .sim
        .wait_for_sent_to(&bot, ALICE, 1, WAIT)
        .await
        .unwrap();
    assert_eq!(sent[0].message.text().as_deref(), Some("hello alice"));
    assert_eq!(sent[0].context_token, alice.context_token());
    let rec = env
        .store()
        .await
        .context_token(&bot.bot_id.as_str().into(), ALICE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.sent, 4);
    assert!(
        env.sim.violations().is_empty(),
        "{:?}",
        env.sim.violations()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_json_and_a_file() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    let alice = env.sim.user(&bot, ALICE);
    alice.say("send me the report").await;
    env.store_token(&bot, ALICE, alice.context_token().unwrap(), 0)
        .await;
    let file = env.state().join("report.txt");
    std::fs::write(&file, b"quarterly numbers").unwrap();

    let out = env
        .run(&[
            "send",
            "--json",
            "--to",
            ALICE,
            "--file",
            file.to_str().unwrap(),
        ])
        .await
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["to"], ALICE);
    assert_eq!(v["quota_before"]["remaining"], 10);
    assert!(v["messages"][0]["message_id"].is_string(), "{v}");

    let sent = env
        .sim
        .wait_for_sent_to(&bot, ALICE, 1, WAIT)
        .await
        .unwrap();
    let item = &sent[0].message.item_list[0];
    assert_eq!(env.sim.decrypt_media(item).unwrap(), b"quarterly numbers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_quota_is_refused_before_sending() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    let alice = env.sim.user(&bot, ALICE);
    alice.say("hi").await;
    env.store_token(&bot, ALICE, alice.context_token().unwrap(), 10)
        .await;

    env.run(&["send", "--to", ALICE, "one more"])
        .await
        .code(4)
        .stdout(predicate::str::contains("10 of 10 sent, 0 remaining"))
        .stderr(predicate::str::contains(
            "error: send quota used up for alice@im.wechat: 10 of 10",
        ))
        .stderr(predicate::str::contains(
            "hint: the user must write to the bot again",
        ));
    assert!(env.sim.sent(&bot).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_refusal_is_explained() {
    let env = Env::new().await;
    env.sim.configure(|c| c.context_quota = Some(1));
    let bot = env.stored_account("bot").await;
    let alice = env.sim.user(&bot, ALICE);
    alice.say("hi").await;
    env.store_token(&bot, ALICE, alice.context_token().unwrap(), 0)
        .await;

    env.run(&["send", "--to", ALICE, "first"]).await.success();
    env.run(&["send", "--to", ALICE, "second"])
        .await
        .code(4)
        .stderr(predicate::str::contains(
            "the server refused the message (ret -2); 1 of 10 messages were sent with this context token",
        ))
        .stderr(predicate::str::contains("the text has 6 characters"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_context_token_is_not_found_with_a_hint() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    env.run(&["send", "--to", "u@im.wechat", "hello"])
        .await
        .code(3)
        .stderr(predicate::str::diff(format!(
            "error: no stored context token for u@im.wechat\n\
             hint: the user must write to the bot first; run `ilink tail --account {}` while they do\n",
            bot.bot_id
        )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_exits_5() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    let alice = env.sim.user(&bot, ALICE);
    alice.say("hi").await;
    env.store_token(&bot, ALICE, alice.context_token().unwrap(), 0)
        .await;
    env.sim.expire_session(&bot, ExpiryMode::Errcode);

    env.run(&["send", "--to", ALICE, "hello"])
        .await
        .code(5)
        .stderr(predicate::str::contains(
            "session of bot@im.bot expired (-14)",
        ))
        .stderr(predicate::str::contains("hint: run `ilink login` again"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_credentials_work_without_a_stored_account() {
    let env = Env::new().await;
    let bot = env.sim.add_account("envbot");
    let alice = env.sim.user(&bot, ALICE);
    alice.say("hi").await;
    env.store_token(&bot, ALICE, alice.context_token().unwrap(), 0)
        .await;
    let base = env.sim.base_url();
    env.run_with(
        &["send", "--to", ALICE, "from the environment"],
        &[
            ("ILINK_TOKEN", bot.token.expose()),
            ("ILINK_ACCOUNT_ID", &bot.bot_id),
            ("ILINK_BASE_URL", &base),
        ],
    )
    .await
    .success()
    .stdout(predicate::str::contains(bot.token.expose()).not());
    env.sim
        .wait_for_sent_to(&bot, ALICE, 1, WAIT)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_without_message_id_is_reported() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    let alice = env.sim.user(&bot, ALICE);
    alice.say("hi").await;
    env.store_token(&bot, ALICE, alice.context_token().unwrap(), 0)
        .await;
    // `ret 0` without a `message_id`: accepted, but perhaps never delivered.
    env.sim.inject(Fault::on(
        Endpoint::SendMessage,
        FaultAction::Api {
            ret: Some(0),
            errcode: None,
            errmsg: None,
        },
    ));
    env.run(&["send", "--to", ALICE, "hello"])
        .await
        .success()
        .stdout(predicate::str::contains(
            "accepted but no message_id: the server may not deliver it",
        ));
    let out = env
        .run(&["send", "--json", "--to", ALICE, "again"])
        .await
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["quota_before"]["sent"], 1,
        "the accepted message was counted: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_old_context_is_refused_unless_forced() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    let alice = env.sim.user(&bot, ALICE);
    alice.say("hi").await;
    let day = std::time::Duration::from_secs(25 * 3600);
    env.store_token_aged(&bot, ALICE, alice.context_token().unwrap(), 0, day)
        .await;
    env.run(&["send", "--to", ALICE, "late reply"])
        .await
        .code(4)
        .stderr(predicate::str::contains(
            "is 1d 01h old; replies are allowed for 1d 00h",
        ));
    // The simulator's token is fresh, so a forced send goes through.
    env.run(&["send", "--force", "--to", ALICE, "late reply"])
        .await
        .success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_text_is_sent_in_chunks_paced_under_the_servers_burst_limit() {
    // The real server's throttle: a third send to one user within 1 s is
    // refused with ret -2.
    let env = Env::with(ilink_testkit::SimConfig {
        burst: Some(ilink_testkit::BurstLimit::default()),
        ..ilink_testkit::SimConfig::for_tests()
    })
    .await;
    let bot = env.stored_account("bot").await;
    let alice = env.sim.user(&bot, ALICE);
    alice.say("tell me a lot").await;
    env.store_token(&bot, ALICE, alice.context_token().unwrap(), 0)
        .await;
    let text = "a".repeat(12_001);
    env.run(&["send", "--account", &bot.bot_id, "--to", ALICE, &text])
        .await
        .success();
    let sent = env
        .sim
        .wait_for_sent_to(&bot, ALICE, 4, WAIT)
        .await
        .unwrap();
    assert_eq!(sent.len(), 4, "four chunks, each delivered");
    let whole: String = sent.iter().filter_map(|m| m.message.text()).collect();
    assert_eq!(whole, text);
}
