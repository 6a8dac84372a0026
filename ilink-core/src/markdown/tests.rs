use proptest::prelude::*;

use super::*;

#[test]
fn headings_and_emphasis_become_plain_text() {
    assert_eq!(
        to_text("# Title\n\nSome *em*, **strong**, ~~gone~~ and ***both***."),
        "Title\n\nSome em, strong, gone and both."
    );
    assert_eq!(to_text("Setext\n======\n\ntext"), "Setext\n\ntext");
}

#[test]
fn lists_become_bullets_and_numbers_with_nesting_indented() {
    let md = "- one\n- two\n  - two a\n  - two b\n- three\n\n3. third\n4. fourth";
    assert_eq!(
        to_text(md),
        "• one\n• two\n  • two a\n  • two b\n• three\n\n3. third\n4. fourth"
    );
    assert_eq!(to_text("- [ ] todo\n- [x] done"), "• ☐ todo\n• ☑ done");
}

#[test]
fn a_loose_list_item_keeps_its_paragraphs_on_their_own_lines() {
    let md = "1. First para.\n\n   Second para.\n\n2. Next";
    assert_eq!(to_text(md), "1. First para.\n  Second para.\n2. Next");
}

#[test]
fn links_and_images_keep_their_url_once() {
    assert_eq!(
        to_text("[docs](https://docs.rs) and <https://x.org> and [https://y.org](https://y.org)"),
        "docs (https://docs.rs) and https://x.org and https://y.org"
    );
    assert_eq!(
        to_text("![a cat](https://img/cat.png)"),
        "a cat (https://img/cat.png)"
    );
    assert_eq!(to_text("mail <me@example.com>"), "mail me@example.com");
}

#[test]
fn code_keeps_its_text_and_code_blocks_stay_verbatim() {
    assert_eq!(to_text("Run `cargo *test*`."), "Run cargo *test*.");
    let md = "```rust\nfn main() {\n    println!(\"**hi**\");\n\n}\n```\n\nafter";
    assert_eq!(
        to_text(md),
        "fn main() {\n    println!(\"**hi**\");\n\n}\n\nafter"
    );
    assert_eq!(to_text("    indented\n      more"), "indented\n  more");
}

#[test]
fn a_code_block_in_a_list_item_stays_in_the_item() {
    let md = "- step:\n\n  ```\n  a\n  b\n  ```\n- next";
    assert_eq!(to_text(md), "• step:\n  a\n  b\n• next");
}

#[test]
fn tables_become_aligned_lines() {
    let md = "| Name | Age |\n|---|---:|\n| Alice | 30 |\n| Bo | 5 |";
    assert_eq!(
        to_text(md),
        "Name  | Age\n───────────\nAlice | 30\nBo    | 5"
    );
}

#[test]
fn quotes_rules_and_html() {
    assert_eq!(
        to_text("> quoted\n> text\n>\n> more\n\n---\n\n<b>raw</b>"),
        "│ quoted\n│ text\n│\n│ more\n\n──────────\n\n<b>raw</b>"
    );
}

#[test]
fn text_that_is_not_markdown_is_unchanged() {
    for plain in ["hello", "你好，世界。", "a\nb", "3 * 4 = 12"] {
        assert_eq!(to_text(plain), plain);
    }
    assert_eq!(to_text(""), "");
    assert!(to_chunks("", 10).is_empty());
}

#[test]
fn chunks_pack_whole_blocks_and_never_split_a_block_that_fits() {
    let code = "line one\n\nline three";
    let md = format!("A first paragraph here.\n\n```\n{code}\n```\n\nTail.");
    let chunks = to_chunks(&md, 25);
    assert_eq!(chunks, ["A first paragraph here.", code, "Tail."]);
    // Room for the tail: it shares the code block's message.
    let chunks = to_chunks(&md, 27);
    assert_eq!(chunks[1], format!("{code}\n\nTail."));
    // Everything fits: one message, blocks separated as in to_text.
    assert_eq!(to_chunks(&md, 4000), [to_text(&md)]);
}

#[test]
fn a_heading_goes_with_the_block_after_it() {
    let md = "Intro paragraph.\n\n## Next\n\nBody of the section.";
    assert_eq!(
        to_chunks(md, 35),
        ["Intro paragraph.", "Next\n\nBody of the section."]
    );
    // Too long together: the heading still leads the next message.
    assert_eq!(
        to_chunks(md, 20),
        ["Intro paragraph.", "Next", "Body of the section."]
    );
}

