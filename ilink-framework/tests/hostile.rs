//! Hostile and malformed input against the real actors: a message that does
//! not decode, or has no sender, is quarantined and reported while the good
//! message of the same batch is answered; an answer over the size limit is a
//! reported poll error, not a crash.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ilink_core::Endpoint;
use ilink_framework::prelude::*;
use ilink_framework::store::{MemoryStore, StateStore};
use ilink_testkit::{Fault, FaultAction};

const GOOD: &str = r#"{"message_id":"7489534892789344264","from_user_id":"alice@im.wechat","context_token":"ctx-alice","message_type":1,"item_list":[{"type":1,"text_item":{"text":"good"}}]}"#;

/// Each case that cost its batch before, with the secret it carries.
const MALFORMED: [&str; 6] = [
    r#"{"message_id":"seven","from_user_id":"bob@im.wechat","context_token":"ctx-secret-1"}"#,
    r#"{"message_id":-3,"from_user_id":"bob@im.wechat","context_token":"ctx-secret-2"}"#,
    r#"{"message_id":4,"from_user_id":"bob@im.wechat","item_list":{"type":1}}"#,
    r#"{"message_id":5,"from_user_id":"bob@im.wechat","item_list":[{"type":1,"text_item":{"text":"x"}},null]}"#,
    r#"{"message_id":6,"from_user_id":"bob@im.wechat","create_time_ms":"yesterday"}"#,
    // Decodes, but there is nobody to answer.
    r#"{"message_id":8,"context_token":"ctx-secret-3","item_list":[{"type":1,"text_item":{"text":"who?"}}]}"#,
];

/// Echoes text.
struct Echo;

#[async_trait]
impl Handler for Echo {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        ctx.reply(format!("echo {}", msg.text().unwrap_or_default()))
            .await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_malformed_message_is_quarantined_and_reported_while_the_good_one_is_answered() {
    for (case, bad) in MALFORMED.iter().enumerate() {
        let sim = sim().await;
        let bot = sim.add_account(&format!("hostile-{case}"));
        let store = Arc::new(MemoryStore::new());
        let handle = start_with_store(&sim, &bot, Echo, fast_options(), store.clone()).await;
        let mut events = handle.events();
        // The bad message first: it must not hold back the good one after it.
        sim.push_raw_batch(&bot, &format!("[{bad}, {GOOD}]"));

        let event = wait_event(&mut events, |e| {
            matches!(e.kind, AccountEventKind::MessageQuarantined { .. })
        })
        .await;
        sim.wait_for_sent_to(&bot, "alice@im.wechat", 1, WAIT)
            .await
            .unwrap();
        let account = AccountId::new(bot.bot_id.as_str());
        let kept = store.quarantine_list(Some(&account)).await.unwrap();
        assert_eq!(kept.len(), 1, "case {case}: {kept:?}");
        // Undecodable messages are kept byte for byte; a decoded one without
        // a sender as the same JSON value.
        let value = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        if case == 5 {
            assert_eq!(value(&kept[0].raw), value(bad));
        } else {
            assert_eq!(kept[0].raw, *bad, "case {case}: kept as received");
        }
        let AccountEventKind::MessageQuarantined { id, reason } = event.kind else {
            unreachable!()
        };
        assert_eq!(id, kept[0].id);
        assert!(!reason.contains("ctx-secret"), "case {case}: {reason}");
        if case == 5 {
            assert!(reason.contains("no sender"), "{reason}");
        } else {
            assert!(reason.starts_with("does not decode"), "{reason}");
        }

        // Polling went on past the batch.
        sim.user(&bot, "carol@im.wechat").say("after").await;
        sim.wait_for_sent_to(&bot, "carol@im.wechat", 1, WAIT)
            .await
            .unwrap();
        handle.shutdown().await;
        assert_eq!(texts_to(&sim, &bot, "alice@im.wechat"), ["echo good"]);
        assert!(
            sim.sent(&bot)
                .iter()
                .all(|s| s.to_user_id != "bob@im.wechat")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_size_limit_is_a_poll_error_and_polling_recovers() {
    let sim = sim().await;
    let bot = sim.add_account("oversize");
    let options = fast_options().max_response_bytes(64 * 1024);
    let handle = start(&sim, &bot, Echo, options).await;
    let mut events = handle.events();
    sim.inject(Fault::on(
        Endpoint::GetUpdates,
        FaultAction::SizedBody {
            bytes: 1 << 20,
            chunked: true,
        },
    ));
    let event = wait_event(&mut events, |e| {
        matches!(e.kind, AccountEventKind::PollError { .. })
    })
    .await;
    let AccountEventKind::PollError { error, .. } = event.kind else {
        unreachable!()
    };
    assert!(error.contains("max_response_bytes"), "{error}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    sim.user(&bot, "alice@im.wechat").say("still here").await;
    sim.wait_for_sent_to(&bot, "alice@im.wechat", 1, WAIT)
        .await
        .unwrap();
    handle.shutdown().await;
}
