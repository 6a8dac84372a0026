//! Who long-polls each account: every `getupdates` still waiting, the most ever waiting at
//! once, and each time one started while another of the same account was waiting. One
//! account polled by two workers is a bug the takeover rule hides (the older poll just
//! gets an empty batch), so tests need this to see it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::SystemTime;

/// One `getupdates` the simulator is answering or was answering when read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlightPoll {
    /// The bot account polled.
    pub bot_id: String,
    /// The client end of the connection it came on (`ip:port`). Distinct processes, and
    /// distinct connections of one process, have distinct ports; a client that pools its
    /// connections may poll again from the same one.
    pub peer: SocketAddr,
    /// When it arrived.
    pub started: SystemTime,
    /// The `User-Agent` header, if the client sent one.
    pub user_agent: Option<String>,
    /// `base_info.bot_agent` of the body, if any: the product list a client may set to
    /// tell its workers apart.
    pub bot_agent: Option<String>,
}

/// A `getupdates` that started while others of the same account were in flight, their
/// clients still connected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollOverlap {
    /// The later poll (its `bot_id`, `peer` and `started` say which account, from
    /// where and when).
    pub poll: InFlightPoll,
    /// The polls already in flight then, oldest first.
    pub others: Vec<InFlightPoll>,
}

/// How one account was long-polled since the simulator started or its stats were reset.
///
/// ```no_run
/// # async fn demo(sim: &ilink_testkit::Simulator, bot: &ilink_testkit::BotAccount) {
/// let stats = sim.poll_stats(bot);
/// assert_eq!(stats.max_in_flight, 1, "polled by two workers at once: {:?}", stats.overlaps);
/// assert!(sim.accounts_polled_concurrently().is_empty());
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollStats {
    /// How many `getupdates` of the account are in flight now.
    pub in_flight: usize,
    /// The most that were ever in flight at once.
    pub max_in_flight: usize,
    /// How many started.
    pub started: u64,
    /// Each poll that started while another was in flight, oldest first. A poll whose
    /// client had already hung up (the kernel had its FIN) does not count: its client
    /// polls no more, the simulator just had not got round to noticing.
    pub overlaps: Vec<PollOverlap>,
    /// How many polls started while the only others in flight were ones whose clients
    /// had hung up: not overlaps, but a sign the simulator is slow to notice hang-ups.
    pub after_hang_ups: u64,
    /// Every connection that polled the account.
    pub connections: BTreeSet<SocketAddr>,
    /// The polls in flight now, oldest first.
    pub polls: Vec<InFlightPoll>,
}

#[derive(Default)]
struct AccountPolls {
    in_flight: BTreeMap<u64, InFlightPoll>,
    max_in_flight: usize,
    started: u64,
    overlaps: Vec<PollOverlap>,
    after_hang_ups: u64,
    connections: BTreeSet<SocketAddr>,
}

impl AccountPolls {
    /// Forgets the history; polls still in flight stay counted, so a reset in the middle
    /// of a poll neither hides a later overlap nor underflows when the poll ends.
    fn reset(&mut self) {
        self.max_in_flight = self.in_flight.len();
        self.started = 0;
        self.overlaps.clear();
        self.after_hang_ups = 0;
        self.connections = self.in_flight.values().map(|p| p.peer).collect();
    }
}

/// Polls of every account, kept apart from the accounts so that removing or resetting an
/// account cannot lose a poll that is still waiting.
#[derive(Default)]
pub(crate) struct PollBook {
    next_id: u64,
    accounts: BTreeMap<String, AccountPolls>,
}

