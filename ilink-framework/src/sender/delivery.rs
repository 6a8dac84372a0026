//! Delivery: sending one payload to one user, once its lane is held.
//!
//! Text is split into chunks and the quota is checked for all of them before
//! the first leaves; each chunk (or media item) is paced, sent under one of
//! the account's send permits (taken only for the request itself, not while
//! pacing) and retried on a transport error or 5xx with the same
//! `client_id`, so the server drops any copy that did get through.
//!
//! [`super::lanes`] decides who sends when (the requester at once, or a
//! drain task for queued jobs); this module holds the sending itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ilink_core::retry::Backoff;
use ilink_core::{ApiCode, Error as CoreError, MediaKind, Outgoing, Secret, SentMessage};
use tokio::sync::{Semaphore, oneshot};
use tracing::Instrument as _;

use super::pacer::Pacer;
use super::quota::{Pin, Reserved, TokenBook};
use crate::account_shared::{AccountShared, Health};
use crate::error::SendError;
use crate::in_flight::InFlight;
use crate::run_sends::Origin;
use crate::store::{JournaledSend, SentCount};
use crate::write_behind::Write;

/// What to send.
pub(crate) enum Payload {
    /// Text, split into messages by [`Outgoing::text_chunks`].
    Text(String),
    /// Markdown, rendered and split by [`Outgoing::markdown_chunks`].
    Markdown(String),
    /// Text cut to the quota left, ending with a note when cut
    /// ([`Outgoing::text_chunks_within`]).
    TextWithinQuota { text: String, note: String },
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
    /// The handler run and position it was sent from, if any.
    pub(crate) origin: Option<Origin>,
    pub(crate) reply: oneshot::Sender<Result<Vec<SentMessage>, SendError>>,
    /// The span of the message being handled, so its sends are traced under it.
    pub(crate) span: tracing::Span,
}

/// What delivering needs: the account, its token book, the send permits,
/// the retry policy, and the count of sends not yet answered or recorded
/// (shutdown flushes it).
pub(crate) struct Delivery {
    pub(crate) shared: Arc<AccountShared>,
    pub(crate) retry: Backoff,
    pub(crate) tokens: Arc<TokenBook>,
    pub(crate) permits: Semaphore,
    pub(crate) in_flight: Arc<InFlight>,
}

/// Sends one payload to `user`: chunks, quota, pacing, permits, retries.
pub(crate) async fn deliver(
    ctx: &Delivery,
    pacer: &mut Pacer,
    user: &str,
    payload: Payload,
    origin: Option<&Origin>,
    parent: &tracing::Span,
) -> Result<Vec<SentMessage>, SendError> {
    let span = tracing::debug_span!(parent: parent, "send", user = %user);
    let began = Instant::now();
    let result = async {
        match payload {
            Payload::Text(text) => {
                let chunks = Outgoing::text_chunks(&text, ctx.shared.options.chunk_limit);
                send_text(ctx, pacer, user, chunks, None, origin).await
            }
            Payload::Markdown(md) => {
                let chunks = Outgoing::markdown_chunks(&md, ctx.shared.options.chunk_limit);
                send_text(ctx, pacer, user, chunks, None, origin).await
            }
            Payload::TextWithinQuota { text, note } => {
                let chunks = Outgoing::text_chunks(&text, ctx.shared.options.chunk_limit);
                send_text(ctx, pacer, user, chunks, Some((&text, &note)), origin).await
            }
            // Boxed: the upload makes this future the larger one, and every
            // text send would otherwise be moved (copied) at that size.
            Payload::Media {
                kind,
                bytes,
                file_name,
            } => {
                let media = Media {
                    kind,
                    bytes: &bytes,
                    file_name: &file_name,
                };
                Box::pin(send_media(ctx, pacer, user, media, origin)).await
            }
        }
    }
    .instrument(span)
    .await;
    ctx.shared.metrics.sent(&result, began.elapsed());
    if let Err(e) = &result {
        tracing::warn!(account = %ctx.shared.account, user, error = %e, "send failed");
    }
    result
}

