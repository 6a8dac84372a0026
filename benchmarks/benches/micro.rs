//! Criterion micro benchmarks of the hot pure functions: decoding a
//! `getupdates` batch, chunking a long reply, rendering a language model's
//! Markdown answer as text, matching and parsing a command,
//! the CDN's AES-128-ECB on 1 MB, and the SQLite store's durable inbox (a
//! figure of the disk as much as of the code: every transaction is fsynced).
//!
//! `cargo bench -p ilink-benchmarks --bench micro`; with `ILINK_BENCH_SCALE=small`
//! each benchmark samples for a fraction of the usual time (a quick look, not a
//! figure to publish).

// criterion_group! generates a public function without docs.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ilink_core::Secret;
use ilink_core::crypto::AesKey;
use ilink_core::types::{
    GetUpdatesResponse, MessageItem, MessageState, MessageType, WeixinMessage,
};
use ilink_framework::AccountId;
use ilink_framework::DedupKey;
use ilink_framework::command::{ArgSpec, CommandSet, CommandSpec};
use ilink_framework::store::{InboxEntry, ReceivedBatch, ReceivedEntry, SqliteStore, StateStore};

/// A batch shaped like what the server sends: ids above 2^53, a context
/// token, one text item each.
fn updates_batch(n: usize) -> String {
    let msgs: Vec<WeixinMessage> = (0..n)
        .map(|i| WeixinMessage {
            seq: Some(i as i64 + 1),
            message_id: Some((1u64 << 53) + 7919 * i as u64),
            from_user_id: Some(format!("user-{i}@im.wechat")),
            to_user_id: Some("bot@im.bot".into()),
            create_time_ms: Some(1_760_000_000_000 + i as i64),
            session_id: Some(format!("user-{i}@im.wechat#bot@im.bot")),
            message_type: Some(MessageType::User),
            message_state: Some(MessageState::Finish),
            item_list: vec![MessageItem::text(format!("hello number {i}, how are you?"))],
            context_token: Some(Secret::new(format!("ctx-{i:032}"))),
            ..WeixinMessage::default()
        })
        .collect();
    serde_json::json!({
        "ret": 0,
        "msgs": msgs,
        "get_updates_buf": "Ym90QGltLmJvdDo0MjpkZWFkYmVlZg==",
        "longpolling_timeout_ms": 35000,
    })
    .to_string()
}

/// About 100 KB of mixed prose: paragraphs, lines, CJK and emoji, so every
/// boundary rule of the splitter is exercised.
fn long_text() -> String {
    let para = "The quick brown fox jumps over the lazy dog. 敏捷的棕色狐狸跳过了懒狗。 \
                Emoji 👩‍👩‍👧 and flags 🇨🇳 stay whole.\nA second line of the paragraph.\n\n";
    para.repeat(100_000 / para.len() + 1)
}

fn commands() -> CommandSet {
    let mut set = CommandSet::new();
    set.add(
        CommandSpec::new("add")
            .alias("plus")
            .docs("Add two integers.")
            .arg(ArgSpec::required("a", "i64"))
            .arg(ArgSpec::required("b", "i64")),
    )
    .expect("valid spec");
    set.add(
        CommandSpec::new("say")
            .docs("Repeat a text.")
            .arg(ArgSpec::required("who", "String"))
            .arg(ArgSpec::rest("rest", "String")),
    )
    .expect("valid spec");
    for name in ["help", "weather", "remind", "todo", "stats", "ping"] {
        set.add(CommandSpec::new(name).docs("Something."))
            .expect("valid spec");
    }
    set
}

/// About 100 KB of Markdown as a language model writes it: headings,
/// emphasis, lists, links, inline code, code blocks and tables.
fn llm_answer() -> String {
    let section = "## Step {n}: configure the **service**\n\n\
        First, make sure the *environment* is ready. See [the guide](https://example.com/guide) \
        and run `cargo build --release`.\n\n\
        1. Install the toolchain\n2. Set `RUST_LOG=info`\n   - for tracing\n   - for metrics\n\n\
        ```rust\nfn main() {\n    println!(\"hello, {n}\");\n}\n```\n\n\
        | Option | Default | Meaning |\n|---|---|---|\n| `port` | 8080 | where it listens |\n\
        | `workers` | 4 | threads |\n\n> **Note:** restart after changing it.\n\n";
    let mut out = String::new();
    let mut n = 0;
    while out.len() < 100_000 {
        n += 1;
        out.push_str(&section.replace("{n}", &n.to_string()));
    }
    out
}

