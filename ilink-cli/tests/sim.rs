//! `ilink sim`: the simulator as a process, usable by the other commands.

mod common;

use common::Env;
use predicates::prelude::*;

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_prints_its_urls_and_saves_accounts_for_the_other_commands() {
    // The test's own simulator is not used; `ilink sim` runs its own.
    let env = Env::new().await;
    let mut sim = env.spawn(&[
        "sim",
        "--json",
        "--fast",
        "--save",
        "--port",
        "0",
        "--accounts",
        "1",
        "--token",
        "one@im.bot:first-secret",
    ]);
    let line = sim.until("base_url").await;
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let base = v["base_url"].as_str().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert_eq!(v["cdn_base_url"], format!("{base}/c2c"));
    assert_eq!(v["accounts"][0]["bot_id"], "one@im.bot");
    assert_eq!(v["accounts"][0]["token"], "one@im.bot:first-secret");
    assert_eq!(v["accounts"][1]["bot_id"], "bot-1@im.bot");

    env.run(&["accounts"]).await.success().stdout(
        predicate::str::contains("one@im.bot").and(predicate::str::contains(base.as_str())),
    );

    // A user scripted through the control API reaches `ilink tail`.
    let body = serde_json::json!({
        "bot_id": "one@im.bot",
        "sender": "bob@im.wechat",
        "text": "via control API",
    });
    reqwest::Client::new()
        .post(format!("{base}/mock/inbound"))
        .json(&body)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("control API accepts the message");
    env.run(&["tail", "--account", "one@im.bot", "--count", "1"])
        .await
        .success()
        .stdout("bob@im.wechat: via control API\n");

    sim.interrupt();
    let (code, _, err) = sim.finish().await;
    assert_eq!(code, Some(0), "{err}");
}