/// Sends a queued job and answers its requester.
pub(crate) async fn process(ctx: &Delivery, pacer: &mut Pacer, job: Job) {
    let result = deliver(
        ctx,
        pacer,
        &job.user,
        job.payload,
        job.origin.as_ref(),
        &job.span,
    )
    .await;
    // The requester may have given up (e.g. its handler was cancelled).
    let _ = job.reply.send(result);
    ctx.in_flight.end();
}

/// Sends the messages a text was split into; with `cut` (the text and a
/// note), cut to the quota left instead of refused.
async fn send_text(
    ctx: &Delivery,
    pacer: &mut Pacer,
    user: &str,
    mut chunks: Vec<Outgoing>,
    cut: Option<(&str, &str)>,
    origin: Option<&Origin>,
) -> Result<Vec<SentMessage>, SendError> {
    let limit = ctx.shared.options.chunk_limit;
    if let Some((text, note)) = cut {
        // What an earlier run of this send got counts as part of the budget
        // it had, so a replay cuts the text where the first run did.
        let done = (0..chunks.len() as u32)
            .filter(|i| origin.and_then(|o| o.journaled(*i)).is_some())
            .count();
        let remaining = ctx.tokens.state(user).await?.remaining as usize;
        let (within, cut) = Outgoing::text_chunks_within(text, limit, remaining + done, note);
        // Nothing fits: the plain path refuses it with the quota's error.
        if cut && !within.is_empty() {
            tracing::info!(account = %ctx.shared.account, user, kept = within.len(), needed = chunks.len(), "reply cut to the quota left");
            chunks = within;
        }
    }
    if let Some(origin) = origin {
        chunks = chunks
            .into_iter()
            .zip(0..)
            .map(|(c, i)| Outgoing::with_client_id(c.into_item(), origin.client_id(i)))
            .collect();
    }
    let journaled = |i: u32| origin.and_then(|o| o.journaled(i));
    // Refuse a reply that cannot be sent whole rather than cut it midway;
    // what an earlier run of the handler sent is not sent (or counted) again.
    let to_send = (0..chunks.len() as u32)
        .filter(|i| journaled(*i).is_none())
        .count();
    if to_send > 0 {
        ctx.tokens.state(user).await?.check(user, to_send as u32)?;
    }
    let mut sent = Vec::with_capacity(chunks.len());
    for (chunk, i) in chunks.iter().zip(0..) {
        match journaled(i) {
            Some(earlier) => sent.push(earlier.clone()),
            None => sent.push(send_one(ctx, pacer, user, chunk, origin.map(|o| (o, i))).await?),
        }
    }
    Ok(sent)
}

/// Media to upload and send.
struct Media<'a> {
    kind: MediaKind,
    bytes: &'a [u8],
    file_name: &'a str,
}

async fn send_media(
    ctx: &Delivery,
    pacer: &mut Pacer,
    user: &str,
    media: Media<'_>,
    origin: Option<&Origin>,
) -> Result<Vec<SentMessage>, SendError> {
    if let Some(earlier) = origin.and_then(|o| o.journaled(0)) {
        return Ok(vec![earlier.clone()]);
    }
    ctx.tokens.reserve(user, 1).await?;
    ensure_healthy(ctx)?;
    let item = {
        let _permit = ctx
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::ShuttingDown)?;
        let (generation, client) = ctx.shared.current();
        let mut retries = 0;
        loop {
            match client
                .upload_media(user, media.kind, media.bytes, media.file_name)
                .await
            {
                Ok(item) => break item,
                Err(e) => {
                    note_session_expiry(ctx, generation, &e);
                    retries += 1;
                    let Some(wait) = ctx.retry_after(&e, retries) else {
                        return Err(classify(ctx, e, user, 0, Duration::ZERO, 0));
                    };
                    tokio::time::sleep(wait).await;
                }
            }
        }
    };
    let msg = match origin {
        Some(o) => Outgoing::with_client_id(item, o.client_id(0)),
        None => Outgoing::new(item),
    };
    Ok(vec![
        send_one(ctx, pacer, user, &msg, origin.map(|o| (o, 0))).await?,
    ])
}

