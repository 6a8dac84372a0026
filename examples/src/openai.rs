//! A small client for OpenAI-compatible chat models, streaming answers as
//! text deltas: what the `llm_chat` example talks to, a real provider or
//! the simulator's mock model.
//!
//! The answer comes as server-sent events, parsed by `eventsource-stream`;
//! each event's JSON carries a delta of text (`choices[0].delta.content`)
//! until `[DONE]`.

use std::pin::Pin;

use eventsource_stream::Eventsource as _;
use futures::{Stream, StreamExt as _};
use serde::{Deserialize, Serialize};

/// One message of a conversation with the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: String,
}

impl Turn {
    /// A message of the user.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            content: content.into(),
        }
    }

    /// A message of the model.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: "assistant".into(),
            content: content.into(),
        }
    }

    /// The instructions that open a conversation.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: "system".into(),
            content: content.into(),
        }
    }
}

/// Why the model gave no (or no complete) answer.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The request did not reach the model or its answer broke off.
    #[error("the model could not be reached: {0}")]
    Http(#[from] reqwest::Error),
    /// The model answered with an error status.
    #[error("the model answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The error message of its body, or the body itself.
        message: String,
    },
    /// The event stream could not be read or held something that is not a
    /// chat completion chunk.
    #[error("the model's answer could not be read: {0}")]
    Stream(String),
    /// The stream ended before the model said it was done.
    #[error("the model's answer broke off")]
    Incomplete,
}

/// A stream of the answer's text deltas.
pub type Deltas = Pin<Box<dyn Stream<Item = Result<String, ModelError>> + Send>>;

/// An OpenAI-compatible chat model: base URL, key and model name.
#[derive(Clone)]
pub struct ChatModel {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    model: String,
}

// The key is a secret: never printed.
impl std::fmt::Debug for ChatModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatModel")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .finish()
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

impl ChatModel {
    /// A model at `base_url` (ending in `/v1`, as OpenAI's clients take it).
    pub fn new(
        base_url: impl Into<String>,
        api_key: Option<String>,
        model: impl Into<String>,
    ) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key,
            model: model.into(),
        }
    }

    /// The model `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `OPENAI_MODEL`
    /// configure (`OPENAI_MODEL` defaults to `gpt-4o-mini`), if the base URL
    /// or the key is set; the base URL defaults to OpenAI's.
    pub fn from_env() -> Option<Self> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let (base, key) = (var("OPENAI_BASE_URL"), var("OPENAI_API_KEY"));
        if base.is_none() && key.is_none() {
            return None;
        }
        let model = var("OPENAI_MODEL").unwrap_or_else(|| "gpt-4o-mini".into());
        Some(Self::new(
            base.unwrap_or_else(|| "https://api.openai.com/v1".into()),
            key,
            model,
        ))
    }

    /// The simulator's mock model (see `ilink_testkit::model`).
    pub fn mock(sim: &ilink_testkit::Simulator) -> Self {
        Self::new(format!("{}/v1", sim.base_url()), None, "mock-model")
    }

    /// Where requests go.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Asks for an answer to `conversation`, streamed: the deltas of its
    /// text, then the end of the stream (or an error where it broke off).
    pub async fn stream(&self, conversation: &[Turn]) -> Result<Deltas, ModelError> {
        let mut request = self
            .http
            .post(format!("{}/chat/completions", self.base_url))
            .json(&serde_json::json!({
                "model": self.model,
                "messages": conversation,
                "stream": true,
            }));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or(body);
            return Err(ModelError::Status {
                status: status.as_u16(),
                message,
            });
        }
        let events = response.bytes_stream().eventsource();
        let deltas =
            futures::stream::unfold((Box::pin(events), false), |(mut events, done)| async move {
                if done {
                    return None;
                }
                loop {
                    let event = match events.next().await {
                        None => return Some((Err(ModelError::Incomplete), (events, true))),
                        Some(Err(e)) => {
                            return Some((Err(ModelError::Stream(e.to_string())), (events, true)));
                        }
                        Some(Ok(event)) => event,
                    };
                    if event.data.trim() == "[DONE]" {
                        return None;
                    }
                    let chunk: Chunk = match serde_json::from_str(&event.data) {
                        Ok(c) => c,
                        Err(e) => {
                            return Some((Err(ModelError::Stream(e.to_string())), (events, true)));
                        }
                    };
                    let Some(choice) = chunk.choices.into_iter().next() else {
                        continue;
                    };
                    // The role-only first chunk and the `finish_reason` one
                    // carry no text; `[DONE]` follows the latter.
                    if let Some(text) = choice.delta.content.filter(|c| !c.is_empty()) {
                        return Some((Ok(text), (events, false)));
                    }
                }
            });
        Ok(Box::pin(deltas))
    }
}
