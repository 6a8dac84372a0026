//! Markdown made readable as WeChat text.
//!
//! WeChat shows a text message as it is: a language model's Markdown
//! arrives with its asterisks, `#`s and code fences. [`to_text`] renders
//! Markdown (CommonMark with tables, strikethrough and task lists, parsed by
//! `pulldown-cmark`) as plain text a person reads easily:
//!
//! - headings, emphasis, strong and strikethrough become their plain text;
//! - list items become `•` or numbered lines, nested lists indented two
//!   spaces a level, task items `☐`/`☑`;
//! - links become `text (url)`, or the URL once when the text is the URL;
//!   images their alt text and URL the same way;
//! - inline code keeps its text; code blocks keep their content verbatim,
//!   line breaks and indentation included, without the fences;
//! - tables become lines of cells padded to their column's width, joined by
//!   ` | `, with a rule under the header;
//! - block quotes get `│ ` before each line, a thematic break a line of `─`;
//! - raw HTML is kept as written.
//!
//! [`to_chunks`] renders and cuts the text into messages, preferring the
//! boundaries between blocks, so a code block, a table or a list item that
//! fits in one message is never split across two.
//!
//! ```
//! use ilink_core::markdown::to_text;
//!
//! let md = "## Steps\n\n1. Install **Rust**\n2. Run `cargo build`\n\nSee [the book](https://doc.rust-lang.org/book/).";
//! assert_eq!(
//!     to_text(md),
//!     "Steps\n\n1. Install Rust\n2. Run cargo build\n\nSee the book (https://doc.rust-lang.org/book/)."
//! );
//! ```

use pulldown_cmark::{BrokenLink, Event, LinkType, Options, Parser, Tag, TagEnd};

use crate::chunk::{split_text, text_units};

/// What a rendered thematic break (`---`) looks like.
const RULE: &str = "──────────";

/// Between two top-level blocks of the rendered text.
const BLOCK_GAP: &str = "\n\n";

/// Renders Markdown as plain text (see the [module](self) for the rules).
pub fn to_text(markdown: &str) -> String {
    let blocks: Vec<String> = render_blocks(markdown)
        .into_iter()
        .map(|b| b.text)
        .collect();
    blocks.join(BLOCK_GAP)
}

