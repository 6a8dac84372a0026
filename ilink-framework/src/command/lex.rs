//! Splitting the argument text of a command into tokens.
//!
//! The rules, chosen for what people type on a phone:
//!
//! - Tokens are separated by any Unicode whitespace, including the
//!   ideographic space U+3000 that Chinese input methods insert and newlines.
//! - A token that starts with a quote runs to the matching closing quote and
//!   may contain whitespace. The pairs are `"…"`, `'…'`, `“…”` and `‘…’`
//!   (phones and Chinese input methods turn straight quotes into curly ones).
//!   The closing quote ends the token even when no whitespace follows.
//! - Inside quotes, `\\` is a backslash, `\n` a newline, `\t` a tab, and a
//!   backslash before any quote character is that quote; any other backslash
//!   is kept as it is, so `"C:\dir"` survives.
//! - Outside quotes nothing is special: `don't` and `C:\dir` are plain tokens,
//!   and a quote only opens at the start of a token.
//! - A quote that is never closed is an error ([`LexError`]), rather than a
//!   guess that would hand the command a wrong value.

use std::borrow::Cow;
use std::ops::Range;

/// One argument token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    /// The value: quotes removed and escapes resolved.
    pub(crate) value: Cow<'a, str>,
    /// Where the token is in the input, in bytes, quotes included.
    pub(crate) span: Range<usize>,
    /// The opening quote, if the token was quoted.
    pub(crate) quote: Option<char>,
}

/// A quote that is never closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unterminated quote {quote} at byte {offset}")]
pub(crate) struct LexError {
    /// The opening quote.
    pub(crate) quote: char,
    /// Byte offset of the opening quote in the input.
    pub(crate) offset: usize,
}

