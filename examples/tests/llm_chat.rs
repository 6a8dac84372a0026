//! End-to-end tests of the `llm_chat` example against the simulator and
//! its mock model: streamed Markdown answers, history across a restart,
//! an apology when the model fails.

mod common;

#[allow(dead_code)]
#[path = "../examples/llm_chat.rs"]
mod llm_chat;

use std::sync::Arc;

use common::{playground, start_with_store, stop};
use ilink_examples::openai::ChatModel;
use ilink_examples::playground::{Playground, Script};
use ilink_framework::store::{MemoryStore, SqliteStore};
use ilink_testkit::model::ModelFault;
use llm_chat::LlmChat;

const ALICE: &str = "alice@im.wechat";

fn bot(playground: &Playground) -> LlmChat {
    LlmChat {
        model: ChatModel::mock(playground.sim()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_gets_readable_streamed_answers_and_a_long_one_whole() {
    let playground = playground(&["demo"]).await;
    let handle =
        start_with_store(&playground, bot(&playground), Arc::new(MemoryStore::new())).await;
    let transcript = playground.play(&llm_chat::script()).await;
    assert!(transcript.complete, "missing replies:\n{transcript}");
    let said = transcript.bot_said_to(ALICE);
    assert_eq!(said.len(), 1 + 2 + 5 + 2 + 1, "{said:#?}");
    assert!(
        said[0].contains("/reset"),
        "the help lists /reset: {}",
        said[0]
    );
    assert!(
        said[1].starts_with("You said: What is ilink-rs?"),
        "{}",
        said[1]
    );
    for text in &said {
        assert!(
            !text.contains("**") && !text.contains("```"),
            "Markdown leaked: {text}"
        );
    }
    // The long answer: complete, in order, in at most 9 messages.
    let long = said[3..8].join("\n\n");
    assert!(long.starts_with("A long answer to: Tell me a long story"));
    for i in 1..=20 {
        assert!(
            long.contains(&format!("Paragraph {i}. ")),
            "paragraph {i} missing"
        );
    }
    assert!(long.ends_with("That is all."));
    // The voice message was answered from its transcript, with the history.
    assert!(
        said[8].starts_with("You said: what did I ask first?"),
        "{}",
        said[8]
    );
    assert!(said[8].contains("turn 3"), "{}", said[8]);
    assert_eq!(said[10], "Done: I forgot our conversation.");
    // The model saw the whole conversation, system prompt first.
    let requests = playground.sim().model().requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[2].messages[0].role, "system");
    assert_eq!(
        requests[2].messages.len(),
        1 + 5,
        "system + 3 questions + 2 answers"
    );
    assert!(requests.iter().all(|r| r.stream));
    stop(playground, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let playground = playground(&["demo"]).await;
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let handle = start_with_store(&playground, bot(&playground), store.clone()).await;
    let before = playground
        .play(&Script::new().say(ALICE, "first question", 2))
        .await;
    assert!(before.complete, "missing replies:\n{before}");
    assert_eq!(handle.shutdown().await.unhandled, 0);
    store.close().await;
    drop(store);

    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let handle = start_with_store(&playground, bot(&playground), store).await;
    let after = playground
        .play(&Script::new().say(ALICE, "second question", 2))
        .await;
    assert!(after.complete, "missing replies:\n{after}");
    assert!(after.bot_said_to(ALICE)[0].contains("turn 2"), "{after}");
    let asked = playground.sim().model().requests();
    let last: Vec<&str> = asked[1]
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(last[1], "first question");
    assert!(
        last[2].starts_with("**You said:** first question"),
        "the answer was kept"
    );
    assert_eq!(last[3], "second question");
    stop(playground, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_error_gives_a_short_apology_not_silence() {
    let playground = playground(&["demo"]).await;
    let handle =
        start_with_store(&playground, bot(&playground), Arc::new(MemoryStore::new())).await;
    playground.sim().model().fail_next(ModelFault::Status(500));
    let failed = playground
        .play(&Script::new().say(ALICE, "hello?", 1))
        .await;
    assert!(failed.complete, "missing replies:\n{failed}");
    let apology = &failed.bot_said_to(ALICE)[0];
    assert!(
        apology.starts_with("Sorry, I could not answer just now"),
        "{apology}"
    );
    assert!(apology.contains("500"), "{apology}");

    // Broken off midway: what came is sent, then the apology.
    playground.sim().model().fail_next(ModelFault::CutAfter(30));
    let cut = playground
        .play(&Script::new().say(ALICE, "a long one now?", 2))
        .await;
    assert!(cut.complete, "missing replies:\n{cut}");
    let said = cut.bot_said_to(ALICE);
    assert!(
        said[0].starts_with("A long answer to: a long one now?\n\nParagraph 1."),
        "{said:?}"
    );
    assert!(
        said[1].starts_with("Sorry, I could not answer just now"),
        "{said:?}"
    );
    assert!(said[1].contains("broke off"), "{said:?}");
    stop(playground, handle).await;
}