/// Renders Markdown as plain text cut into messages of at most `max_units`
/// UTF-16 code units (see [`crate::chunk`]).
///
/// Whole top-level blocks (paragraphs, lists, code blocks, tables, …) are
/// packed into each message; only a block longer than a message on its own
/// is cut, between its lines (a list between items), and a line longer
/// than a message by [`split_text`]'s preferences. A heading
/// goes with the block after it when both fit in one message. The chunks,
/// joined, are [`to_text`]'s result up to the whitespace between blocks.
///
/// ```
/// use ilink_core::markdown::to_chunks;
///
/// let md = format!("Intro.\n\n```\n{}\n```", "let x = 1;\n".repeat(3).trim_end());
/// // The code block does not fit beside the intro: it goes whole into the next message.
/// let chunks = to_chunks(&md, 35);
/// assert_eq!(chunks, ["Intro.", "let x = 1;\nlet x = 1;\nlet x = 1;"]);
/// ```
pub fn to_chunks(markdown: &str, max_units: usize) -> Vec<String> {
    let max = max_units.max(1);
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    // `current`'s length in units, kept rather than recounted per block.
    let mut units = 0;
    for block in keep_headings_with_their_block(render_blocks(markdown), max) {
        let block_units = text_units(&block);
        let gap = if current.is_empty() {
            0
        } else {
            BLOCK_GAP.len()
        };
        if units + gap + block_units <= max {
            if gap > 0 {
                current.push_str(BLOCK_GAP);
            }
            current.push_str(&block);
            units += gap + block_units;
            continue;
        }
        if !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
        }
        if block_units <= max {
            current = block;
        } else {
            let mut parts = split_lines(&block, max);
            // The last part may still share a message with what follows.
            current = parts.pop().unwrap_or_default();
            chunks.extend(parts);
        }
        units = text_units(&current);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// How much of a Markdown text that is still being written (a language
/// model's streamed answer) is made of whole top-level blocks that more
/// text cannot change: the byte offset where its last top-level block
/// starts (0 while there is only one). That block may still grow (a list
/// gets items, a code fence is not closed yet), so a streamed answer is
/// rendered and sent up to here only.
///
/// ```
/// use ilink_core::markdown::stable_prefix_len;
///
/// let md = "Intro.\n\n```\nfn main() {";
/// assert_eq!(&md[..stable_prefix_len(md)], "Intro.\n\n");
/// assert_eq!(stable_prefix_len("One paragraph, still being written"), 0);
/// ```
///
/// Two more things keep text back. A block's event starts after its
/// indentation (an indented code block's four spaces), so the stable point
/// is the start of its line: cut there, the block keeps its indentation.
/// And a block using a reference link whose definition has not arrived yet
/// (`[the docs][1]`, with `[1]: https://…` usually at the end) waits for it,
/// or its link would go out without its target.
pub fn stable_prefix_len(markdown: &str) -> usize {
    let waiting = first_unresolved_reference(complete_lines(markdown));
    let mut depth = 0usize;
    let mut starts = Vec::new();
    for (event, range) in Parser::new_ext(markdown, options()).into_offset_iter() {
        match event {
            Event::Start(_) => {
                if depth == 0 {
                    starts.push(range.start);
                }
                depth += 1;
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            // A rule is a block without a start and an end.
            Event::Rule if depth == 0 => starts.push(range.start),
            _ => {}
        }
    }
    let last = starts.last().copied().unwrap_or(0);
    let stable = match waiting {
        Some(at) => starts
            .iter()
            .copied()
            .take_while(|start| *start <= at)
            .last()
            .unwrap_or(0)
            .min(last),
        None => last,
    };
    line_start(markdown, stable)
}

/// The text up to its last line break: a definition on a line still being
/// written (`[1]: https://exa`) is not one yet.
pub fn complete_lines(text: &str) -> &str {
    text.rfind('\n').map_or("", |newline| &text[..=newline])
}

/// Where the first reference link (`[text][label]`, `[label][]`) whose
/// definition is not in `markdown` begins.
fn first_unresolved_reference(markdown: &str) -> Option<usize> {
    let mut waiting: Option<usize> = None;
    let parser = Parser::new_with_broken_link_callback(
        markdown,
        options(),
        Some(|link: BrokenLink<'_>| {
            // A shortcut (`[1]` alone) is also how prose brackets read:
            // waiting for those would hold back most answers to the end.
            if matches!(
                link.link_type,
                LinkType::Reference
                    | LinkType::ReferenceUnknown
                    | LinkType::Collapsed
                    | LinkType::CollapsedUnknown
            ) {
                waiting = Some(waiting.map_or(link.span.start, |w| w.min(link.span.start)));
            }
            None
        }),
    );
    parser.for_each(drop);
    waiting
}

/// Where the line holding byte `at` begins.
fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |newline| newline + 1)
}

/// The source text of the reference definitions (`[1]: https://…`) in
/// `markdown`, one per line: a streamed answer keeps them, so that text
/// rendered after they were sent still resolves its links to them.
///
/// ```
/// use ilink_core::markdown::reference_definitions;
///
/// let md = "See [the docs][1].\n\n[1]: https://example.com/docs\n";
/// assert_eq!(reference_definitions(md), "[1]: https://example.com/docs\n");
/// ```
pub fn reference_definitions(markdown: &str) -> String {
    let parser = Parser::new_ext(markdown, options());
    let mut spans: Vec<_> = parser
        .reference_definitions()
        .iter()
        .map(|(_, def)| def.span.clone())
        .collect();
    spans.sort_by_key(|span| span.start);
    spans
        .into_iter()
        .filter_map(|span| markdown.get(span))
        .map(|def| format!("{}\n", def.trim_end()))
        .collect()
}

