//! `kill -9` of a bot process mid-traffic, then a restart on the same state
//! directory: every message is answered, no user receives a reply twice, and
//! in each conversation the first replies come in the order of its
//! messages.
//!
//! The bot is the `demo` binary, whose handler echoes texts. Its default
//! pacing (2 sends per user per 1.1 s) spreads 5 replies per user over
//! seconds, so the kill lands while handlers run: replies have gone out for
//! messages not yet marked handled, and later messages wait in the inbox.

#![cfg(unix)]

mod common;

use std::collections::HashSet;

use common::echoes::{Tally, text, user_id};
use common::process::{demo, interrupt, start_running};
use ilink_framework::core::Endpoint;
use ilink_testkit::harness::WAIT;
use ilink_testkit::{RequestRecord, SentMessage, SimConfig, Simulator};

const USERS: usize = 60;
/// Half the send quota of a context token: a user's replies all go out
/// with the newest one, and replies sent twice must not use it up.
const PER_USER: usize = 5;
const TOTAL: usize = USERS * PER_USER;
/// Replies delivered at least before the kill: one per user.
const KILL_AFTER: usize = USERS;
/// Distinct (user, message) pairs answered so far.
fn answered(sent: &[SentMessage]) -> usize {
    sent.iter()
        .filter(|s| s.delivered())
        .filter_map(|s| Some((s.to_user_id.clone(), s.text()?)))
        .collect::<HashSet<_>>()
        .len()
}

/// `getupdates` requests the simulator has received.
fn polls(requests: &[RequestRecord]) -> usize {
    requests
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::GetUpdates))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_traffic_loses_nothing_and_sends_nothing_twice() {
    let sim = Simulator::start_with(SimConfig::for_tests())
        .await
        .expect("simulator starts");
    let bot = sim.add_account("demo");
    let state = tempfile::tempdir().unwrap();
    let (sim_ref, bot_ref, dir) = (&sim, &bot, state.path().to_owned());

    let mut first = tokio::task::block_in_place(|| start_running(demo(sim_ref, bot_ref, &dir)));
    let users: Vec<_> = (0..USERS).map(|u| sim.user(&bot, &user_id(u))).collect();
    for n in 0..PER_USER {
        for (u, user) in users.iter().enumerate() {
            user.say(text(u, n)).await;
        }
    }
    // The bot stores a batch before it polls again, so two polls after the
    // last message mean every message is in its inbox. All are sent before
    // the kill: the simulator hands a message to whichever poll is open, and
    // a killed bot's poll stays open there until it times out, so a message
    // arriving then never reaches any bot.
    let pushed = polls(&sim.requests());
    sim.wait_for_state("two polls after the last message", WAIT, |r| {
        (polls(r.requests) >= pushed + 2).then_some(())
    })
    .await
    .expect("the first bot polls");
    // Killed just as a reply reaches the server: its handler has not
    // finished, so its message is still in the inbox, as are others'.
    let kill_at = answered(&sim.sent(&bot)).max(KILL_AFTER - 1) + 1;
    sim.wait_for(&format!("{kill_at} replies"), WAIT, |sent| {
        (answered(sent) >= kill_at).then_some(())
    })
    .await
    .expect("the first bot replies");
    first.kill().expect("SIGKILL delivered");
    first.wait().expect("reaped");
    let before = answered(&sim.sent(&bot));
    assert!(
        (KILL_AFTER..TOTAL).contains(&before),
        "the kill must land mid-traffic: {before} of {TOTAL} answered before it"
    );

    let mut second = tokio::task::block_in_place(|| start_running(demo(sim_ref, bot_ref, &dir)));
    let all = sim
        .wait_for("every message answered", WAIT, |sent| {
            (answered(sent) >= TOTAL).then_some(())
        })
        .await;
    interrupt(&second);
    let status = tokio::task::block_in_place(|| second.wait()).expect("second exits");
    assert!(status.success(), "{status:?}");

    // What users received, now that no process can send any more.
    let tally = Tally::of(&sim, &bot, USERS, PER_USER);
    let (lost, sent_twice) = (tally.lost, tally.sent_twice());
    println!(
        "{before} of {TOTAL} answered before the kill; after the restart: \
         {lost} lost, {sent_twice} sent twice"
    );
    assert!(all.is_ok() && lost == 0, "{lost} messages never answered");
    assert!(
        tally.out_of_order.is_empty(),
        "first replies out of message order: {:?}",
        tally.out_of_order
    );
    assert_eq!(
        sent_twice, 0,
        "replies users received twice: {:?}",
        tally.twice
    );
    let violations = sim.violations();
    assert!(violations.is_empty(), "{violations:?}");
    sim.shutdown().await;
}
