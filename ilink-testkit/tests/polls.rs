//! The simulator counts the `getupdates` of each account in flight, over real HTTP: two
//! `ilink-core` clients polling one account overlap, one client polling in turn never
//! does, a poll whose client gives up stops counting although the server would still
//! hold it, and `/mock/polls` says the same as the Rust API.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use ilink_core::types::GetUpdatesResponse;
use ilink_testkit::harness::{WAIT, core_client, core_client_builder, core_poll};
use ilink_testkit::{BotAccount, PollStats, Simulator};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// Long enough that a poll only ends early because its client went away.
const HOLD: Duration = Duration::from_secs(3600);

async fn wait_in_flight(sim: &Simulator, bot: &BotAccount, n: usize) -> PollStats {
    sim.wait_for_poll_stats(bot, WAIT, |s| s.in_flight == n)
        .await
        .unwrap()
}

/// A simulator that holds every long-poll for [`HOLD`], and an account on it.
async fn holding_sim() -> (Simulator, BotAccount) {
    let sim = Simulator::start().await;
    sim.configure(|c| c.longpoll_timeout = HOLD);
    let bot = sim.add_account("bot-a");
    (sim, bot)
}

type Poll = JoinHandle<ilink_core::Result<GetUpdatesResponse>>;

/// Two clients of `bot` polling it, the second while the first waits. Returns the
/// second's poll, still in flight, and the peer addresses of the first and the second.
async fn two_pollers(sim: &Simulator, bot: &BotAccount) -> (Poll, SocketAddr, SocketAddr) {
    let first = core_client(sim, bot);
    let second = core_client(sim, bot);
    let first_poll = tokio::spawn(async move { first.poll().await });
    let first_peer = wait_in_flight(sim, bot, 1).await.polls[0].peer;
    assert!(sim.accounts_polled_concurrently().is_empty());

    let second_poll = tokio::spawn(async move { second.poll().await });
    // The takeover rule answers the first poll at once, with no messages.
    let taken_over = first_poll.await.unwrap().unwrap();
    assert!(taken_over.msgs.is_empty());
    let second_peer = wait_in_flight(sim, bot, 1).await.polls[0].peer;
    assert_ne!(first_peer, second_peer);
    (second_poll, first_peer, second_peer)
}

#[tokio::test]
async fn two_clients_polling_one_account_overlap_from_two_connections() {
    let (sim, bot) = holding_sim().await;
    let (second_poll, first_peer, second_peer) = two_pollers(&sim, &bot).await;

    let stats = sim.poll_stats(&bot);
    assert_eq!(stats.max_in_flight, 2);
    assert_eq!(stats.started, 2);
    assert_eq!(stats.overlaps.len(), 1, "{:?}", stats.overlaps);
    let overlap = &stats.overlaps[0];
    assert_eq!(overlap.poll.bot_id, bot.bot_id);
    assert_eq!(overlap.poll.peer, second_peer);
    let others: Vec<SocketAddr> = overlap.others.iter().map(|p| p.peer).collect();
    assert_eq!(others, [first_peer]);
    assert_eq!(stats.connections, BTreeSet::from([first_peer, second_peer]));
    assert_eq!(sim.accounts_polled_concurrently(), [bot.bot_id.as_str()]);
    let by_peer = sim.polled_accounts_by_peer();
    assert_eq!(by_peer.len(), 2);
    assert!(
        by_peer
            .values()
            .all(|ids| ids.len() == 1 && ids.contains(&bot.bot_id))
    );

    // A reset forgets the overlap but not the poll still waiting.
    sim.reset_poll_stats(&bot);
    let after = sim.poll_stats(&bot);
    assert!(sim.accounts_polled_concurrently().is_empty());
    assert_eq!(
        (after.in_flight, after.max_in_flight, after.started),
        (1, 1, 0)
    );
    assert!(after.overlaps.is_empty());
    assert_eq!(after.connections, BTreeSet::from([second_peer]));

    second_poll.abort();
    wait_in_flight(&sim, &bot, 0).await;
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn one_client_polling_in_turn_never_overlaps() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let other = sim.add_account("bot-b");
    let client = core_client(&sim, &bot);
    let alice = sim.user(&bot, "alice@im.wechat");
    for n in 0..3 {
        alice.say(&format!("hi {n}")).await;
        core_poll(&client, 1).await;
    }

    let stats = wait_in_flight(&sim, &bot, 0).await;
    assert_eq!(stats.started, 3);
    assert_eq!(stats.max_in_flight, 1);
    assert!(stats.overlaps.is_empty(), "{:?}", stats.overlaps);
    // A pooled connection carries every poll.
    assert_eq!(stats.connections.len(), 1, "{:?}", stats.connections);
    assert!(sim.accounts_polled_concurrently().is_empty());
    assert_eq!(sim.poll_stats(&other), PollStats::default());
    sim.shutdown().await;
}