#[test]
fn a_block_longer_than_a_message_is_cut_at_its_lines() {
    let md = (1..=6)
        .map(|i| format!("- item {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let chunks = to_chunks(&md, 20);
    assert!(chunks.iter().all(|c| text_units(c) <= 20), "{chunks:?}");
    assert_eq!(
        chunks.concat().replace('\n', ""),
        to_text(&md).replace('\n', "")
    );
    assert!(chunks[0].starts_with("• item 1"));
    // Cut between items, never inside one.
    for line in chunks.iter().flat_map(|c| c.lines()) {
        assert!(line.starts_with("• item "), "{line:?} in {chunks:?}");
    }
}

#[test]
fn the_stable_prefix_ends_before_the_last_block() {
    let md = "# T\n\npara one\n\n- a\n- b";
    assert_eq!(&md[..stable_prefix_len(md)], "# T\n\npara one\n\n");
    let md = "para\n\n---\n";
    assert_eq!(&md[..stable_prefix_len(md)], "para\n\n");
    assert_eq!(stable_prefix_len(""), 0);
}

/// A document built from the constructs the renderer handles, with words of
/// letters and digits only, and the words in order.
fn document() -> impl Strategy<Value = (String, Vec<String>)> {
    let word = "[a-z][a-z0-9]{0,6}";
    let words = prop::collection::vec(word, 1..5);
    let block = (0..9u8, words, "[a-z]{1,5}").prop_map(|(kind, ws, url)| {
        let text = ws.join(" ");
        let md = match kind {
            0 => format!("# {text}"),
            1 if ws.len() > 1 => format!("*{}* **{}**", ws[0], ws[1..].join(" ")),
            1 => format!("_{text}_"),
            2 => ws
                .iter()
                .map(|w| format!("- {w}"))
                .collect::<Vec<_>>()
                .join("\n"),
            3 => ws
                .iter()
                .enumerate()
                .map(|(i, w)| format!("{}. {w}", i + 1))
                .collect::<Vec<_>>()
                .join("\n"),
            4 => format!("[{text}](https://{url}.org)"),
            5 => format!("`{text}`"),
            6 => format!("```\n{}\n```", ws.join("\n")),
            7 => format!("| {} |\n|---|\n| {} |", ws[0], ws[1..].join(" ")),
            _ => format!("> {text}\n\n~~{}~~", ws[0]),
        };
        (md, ws)
    });
    prop::collection::vec(block, 1..6).prop_map(|blocks| {
        let md = blocks
            .iter()
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>()
            .join("\n\n");
        let words = blocks.into_iter().flat_map(|(_, ws)| ws).collect();
        (md, words)
    })
}

proptest! {
    #[test]
    fn no_markdown_syntax_leaks_from_handled_constructs((md, _) in document()) {
        let text = to_text(&md);
        for syntax in ["*", "_", "#", "`", "[", "]", "~", ">", "```", "|---"] {
            prop_assert!(!text.contains(syntax), "{syntax:?} in {text:?} from {md:?}");
        }
    }

    #[test]
    fn every_word_of_the_input_is_in_the_output_in_order((md, words) in document()) {
        let text = to_text(&md);
        let mut rest = text.as_str();
        for w in &words {
            let at = rest.find(w.as_str());
            prop_assert!(at.is_some(), "{w:?} missing from {text:?} (input {md:?})");
            rest = &rest[at.unwrap_or(0) + w.len()..];
        }
    }

    #[test]
    fn chunks_fit_and_keep_all_the_text((md, _) in document(), max in 8usize..60) {
        let chunks = to_chunks(&md, max);
        for c in &chunks {
            prop_assert!(text_units(c) <= max, "{c:?} over {max}");
            prop_assert!(!c.is_empty());
        }
        let squash = |s: &str| s.split_whitespace().collect::<String>();
        prop_assert_eq!(squash(&chunks.concat()), squash(&to_text(&md)));
    }

    #[test]
    fn a_stable_prefix_renders_the_same_whatever_follows((md, _) in document(), (more, _) in document()) {
        let cut = stable_prefix_len(&md);
        let prefix = &md[..cut];
        let longer = format!("{md}\n\n{more}");
        prop_assert!(stable_prefix_len(&longer) >= cut);
        let head = to_text(prefix);
        prop_assert!(to_text(&longer).starts_with(&head), "{head:?} not a prefix of {:?}", to_text(&longer));
    }

    #[test]
    fn any_input_renders_without_panicking(md in "\\PC{0,200}") {
        let _ = to_chunks(&md, 50);
    }
}
