//! A lane: the ordered queue of outgoing messages to one user.
//!
//! Jobs of one lane are sent one after another, so a conversation's messages
//! leave in the order they were produced; lanes of different users run
//! concurrently, bounded by the account's send semaphore, whose permit is
//! taken only for the request itself (not while pacing). A retry of a
//! transport error or 5xx reuses the message's `client_id`, so the server
//! drops any copy that did get through.
//!
//! This module holds the sending itself; [`super::lanes`] decides who sends
//! when (the requester at once, or a drain task for queued jobs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ilink_core::client::new_client_id;
use ilink_core::types::MessageItem;
use ilink_core::{ApiCode, Error as CoreError, MediaKind, SentMessage};
use tokio::sync::{Semaphore, oneshot};
use tracing::Instrument as _;

use super::quota::{Pacer, TokenBook};
use crate::actors::in_flight::InFlight;
use crate::actors::shared::{AccountShared, Health};
use crate::error::SendError;

/// What to send.
pub(crate) enum Payload {
    /// Text, split into chunks by the lane.
    Text(String),
    /// Media to upload, then send as one item.
    Media {
        kind: MediaKind,
        bytes: Vec<u8>,
        file_name: String,
    },
}

/// One outgoing message (or chunked text) and where its result goes.
pub(crate) struct Job {
    pub(crate) user: String,
    pub(crate) payload: Payload,
    pub(crate) reply: oneshot::Sender<Result<Vec<SentMessage>, SendError>>,
    /// The span of the message being handled, so its sends are traced under it.
    pub(crate) span: tracing::Span,
}

/// Everything lanes of one account share.
pub(crate) struct LaneContext {
    pub(crate) shared: Arc<AccountShared>,
    pub(crate) tokens: Arc<TokenBook>,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) in_flight: Arc<InFlight>,
}

/// Sends one payload to `user`: chunks, quota, pacing, permits, retries.
pub(crate) async fn deliver(
    ctx: &LaneContext,
    pacer: &mut Pacer,
    user: &str,
    payload: Payload,
    parent: &tracing::Span,
) -> Result<Vec<SentMessage>, SendError> {
    let span = tracing::debug_span!(parent: parent, "send", user = %user);
    let result = async {
        match payload {
            Payload::Text(text) => send_text(ctx, pacer, user, &text).await,
            // Boxed: the upload makes this future the larger one, and every
            // text send would otherwise be moved (copied) at that size.
            Payload::Media {
                kind,
                bytes,
                file_name,
            } => Box::pin(send_media(ctx, pacer, user, kind, &bytes, &file_name)).await,
        }
    }
    .instrument(span)
    .await;
    if let Err(e) = &result {
        tracing::warn!(account = %ctx.shared.account, user, error = %e, "send failed");
    }
    result
}

/// Sends a queued job and answers its requester.
pub(crate) async fn process(ctx: &LaneContext, pacer: &mut Pacer, job: Job) {
    let result = deliver(ctx, pacer, &job.user, job.payload, &job.span).await;
    // The requester may have given up (e.g. its handler was cancelled).
    let _ = job.reply.send(result);
    ctx.in_flight.end();
}

async fn send_text(
    ctx: &LaneContext,
    pacer: &mut Pacer,
    user: &str,
    text: &str,
) -> Result<Vec<SentMessage>, SendError> {
    let chunks = ilink_core::chunk::split_text(text, ctx.shared.options.chunk_limit);
    // Refuse a reply that cannot be sent whole rather than cut it midway.
    ctx.tokens.reserve(user, chunks.len() as u32).await?;
    let mut sent = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let item = Box::new(MessageItem::text(chunk));
        sent.push(send_item(ctx, pacer, user, item, chunk.chars().count()).await?);
    }
    Ok(sent)
}

