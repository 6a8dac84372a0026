//! PgStore against a real PostgreSQL server (`ILINK_TEST_DATABASE_URL`),
//! each test in a schema of its own; skipped, saying so, without one.

use std::sync::Mutex;

use super::testing::TestSchema;
use super::*;
use crate::store::contract;
use crate::store::test_support::{self, one_message};

#[tokio::test]
async fn pg_store_keeps_the_contract() {
    if testing::database_url("pg_store_keeps_the_contract").is_none() {
        return;
    }
    // Every check gets a schema of its own, dropped at the end.
    let schemas = Mutex::new(Vec::new());
    contract::run_all(|| {
        let schemas = &schemas;
        async move {
            let schema = TestSchema::create("pg_store_keeps_the_contract")
                .await
                .expect("the URL was set");
            let store = schema.store().await;
            schemas.lock().unwrap().push(schema);
            store
        }
    })
    .await;
}

#[test]
fn the_schema_version_is_the_newest_migration() {
    assert_eq!(open::newest_known_version(), PgStore::SCHEMA_VERSION);
}

/// Runs `statement` in the schema.
async fn sql(schema: &TestSchema, statement: &str) {
    use sqlx_core::connection::ConnectOptions as _;
    use sqlx_core::executor::Executor as _;
    let mut conn = schema.options().connect().await.unwrap();
    conn.execute(statement).await.unwrap();
}

#[tokio::test]
async fn state_survives_reconnecting() {
    let Some(schema) = TestSchema::create("state_survives_reconnecting").await else {
        return;
    };
    let s = schema.store().await;
    test_support::write_state_to_reopen(&s).await;
    s.close().await;
    let closed = s.load_cursor(&AccountId::new("b@im.bot")).await;
    assert!(matches!(closed, Err(StoreError::Closed)), "{closed:?}");
    let s = schema.store().await;
    test_support::check_reopened_state(&s).await;
}

#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused_with_what_to_do() {
    let Some(schema) = TestSchema::create("a_database_of_a_newer_schema_is_refused").await else {
        return;
    };
    schema.store().await.close().await;
    // What a future release would leave behind.
    sql(
        &schema,
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES ({}, 'future', TRUE, '\\x00', 0)",
            PgStore::SCHEMA_VERSION + 1
        ),
    )
    .await;
    let err = PgStore::connect_with(schema.options(), PgPoolOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found, .. } if found == PgStore::SCHEMA_VERSION + 1),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("postgres://"), "{text}");
    assert!(text.contains(schema.name()), "{text}");
    assert!(text.contains("newer"), "{text}");
    assert!(text.contains("use another database or schema"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

#[tokio::test]
async fn an_unreachable_server_is_named_without_its_password() {
    // Nothing listens on port 1: no PostgreSQL needed.
    let url = "postgres://bot:hunter2-secret@127.0.0.1:1/ilink?password=hunter2-secret";
    let err = PgStore::connect(url).await.unwrap_err();
    let (text, debug) = (err.to_string(), format!("{err:?}"));
    assert!(
        !text.contains("hunter2") && !debug.contains("hunter2"),
        "{debug}"
    );
    assert!(text.contains("postgres://bot@127.0.0.1:1/ilink"), "{text}");
    assert!(text.contains("check that the server is running"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");

    // A URL that does not parse is not repeated.
    let err = PgStore::connect("postgres://bot:hunter2-secret@[::1/ilink")
        .await
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
}

#[tokio::test]
async fn the_password_is_not_in_debug_output_or_errors_of_a_working_store() {
    let Some(schema) = TestSchema::create("the_password_is_not_in_debug_output").await else {
        return;
    };
    // The test server trusts local connections: the password is ignored.
    let options = schema.options().password("hunter2-secret");
    let s = PgStore::connect_with(options.clone(), PgPoolOptions::new())
        .await
        .unwrap();
    let debug = format!("{s:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains(schema.name()), "{debug}");

    let missing = options.database("ilink_no_such_database");
    let err = PgStore::connect_with(missing, PgPoolOptions::new())
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        err.to_string()
            .contains("has no database ilink_no_such_database"),
        "{err}"
    );
}

#[tokio::test]
async fn writes_waiting_together_share_a_commit() {
    let Some(schema) = TestSchema::create("writes_waiting_together_share_a_commit").await else {
        return;
    };
    let s = schema.store().await;
    let a = AccountId::new("a");
    let mut batch = one_message(1);
    batch.entries = (1..=60)
        .map(|id| one_message(id).entries.remove(0))
        .collect();
    s.commit_received(&a, &batch).await.unwrap();
    let before = s.transactions();
    let handled = (1..=60).map(|id| {
        let change = StateChange {
            conversation: format!("c{id}"),
            key: "k".into(),
            value: Some(id.to_string()),
        };
        let (s, a) = (&s, &a);
        async move { s.mark_handled(a, id, &[change]).await }
    });
    for result in futures::future::join_all(handled).await {
        result.unwrap();
    }
    let commits = s.transactions() - before;
    assert!(commits < 60, "60 writes in {commits} commits");
    assert!(s.inbox_load(&a).await.unwrap().is_empty());
    assert_eq!(
        s.load_state(&a, "c42", "k").await.unwrap().as_deref(),
        Some("42")
    );
}

#[tokio::test]
async fn text_postgres_cannot_hold_fails_alone() {
    let Some(schema) = TestSchema::create("text_postgres_cannot_hold_fails_alone").await else {
        return;
    };
    let s = schema.store().await;
    let a = AccountId::new("a");
    let mut bad = one_message(1);
    bad.cursor = Some("c\0".into());
    let good = one_message(2);
    let (bad, good) = tokio::join!(s.commit_received(&a, &bad), s.commit_received(&a, &good));
    assert!(matches!(bad, Err(StoreError::Encode { .. })), "{bad:?}");
    assert_eq!(good.unwrap(), vec![None]);
    assert_eq!(s.load_cursor(&a).await.unwrap().as_deref(), Some("c-2"));
}

#[tokio::test]
async fn a_quarantined_message_with_a_nul_is_kept_with_the_nul_escaped() {
    let Some(schema) = TestSchema::create("quarantined_nul").await else {
        return;
    };
    let s = schema.store().await;
    let a = AccountId::new("a");
    let mut batch = one_message(1);
    batch.quarantined.push(crate::store::QuarantinedMessage {
        account: a.clone(),
        id: 2,
        received_at_ms: 5,
        reason: "does not decode: \0".into(),
        raw: "{\"t\":\"a\0b\"}".into(),
    });
    assert_eq!(s.commit_received(&a, &batch).await.unwrap(), vec![None]);
    let kept = s.quarantine_list(Some(&a)).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].raw, r#"{"t":"a\u0000b"}"#);
    assert_eq!(kept[0].reason, r"does not decode: \u0000");
    assert_eq!(s.inbox_load(&a).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_undecodable_inbox_row_names_the_entry() {
    let Some(schema) = TestSchema::create("an_undecodable_inbox_row_names_the_entry").await else {
        return;
    };
    let s = schema.store().await;
    let a = AccountId::new("a");
    s.commit_received(&a, &one_message(7)).await.unwrap();
    sql(&schema, "UPDATE inbox SET message = '{not json'").await;
    let err = s.inbox_load(&a).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("inbox entry 7 of a"), "{err}");
}
