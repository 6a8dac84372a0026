//! [`BotOptions`]: every knob of the runtime, with the protocol's defaults.
//!
//! ```
//! use std::time::Duration;
//! use ilink_framework::BotOptions;
//! let opts = BotOptions::default()
//!     .max_concurrent_handlers(64)
//!     .idle_timeout(Duration::from_secs(300));
//! assert_eq!(opts.max_concurrent_handlers, 64);
//! assert_eq!(opts.quota_per_context, 10);
//! ```
//!
//! The struct is `#[non_exhaustive]`: outside this crate it is built from
//! [`BotOptions::default`] and the setters (one per field, named after it),
//! so a new option is not a breaking change.

use std::time::Duration;

use ilink_core::retry::Backoff;

/// Runtime settings shared by every account of a bot.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BotOptions {
    /// Handlers running at once across all accounts and conversations.
    pub max_concurrent_handlers: usize,
    /// Messages waiting per conversation before new ones are refused.
    ///
    /// At the cap the newest message is not handled: it leaves the inbox,
    /// an [`AccountEventKind::MessageDropped`](crate::AccountEventKind::MessageDropped)
    /// event fires, a warning is logged, and [`BotOptions::overflow_reply`]
    /// (if set) is sent to the user. Nothing is dropped silently.
    pub session_queue_cap: usize,
    /// What the user is told when their conversation is over the cap.
    pub overflow_reply: Option<String>,
    /// A conversation with nothing to do for this long is evicted.
    pub idle_timeout: Duration,
    /// Maximum length of one text message in UTF-16 units; longer replies are split.
    pub chunk_limit: usize,
    /// Bot messages allowed per inbound message (context token).
    pub quota_per_context: u32,
    /// Age after which a context token no longer allows replies.
    pub context_ttl: Duration,
    /// Sends allowed to one user within [`BotOptions::pacing_window`].
    pub pacing_burst: u32,
    /// Window of the per-user pacing.
    pub pacing_window: Duration,
    /// Sends in flight at once per account (across conversations).
    pub max_concurrent_sends: usize,
    /// Extra attempts for a send that failed with a transport error or 5xx.
    pub send_retries: u32,
    /// First delay between send attempts; doubles each time (jittered).
    pub send_retry_backoff: Duration,
    /// How often "typing…" is re-sent while a handler runs.
    pub typing_interval: Duration,
    /// First delay after a failed poll.
    pub poll_backoff_initial: Duration,
    /// Longest delay between failed polls.
    pub poll_backoff_max: Duration,
    /// Long-poll timeout when the server has not asked for one.
    pub poll_timeout: Duration,
    /// How often an account whose session expired (-14) tries again.
    pub session_probe_interval: Duration,
    /// How long shutdown waits for running handlers and queued sends.
    pub shutdown_deadline: Duration,
    /// How long inbound message keys are remembered for deduplication.
    pub dedup_window: Duration,
    /// `base_info.channel_version` sent with every request.
    pub channel_version: Option<String>,
    /// `base_info.bot_agent` sent with every request.
    pub bot_agent: Option<String>,
    /// `SKRouteTag` header, when your deployment needs one.
    pub route_tag: Option<String>,
    /// Largest API answer accepted, in bytes; a bigger one fails the call
    /// with `Error::BodyTooLarge` (a poll is then retried and reported as
    /// [`PollError`](crate::AccountEventKind::PollError)).
    pub max_response_bytes: u64,
    /// Largest media download accepted, in bytes (`Error::DownloadTooLarge`).
    pub max_download_bytes: u64,
}

impl Default for BotOptions {
    fn default() -> Self {
        Self {
            max_concurrent_handlers: 256,
            session_queue_cap: 100,
            overflow_reply: Some(
                "You are sending messages faster than I can answer; please wait a moment.".into(),
            ),
            idle_timeout: Duration::from_secs(600),
            chunk_limit: ilink_core::chunk::DEFAULT_CHUNK_LIMIT,
            quota_per_context: 10,
            context_ttl: Duration::from_secs(24 * 3600),
            pacing_burst: 2,
            pacing_window: Duration::from_millis(1100),
            max_concurrent_sends: 16,
            send_retries: 3,
            send_retry_backoff: Duration::from_millis(500),
            typing_interval: Duration::from_secs(5),
            poll_backoff_initial: Duration::from_secs(2),
            poll_backoff_max: Duration::from_secs(30),
            poll_timeout: Duration::from_secs(35),
            session_probe_interval: Duration::from_secs(600),
            shutdown_deadline: Duration::from_secs(30),
            dedup_window: Duration::from_secs(2 * 3600),
            channel_version: None,
            bot_agent: None,
            route_tag: None,
            max_response_bytes: ilink_core::config::DEFAULT_MAX_RESPONSE_BYTES,
            max_download_bytes: ilink_core::config::DEFAULT_MAX_DOWNLOAD_BYTES,
        }
    }
}

