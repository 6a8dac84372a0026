//! `ilink status` against a running bot's admin endpoint: ready with one
//! line per account, `--json`, exit 8 with the reason while a session is
//! expired, and the errors without an address or with nobody answering.

mod common;

use std::time::Duration;

use common::Env;
use ilink_framework::prelude::*;
use ilink_testkit::ExpiryMode;
use ilink_testkit::harness::within;

struct Quiet;

#[async_trait]
impl Handler for Quiet {
    async fn handle(&self, _ctx: &mut Context, _msg: Message) -> HandlerResult {
        Ok(())
    }
}

/// Runs `ilink status` until `done` holds for its exit code and stdout.
async fn status_until(
    env: &Env,
    args: &[&str],
    done: impl Fn(i32, &str) -> bool,
) -> (i32, String, String) {
    within("ilink status to answer as expected", async {
        loop {
            let out = env.run(args).await.get_output().clone();
            let code = out.status.code().unwrap_or(-1);
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            if done(code, &stdout) {
                return (
                    code,
                    stdout,
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_the_bots_view_and_says_when_it_is_not_ready() {
    let env = Env::new().await;
    let bot = env.sim.add_account("status-bot");
    let handle = Bot::builder(Quiet)
        .account(
            Credentials::new(bot.bot_id.as_str(), bot.token.clone())
                .with_base_url(env.sim.base_url())
                .with_cdn_base_url(env.sim.cdn_base_url()),
        )
        .options(
            BotOptions::default()
                .poll_timeout(Duration::from_secs(1))
                .session_probe_interval(Duration::from_millis(200)),
        )
        .admin("127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let addr = handle.admin_addr().await.unwrap().to_string();

    let (_, stdout, _) =
        status_until(&env, &["status", "--admin", &addr], |code, _| code == 0).await;
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("ready"), "{stdout}");
    let line = lines.next().unwrap_or_default();
    assert!(
        line.starts_with(&format!("{}  polling  inbox 0", bot.bot_id)),
        "{stdout}"
    );

    // The address may come from the environment, as the bot's does.
    let out = env
        .run_with(&["status", "--json"], &[("ILINK_ADMIN_ADDR", &addr)])
        .await
        .success();
    let json: serde_json::Value =
        serde_json::from_slice(&out.get_output().stdout).expect("one JSON object");
    assert_eq!(json["ready"], true);
    assert_eq!(json["accounts"][0]["account"], bot.bot_id.as_str());
    assert_eq!(json["accounts"][0]["state"], "polling");

    env.sim.expire_session(&bot, ExpiryMode::Ret);
    let (code, stdout, stderr) =
        status_until(&env, &["status", "--admin", &addr], |code, _| code != 0).await;
    assert_eq!(code, 8, "{stdout}{stderr}");
    assert!(stdout.starts_with("not ready\n"), "{stdout}");
    assert!(stdout.contains("session expired (-14)"), "{stdout}");
    assert!(stderr.contains("session expired"), "{stderr}");
    assert!(stderr.contains("hint: run `ilink login` again"), "{stderr}");

    handle.shutdown().await;
    env.sim.shutdown().await;
}

#[tokio::test]
async fn status_needs_an_address_and_a_bot_that_answers() {
    let env = Env::new().await;
    env.run(&["status"])
        .await
        .code(2)
        .stderr(predicates::str::contains("ILINK_ADMIN_ADDR"));
    // A port nobody listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    env.run(&["status", "--admin", &addr])
        .await
        .code(1)
        .stderr(predicates::str::contains(
            "no bot status from the admin endpoint",
        ));
    env.sim.shutdown().await;
}