async fn send_media(
    ctx: &LaneContext,
    pacer: &mut Pacer,
    user: &str,
    kind: MediaKind,
    bytes: &[u8],
    file_name: &str,
) -> Result<Vec<SentMessage>, SendError> {
    ctx.tokens.reserve(user, 1).await?;
    ensure_healthy(ctx)?;
    let item = {
        let _permit = ctx
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::ShuttingDown)?;
        let (generation, client) = ctx.shared.current();
        let mut attempt = 0;
        loop {
            match client.upload_media(user, kind, bytes, file_name).await {
                Ok(item) => break item,
                Err(e) => {
                    note_session_expiry(ctx, generation, &e);
                    if !e.is_retryable() || attempt >= ctx.shared.options.send_retries {
                        return Err(classify(ctx, e, user, 0, Duration::ZERO, 0));
                    }
                    attempt += 1;
                    tokio::time::sleep(backoff(ctx, attempt)).await;
                }
            }
        }
    };
    Ok(vec![send_item(ctx, pacer, user, Box::new(item), 0).await?])
}

fn ensure_healthy(ctx: &LaneContext) -> Result<(), SendError> {
    if ctx.shared.health() == Health::SessionExpired {
        return Err(SendError::SessionExpired {
            account: ctx.shared.account.clone(),
        });
    }
    Ok(())
}

fn note_session_expiry(ctx: &LaneContext, generation: u64, e: &CoreError) {
    if e.is_session_expired() {
        ctx.shared.session_expired(generation);
    }
}

fn backoff(ctx: &LaneContext, attempt: u32) -> Duration {
    ctx.shared
        .options
        .send_retry_backoff
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
}

/// Sends one item: quota, pacing, a permit, then attempts with one `client_id`.
/// The item is boxed so that this future, alive for every retry, stays small.
async fn send_item(
    ctx: &LaneContext,
    pacer: &mut Pacer,
    user: &str,
    item: Box<MessageItem>,
    text_len: usize,
) -> Result<SentMessage, SendError> {
    let (token, sent_before, token_age) = ctx.tokens.reserve(user, 1).await?;
    let client_id = new_client_id();
    let mut attempt = 0;
    loop {
        ensure_healthy(ctx)?;
        let wait = pacer.delay(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let (generation, client) = ctx.shared.current();
        let result = {
            let _permit = ctx
                .permits
                .acquire()
                .await
                .map_err(|_| SendError::ShuttingDown)?;
            pacer.record(Instant::now());
            client
                .send_item(user, (*item).clone(), Some(&token), Some(client_id.clone()))
                .await
        };
        match result {
            Ok(sent) => {
                ctx.tokens.count_sent(user, &token).await?;
                if sent.message_id.is_none() {
                    tracing::warn!(
                        account = %ctx.shared.account, user, client_id = %sent.client_id,
                        "server accepted the message without a message_id: it may not be delivered"
                    );
                }
                return Ok(sent);
            }
            Err(e) => {
                note_session_expiry(ctx, generation, &e);
                if !e.is_retryable() || attempt >= ctx.shared.options.send_retries {
                    return Err(classify(ctx, e, user, sent_before, token_age, text_len));
                }
                attempt += 1;
                tracing::debug!(account = %ctx.shared.account, user, attempt, error = %e, "retrying send");
                tokio::time::sleep(backoff(ctx, attempt)).await;
            }
        }
    }
}

/// Turns a client error into what the handler sees, with what the client
/// knows about a `-2` (the server's reason for it is ambiguous).
fn classify(
    ctx: &LaneContext,
    e: CoreError,
    user: &str,
    sent: u32,
    token_age: Duration,
    text_len: usize,
) -> SendError {
    if e.is_session_expired() {
        return SendError::SessionExpired {
            account: ctx.shared.account.clone(),
        };
    }
    if let Some(api) = e.api() {
        if api.code() == ApiCode::Rejected {
            return SendError::Rejected {
                user: user.to_owned(),
                sent,
                token_age,
                text_len,
                errmsg: api.errmsg.clone(),
            };
        }
    }
    SendError::Client(e)
}