/// Cuts a block longer than a message between its lines (a list between
/// items, a code block between lines), packing as many whole lines as fit;
/// only a line longer than a message is cut inside, by [`split_text`].
fn split_lines(block: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut units = 0;
    for line in block.split_inclusive('\n') {
        let line_units = text_units(line.trim_end_matches('\n'));
        if units + line_units <= max {
            current.push_str(line);
            units += text_units(line);
            continue;
        }
        if !current.trim_end().is_empty() {
            parts.push(current.trim_end_matches('\n').to_owned());
        }
        current.clear();
        if line_units <= max {
            current.push_str(line);
        } else {
            let mut pieces: Vec<&str> = split_text(line, max);
            let last = pieces.pop().unwrap_or_default();
            parts.extend(pieces.into_iter().map(str::to_owned));
            current.push_str(last);
        }
        units = text_units(&current);
    }
    let last = current.trim_end_matches('\n');
    if !last.is_empty() {
        parts.push(last.to_owned());
    }
    parts
}

/// Joins each heading to the block after it when the two fit in `max`
/// units, so a message does not end with a heading whose text is in the next.
fn keep_headings_with_their_block(blocks: Vec<Block>, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(blocks.len());
    let mut pending: Option<String> = None;
    for block in blocks {
        let text = match pending.take() {
            Some(heading)
                if text_units(&heading) + BLOCK_GAP.len() + text_units(&block.text) <= max =>
            {
                format!("{heading}{BLOCK_GAP}{}", block.text)
            }
            Some(heading) => {
                out.push(heading);
                block.text
            }
            None => block.text,
        };
        if block.heading {
            pending = Some(text);
        } else {
            out.push(text);
        }
    }
    out.extend(pending);
    out
}

/// A rendered top-level block.
struct Block {
    text: String,
    /// A heading: best kept in the same message as the block after it.
    heading: bool,
}

/// The rendered top-level blocks of `markdown`, none empty.
fn render_blocks(markdown: &str) -> Vec<Block> {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut r = Renderer::default();
    for event in Parser::new_ext(markdown, options) {
        r.event(event);
    }
    r.blocks
}

/// The Markdown this module reads: CommonMark with GitHub's tables,
/// strikethrough and task lists, which language models use.
fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// A list being rendered: the number of its next item, if ordered.
struct List {
    next: Option<u64>,
}

/// A table being rendered.
#[derive(Default)]
struct Table {
    rows: Vec<Vec<String>>,
    header_rows: usize,
}

/// An inline container whose text is rewritten when it ends.
enum Span {
    Link { url: String, autolink: bool },
    Image { url: String },
}

#[derive(Default)]
struct Renderer {
    blocks: Vec<Block>,
    /// The block being written is a heading.
    heading: bool,
    /// Open text buffers: the block being written, then one per open block
    /// quote, table cell, link or image.
    bufs: Vec<String>,
    /// How deep in block containers the parser is (0: between blocks).
    depth: usize,
    lists: Vec<List>,
    tables: Vec<Table>,
    spans: Vec<Span>,
    /// Inside a code block: its text is copied verbatim.
    in_code: bool,
    /// Whether the current list item has had a block already (a second
    /// paragraph in it starts on a new line).
    item_has_block: bool,
}

impl Renderer {
    fn buf(&mut self) -> &mut String {
        if self.bufs.is_empty() {
            self.bufs.push(String::new());
        }
        self.bufs.last_mut().expect("a buffer")
    }

    /// Indentation of a continuation line in the current list item.
    fn indent(&self) -> String {
        "  ".repeat(self.lists.len())
    }

    /// Starts a new line in the current buffer, indented for the list item
    /// it belongs to.
    fn newline(&mut self) {
        let indent = self.indent();
        let buf = self.buf();
        buf.push('\n');
        buf.push_str(&indent);
    }

