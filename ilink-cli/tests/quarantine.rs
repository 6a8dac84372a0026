//! `ilink quarantine`: listing, showing (context tokens masked unless
//! `--reveal`), and removing the messages a bot could not handle.

mod common;

use common::Env;
use ilink_framework::AccountId;
use ilink_framework::store::{QuarantinedMessage, ReceivedBatch, StateStore};
use predicates::prelude::*;

const RAW: &str = r#"{"from_user_id":"","context_token":"CTX-SECRET","item_list":[]}"#;

async fn quarantine(env: &Env, account: &str, ids: &[u64]) {
    let store = env.store().await;
    let account = AccountId::new(account);
    let batch = ReceivedBatch {
        quarantined: ids
            .iter()
            .map(|id| QuarantinedMessage {
                account: account.clone(),
                id: *id,
                received_at_ms: 1_000,
                reason: "no sender".into(),
                raw: RAW.into(),
            })
            .collect(),
        ..Default::default()
    };
    store.commit_received(&account, &batch).await.unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_show_and_remove_quarantined_messages() {
    let env = Env::new().await;
    env.run(&["quarantine"])
        .await
        .success()
        .stdout("no quarantined messages\n");
    quarantine(&env, "alpha@im.bot", &[7, 8]).await;
    quarantine(&env, "beta@im.bot", &[8]).await;

    env.run(&["quarantine", "list"])
        .await
        .success()
        .stdout(predicate::str::contains("alpha@im.bot  #7"))
        .stdout(predicate::str::contains("beta@im.bot  #8"))
        .stdout(predicate::str::contains("no sender"))
        .stdout(predicate::str::contains("CTX-SECRET").not());
    let out = env
        .run(&["quarantine", "list", "--account", "beta@im.bot", "--json"])
        .await
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["id"], 8);

    // Masked by default, whole with --reveal.
    env.run(&["quarantine", "show", "7"])
        .await
        .success()
        .stdout(predicate::str::contains("<masked>"))
        .stdout(predicate::str::contains("CTX-SECRET").not());
    env.run(&["quarantine", "show", "7", "--reveal"])
        .await
        .success()
        .stdout(predicate::str::contains(RAW));
    // Id 8 is in two accounts: which one must be said.
    env.run(&["quarantine", "show", "8"])
        .await
        .code(2)
        .stderr(predicate::str::contains("--account"));

    env.run(&["quarantine", "remove", "7"])
        .await
        .success()
        .stdout("removed 1 quarantined message(s)\n");
    env.run(&["quarantine", "remove", "7"])
        .await
        .code(3)
        .stderr(predicate::str::contains("no quarantined message 7"));
    env.run(&["quarantine", "remove", "--all", "--account", "alpha@im.bot"])
        .await
        .success()
        .stdout("removed 1 quarantined message(s)\n");
    let left = env.store().await.quarantine_list(None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].account.as_str(), "beta@im.bot");
}
