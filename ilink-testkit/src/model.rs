//! A mock of an OpenAI-compatible chat model, served by the simulator at
//! `POST /v1/chat/completions`, so that LLM bots, their examples and their
//! tests run without the internet.
//!
//! It answers deterministically from the conversation it is sent: the last
//! user message quoted in Markdown (bold, a list, a code block), the number
//! of user turns it saw, and a long answer of many paragraphs when the
//! message asks for one (contains "long"). Answers can be queued instead
//! ([`MockModel::push_answer`]); with `"stream": true` the answer comes as
//! server-sent events of a few characters each, [`MockModel::set_token_delay`]
//! apart. [`MockModel::fail_next`] makes the next request fail (an HTTP
//! error with OpenAI's error body, or a stream that stops midway), and every
//! request is recorded ([`MockModel::requests`]).
//!
//! ```no_run
//! # async fn demo() {
//! let sim = ilink_testkit::Simulator::start().await;
//! // What an OpenAI client is given as its base URL.
//! let base = format!("{}/v1", sim.base_url());
//! sim.model().push_answer("**Hello** from the mock model.");
//! # let _ = base;
//! # }
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// How many characters one streamed delta carries at most.
const DELTA_CHARS: usize = 6;

/// A message of a chat completion request.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The message's text.
    #[serde(default)]
    pub content: String,
}

/// A chat completion request as the mock received it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct ChatRequest {
    /// The model asked for.
    #[serde(default)]
    pub model: String,
    /// The conversation sent.
    #[serde(default)]
    pub messages: Vec<ChatMessage>,
    /// Whether the answer was asked for as server-sent events.
    #[serde(default)]
    pub stream: bool,
}

/// A failure the mock model plays for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelFault {
    /// The request fails with this HTTP status and OpenAI's error body.
    Status(u16),
    /// A streamed answer stops after this many deltas, without its final
    /// event or `[DONE]` (the connection closes midway).
    CutAfter(usize),
}

#[derive(Debug, Default)]
struct State {
    answers: VecDeque<String>,
    faults: VecDeque<ModelFault>,
    requests: Vec<ChatRequest>,
    token_delay: Duration,
}

/// The simulator's mock model: what it answers, how fast, and what it was
/// asked. Cheap to clone; every clone is the same model.
#[derive(Clone, Debug, Default)]
pub struct MockModel {
    state: Arc<Mutex<State>>,
}

impl MockModel {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A panicking test thread leaves the state as good as before.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    /// Queues an answer for the next request (instead of the generated one).
    pub fn push_answer(&self, answer: impl Into<String>) {
        let answer = answer.into();
        self.with(|s| s.answers.push_back(answer));
    }

    /// Makes the next request fail as `fault` says.
    pub fn fail_next(&self, fault: ModelFault) {
        self.with(|s| s.faults.push_back(fault));
    }

    /// Waits this long before each streamed delta (none by default).
    pub fn set_token_delay(&self, delay: Duration) {
        self.with(|s| s.token_delay = delay);
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.with(|s| s.requests.clone())
    }

    /// Forgets queued answers and faults, recorded requests and the delay.
    pub fn reset(&self) {
        self.with(|s| *s = State::default());
    }

    /// The answer the mock gives to `messages` when none is queued.
    pub fn generated_answer(messages: &[ChatMessage]) -> String {
        let users: Vec<&str> = messages
            .iter()
            .filter(|m| m.role == "user")
            .map(|m| m.content.as_str())
            .collect();
        let question = users.last().copied().unwrap_or_default();
        let turn = users.len();
        if question.to_lowercase().contains("long") {
            return long_answer(question);
        }
        format!(
            "**You said:** {question}\n\n\
             I am the simulator's model; this is turn {turn} of our conversation.\n\n\
             1. I answer *deterministically*.\n\
             2. I know the [protocol](https://ilink.example/protocol).\n\n\
             ```text\n{question}\n```"
        )
    }
}

