//! [`TypingTickets`]: the per-user typing tickets and the one rule for
//! refreshing them.
//!
//! `sendtyping` needs a ticket from `getconfig`. A ticket is kept until a
//! random point between 12 and 24 hours after it was fetched (so a fleet of
//! bots does not refresh at once), or until `sendtyping` refuses it. A failed
//! fetch is not repeated before its backoff ([`Backoff`], 2 s doubling up to
//! an hour) has passed; until then the user has no ticket.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::Rng as _;

use crate::api::Api;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::retry::Backoff;
use crate::secret::Secret;

/// How long a ticket is kept at most.
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Waits between failed fetches of one user's ticket.
const FETCH_RETRY: Backoff =
    Backoff::new(Duration::from_secs(2)).max_delay(Duration::from_secs(3600));

#[derive(Debug)]
enum Entry {
    Valid { ticket: Secret, refresh_at: Instant },
    Failing { retry_at: Instant, failures: u32 },
}

/// What the cache says about a user at some instant.
#[derive(Debug, PartialEq, Eq)]
enum Lookup {
    /// A ticket that is still good.
    Cached(Secret),
    /// No usable ticket: fetch one.
    Due,
    /// Fetching failed recently: wait this long.
    BackingOff(Duration),
}

/// The typing tickets of one account's users. Shared by clones of an
/// [`ILinkClient`](crate::ILinkClient).
#[derive(Debug, Default)]
pub struct TypingTickets {
    entries: Mutex<HashMap<String, Entry>>,
}

impl TypingTickets {
    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // Every change is one insert or remove: a panic elsewhere cannot
        // leave the map half-written.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A ticket for `user`: the cached one while good, else one fetched
    /// with `getconfig`. While a failed fetch backs off this fails at once
    /// with [`Error::TypingTicketUnavailable`], without a request.
    pub async fn get(
        &self,
        api: &Api,
        user: &str,
        context_token: Option<&Secret>,
    ) -> Result<Secret> {
        match self.lookup(user, Instant::now()) {
            Lookup::Cached(ticket) => return Ok(ticket),
            Lookup::BackingOff(retry_in) => {
                return Err(Error::TypingTicketUnavailable {
                    user: user.to_owned(),
                    retry_in,
                });
            }
            Lookup::Due => {}
        }
        let fetched = api.get_config(user, context_token).await.and_then(|resp| {
            resp.typing_ticket
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::Decode {
                    endpoint: Endpoint::GetConfig,
                    message: "the response has no typing_ticket".into(),
                    body: String::new(),
                })
        });
        match &fetched {
            Ok(ticket) => self.store(user, ticket.clone(), Instant::now()),
            Err(_) => self.record_failure(user, Instant::now()),
        }
        fetched
    }

    /// Keeps a ticket `getconfig` returned for `user`.
    pub fn store(&self, user: &str, ticket: Secret, now: Instant) {
        let refresh_at = now + MAX_AGE.mul_f64(rand::rng().random_range(0.5..=1.0));
        self.entries()
            .insert(user.to_owned(), Entry::Valid { ticket, refresh_at });
    }

    /// Forgets `user`'s ticket (the server refused it; it may have rotated).
    pub fn invalidate(&self, user: &str) {
        self.entries().remove(user);
    }

    fn lookup(&self, user: &str, now: Instant) -> Lookup {
        match self.entries().get(user) {
            Some(Entry::Valid { ticket, refresh_at }) if *refresh_at > now => {
                Lookup::Cached(ticket.clone())
            }
            Some(Entry::Failing { retry_at, .. }) if *retry_at > now => {
                Lookup::BackingOff(*retry_at - now)
            }
            _ => Lookup::Due,
        }
    }

    fn record_failure(&self, user: &str, now: Instant) {
        let mut entries = self.entries();
        let failures = match entries.get(user) {
            Some(Entry::Failing { failures, .. }) => failures + 1,
            _ => 1,
        };
        let wait = FETCH_RETRY
            .delay(failures)
            .unwrap_or(Duration::from_secs(3600));
        entries.insert(
            user.to_owned(),
            Entry::Failing {
                retry_at: now + wait,
                failures,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_kept_between_12_and_24_hours() {
        let tickets = TypingTickets::default();
        let t0 = Instant::now();
        assert_eq!(tickets.lookup("u", t0), Lookup::Due);
        tickets.store("u", Secret::new("t"), t0);
        let hour = Duration::from_secs(3600);
        assert_eq!(
            tickets.lookup("u", t0 + 12 * hour - Duration::from_secs(1)),
            Lookup::Cached(Secret::new("t"))
        );
        assert_eq!(
            tickets.lookup("u", t0 + 24 * hour + Duration::from_secs(1)),
            Lookup::Due
        );
        assert_eq!(tickets.lookup("other", t0), Lookup::Due);
    }

    #[test]
    fn failed_fetches_back_off_and_grow() {
        let tickets = TypingTickets::default();
        let t0 = Instant::now();
        tickets.record_failure("u", t0);
        let Lookup::BackingOff(first) = tickets.lookup("u", t0) else {
            panic!("backing off after a failure");
        };
        assert!(
            first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
            "{first:?}"
        );
        assert_eq!(
            tickets.lookup("u", t0 + Duration::from_secs(2)),
            Lookup::Due
        );
        tickets.record_failure("u", t0);
        let Lookup::BackingOff(second) = tickets.lookup("u", t0) else {
            panic!("backing off after a second failure");
        };
        assert!(
            second >= Duration::from_secs(2) && second <= Duration::from_secs(4),
            "{second:?}"
        );
        tickets.store("u", Secret::new("t"), t0);
        assert_eq!(tickets.lookup("u", t0), Lookup::Cached(Secret::new("t")));
    }

    #[test]
    fn an_invalidated_ticket_is_fetched_again() {
        let tickets = TypingTickets::default();
        let t0 = Instant::now();
        tickets.store("u", Secret::new("t"), t0);
        tickets.invalidate("u");
        assert_eq!(tickets.lookup("u", t0), Lookup::Due);
    }
}