/// A lazy tokenizer over argument text; see the [module docs](self) for the
/// rules. It yields tokens one by one so that a command whose last argument
/// takes the rest of the line can stop early with [`Lexer::rest`], leaving
/// that part unparsed (an odd quote in free text is then no error).
#[derive(Debug, Clone)]
pub(crate) struct Lexer<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `input`.
    pub(crate) fn new(input: &'a str) -> Self {
        Lexer { input, pos: 0 }
    }

    /// Everything not consumed yet, leading whitespace removed, verbatim
    /// otherwise. Consumes it.
    pub(crate) fn rest(&mut self) -> &'a str {
        let rest = self.input[self.pos..].trim_start();
        self.pos = self.input.len();
        rest
    }

    /// Whether only whitespace is left.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.input[self.pos..].trim_start().is_empty()
    }

    fn skip_whitespace(&mut self) {
        let rest = &self.input[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn quoted(&mut self, open: char, close: char) -> Result<Token<'a>, LexError> {
        let start = self.pos;
        let body_start = start + open.len_utf8();
        let mut value: Option<String> = None;
        let mut chars = self.input[body_start..].char_indices();
        while let Some((i, c)) = chars.next() {
            let at = body_start + i;
            if c == close {
                self.pos = at + c.len_utf8();
                let value = match value {
                    Some(owned) => Cow::Owned(owned),
                    None => Cow::Borrowed(&self.input[body_start..at]),
                };
                return Ok(Token {
                    value,
                    span: start..self.pos,
                    quote: Some(open),
                });
            }
            if c == '\\' {
                let Some((_, next)) = chars.next() else { break };
                let resolved = match next {
                    '\\' => Some('\\'),
                    'n' => Some('\n'),
                    't' => Some('\t'),
                    q if closing_quote(q).is_some() || is_closing_quote(q) => Some(q),
                    _ => None,
                };
                // Copy-on-write: a quoted token without escapes stays borrowed.
                let owned = value.get_or_insert_with(|| self.input[body_start..at].to_owned());
                match resolved {
                    Some(r) => owned.push(r),
                    None => {
                        owned.push('\\');
                        owned.push(next);
                    }
                }
            } else if let Some(owned) = &mut value {
                owned.push(c);
            }
        }
        self.pos = self.input.len();
        Err(LexError {
            quote: open,
            offset: start,
        })
    }

    fn plain(&mut self) -> Token<'a> {
        let start = self.pos;
        let rest = &self.input[start..];
        let len = rest.find(char::is_whitespace).unwrap_or(rest.len());
        self.pos = start + len;
        Token {
            value: Cow::Borrowed(&rest[..len]),
            span: start..self.pos,
            quote: None,
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Token<'a>, LexError>;

    /// The next token; after an error, `None`.
    fn next(&mut self) -> Option<Self::Item> {
        self.skip_whitespace();
        let first = self.input[self.pos..].chars().next()?;
        Some(match closing_quote(first) {
            Some(close) => self.quoted(first, close),
            None => Ok(self.plain()),
        })
    }
}

/// The closing quote for an opening one.
fn closing_quote(open: char) -> Option<char> {
    match open {
        '"' => Some('"'),
        '\'' => Some('\''),
        '\u{201C}' => Some('\u{201D}'),
        '\u{2018}' => Some('\u{2019}'),
        _ => None,
    }
}

fn is_closing_quote(c: char) -> bool {
    matches!(c, '\u{201D}' | '\u{2019}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lex(input: &str) -> Result<Vec<String>, LexError> {
        Lexer::new(input)
            .map(|t| t.map(|t| t.value.into_owned()))
            .collect()
    }

    #[test]
    fn whitespace_separates() {
        assert_eq!(lex("a b  c").unwrap(), ["a", "b", "c"]);
        assert_eq!(lex("  a\tb\nc  ").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            lex("中文\u{3000}参数\u{00A0}x").unwrap(),
            ["中文", "参数", "x"]
        );
        assert_eq!(lex("").unwrap(), Vec::<String>::new());
        assert_eq!(lex(" \u{3000} ").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn quotes_group_words() {
        assert_eq!(lex(r#""a b" c"#).unwrap(), ["a b", "c"]);
        assert_eq!(lex("'a b' c").unwrap(), ["a b", "c"]);
        assert_eq!(lex("“你 好” c").unwrap(), ["你 好", "c"]);
        assert_eq!(lex("‘x y’").unwrap(), ["x y"]);
        assert_eq!(lex(r#""""#).unwrap(), [""]);
        assert_eq!(
            lex(r#""it's" 'say "hi"'"#).unwrap(),
            ["it's", r#"say "hi""#]
        );
    }

    #[test]
    fn a_closing_quote_ends_the_token() {
        assert_eq!(lex(r#""a"b"#).unwrap(), ["a", "b"]);
    }

    #[test]
    fn quotes_inside_a_word_are_literal() {
        assert_eq!(lex(r#"don't say"#).unwrap(), ["don't", "say"]);
        assert_eq!(lex(r#"a"b c"#).unwrap(), [r#"a"b"#, "c"]);
        assert_eq!(lex(r"C:\dir \n").unwrap(), [r"C:\dir", r"\n"]);
    }

    #[test]
    fn escapes_inside_quotes() {
        assert_eq!(lex(r#""a \"b\" c""#).unwrap(), [r#"a "b" c"#]);
        assert_eq!(lex(r#""back\\slash""#).unwrap(), [r"back\slash"]);
        assert_eq!(lex(r#""line\nbreak\ttab""#).unwrap(), ["line\nbreak\ttab"]);
        assert_eq!(lex(r"'it\'s'").unwrap(), ["it's"]);
        assert_eq!(lex(r"“say \”hi\””").unwrap(), ["say ”hi”"]);
        assert_eq!(lex(r#""C:\dir""#).unwrap(), [r"C:\dir"]);
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert_eq!(
            lex(r#"a "b c"#),
            Err(LexError {
                quote: '"',
                offset: 2
            })
        );
        assert_eq!(
            lex("“open"),
            Err(LexError {
                quote: '“',
                offset: 0
            })
        );
        assert_eq!(lex(r#""ends with backslash\"#).unwrap_err().quote, '"');
        assert_eq!(lex(r#""escaped close\""#).unwrap_err().offset, 0);
        // A curly opening quote is not closed by a straight one.
        assert!(lex("“mixed\"").is_err());
    }

    #[test]
    fn lexing_stops_after_an_error() {
        let mut lexer = Lexer::new("'open");
        assert!(lexer.next().unwrap().is_err());
        assert_eq!(lexer.next(), None);
    }

    #[test]
    fn spans_cover_the_quotes() {
        let tokens: Vec<_> = Lexer::new(r#"ab “c d”"#).map(Result::unwrap).collect();
        assert_eq!(tokens[0].span, 0..2);
        assert_eq!(tokens[1].span, 3..3 + "“c d”".len());
        assert_eq!(tokens[1].quote, Some('“'));
        assert!(matches!(tokens[1].value, Cow::Borrowed(_)));
    }

    #[test]
    fn rest_is_verbatim_after_leading_whitespace() {
        let mut lexer = Lexer::new(r#"first   "odd quote  kept"#);
        assert_eq!(lexer.next().unwrap().unwrap().value, "first");
        assert!(!lexer.is_empty());
        assert_eq!(lexer.rest(), r#""odd quote  kept"#);
        assert!(lexer.is_empty());
        assert_eq!(lexer.next(), None);
    }

    proptest! {
        #[test]
        fn never_panics(input in r#"[ a"'“”‘’\\\u{3000}é👍\n]{0,40}"#) {
            let mut lexer = Lexer::new(&input);
            for token in lexer.by_ref().flatten() {
                prop_assert!(input.get(token.span.clone()).is_some());
            }
            let _ = lexer.rest();
        }

        #[test]
        fn plain_words_round_trip(words in prop::collection::vec("[a-z中文]{1,5}", 0..8)) {
            prop_assert_eq!(lex(&words.join(" ")).unwrap(), words);
        }
    }
}