/// An answer of many paragraphs (about 7,000 characters).
fn long_answer(question: &str) -> String {
    let mut out = format!("## A long answer to: {question}\n\n");
    for i in 1..=20 {
        out.push_str(&format!(
            "Paragraph {i}. {}\n\n",
            "This sentence is here to make the answer long enough to need several messages. "
                .repeat(4)
                .trim_end()
        ));
    }
    out.push_str("That is all.");
    out
}

/// The mock model's routes, for the simulator's router.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(model: MockModel) -> Router<S> {
    Router::new().route(
        "/v1/chat/completions",
        post(move |body: Bytes| completions(model.clone(), body)),
    )
}

/// OpenAI's error body.
fn error(status: StatusCode, message: &str, kind: &str) -> Response {
    let body = json!({ "error": { "message": message, "type": kind, "code": null } });
    (status, axum::Json(body)).into_response()
}

async fn completions(model: MockModel, body: Bytes) -> Response {
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("invalid request body: {e}"),
                "invalid_request_error",
            );
        }
    };
    if request.messages.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "'messages' must not be empty",
            "invalid_request_error",
        );
    }
    let (answer, fault, delay) = model.with(|s| {
        s.requests.push(request.clone());
        let answer = s
            .answers
            .pop_front()
            .unwrap_or_else(|| MockModel::generated_answer(&request.messages));
        (answer, s.faults.pop_front(), s.token_delay)
    });
    let cut_after = match fault {
        Some(ModelFault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error(status, "the mock model was told to fail", "server_error");
        }
        Some(ModelFault::CutAfter(n)) => Some(n),
        None => None,
    };
    let id = format!("chatcmpl-mock-{}", model.with(|s| s.requests.len()));
    let name = if request.model.is_empty() {
        "mock-model".to_owned()
    } else {
        request.model.clone()
    };
    if !request.stream {
        let body = json!({
            "id": id,
            "object": "chat.completion",
            "model": name,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": answer },
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": request.messages.iter().map(|m| m.content.len() / 4).sum::<usize>(),
                "completion_tokens": answer.len() / 4,
                "total_tokens": 0,
            },
        });
        return axum::Json(body).into_response();
    }
    Sse::new(events(id, name, answer, delay, cut_after)).into_response()
}

/// The server-sent events of a streamed answer: a first delta with the
/// role, the text a few characters at a time, a last one with
/// `finish_reason`, then `[DONE]` (unless cut).
fn events(
    id: String,
    model: String,
    answer: String,
    delay: Duration,
    cut_after: Option<usize>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let chunk = move |delta: serde_json::Value, finish: Option<&str>| {
        let body = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        });
        Event::default().data(body.to_string())
    };
    let chars: Vec<char> = answer.chars().collect();
    let mut deltas: Vec<Event> = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    deltas.extend(
        chars
            .chunks(DELTA_CHARS)
            .map(|c| chunk(json!({ "content": c.iter().collect::<String>() }), None)),
    );
    match cut_after {
        Some(n) => deltas.truncate(n + 1),
        None => {
            deltas.push(chunk(json!({}), Some("stop")));
            deltas.push(Event::default().data("[DONE]"));
        }
    }
    futures::stream::unfold(deltas.into_iter(), move |mut rest| async move {
        let event = rest.next()?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some((Ok(event), rest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> ChatMessage {
        ChatMessage {
            role: "user".into(),
            content: text.into(),
        }
    }

    #[test]
    fn the_generated_answer_quotes_the_question_and_counts_turns() {
        let answer = MockModel::generated_answer(&[user("hi"), user("what now?")]);
        assert!(answer.starts_with("**You said:** what now?"));
        assert!(answer.contains("turn 2"));
        assert!(answer.contains("```text\nwhat now?\n```"));
        let long = MockModel::generated_answer(&[user("a long one please")]);
        assert!(long.chars().count() > 6_000, "{}", long.len());
    }
}
