//! Credentials, and forgetting an account.

use super::fixtures::*;
use crate::account::{AccountId, Credentials};
use crate::store::StateStore;

/// Credentials are listed sorted by account, saved again replace, and
/// removal says whether there were any.
pub async fn credentials_list_sorted_replace_and_remove(s: &dyn StateStore) {
    s.save_credentials(&Credentials::new("b", "tok-b"))
        .await
        .unwrap();
    s.save_credentials(&Credentials::new("a", "tok-a").with_base_url("http://127.0.0.1:1"))
        .await
        .unwrap();
    s.save_credentials(&Credentials::new("b", "tok-b2"))
        .await
        .unwrap();
    let all = s.list_credentials().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|c| c.account_id.as_str()).collect();
    assert_eq!(ids, vec!["a", "b"]);
    assert_eq!(all[0].base_url.as_deref(), Some("http://127.0.0.1:1"));
    assert_eq!(all[1].bot_token.expose(), "tok-b2");
    assert!(s.remove_credentials(&AccountId::new("a")).await.unwrap());
    assert!(!s.remove_credentials(&AccountId::new("a")).await.unwrap());
    assert_eq!(s.list_credentials().await.unwrap().len(), 1);
}

/// Forgetting an account clears its cursor, inbox, tokens and dedup keys,
/// and nothing of other accounts or any credentials.
pub async fn forgetting_an_account_keeps_only_its_credentials_and_other_accounts(
    s: &dyn StateStore,
) {
    let a = AccountId::new("a");
    let b = AccountId::new("b");
    for acct in [&a, &b] {
        let mut one = batch(vec![with_token(received(1, &["m:1"]), "u", "t", 1)], 0);
        one.cursor = Some("c".into());
        commit(s, acct, one).await;
    }
    s.save_credentials(&Credentials::new("a", "tok-a"))
        .await
        .unwrap();
    s.forget_account(&a).await.unwrap();
    s.forget_account(&AccountId::new("never-seen"))
        .await
        .unwrap();
    assert_eq!(s.load_cursor(&a).await.unwrap(), None);
    assert!(ids(s, &a).await.is_empty());
    assert_eq!(s.context_token(&a, "u").await.unwrap(), None);
    assert_eq!(
        commit(s, &a, batch(vec![received(2, &["m:1"])], 10)).await,
        vec![None]
    );
    assert_eq!(s.list_credentials().await.unwrap().len(), 1);
    assert_eq!(s.load_cursor(&b).await.unwrap().as_deref(), Some("c"));
    assert!(s.context_token(&b, "u").await.unwrap().is_some());
    assert_eq!(
        commit(s, &b, batch(vec![received(2, &["m:1"])], 10)).await,
        vec![Some(1)]
    );
}
