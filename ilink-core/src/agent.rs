//! The `bot_agent` field of `base_info`: a User-Agent-like product list.
//!
//! The server only uses it for observability, but it is strict about its
//! shape, so whatever the application passes is sanitized here instead of
//! being rejected: invalid products are dropped, and an empty result falls
//! back to [`default_bot_agent`].
//!
//! ```
//! use ilink_core::agent::sanitize_bot_agent;
//! assert_eq!(sanitize_bot_agent("MyBot/1.2 (prod) bad token/é x/1"), "MyBot/1.2 (prod) x/1");
//! assert!(sanitize_bot_agent("").starts_with("ilink-rs/"));
//! ```

/// Longest allowed agent string, in bytes.
pub const MAX_AGENT_LEN: usize = 256;
const MAX_NAME_LEN: usize = 32;
const MAX_VERSION_LEN: usize = 32;
const MAX_COMMENT_LEN: usize = 64;

/// The agent sent when the configured one has no valid product: `ilink-rs/<crate version>`.
pub fn default_bot_agent() -> String {
    format!("ilink-rs/{}", env!("CARGO_PKG_VERSION"))
}

/// Keeps the valid `Name/Version [(comment)]` products of `input`, in order,
/// as long as the result stays within [`MAX_AGENT_LEN`] bytes.
pub fn sanitize_bot_agent(input: &str) -> String {
    let mut out = String::new();
    for product in parse_products(input) {
        let extra = if out.is_empty() { 0 } else { 1 };
        if out.len() + extra + product.len() > MAX_AGENT_LEN {
            // Later products would be out of order if a shorter one were
            // squeezed in, so stop at the first one that does not fit.
            break;
        }
        if extra == 1 {
            out.push(' ');
        }
        out.push_str(&product);
    }
    if out.is_empty() {
        default_bot_agent()
    } else {
        out
    }
}

/// Splits the input into products with their comments; invalid ones are skipped.
fn parse_products(input: &str) -> Vec<String> {
    let mut products = Vec::new();
    let mut rest = input;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if rest.is_empty() {
            break;
        }
        if let Some(after) = rest.strip_prefix('(') {
            // A comment without a valid product before it: skip it whole.
            rest = skip_comment(after);
            continue;
        }
        let end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '(')
            .unwrap_or(rest.len());
        let token = &rest[..end];
        rest = &rest[end..];
        let valid = is_product(token);

        // An optional comment follows after whitespace.
        let after_ws = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        let mut comment = None;
        if let Some(inner) = after_ws.strip_prefix('(') {
            match inner.find(')') {
                Some(close) => {
                    let text = &inner[..close];
                    if is_comment(text) {
                        comment = Some(text);
                    }
                    rest = &inner[close + 1..];
                }
                None => rest = "",
            }
        }
        if valid {
            match comment {
                Some(c) => products.push(format!("{token} ({c})")),
                None => products.push(token.to_owned()),
            }
        }
    }
    products
}

fn skip_comment(after_open: &str) -> &str {
    match after_open.find(')') {
        Some(close) => &after_open[close + 1..],
        None => "",
    }
}

fn is_product(token: &str) -> bool {
    let Some((name, version)) = token.split_once('/') else {
        return false;
    };
    let name_ok = (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    let version_ok = (1..=MAX_VERSION_LEN).contains(&version.len())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'));
    name_ok && version_ok
}

fn is_comment(text: &str) -> bool {
    (1..=MAX_COMMENT_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'(' && b != b')')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_valid_products_and_comments() {
        assert_eq!(
            sanitize_bot_agent("OpenClaw/1.0.11 (linux; x64) ilink-rs/0.1.0"),
            "OpenClaw/1.0.11 (linux; x64) ilink-rs/0.1.0"
        );
        assert_eq!(
            sanitize_bot_agent("a_b.c-d/1.0+build_x-y"),
            "a_b.c-d/1.0+build_x-y"
        );
    }

    #[test]
    fn drops_invalid_tokens() {
        assert_eq!(sanitize_bot_agent("noversion Good/1 /1 x/ a/b/c"), "Good/1");
        assert_eq!(sanitize_bot_agent("名字/1 ok/2"), "ok/2");
        assert_eq!(sanitize_bot_agent("bad (comment) ok/1"), "ok/1");
        let long_name = format!("{}/1 ok/1", "n".repeat(33));
        assert_eq!(sanitize_bot_agent(&long_name), "ok/1");
    }

    #[test]
    fn drops_invalid_comments_but_keeps_the_product() {
        let long_comment = format!("p/1 ({})", "c".repeat(65));
        assert_eq!(sanitize_bot_agent(&long_comment), "p/1");
        assert_eq!(sanitize_bot_agent("p/1 () q/2"), "p/1 q/2");
        assert_eq!(sanitize_bot_agent("p/1 (tab\there) q/2"), "p/1 q/2");
        assert_eq!(sanitize_bot_agent("p/1 (unterminated"), "p/1");
    }

    #[test]
    fn empty_result_falls_back_to_the_default() {
        assert_eq!(sanitize_bot_agent(""), default_bot_agent());
        assert_eq!(sanitize_bot_agent("!!! ???"), default_bot_agent());
        assert_eq!(
            default_bot_agent(),
            format!("ilink-rs/{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn respects_the_length_limit() {
        let many = vec!["product-name/1.2.3"; 40].join(" ");
        let s = sanitize_bot_agent(&many);
        assert!(s.len() <= MAX_AGENT_LEN, "{}", s.len());
        assert!(s.starts_with("product-name/1.2.3 product-name/1.2.3"));
    }

    proptest! {
        #[test]
        fn output_is_always_valid(input in ".{0,400}") {
            let s = sanitize_bot_agent(&input);
            prop_assert!(s.is_ascii());
            prop_assert!(s.len() <= MAX_AGENT_LEN);
            prop_assert!(!s.is_empty());
            // Sanitizing is idempotent: a valid agent passes unchanged.
            prop_assert_eq!(sanitize_bot_agent(&s), s.clone());
        }
    }
}
