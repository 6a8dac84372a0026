//! Many `demo` processes as workers of one cluster on PostgreSQL, sharing
//! simulator accounts: every account is polled by one worker at a time,
//! shares stay within ⌈A/W⌉, a killed worker's accounts are taken over
//! after the lease TTL, a joining worker gets its share by handover, a
//! paused worker is fenced off, a stopping one hands over at once, and
//! across all of it no message is lost and no reply sent twice.
//!
//! Skipped (a line says so) without `ILINK_TEST_DATABASE_URL`.

#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use common::cluster::Fleet;
use ilink_testkit::SimConfig;
use ilink_testkit::harness::WAIT;

fn check_delivery(fleet: &Fleet) {
    let (twice, disorder) = fleet.doubles_and_disorder();
    assert_eq!(twice, 0, "replies users received twice");
    assert!(
        disorder.is_empty(),
        "first replies out of order: {disorder:?}"
    );
    let after_hang_ups: u64 = fleet
        .bots
        .iter()
        .map(|b| fleet.sim.poll_stats(b).after_hang_ups)
        .sum();
    println!("polls that started while a hung-up one was still being noticed: {after_hang_ups}");
    let overlaps = fleet.sim.accounts_polled_concurrently();
    let details: Vec<_> = fleet
        .bots
        .iter()
        .filter(|b| overlaps.contains(&b.bot_id))
        .map(|b| fleet.sim.poll_stats(b).overlaps)
        .collect();
    assert!(
        overlaps.is_empty(),
        "accounts polled by two workers at once: {overlaps:?}: {details:#?}"
    );
    let violations = fleet.sim.violations();
    assert!(violations.is_empty(), "{violations:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_share_thirty_accounts_through_a_join_and_a_kill_9() {
    const ACCOUNTS: usize = 30;
    const USERS: usize = 10;
    let ttl = Duration::from_secs(3);
    let Some(mut fleet) = Fleet::new("workers_share_thirty_accounts", ACCOUNTS, ttl).await else {
        return;
    };
    for _ in 0..3 {
        fleet.start_worker();
    }
    let three = fleet.settled(3).await;
    assert!(three.workers.iter().all(|w| w.accounts == 10), "{three:#?}");

    // 1,500 messages, then a fourth worker joins while they are answered.
    fleet.say_round(USERS, 5).await;
    let joined_at = Instant::now();
    fleet.start_worker();
    let four = fleet.settled(4).await;
    println!(
        "a fourth worker had its share after {:?}: {:?}",
        joined_at.elapsed(),
        four.workers.iter().map(|w| w.accounts).collect::<Vec<_>>()
    );

    // 1,500 more, and one worker is killed while they are answered.
    fleet.say_round(USERS, 5).await;
    let victim = 0;
    let orphans = fleet.held_by(victim).await;
    assert!(!orphans.is_empty(), "the victim holds accounts");
    let polled_before = fleet.polls_started();
    fleet.signal(victim, "-KILL");
    let killed_at = Instant::now();
    let _ = fleet.workers[victim].wait();
    // A dead poll stays open at the simulator until its long-poll ends, so
    // the accounts count as polled again only past that.
    let after = fleet.settled(3).await;
    let one_poll_later: Vec<u64> = polled_before.iter().map(|n| n + 1).collect();
    fleet.polled_again(&orphans, &one_poll_later).await;
    let failover = killed_at.elapsed();
    println!(
        "{} accounts of the killed worker taken over after {failover:?}: {:?}",
        orphans.len(),
        after
            .workers
            .iter()
            .filter(|w| w.alive)
            .map(|w| w.accounts)
            .collect::<Vec<_>>()
    );

    fleet.all_answered().await;
    fleet.stop_all();
    assert_eq!(fleet.said.len(), 3000);
    check_delivery(&fleet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_worker_is_fenced_off_and_a_stopping_one_hands_over_at_once() {
    const ACCOUNTS: usize = 10;
    const USERS: usize = 4;
    let ttl = Duration::from_secs(4);
    let Some(mut fleet) = Fleet::new("a_paused_worker_is_fenced_off", ACCOUNTS, ttl).await else {
        return;
    };
    let (paused, other) = (fleet.start_worker(), fleet.start_worker());
    fleet.settled(2).await;
    fleet.say_round(USERS, 4).await;

    // Paused past its TTL while it answers: the other worker takes all.
    let taken = fleet.held_by(paused).await;
    fleet.signal(paused, "-STOP");
    let deadline = Instant::now() + WAIT;
    let all = loop {
        let held = fleet.held_by(other).await;
        if held.len() == ACCOUNTS {
            break held;
        }
        assert!(
            Instant::now() < deadline,
            "the other worker takes the paused one's accounts: it holds {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(all.len(), ACCOUNTS);
    fleet.say_round(USERS, 2).await;
    fleet.all_answered().await;

    // Woken up, it may not poll or write under its old leases; it rejoins
    // and gets a share again, by handover.
    fleet.signal(paused, "-CONT");
    let back = fleet.settled(2).await;
    let regained = fleet.held_by(paused).await;
    assert_eq!(regained.len(), ACCOUNTS / 2, "{back:#?}");
    for account in &taken {
        let lease = back
            .accounts
            .iter()
            .find(|a| &a.account == account)
            .unwrap();
        assert!(lease.epoch >= 2, "{account} changed hands: {lease:?}");
    }
    fleet.say_round(USERS, 2).await;
    fleet.all_answered().await;

    // A graceful stop hands every account over long before the TTL could.
    let polled = fleet.polls_started();
    fleet.signal(paused, "-INT");
    let stopped_at = Instant::now();
    fleet.settled(1).await;
    // Past a poll the stopping worker may have started just before.
    let one_poll_later: Vec<u64> = polled.iter().map(|n| n + 1).collect();
    fleet.polled_again(&regained, &one_poll_later).await;
    let handover = stopped_at.elapsed();
    println!(
        "graceful handover of {} accounts: {handover:?}",
        regained.len()
    );
    // Its last heartbeat was at most a quarter TTL before the signal, so
    // expiry alone could not free its leases before three quarters of it.
    assert!(
        handover < ttl * 3 / 4,
        "accounts were handed over, not left to expire: {handover:?}"
    );
    let status = tokio::task::block_in_place(|| fleet.workers[paused].wait()).unwrap();
    assert!(status.success(), "{status:?}");
    fleet.say_round(USERS, 1).await;
    fleet.all_answered().await;
    fleet.stop_all();
    check_delivery(&fleet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_heartbeats_stall_hangs_up_its_poll_before_the_lease_can_expire() {
    let ttl = Duration::from_secs(2);
    // The server would hold a poll for a minute: only the worker can end
    // it before its lease expires and another worker may poll.
    let config = SimConfig {
        longpoll_timeout: Duration::from_secs(60),
        ..SimConfig::for_tests()
    };
    let Some(mut fleet) =
        Fleet::with_config("a_worker_whose_heartbeats_stall", 1, ttl, config).await
    else {
        return;
    };
    fleet.start_worker();
    fleet.settled(1).await;
    let bot = fleet.bots[0].clone();
    fleet
        .sim
        .wait_for_poll_stats(&bot, WAIT, |s| s.in_flight == 1)
        .await
        .unwrap();

    // Its heartbeat waits for this lock: the worker runs on, unconfirmed.
    let stall = fleet
        .schema
        .hold_locks("SELECT 1 FROM workers FOR UPDATE")
        .await;
    let ended = fleet
        .sim
        .wait_for_poll_stats(&bot, ttl * 5, |s| s.in_flight == 0)
        .await;
    let polled = match ended {
        Ok(stats) => stats.started,
        Err(_) => panic!(
            "the poll is still open {:?} after the heartbeats stalled",
            ttl * 5
        ),
    };
    // And it polls no more until a heartbeat is confirmed again.
    tokio::time::sleep(ttl).await;
    assert_eq!(fleet.sim.poll_stats(&bot).started, polled);
    stall.release().await;

    fleet.say_round(3, 2).await;
    fleet.all_answered().await;
    fleet.stop_all();
    check_delivery(&fleet);
}
