//! Numbered traffic for the `demo` process and the tally of what its users
//! received, for the tests that kill it, fill its disk and start it again:
//! user `u`'s message `n` says `u{u:03} #{n}`, and the demo echoes it, so
//! each reply names the message it answers.

use std::collections::BTreeMap;

use ilink_testkit::harness::texts_to;
use ilink_testkit::{BotAccount, Simulator};

/// What the demo answers to a text, before the text.
pub const ECHO: &str = "Hello! You said: ";

pub fn user_id(u: usize) -> String {
    format!("user{u:03}@im.wechat")
}

/// Message `n` of user `u`: says whose it is and where it stands in the
/// conversation.
pub fn text(u: usize, n: usize) -> String {
    format!("u{u:03} #{n}")
}

/// Which message of `u` a reply answers, if it answers one of theirs
/// (whatever the message carried after its number).
pub fn answered_index(u: usize, reply: &str) -> Option<usize> {
    let said = reply.strip_prefix(ECHO)?;
    let rest = said.strip_prefix(&format!("u{u:03} #"))?;
    rest.split(' ').next()?.parse().ok()
}

/// What `users` users, each of whom sent `per_user` messages, received.
#[derive(Debug, Default)]
pub struct Tally {
    /// Messages no reply answers.
    pub lost: usize,
    /// Per user, the replies that answered a message a second time.
    pub twice: BTreeMap<String, usize>,
    /// Per user whose first replies came out of message order, their order.
    pub out_of_order: BTreeMap<String, Vec<usize>>,
}

impl Tally {
    /// Reads every reply the bot delivered; panics on one that answers
    /// none of the user's messages.
    pub fn of(sim: &Simulator, bot: &BotAccount, users: usize, per_user: usize) -> Self {
        let mut tally = Self::default();
        for u in 0..users {
            let mut firsts: Vec<usize> = Vec::new();
            for reply in texts_to(sim, bot, &user_id(u)) {
                let n =
                    answered_index(u, &reply).unwrap_or_else(|| panic!("{reply:.60}… to user {u}"));
                if firsts.contains(&n) {
                    *tally.twice.entry(user_id(u)).or_insert(0) += 1;
                } else {
                    firsts.push(n);
                }
            }
            tally.lost += per_user - firsts.len();
            if !firsts.is_sorted() {
                tally.out_of_order.insert(user_id(u), firsts);
            }
        }
        tally
    }

    /// Replies received twice, in all.
    pub fn sent_twice(&self) -> usize {
        self.twice.values().sum()
    }
}
