//! The mock chat model over real HTTP: OpenAI's shapes, streamed and not,
//! queued answers, failures, recorded requests.

use std::time::Duration;

use ilink_testkit::Simulator;
use ilink_testkit::model::{ChatMessage, MockModel, ModelFault};
use serde_json::{Value, json};

async fn ask(sim: &Simulator, question: &str, stream: bool) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .bearer_auth("sk-test")
        .json(&json!({
            "model": "m",
            "messages": [
                { "role": "system", "content": "be brief" },
                { "role": "user", "content": question },
            ],
            "stream": stream,
        }))
        .send()
        .await
        .expect("the simulator answers")
}

/// The `data:` payloads of a server-sent events body.
fn data_lines(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
        .map(str::to_owned)
        .collect()
}

/// The text a streamed body carries, and whether it ended with `[DONE]`.
fn streamed_text(body: &str) -> (String, bool) {
    let lines = data_lines(body);
    let done = lines.last().is_some_and(|l| l == "[DONE]");
    let text = lines
        .iter()
        .filter(|l| *l != "[DONE]")
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON chunk"))
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    (text, done)
}

#[tokio::test]
async fn a_plain_request_gets_a_chat_completion_with_the_generated_answer() {
    let sim = Simulator::start().await;
    let response = ask(&sim, "hello", false).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let expected = MockModel::generated_answer(&[ChatMessage {
        role: "user".into(),
        content: "hello".into(),
    }]);
    assert_eq!(body["choices"][0]["message"]["content"], expected.as_str());
    let requests = sim.model().requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].messages[1].content, "hello");
    assert!(!requests[0].stream);
}

#[tokio::test]
async fn a_streamed_answer_comes_as_deltas_then_done() {
    let sim = Simulator::start().await;
    sim.model()
        .push_answer("**Queued** answer, streamed in small pieces.");
    sim.model().set_token_delay(Duration::from_millis(1));
    let response = ask(&sim, "stream it", true).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = response.text().await.unwrap();
    let (text, done) = streamed_text(&body);
    assert_eq!(text, "**Queued** answer, streamed in small pieces.");
    assert!(done);
    assert!(data_lines(&body).len() > 5, "several deltas");
    // The queue is used up: the next answer is generated again.
    let (next, _) = streamed_text(&ask(&sim, "again", true).await.text().await.unwrap());
    assert!(next.starts_with("**You said:** again"), "{next}");
}

#[tokio::test]
async fn failures_are_an_error_status_or_a_stream_that_breaks_off() {
    let sim = Simulator::start().await;
    sim.model().fail_next(ModelFault::Status(503));
    let response = ask(&sim, "hi", true).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().is_some());

    sim.model().fail_next(ModelFault::CutAfter(3));
    let body = ask(&sim, "hi", true).await.text().await.unwrap();
    let (text, done) = streamed_text(&body);
    assert!(!done, "no [DONE] after a cut");
    assert_eq!(data_lines(&body).len(), 4, "the role chunk and 3 deltas");
    assert!(!text.is_empty());

    // A body that is not a chat request is refused as OpenAI would.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
