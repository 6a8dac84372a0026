//! Bad arguments (exit 2) and missing credentials (exit 3 with a hint).

mod common;

use common::Env;
use predicates::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_exit_2() {
    let env = Env::new().await;
    env.run(&["frobnicate"]).await.code(2);
    env.run(&["send", "--to", "u@im.wechat"])
        .await
        .code(2)
        .stderr(predicate::str::contains("required"));
    env.run(&["send", "--to", "u", "text", "--file", "a.png"])
        .await
        .code(2);
    env.run(&["tail", "--count", "0"]).await.code(2);
    env.run(&["login", "--timeout", "soon"]).await.code(2);
    env.run(&["accounts", "remove"]).await.code(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_is_a_usage_error_and_nothing_is_sent() {
    let env = Env::new().await;
    let bot = env.stored_account("bot").await;
    env.store_token(&bot, "u@im.wechat", "ctx".into(), 0).await;
    env.run(&[
        "send",
        "--to",
        "u@im.wechat",
        "--file",
        "/nonexistent/report.pdf",
    ])
    .await
    .code(2)
    .stderr(predicate::str::contains(
        "error: /nonexistent/report.pdf is not a readable file",
    ));
    assert!(env.sim.sent(&bot).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_exit_3_with_a_hint() {
    let env = Env::new().await;
    env.run(&["tail"])
        .await
        .code(3)
        .stderr(predicate::str::contains("error: no bot credentials"))
        .stderr(predicate::str::contains(
            "hint: run `ilink login` first, or set ILINK_TOKEN and ILINK_ACCOUNT_ID",
        ));
    env.run(&["send", "--account", "ghost@im.bot", "--to", "u", "hi"])
        .await
        .code(3)
        .stderr(predicate::str::contains("no stored account ghost@im.bot"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_accounts_need_a_choice() {
    let env = Env::new().await;
    env.stored_account("a").await;
    env.stored_account("b").await;
    env.run(&["tail"])
        .await
        .code(2)
        .stderr(predicate::str::contains(
            "hint: pass --account with one of: a@im.bot, b@im.bot",
        ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_runtime_error() {
    let env = Env::new().await;
    env.stored_account("bot").await;
    env.store_token(
        &ilink_testkit::BotAccount {
            bot_id: "bot@im.bot".into(),
            token: "t".into(),
        },
        "u@im.wechat",
        "ctx".into(),
        0,
    )
    .await;
    // Port 9 on loopback: nothing listens there, the connection is refused.
    env.run(&[
        "send",
        "--base-url",
        "http://127.0.0.1:9",
        "--to",
        "u@im.wechat",
        "hi",
    ])
    .await
    .code(1)
    .stderr(predicate::str::contains(
        "hint: check the network and the base URL",
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_lines_when_asked() {
    let env = Env::new().await;
    let by_flag = env.run(&["-vv", "--log-format", "json", "accounts"]).await;
    let by_env = env
        .run_with(&["-vv", "accounts"], &[("ILINK_LOG_FORMAT", "json")])
        .await;
    for assert in [by_flag, by_env] {
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(!stderr.trim().is_empty(), "-vv logs something");
        for line in stderr.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert!(
                v["level"].is_string() && v["timestamp"].is_string(),
                "{line}"
            );
        }
    }
    env.run(&["--log-format", "xml", "accounts"]).await.code(2);
}
