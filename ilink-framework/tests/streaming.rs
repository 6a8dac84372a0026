//! Streamed answers against the simulator: sent while generated, within the
//! quota, an interrupted stream answered with a notice.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures::StreamExt as _;
use ilink_framework::prelude::*;
use ilink_framework::store::MemoryStore;

const USER: &str = "u@im.wechat";

/// Streams `paragraphs` paragraphs, a word at a time, with pauses; fails
/// after `fail_after` words when set.
struct Streaming {
    paragraphs: usize,
    fail_after: Option<usize>,
    reports: Mutex<Vec<StreamReport>>,
    /// When set, the handler waits for it after the stream, before returning.
    linger: Option<Arc<tokio::sync::Notify>>,
}

fn answer(paragraphs: usize) -> String {
    (0..paragraphs)
        .map(|p| {
            format!(
                "Paragraph {p}: {}",
                "lorem ipsum dolor sit amet ".repeat(12).trim_end()
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

impl Streaming {
    /// The report of the first streamed reply, once it is done.
    async fn first_report(&self) -> StreamReport {
        within("the streamed reply", async {
            loop {
                if let Some(r) = self.reports.lock().unwrap().first().cloned() {
                    return r;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }
}

#[async_trait]
impl Handler for Streaming {
    async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
        let text = answer(self.paragraphs);
        let words: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
        let fail_after = self.fail_after;
        let deltas =
            futures::stream::iter(words.into_iter().enumerate()).then(move |(i, w)| async move {
                // A model pauses between tokens: sends happen meanwhile.
                if i % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                match fail_after {
                    Some(n) if i == n => Err("the model timed out"),
                    _ => Ok(w),
                }
            });
        let report = ctx
            .reply_stream(
                deltas,
                StreamOptions::default().error_note("Sorry, {error}."),
            )
            .await?;
        self.reports.lock().unwrap().push(report);
        if let Some(linger) = &self.linger {
            linger.notified().await;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_arrives_whole_in_a_few_growing_messages() {
    let sim = sim().await;
    let bot = sim.add_account("stream");
    let handler = Arc::new(Streaming {
        paragraphs: 12,
        fail_after: None,
        reports: Mutex::default(),
        linger: None,
    });
    let handle = start(
        &sim,
        &bot,
        handler.clone(),
        fast_options().chunk_limit(1000),
    )
    .await;
    sim.user(&bot, USER).say("tell me").await;
    let report = handler.first_report().await;
    assert!(report.complete(), "{report:?}");
    let texts = texts_to(&sim, &bot, USER);
    assert_eq!(texts.len(), report.sent.len());
    assert!((2..=9).contains(&texts.len()), "{} messages", texts.len());
    assert!(texts.iter().all(|t| t.encode_utf16().count() <= 1000));
    assert_eq!(texts.join("\n\n"), answer(12));
    // The first message is one paragraph, later ones carry several.
    assert_eq!(texts[0], answer(1));
    assert!(texts.last().unwrap().matches("Paragraph").count() > 1);
    assert!(!sim.typing_events().is_empty(), "typing was shown");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_fails_midway_sends_what_it_had_and_a_notice() {
    let sim = sim().await;
    let bot = sim.add_account("stream-err");
    let handler = Arc::new(Streaming {
        paragraphs: 4,
        fail_after: Some(30),
        reports: Mutex::default(),
        linger: None,
    });
    let handle = start(&sim, &bot, handler.clone(), fast_options()).await;
    sim.user(&bot, USER).say("tell me").await;
    let report = handler.first_report().await;
    assert_eq!(report.error.as_deref(), Some("the model timed out"));
    let texts = texts_to(&sim, &bot, USER);
    assert_eq!(texts.last().unwrap(), "Sorry, the model timed out.");
    let sent: String = texts[..texts.len() - 1].join("\n\n");
    assert!(answer(4).starts_with(&sent), "{sent:?}");
    assert!(
        sent.starts_with("Paragraph 0"),
        "what came before the error was sent"
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_longer_than_the_quota_ends_with_the_cut_note() {
    let sim = sim().await;
    let bot = sim.add_account("stream-cut");
    let handler = Arc::new(Streaming {
        paragraphs: 60,
        fail_after: None,
        reports: Mutex::default(),
        linger: None,
    });
    let handle = start(&sim, &bot, handler.clone(), fast_options().chunk_limit(500)).await;
    sim.user(&bot, USER).say("tell me everything").await;
    let report = handler.first_report().await;
    assert!(report.cut && report.error.is_none(), "{report:?}");
    let texts = texts_to(&sim, &bot, USER);
    assert_eq!(texts.len(), 10, "the whole quota of one message, no more");
    assert!(
        texts[9].ends_with(&StreamOptions::default().cut_note),
        "{:?}",
        texts[9]
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_stream_stops_typing_while_its_handler_still_runs() {
    let sim = sim().await;
    let bot = sim.add_account("stream-typing");
    let linger = Arc::new(tokio::sync::Notify::new());
    let handler = Arc::new(Streaming {
        paragraphs: 4,
        fail_after: Some(30),
        reports: Mutex::default(),
        linger: Some(linger.clone()),
    });
    let handle = start(&sim, &bot, handler.clone(), fast_options()).await;
    sim.user(&bot, USER).say("tell me").await;
    let report = handler.first_report().await;
    assert!(report.error.is_some(), "{report:?}");
    // The handler has not returned, so only the stream can have stopped
    // "typing…" (status 2, with nothing after it).
    within("typing cancelled", async {
        loop {
            let last = sim
                .typing_events()
                .into_iter()
                .rev()
                .find(|t| t.user_id == USER);
            if last.is_some_and(|t| t.status == 2) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        sim.typing_events()
            .iter()
            .any(|t| t.user_id == USER && t.status == 1),
        "typing was shown while the answer streamed"
    );
    linger.notify_one();
    handle.shutdown().await;
}

/// Streams 60 paragraphs; the first run's model hangs when paragraph 6
/// begins, as a process killed mid-answer would stop.
#[derive(Default)]
struct HangsOnce {
    hung: std::sync::atomic::AtomicBool,
    /// Told when the model hangs: every message before is sent by then.
    hanging: tokio::sync::Notify,
    reports: Mutex<Vec<StreamReport>>,
}

#[async_trait]
impl Handler for HangsOnce {
    async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
        let hang = !self.hung.swap(true, std::sync::atomic::Ordering::SeqCst);
        let words: Vec<String> = answer(60).split_inclusive(' ').map(str::to_owned).collect();
        let hanging = &self.hanging;
        let deltas = futures::stream::iter(words).then(move |w| async move {
            if hang && w.starts_with("6:") {
                hanging.notify_one();
                std::future::pending::<()>().await;
            }
            Ok::<_, std::io::Error>(w)
        });
        let report = ctx.reply_stream(deltas, StreamOptions::default()).await?;
        self.reports.lock().unwrap().push(report);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_replayed_after_a_crash_sends_the_rest_and_cuts_where_the_first_run_would() {
    let sim = sim().await;
    let bot = sim.add_account("stream-replay");
    let store = Arc::new(MemoryStore::new());
    let handler = Arc::new(HangsOnce::default());
    let options = fast_options()
        .chunk_limit(500)
        .shutdown_deadline(Duration::from_millis(300));
    let handle =
        start_with_store(&sim, &bot, handler.clone(), options.clone(), store.clone()).await;
    sim.user(&bot, USER).say("tell me everything").await;
    // The first paragraphs go out, one message each; then the model hangs
    // and the process stops without finishing the message.
    within("the model hangs", handler.hanging.notified()).await;
    let first = texts_to(&sim, &bot, USER).len();
    assert!((2..10).contains(&first), "{first} messages before the hang");
    let report = handle.shutdown().await;
    assert_eq!(report.unhandled, 1);

    // The next start replays the message: the answer goes on from where
    // it stopped, to the quota's ten messages, the last with the cut note.
    let handle = start_with_store(&sim, &bot, handler.clone(), options, store).await;
    let report = within("the replayed stream", async {
        loop {
            if let Some(r) = handler.reports.lock().unwrap().first().cloned() {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(report.cut, "{report:?}");
    assert_eq!(report.sent.len(), 10);
    let texts = texts_to(&sim, &bot, USER);
    assert_eq!(
        texts.len(),
        10,
        "six from the first run, four from the replay"
    );
    assert!(
        texts[9].ends_with(&StreamOptions::default().cut_note),
        "{:?}",
        texts[9]
    );
    for (i, text) in texts[..9].iter().enumerate() {
        assert!(text.starts_with(&format!("Paragraph {i}:")), "{text:?}");
    }
    handle.shutdown().await;
}