fn ensure_healthy(ctx: &Delivery) -> Result<(), SendError> {
    if ctx.shared.health() == Health::SessionExpired {
        return Err(SendError::SessionExpired {
            account: ctx.shared.account.clone(),
        });
    }
    Ok(())
}

fn note_session_expiry(ctx: &Delivery, generation: u64, e: &CoreError) {
    if e.is_session_expired() {
        ctx.shared.session_expired(generation);
    }
}

impl Delivery {
    /// Records an acknowledged message in the store: its count against the
    /// context token and, when a handler run sent it, its journal row.
    /// Behind the send's back (see [`crate::write_behind`]), so the send
    /// returns at once instead of after the store's next group commit: the
    /// message is out whatever the store says, and the journal only spares
    /// a replay the request (a row that never lands means the replay sends
    /// the message again with its `client_id`, which the server drops). A
    /// failing store is retried as every inbox write is; shutdown's flush
    /// waits for it. `pin` keeps the count cached until the store has it.
    fn record_sent(&self, user: &str, token: &Secret, journal: Option<JournaledSend>, pin: Pin) {
        let counts: Vec<SentCount> = self.tokens.counted(user, token).into_iter().collect();
        let journal: Vec<JournaledSend> = journal.into_iter().collect();
        if counts.is_empty() && journal.is_empty() {
            return;
        }
        self.shared.write_later(
            Write::Sent { counts, journal },
            &self.in_flight,
            Some(Box::new(pin)),
        );
    }

    /// How long to wait before retry number `retry` after `e`, or `None`
    /// when `e` is final or the retries are spent.
    fn retry_after(&self, e: &CoreError, retry: u32) -> Option<Duration> {
        if e.is_retryable() {
            self.retry.delay(retry)
        } else {
            None
        }
    }
}

/// Sends one message: quota, pacing, a permit, then attempts with its one
/// `client_id`; once acknowledged, it is counted and, when it is message
/// `chunk` of a handler run's send, journaled. The message is borrowed so
/// that this future, alive for every retry, stays small.
async fn send_one(
    ctx: &Delivery,
    pacer: &mut Pacer,
    user: &str,
    msg: &Outgoing,
    journal: Option<(&Origin, u32)>,
) -> Result<SentMessage, SendError> {
    let Reserved {
        token,
        sent_before,
        token_age,
        pin,
    } = ctx.tokens.reserve(user, 1).await?;
    let mut retries = 0;
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
            let result = client.send(user, msg, Some(&token)).await;
            // When the answer came, not when the request left: the server
            // may have had it only just now (a new connection, a slow
            // network), and the pace is what the server sees.
            pacer.record(Instant::now());
            result
        };
        match result {
            Ok(sent) => {
                let row = journal.map(|(origin, chunk)| origin.record(chunk, &sent));
                ctx.record_sent(user, &token, row, pin);
                if sent.message_id.is_none() && journal.is_some_and(|(o, _)| o.replayed()) {
                    // The usual answer to a message sent again after a crash
                    // with its first client_id: the server had it already.
                    tracing::info!(
                        account = %ctx.shared.account, user, client_id = %sent.client_id,
                        "the server already had this message from before the restart; not delivered twice"
                    );
                } else if sent.message_id.is_none() {
                    tracing::warn!(
                        account = %ctx.shared.account, user, client_id = %sent.client_id,
                        "server accepted the message without a message_id: it may not be delivered"
                    );
                }
                return Ok(sent);
            }
            Err(e) => {
                note_session_expiry(ctx, generation, &e);
                retries += 1;
                let Some(wait) = ctx.retry_after(&e, retries) else {
                    let text_len = msg.text().map_or(0, |t| t.chars().count());
                    return Err(classify(ctx, e, user, sent_before, token_age, text_len));
                };
                tracing::debug!(account = %ctx.shared.account, user, retry = retries, error = %e, "retrying send");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Turns a client error into what the handler sees, with what the client
/// knows about a `-2` (the server's reason for it is ambiguous).
fn classify(
    ctx: &Delivery,
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