impl PollBook {
    /// Counts a poll in; returns the id [`end`](Self::end) takes. `hung_up` says whether
    /// the client of a poll still in flight has closed its connection (asked only when
    /// there are such polls).
    pub fn start(&mut self, poll: InFlightPoll, hung_up: impl Fn(&InFlightPoll) -> bool) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let acct = self.accounts.entry(poll.bot_id.clone()).or_default();
        if !acct.in_flight.is_empty() {
            let others: Vec<InFlightPoll> = acct
                .in_flight
                .values()
                .filter(|other| !hung_up(other))
                .cloned()
                .collect();
            if others.is_empty() {
                acct.after_hang_ups += 1;
            } else {
                acct.overlaps.push(PollOverlap {
                    poll: poll.clone(),
                    others,
                });
            }
        }
        acct.started += 1;
        acct.connections.insert(poll.peer);
        acct.in_flight.insert(id, poll);
        acct.max_in_flight = acct.max_in_flight.max(acct.in_flight.len());
        id
    }

    /// Counts a poll out, however it ended.
    pub fn end(&mut self, bot_id: &str, id: u64) {
        if let Some(acct) = self.accounts.get_mut(bot_id) {
            acct.in_flight.remove(&id);
        }
    }

    pub fn stats(&self, bot_id: &str) -> PollStats {
        let Some(acct) = self.accounts.get(bot_id) else {
            return PollStats::default();
        };
        PollStats {
            in_flight: acct.in_flight.len(),
            max_in_flight: acct.max_in_flight,
            started: acct.started,
            overlaps: acct.overlaps.clone(),
            after_hang_ups: acct.after_hang_ups,
            connections: acct.connections.clone(),
            polls: acct.in_flight.values().cloned().collect(),
        }
    }

    /// Every account with polls on record, and its stats.
    pub fn all(&self) -> BTreeMap<String, PollStats> {
        self.accounts
            .keys()
            .map(|id| (id.clone(), self.stats(id)))
            .collect()
    }

    /// Resets one account's history, or every account's.
    pub fn reset(&mut self, bot_id: Option<&str>) {
        match bot_id {
            Some(id) => self
                .accounts
                .get_mut(id)
                .into_iter()
                .for_each(AccountPolls::reset),
            None => self.accounts.values_mut().for_each(AccountPolls::reset),
        }
    }

    /// Accounts with at least one overlap on record.
    pub fn polled_concurrently(&self) -> Vec<String> {
        self.accounts
            .iter()
            .filter(|(_, a)| !a.overlaps.is_empty())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every poll in flight, of any account, oldest first.
    pub fn in_flight(&self) -> Vec<InFlightPoll> {
        let mut all: Vec<(u64, &InFlightPoll)> = self
            .accounts
            .values()
            .flat_map(|a| a.in_flight.iter().map(|(id, p)| (*id, p)))
            .collect();
        all.sort_by_key(|(id, _)| *id);
        all.into_iter().map(|(_, p)| p.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(bot: &str, port: u16) -> InFlightPoll {
        InFlightPoll {
            bot_id: bot.into(),
            peer: SocketAddr::from(([127, 0, 0, 1], port)),
            started: SystemTime::now(),
            user_agent: None,
            bot_agent: None,
        }
    }

    fn alive(_: &InFlightPoll) -> bool {
        false
    }

    #[test]
    fn a_poll_whose_client_hung_up_is_no_overlap() {
        let mut book = PollBook::default();
        let gone = poll("b", 1);
        book.start(gone.clone(), alive);
        let hung_up = |p: &InFlightPoll| p.peer == gone.peer;
        book.start(poll("b", 2), hung_up);
        let stats = book.stats("b");
        assert!(stats.overlaps.is_empty(), "{:?}", stats.overlaps);
        assert_eq!((stats.after_hang_ups, stats.max_in_flight), (1, 2));
        assert!(book.polled_concurrently().is_empty());
        // A third poll overlaps the second, whose client is still there, and only it.
        book.start(poll("b", 3), hung_up);
        let stats = book.stats("b");
        let others: Vec<SocketAddr> = stats.overlaps[0].others.iter().map(|p| p.peer).collect();
        assert_eq!(others, [poll("b", 2).peer]);
        assert_eq!(book.polled_concurrently(), ["b"]);
        book.reset(None);
        assert_eq!(book.stats("b").after_hang_ups, 0);
    }

    #[test]
    fn a_reset_keeps_the_polls_in_flight() {
        let mut book = PollBook::default();
        let a = book.start(poll("b", 1), alive);
        let b = book.start(poll("b", 2), alive);
        assert_eq!(book.polled_concurrently(), ["b"]);
        book.end("b", a);
        book.reset(None);
        let stats = book.stats("b");
        assert_eq!(
            (stats.in_flight, stats.max_in_flight, stats.started),
            (1, 1, 0)
        );
        assert_eq!(stats.connections.len(), 1);
        assert!(book.polled_concurrently().is_empty());
        // The poll that outlived the reset still makes the next one an overlap.
        book.start(poll("b", 3), alive);
        assert_eq!(
            book.stats("b").overlaps[0].others[0].peer,
            poll("b", 2).peer
        );
        book.end("b", b);
        assert_eq!(book.stats("b").in_flight, 1);
    }
}
