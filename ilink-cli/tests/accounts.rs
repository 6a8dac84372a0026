//! `ilink accounts`: listing (human and JSON, tokens redacted) and removal.

mod common;

use common::Env;
use ilink_framework::AccountId;
use ilink_framework::store::StateStore;
use predicates::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_remove_accounts() {
    let env = Env::new().await;
    env.run(&["accounts"])
        .await
        .success()
        .stdout(predicate::str::contains("no accounts in"));

    let a = env.stored_account("alpha").await;
    let b = env.stored_account("beta").await;
    env.run(&["accounts"])
        .await
        .success()
        .stdout(predicate::str::contains("alpha@im.bot"))
        .stdout(predicate::str::contains("beta@im.bot"))
        .stdout(predicate::str::contains(a.token.expose()).not())
        .stdout(predicate::str::contains(b.token.expose()).not());

    let out = env
        .run(&["accounts", "list", "--json"])
        .await
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alpha@im.bot", "beta@im.bot"]);
    assert_eq!(v[0]["base_url"], env.sim.base_url());
    assert!(!String::from_utf8_lossy(&out).contains(a.token.expose()));

    env.store_token(&a, "u@im.wechat", "ctx-alpha".into(), 0)
        .await;
    env.store_token(&b, "u@im.wechat", "ctx-beta".into(), 0)
        .await;
    env.run(&["accounts", "remove", "alpha@im.bot"])
        .await
        .success()
        .stdout("removed alpha@im.bot\n");
    let alpha = AccountId::new("alpha@im.bot");
    let beta = AccountId::new("beta@im.bot");
    let store = env.store().await;
    assert_eq!(
        store.context_token(&alpha, "u@im.wechat").await.unwrap(),
        None,
        "alpha's state is gone"
    );
    assert!(
        store
            .context_token(&beta, "u@im.wechat")
            .await
            .unwrap()
            .is_some(),
        "beta's stays"
    );
    env.run(&["accounts", "remove", "alpha@im.bot"])
        .await
        .code(3)
        .stderr(predicate::str::contains(
            "error: no stored account alpha@im.bot",
        ))
        .stderr(predicate::str::contains("hint: `ilink accounts` lists"));
    env.run(&["accounts", "--json"]).await.success().stdout(
        predicate::str::contains("beta@im.bot").and(predicate::str::contains("alpha").not()),
    );
}