    /// Separates a block from the one before it in the same container.
    fn block_break(&mut self) {
        if self.buf().is_empty() {
            return;
        }
        if self.lists.is_empty() {
            self.buf().push_str(BLOCK_GAP);
        } else {
            self.newline();
        }
    }

    fn text(&mut self, text: &str) {
        if !self.lists.is_empty() {
            self.item_has_block = true;
        }
        if self.in_code && !self.lists.is_empty() {
            // Verbatim, but kept inside its list item.
            let indent = self.indent();
            let mut lines = text.split('\n').peekable();
            while let Some(line) = lines.next() {
                self.buf().push_str(line);
                if lines.peek().is_some() {
                    self.buf().push('\n');
                    self.buf().push_str(&indent);
                }
            }
        } else {
            self.buf().push_str(text);
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.text(&t),
            Event::Code(t) => self.text(&t),
            Event::InlineMath(t) | Event::DisplayMath(t) => self.buf().push_str(&t),
            Event::Html(t) | Event::InlineHtml(t) => self.text(&t),
            Event::FootnoteReference(label) => {
                let note = format!("({label})");
                self.buf().push_str(&note);
            }
            Event::SoftBreak | Event::HardBreak => self.newline(),
            Event::Rule => {
                self.block_break();
                self.buf().push_str(RULE);
                self.finish_block_if_top();
            }
            Event::TaskListMarker(done) => {
                self.buf().push_str(if done { "☑ " } else { "☐ " });
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Heading { .. } => {
                self.open_block();
                self.heading = self.depth == 1 && self.bufs.len() <= 1;
            }
            Tag::Paragraph | Tag::HtmlBlock | Tag::MetadataBlock(_) => {
                self.open_block();
            }
            Tag::CodeBlock(_) => {
                self.open_block();
                self.in_code = true;
            }
            Tag::BlockQuote(_) => {
                self.open_block();
                self.bufs.push(String::new());
            }
            Tag::List(first) => {
                if self.lists.is_empty() {
                    self.open_block();
                } else {
                    self.depth += 1;
                }
                self.lists.push(List { next: first });
            }
            Tag::Item => {
                let level = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut().and_then(|l| l.next.as_mut()) {
                    Some(n) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    None => "• ".to_owned(),
                };
                if !self.buf().is_empty() {
                    self.buf().push('\n');
                }
                let prefix = format!("{}{marker}", "  ".repeat(level));
                self.buf().push_str(&prefix);
                self.item_has_block = false;
            }
            Tag::Table(_) => {
                self.open_block();
                self.tables.push(Table::default());
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(t) = self.tables.last_mut() {
                    t.rows.push(Vec::new());
                }
            }
            Tag::TableCell => self.bufs.push(String::new()),
            Tag::Link {
                link_type,
                dest_url,
                ..
            } => {
                let autolink = matches!(link_type, LinkType::Autolink | LinkType::Email);
                self.spans.push(Span::Link {
                    url: dest_url.into_string(),
                    autolink,
                });
                self.bufs.push(String::new());
            }
            Tag::Image { dest_url, .. } => {
                self.spans.push(Span::Image {
                    url: dest_url.into_string(),
                });
                self.bufs.push(String::new());
            }
            Tag::FootnoteDefinition(label) => {
                self.open_block();
                let head = format!("({label}) ");
                self.buf().push_str(&head);
            }
            Tag::DefinitionList | Tag::DefinitionListTitle | Tag::DefinitionListDefinition => {
                self.open_block();
            }
            Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Superscript
            | Tag::Subscript => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph
            | TagEnd::Heading(_)
            | TagEnd::HtmlBlock
            | TagEnd::MetadataBlock(_)
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition => self.close_block(),
            TagEnd::CodeBlock => {
                self.in_code = false;
                // The parser ends a code block's text with its last line
                // break, which the block gap replaces.
                let buf = self.buf();
                let trimmed = buf.trim_end_matches(['\n', ' ']).len();
                buf.truncate(trimmed);
                self.close_block();
            }
            TagEnd::BlockQuote(_) => {
                let inner = self.bufs.pop().unwrap_or_default();
                let quoted: Vec<String> = inner
                    .trim_end()
                    .lines()
                    .map(|l| {
                        if l.is_empty() {
                            "│".to_owned()
                        } else {
                            format!("│ {l}")
                        }
                    })
                    .collect();
                let joined = quoted.join("\n");
                self.text(&joined);
                self.close_block();
            }
            TagEnd::List(_) => {
                self.lists.pop();
                if self.lists.is_empty() {
                    self.close_block();
                } else {
                    self.depth = self.depth.saturating_sub(1);
                    // What follows in the enclosing item starts on a new line.
                    self.item_has_block = true;
                }
            }
            TagEnd::Item => {}
            TagEnd::Table => {
                if let Some(table) = self.tables.pop() {
                    let text = render_table(&table);
                    self.buf().push_str(&text);
                }
                self.close_block();
            }
            TagEnd::TableHead => {
                if let Some(t) = self.tables.last_mut() {
                    t.header_rows = t.rows.len();
                }
            }
            TagEnd::TableRow => {}
            TagEnd::TableCell => {
                let cell = self.bufs.pop().unwrap_or_default();
                if let Some(row) = self.tables.last_mut().and_then(|t| t.rows.last_mut()) {
                    row.push(cell.trim().to_owned());
                }
            }
            TagEnd::Link | TagEnd::Image => {
                let text = self.bufs.pop().unwrap_or_default();
                let rendered = match self.spans.pop() {
                    Some(Span::Link { url, autolink }) => {
                        let bare = url.strip_prefix("mailto:").unwrap_or(&url);
                        if autolink || text == url || text == bare || url.is_empty() {
                            if text.is_empty() { url } else { text }
                        } else if text.is_empty() {
                            url
                        } else {
                            format!("{text} ({url})")
                        }
                    }
                    Some(Span::Image { url }) => match (text.is_empty(), url.is_empty()) {
                        (true, _) => url,
                        (false, true) => text,
                        (false, false) => format!("{text} ({url})"),
                    },
                    None => text,
                };
                self.buf().push_str(&rendered);
            }
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript => {}
        }
    }

    /// A block starts: separated from the block before it in its container.
    fn open_block(&mut self) {
        if !self.lists.is_empty() {
            // A list item's first block follows its marker; later ones
            // start on a line of their own.
            if self.item_has_block {
                self.newline();
            }
            self.item_has_block = true;
        } else if self.depth > 0 || self.bufs.len() > 1 {
            self.block_break();
        }
        self.depth += 1;
    }

    /// A block ends; at the top level it becomes one of the output's blocks.
    fn close_block(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.finish_block_if_top();
    }

    fn finish_block_if_top(&mut self) {
        if self.depth == 0 && self.bufs.len() <= 1 {
            let block = self.bufs.pop().unwrap_or_default();
            let text = block.trim_end().to_owned();
            let heading = std::mem::take(&mut self.heading);
            if !text.trim().is_empty() {
                self.blocks.push(Block { text, heading });
            }
        }
    }
}

/// A table as lines of cells padded to their column's width.
fn render_table(table: &Table) -> String {
    let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |s: &str| s.chars().count();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            table
                .rows
                .iter()
                .filter_map(|r| r.get(c))
                .map(|s| width(s))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut lines = Vec::with_capacity(table.rows.len() + 1);
    for (i, row) in table.rows.iter().enumerate() {
        let cells: Vec<String> = (0..columns)
            .map(|c| {
                let cell = row.get(c).map(String::as_str).unwrap_or("");
                let pad = widths[c].saturating_sub(width(cell));
                format!("{cell}{}", " ".repeat(pad))
            })
            .collect();
        lines.push(cells.join(" | ").trim_end().to_owned());
        if i + 1 == table.header_rows {
            let total = widths.iter().sum::<usize>() + 3 * columns.saturating_sub(1);
            lines.push("─".repeat(total.max(1)));
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests;