fn micro(c: &mut Criterion) {
    let batch = updates_batch(100);
    let mut g = c.benchmark_group("getupdates_decode");
    g.throughput(Throughput::Bytes(batch.len() as u64));
    g.bench_function("100_messages", |b| {
        b.iter(|| serde_json::from_str::<GetUpdatesResponse>(black_box(&batch)).expect("decodes"))
    });
    g.finish();

    let answer = llm_answer();
    let mut g = c.benchmark_group("markdown");
    g.throughput(Throughput::Bytes(answer.len() as u64));
    g.bench_function("100KB_to_text", |b| {
        b.iter(|| ilink_core::markdown::to_text(black_box(&answer)))
    });
    g.bench_function("100KB_to_chunks_at_4000", |b| {
        b.iter(|| ilink_core::markdown::to_chunks(black_box(&answer), 4000))
    });
    g.finish();

    let text = long_text();
    let mut g = c.benchmark_group("split_text");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("100KB_at_4000", |b| {
        b.iter(|| ilink_core::chunk::split_text(black_box(&text), 4000))
    });
    g.finish();

    let set = commands();
    let mut g = c.benchmark_group("command");
    g.bench_function("find_and_parse_add", |b| {
        b.iter(|| {
            let inv = set
                .find(black_box("／plus 40 2"))
                .ok()
                .flatten()
                .expect("a command");
            let args = inv.split_args().expect("args");
            let (a, b): (i64, i64) = (args.get(0).expect("a"), args.get(1).expect("b"));
            a + b
        })
    });
    g.bench_function("find_and_parse_quoted", |b| {
        b.iter(|| {
            let inv = set
                .find(black_box(r#"/say "Alice Smith" hello there, how are you"#))
                .ok()
                .flatten()
                .expect("a command");
            let args = inv.split_args().expect("args");
            args.get::<String>(0).expect("who")
        })
    });
    g.bench_function("not_a_command", |b| {
        b.iter(|| {
            set.find(black_box("just chatting, nothing to see"))
                .is_ok_and(|found| found.is_none())
        })
    });
    g.finish();

    let key = AesKey::from_bytes(*b"0123456789abcdef");
    let plain = vec![0x5au8; 1 << 20];
    let cipher = key.encrypt(&plain);
    let mut g = c.benchmark_group("aes128_ecb");
    g.throughput(Throughput::Bytes(plain.len() as u64));
    g.bench_function("encrypt_1MB", |b| b.iter(|| key.encrypt(black_box(&plain))));
    g.bench_function("decrypt_1MB", |b| {
        b.iter(|| key.decrypt(black_box(&cipher)).expect("decrypts"))
    });
    g.finish();

    // An error answer's excerpt (what a log line gets) from a large body
    // that is not JSON, as a captive portal or proxy may send: only its
    // start is looked at, whatever the size.
    let portal = vec![b'x'; 8 << 20];
    let mut g = c.benchmark_group("error_body");
    g.bench_function("excerpt_of_8MB", |b| {
        b.iter(|| ilink_core::error::body_excerpt(black_box(&portal)))
    });
    g.finish();

    // The durable inbox of the default store: a received batch committed
    // (one transaction) before the cursor moves, then each entry removed as
    // handled, from 100 tasks at once (group-committed).
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = std::env::temp_dir().join(format!("ilink-bench-store-{}", std::process::id()));
    let store = Arc::new(
        rt.block_on(SqliteStore::open(&dir))
            .expect("a state directory"),
    );
    let account = AccountId::new("bench@im.bot");
    let msgs = serde_json::from_str::<GetUpdatesResponse>(&batch)
        .expect("decodes")
        .msgs;
    let mut next = 0u64;
    let mut g = c.benchmark_group("sqlite_store");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function("commit_100_then_remove_each", |b| {
        b.iter(|| {
            let entries: Vec<ReceivedEntry> = msgs
                .iter()
                .map(|msg| {
                    next += 1;
                    ReceivedEntry {
                        entry: InboxEntry {
                            id: next,
                            msg: msg.clone().into(),
                            received_at_ms: 0,
                        },
                        // Fresh keys each round, so nothing is a duplicate.
                        dedup_keys: vec![DedupKey::parse(&format!("m:{next}")).expect("a key")],
                        context_token: None,
                        json: None,
                    }
                })
                .collect();
            let ids: Vec<u64> = entries.iter().map(|e| e.entry.id).collect();
            let received = ReceivedBatch {
                entries,
                quarantined: Vec::new(),
                cursor: Some(format!("cursor-{next}")),
                now_ms: 0,
                dedup_window_ms: 7_200_000,
            };
            rt.block_on(async {
                store
                    .commit_received(&account, &received)
                    .await
                    .expect("committed");
                let mut removals = tokio::task::JoinSet::new();
                for id in ids {
                    let (store, account) = (store.clone(), account.clone());
                    removals.spawn(async move { store.inbox_remove(&account, &[id]).await });
                }
                while let Some(done) = removals.join_next().await {
                    done.expect("joined").expect("removed");
                }
            })
        })
    });
    g.finish();
    rt.block_on(store.close());
    let _ = std::fs::remove_dir_all(&dir);
}

fn config() -> Criterion {
    let small = std::env::var("ILINK_BENCH_SCALE").is_ok_and(|s| s == "small");
    let c = Criterion::default();
    if small {
        c.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
    } else {
        c
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = micro
}
criterion_main!(benches);