/// One chainable setter per field, documented by the field it sets.
macro_rules! setters {
    ($($field:ident: $ty:ty),* $(,)?) => {
        impl BotOptions {
            $(
                #[doc = concat!("Sets [`BotOptions::", stringify!($field), "`].")]
                #[must_use]
                pub fn $field(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters! {
    max_concurrent_handlers: usize,
    session_queue_cap: usize,
    overflow_reply: Option<String>,
    idle_timeout: Duration,
    chunk_limit: usize,
    quota_per_context: u32,
    context_ttl: Duration,
    pacing_burst: u32,
    pacing_window: Duration,
    max_concurrent_sends: usize,
    send_retries: u32,
    send_retry_backoff: Duration,
    typing_interval: Duration,
    poll_backoff_initial: Duration,
    poll_backoff_max: Duration,
    poll_timeout: Duration,
    session_probe_interval: Duration,
    shutdown_deadline: Duration,
    dedup_window: Duration,
    channel_version: Option<String>,
    bot_agent: Option<String>,
    route_tag: Option<String>,
    max_response_bytes: u64,
    max_download_bytes: u64,
}

impl BotOptions {
    /// How often idle sessions and lanes are looked for: often enough that
    /// one is forgotten soon after its `idle_timeout`, rarely enough to cost
    /// nothing.
    pub(crate) fn housekeeping_interval(&self) -> Duration {
        (self.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(60))
    }

    /// Checks values that would make the runtime misbehave.
    pub fn validate(&self) -> Result<(), String> {
        let checks = [
            (
                self.max_concurrent_handlers == 0,
                "max_concurrent_handlers must be at least 1",
            ),
            (
                self.session_queue_cap == 0,
                "session_queue_cap must be at least 1",
            ),
            (self.chunk_limit == 0, "chunk_limit must be at least 1"),
            (self.pacing_burst == 0, "pacing_burst must be at least 1"),
            (
                self.max_concurrent_sends == 0,
                "max_concurrent_sends must be at least 1",
            ),
            (
                self.typing_interval.is_zero(),
                "typing_interval must be positive",
            ),
            (self.poll_timeout.is_zero(), "poll_timeout must be positive"),
        ];
        match checks.iter().find(|(bad, _)| *bad) {
            Some((_, msg)) => Err((*msg).to_owned()),
            None => Ok(()),
        }
    }

    /// The delay after `failures` consecutive failed polls, before jitter:
    /// the initial delay doubled per failure, capped.
    pub fn poll_backoff(&self, failures: u32) -> Duration {
        self.poll_retry().base_delay(failures)
    }

    /// The retry policy of failed polls (unbounded, jittered).
    pub(crate) fn poll_retry(&self) -> Backoff {
        Backoff::new(self.poll_backoff_initial).max_delay(self.poll_backoff_max)
    }

    /// The retry policy of a send that failed with a transport error or 5xx.
    pub(crate) fn send_retry(&self) -> Backoff {
        Backoff::new(self.send_retry_backoff)
            .max_delay(Duration::from_secs(30))
            .max_retries(self.send_retries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let o = BotOptions::default();
        assert_eq!(o.poll_backoff(1), Duration::from_secs(2));
        assert_eq!(o.poll_backoff(2), Duration::from_secs(4));
        assert_eq!(o.poll_backoff(3), Duration::from_secs(8));
        assert_eq!(o.poll_backoff(50), Duration::from_secs(30));
    }

    #[test]
    fn validation_names_the_bad_field() {
        let o = BotOptions::default().chunk_limit(0);
        assert!(o.validate().unwrap_err().contains("chunk_limit"));
        assert!(BotOptions::default().validate().is_ok());
    }

    #[test]
    fn setters_set_their_field_and_keep_the_others() {
        let o = BotOptions::default()
            .poll_timeout(Duration::from_secs(1))
            .route_tag(Some("eu".into()))
            .overflow_reply(None);
        assert_eq!(o.poll_timeout, Duration::from_secs(1));
        assert_eq!(o.route_tag.as_deref(), Some("eu"));
        assert_eq!(o.overflow_reply, None);
        assert_eq!(o.chunk_limit, BotOptions::default().chunk_limit);
    }
}
