//! `ilink login`/`ilink accounts --database-url` and `ilink cluster status`
//! against a cluster's PostgreSQL database, with a worker running in this
//! process that picks up accounts added and removed there.
//! Skipped (a line says so) without `ILINK_TEST_DATABASE_URL`.

mod common;

use std::time::Duration;

use common::Env;
use ilink_framework::cluster::{Cluster, ClusterStatus};
use ilink_framework::prelude::*;
use ilink_framework::store::StateStore;
use ilink_framework::store::pg_testing::TestSchema;
use ilink_testkit::harness::WAIT;
use predicates::prelude::*;

struct Quiet;

#[async_trait]
impl Handler for Quiet {
    async fn handle(&self, _ctx: &mut Context, _msg: Message) -> HandlerResult {
        Ok(())
    }
}

/// Parses the `--json` output of a command.
fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_cluster_status_read_the_cluster_database() {
    let Some(schema) = TestSchema::create("accounts_and_cluster_status").await else {
        return;
    };
    let env = Env::new().await;
    let url = schema.url();
    let store = schema.store().await;
    let bots = [env.sim.add_account("alpha"), env.sim.add_account("beta")];
    for bot in &bots {
        store
            .save_credentials(
                &Credentials::new(bot.bot_id.as_str(), bot.token.clone())
                    .with_base_url(env.sim.base_url())
                    .with_cdn_base_url(env.sim.cdn_base_url()),
            )
            .await
            .unwrap();
    }

    let listed = env
        .run(&["accounts", "--json", "--database-url", &url])
        .await
        .success()
        .get_output()
        .stdout
        .clone();
    let ids: Vec<String> = json(&listed)
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["alpha@im.bot", "beta@im.bot"]);
    assert!(!String::from_utf8_lossy(&listed).contains(bots[0].token.expose()));
    // The state directory knows nothing of them.
    env.run(&["accounts"])
        .await
        .success()
        .stdout(predicate::str::contains("no accounts in"));

    let handle = Bot::builder(Quiet)
        .options(BotOptions::default().poll_timeout(Duration::from_secs(1)))
        .cluster_with(Cluster::new(url.clone()).lease_ttl(Duration::from_secs(3)))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !ClusterStatus::load(&store)
        .await
        .unwrap()
        .accounts
        .iter()
        .all(|a| a.held)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker takes the accounts"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let out = env
        .run_with(
            &["cluster", "status", "--json"],
            &[("ILINK_DATABASE_URL", &url)],
        )
        .await
        .success()
        .get_output()
        .stdout
        .clone();
    let status = json(&out);
    let workers = status["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1, "{status}");
    assert_eq!(workers[0]["pid"], std::process::id());
    assert_eq!(workers[0]["alive"], true);
    assert_eq!(workers[0]["accounts"], 2);
    let worker_id = workers[0]["id"].as_str().unwrap();
    for account in status["accounts"].as_array().unwrap() {
        assert_eq!(account["worker"], worker_id, "{status}");
        assert_eq!(account["epoch"], 1);
        assert_eq!(account["inbox_depth"], 0);
    }
    env.run(&["cluster", "--database-url", &url])
        .await
        .success()
        .stdout(predicate::str::contains("workers: 1 (1 alive)"))
        .stdout(predicate::str::contains(format!(
            "alpha@im.bot  held by {worker_id}  epoch 1"
        )));

    // Removed from the database, the account stops at the worker.
    env.run(&["accounts", "remove", "alpha@im.bot", "--database-url", &url])
        .await
        .success()
        .stdout(predicate::str::contains("removed alpha@im.bot"));
    let deadline = tokio::time::Instant::now() + WAIT;
    while handle.accounts().await.len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker stops the removed account"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(handle.accounts().await, [AccountId::new("beta@im.bot")]);

    // Added to the database, an account starts without a restart.
    let gamma = env.sim.add_account("gamma");
    store
        .save_credentials(
            &Credentials::new(gamma.bot_id.as_str(), gamma.token.clone())
                .with_base_url(env.sim.base_url())
                .with_cdn_base_url(env.sim.cdn_base_url()),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while handle.accounts().await.len() != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker starts the added account"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        handle
            .accounts()
            .await
            .contains(&AccountId::new("gamma@im.bot"))
    );

    handle.shutdown().await;
    let after = ClusterStatus::load(&store).await.unwrap();
    assert!(
        after.workers.is_empty(),
        "a stopped worker leaves: {after:?}"
    );
    assert!(after.accounts.iter().all(|a| !a.held));
}

#[tokio::test]
async fn cluster_status_needs_a_database() {
    let env = Env::new().await;
    env.run(&["cluster", "status"])
        .await
        .code(2)
        .stderr(predicate::str::contains("--database-url"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_saves_the_account_in_the_cluster_database() {
    let Some(schema) = TestSchema::create("login_saves_the_account_in_the_cluster_database").await
    else {
        return;
    };
    let env = Env::new().await;
    let url = schema.url();
    let mut cli = env.spawn(&[
        "login",
        "--json",
        "--base-url",
        &env.sim.base_url(),
        "--database-url",
        &url,
    ]);
    let qr = env.sim.wait_for_qr(WAIT).await.unwrap();
    let bot = qr.confirm().unwrap();
    let line = cli.until("\"status\"").await;
    let (code, _out, err) = cli.finish().await;
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["account_id"], bot.bot_id.as_str());
    // Named without a password, as every message names the database.
    assert!(
        v["database"].as_str().unwrap().starts_with("postgres://"),
        "{v}"
    );
    assert!(!line.contains(bot.token.expose()));

    let saved = schema.store().await.list_credentials().await.unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].bot_token, bot.token);
    assert!(
        env.store()
            .await
            .list_credentials()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_works_on_the_cluster_database() {
    use ilink_framework::store::{QuarantinedMessage, ReceivedBatch};
    let Some(schema) = TestSchema::create("quarantine_works_on_the_cluster_database").await else {
        return;
    };
    let env = Env::new().await;
    let url = schema.url();
    let account = AccountId::new("alpha@im.bot");
    let batch = ReceivedBatch {
        quarantined: vec![QuarantinedMessage {
            account: account.clone(),
            id: 7,
            received_at_ms: 1_000,
            reason: "no sender".into(),
            raw: r#"{"message_id":7}"#.into(),
        }],
        ..Default::default()
    };
    schema
        .store()
        .await
        .commit_received(&account, &batch)
        .await
        .unwrap();
    let out = env
        .run(&["quarantine", "--json", "--database-url", &url])
        .await
        .success()
        .get_output()
        .stdout
        .clone();
    let listed = json(&out);
    assert_eq!(listed[0]["account"], "alpha@im.bot", "{listed}");
    assert_eq!(listed[0]["id"], 7);
    env.run(&["quarantine", "remove", "7", "--database-url", &url])
        .await
        .success()
        .stdout(predicate::str::contains("removed 1"));
    assert!(
        schema
            .store()
            .await
            .quarantine_list(None)
            .await
            .unwrap()
            .is_empty()
    );
}
