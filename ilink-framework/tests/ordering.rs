//! Order and concurrency guarantees, end to end through the real actors.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ilink_framework::prelude::*;
use tokio::sync::Notify;

/// Records the order messages reach the handler, and how many of one
/// conversation ran at once.
#[derive(Default)]
struct Recorder {
    seen: Mutex<HashMap<String, Vec<u32>>>,
    running: Mutex<HashMap<String, usize>>,
    max_parallel_in_conversation: AtomicUsize,
    max_parallel_overall: AtomicUsize,
    overall: AtomicUsize,
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        let user = msg.sender().to_owned();
        let n: u32 = msg.text().unwrap_or_default().parse()?;
        {
            let mut running = self.running.lock().unwrap();
            let r = running.entry(user.clone()).or_default();
            *r += 1;
            self.max_parallel_in_conversation
                .fetch_max(*r, Ordering::SeqCst);
        }
        let now = self.overall.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_parallel_overall.fetch_max(now, Ordering::SeqCst);
        // Uneven work so a broken queue would reorder.
        tokio::time::sleep(Duration::from_millis(((n * 7) % 5) as u64 * 10)).await;
        self.seen
            .lock()
            .unwrap()
            .entry(user.clone())
            .or_default()
            .push(n);
        ctx.reply(format!("{n}")).await?;
        self.overall.fetch_sub(1, Ordering::SeqCst);
        *self.running.lock().unwrap().get_mut(&user).unwrap() -= 1;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_conversation_is_handled_in_order_one_at_a_time_while_others_run_concurrently() {
    let sim = sim().await;
    let bot = sim.add_account("order");
    let rec = Arc::new(Recorder::default());
    let handle = start(&sim, &bot, rec.clone(), fast_options()).await;

    let users = ["u1@im.wechat", "u2@im.wechat", "u3@im.wechat"];
    for n in 0..8u32 {
        for u in users {
            sim.user(&bot, u).say(n.to_string()).await;
        }
    }
    for u in users {
        sim.wait_for_sent_to(&bot, u, 8, WAIT).await.unwrap();
    }
    let expected: Vec<u32> = (0..8).collect();
    for u in users {
        assert_eq!(
            rec.seen.lock().unwrap()[u],
            expected,
            "handler order for {u}"
        );
        let replies: Vec<u32> = texts_to(&sim, &bot, u)
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(replies, expected, "reply order for {u}");
    }
    assert_eq!(rec.max_parallel_in_conversation.load(Ordering::SeqCst), 1);
    assert!(
        rec.max_parallel_overall.load(Ordering::SeqCst) > 1,
        "different conversations never overlapped"
    );
    handle.shutdown().await;
}

/// Holds one conversation's handler until released.
struct Gate {
    release: Notify,
    entered: Notify,
}

#[async_trait]
impl Handler for Gate {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        if msg.sender() == "slow@im.wechat" {
            self.entered.notify_one();
            self.release.notified().await;
        }
        ctx.reply(format!("done {}", msg.sender())).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_conversation_never_delays_another() {
    let sim = sim().await;
    let bot = sim.add_account("gate");
    let gate = Arc::new(Gate {
        release: Notify::new(),
        entered: Notify::new(),
    });
    let handle = start(&sim, &bot, gate.clone(), fast_options()).await;

    sim.user(&bot, "slow@im.wechat").say("block").await;
    tokio::time::timeout(WAIT, gate.entered.notified())
        .await
        .unwrap();
    // The slow handler is now parked; the fast user must still be answered.
    sim.user(&bot, "fast@im.wechat").say("hi").await;
    sim.wait_for_sent_to(&bot, "fast@im.wechat", 1, WAIT)
        .await
        .unwrap();
    assert!(
        texts_to(&sim, &bot, "slow@im.wechat").is_empty(),
        "slow one is still blocked"
    );

    gate.release.notify_one();
    sim.wait_for_sent_to(&bot, "slow@im.wechat", 1, WAIT)
        .await
        .unwrap();
    handle.shutdown().await;
}

struct LongReply;

#[async_trait]
impl Handler for LongReply {
    async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
        let text: String = (0..9000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let sent = ctx.reply(text).await?;
        ctx.reply(format!("sent {} parts", sent.len())).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_9000_character_reply_arrives_whole_and_in_order() {
    let sim = sim().await;
    let bot = sim.add_account("long");
    let handle = start(&sim, &bot, LongReply, fast_options()).await;
    sim.user(&bot, "reader@im.wechat")
        .say("tell me everything")
        .await;
    sim.wait_for_sent_to(&bot, "reader@im.wechat", 4, WAIT)
        .await
        .unwrap();
    let texts = texts_to(&sim, &bot, "reader@im.wechat");
    assert_eq!(texts.len(), 4);
    assert_eq!(texts[3], "sent 3 parts");
    let joined: String = texts[..3].concat();
    let expected: String = (0..9000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    assert_eq!(joined, expected);
    assert!(texts[..3].iter().all(|t| t.chars().count() <= 4000));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    handle.shutdown().await;
}
