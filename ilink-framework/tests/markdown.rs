//! Markdown replies against the simulator: what the user reads.

mod common;

use std::sync::Arc;

use common::*;
use ilink_framework::prelude::*;

/// An answer as a language model writes it.
const ANSWER: &str = "Sure! Here is how to **reverse a string**:\n\n\
## Using `chars()`\n\n\
```rust\nfn reverse(s: &str) -> String {\n    s.chars().rev().collect()\n}\n```\n\n\
1. It works for *most* text.\n\
2. For emoji, see [unicode-segmentation](https://crates.io/crates/unicode-segmentation).\n\n\
| Method | Emoji |\n|---|---|\n| chars | no |\n| graphemes | yes |";

struct Markdown;

#[async_trait]
impl Handler for Markdown {
    async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
        ctx.reply_markdown(ANSWER).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_markdown_answer_arrives_as_plain_text_cut_between_blocks() {
    let sim = sim().await;
    let bot = sim.add_account("md");
    let handle = start(
        &sim,
        &bot,
        Arc::new(Markdown),
        fast_options().chunk_limit(100),
    )
    .await;
    sim.user(&bot, "u@im.wechat").say("how?").await;
    let expected = ilink_framework::core::markdown::to_chunks(ANSWER, 100);
    sim.wait_for_sent_to(&bot, "u@im.wechat", expected.len(), WAIT)
        .await
        .unwrap();
    let texts = texts_to(&sim, &bot, "u@im.wechat");
    assert_eq!(
        texts,
        [
            "Sure! Here is how to reverse a string:",
            "Using chars()\n\nfn reverse(s: &str) -> String {\n    s.chars().rev().collect()\n}",
            "1. It works for most text.",
            "2. For emoji, see unicode-segmentation \
             (https://crates.io/crates/unicode-segmentation).",
            "Method    | Emoji\n─────────────────\nchars     | no\ngraphemes | yes",
        ]
    );
    assert_eq!(texts, expected);
    for text in &texts {
        assert!(!text.contains("**") && !text.contains("```") && !text.contains('#'));
    }
    handle.shutdown().await;
}