#[tokio::test]
async fn an_aborted_poll_stops_counting_at_once() {
    let (sim, bot) = holding_sim().await;
    let client = core_client_builder(&sim, &bot)
        .bot_agent("worker-1/0.1")
        .build()
        .unwrap();
    let poll = tokio::spawn(async move { client.poll().await });

    let stats = wait_in_flight(&sim, &bot, 1).await;
    assert_eq!(stats.polls[0].bot_id, bot.bot_id);
    assert_eq!(stats.polls[0].bot_agent.as_deref(), Some("worker-1/0.1"));
    assert_eq!(sim.in_flight_polls(), stats.polls);

    // Dropping the client's future closes its connection; the server then drops the
    // handler, long before HOLD.
    poll.abort();
    let stats = wait_in_flight(&sim, &bot, 0).await;
    assert!(sim.in_flight_polls().is_empty());
    assert_eq!((stats.started, stats.max_in_flight), (1, 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_poll_the_client_times_out_stops_counting() {
    let (sim, bot) = holding_sim().await;
    let client = core_client_builder(&sim, &bot)
        .long_poll_timeout(Duration::from_secs(1))
        .build()
        .unwrap();

    // A client-side timeout is an empty batch, not an error.
    let batch = client.poll().await.unwrap();
    assert!(batch.msgs.is_empty());
    let stats = sim
        .wait_for_poll_stats(&bot, WAIT, |s| s.started == 1 && s.in_flight == 0)
        .await
        .unwrap();
    assert_eq!(stats.max_in_flight, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_control_api_reports_and_resets_the_same_stats() {
    let (sim, bot) = holding_sim().await;
    let idle = sim.add_account("bot-b");
    let (second_poll, first_peer, second_peer) = two_pollers(&sim, &bot).await;

    let http = reqwest::Client::new();
    let url = format!("{}/mock/polls", sim.base_url());
    let got: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["polled_concurrently"], json!([bot.bot_id]));
    let a = &got["accounts"][&bot.bot_id];
    assert_eq!(
        (a["in_flight"].as_u64(), a["max_in_flight"].as_u64()),
        (Some(1), Some(2))
    );
    let (peer, other) = (second_peer.to_string(), first_peer.to_string());
    assert_eq!(a["overlaps"][0]["poll"]["peer"], json!(peer));
    assert_eq!(a["overlaps"][0]["others"][0]["peer"], json!(other));
    assert_eq!(a["polls"][0]["peer"], json!(peer));
    let connections: BTreeSet<String> = serde_json::from_value(a["connections"].clone()).unwrap();
    assert_eq!(connections, BTreeSet::from([peer, other]));
    assert_eq!(got["accounts"][&idle.bot_id]["started"].as_u64(), Some(0));

    let one: Value = http
        .get(format!("{url}?bot_id={}", idle.bot_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<&String> = one["accounts"].as_object().unwrap().keys().collect();
    assert_eq!(listed, [&idle.bot_id]);

    let reset = http.post(format!("{url}/reset")).send().await.unwrap();
    assert!(reset.status().is_success());
    assert!(sim.accounts_polled_concurrently().is_empty());
    assert_eq!(sim.poll_stats(&bot).in_flight, 1);

    second_poll.abort();
    wait_in_flight(&sim, &bot, 0).await;
    sim.shutdown().await;
}
