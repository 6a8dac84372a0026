//! Parsing of the attribute arguments: `#[commands(…)]` on the impl block,
//! `#[command(…)]` on a method, `#[arg(…)]` on a parameter, and the marker
//! attributes `#[fallback]`, `#[skip]` and the hooks (`#[on_error]`,
//! `#[on_conversation_start]`, `#[on_conversation_end]`,
//! `#[on_account_event]`).
//!
//! Every key is checked here, so a typo is an error at the key rather than
//! an option silently ignored.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprArray, Lit, LitBool, LitStr, Path};

/// The options of `#[commands(…)]`.
pub struct ImplOptions {
    /// The command prefix (default `/`).
    pub prefix: String,
    /// How method names become command names.
    pub rename_all: RenameRule,
    /// Whether `/help` is served.
    pub help: bool,
    /// The path of the framework crate, for users who renamed it.
    pub krate: Path,
}

impl Default for ImplOptions {
    fn default() -> Self {
        ImplOptions {
            prefix: "/".to_owned(),
            rename_all: RenameRule::Snake,
            help: true,
            krate: syn::parse_quote!(::ilink_framework),
        }
    }
}

impl ImplOptions {
    const KEYS: &'static str = "prefix, rename_all, help, crate";

    /// Parses the arguments of `#[commands(…)]` (possibly empty).
    pub fn parse(args: proc_macro2::TokenStream) -> syn::Result<Self> {
        let mut options = ImplOptions::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("prefix") {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().chars().any(ilink_command_names::is_separator) {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        "the prefix cannot contain whitespace",
                    ));
                }
                options.prefix = lit.value();
            } else if meta.path.is_ident("rename_all") {
                let lit: LitStr = meta.value()?.parse()?;
                options.rename_all = RenameRule::parse(&lit)?;
            } else if meta.path.is_ident("help") {
                options.help = meta.value()?.parse::<LitBool>()?.value;
            } else if meta.path.is_ident("crate") {
                options.krate = meta.value()?.parse()?;
            } else {
                return Err(unknown_key(&meta, "#[commands]", Self::KEYS));
            }
            Ok(())
        });
        syn::parse::Parser::parse2(parser, args)?;
        Ok(options)
    }
}

/// How a method name (snake_case) becomes a command name.
#[derive(Clone, Copy)]
pub enum RenameRule {
    /// As written: `set_name`.
    Snake,
    /// `set-name`.
    Kebab,
    /// `setname`.
    Lower,
    /// `setName`.
    Camel,
}

impl RenameRule {
    fn parse(lit: &LitStr) -> syn::Result<Self> {
        Ok(match lit.value().as_str() {
            "snake_case" => RenameRule::Snake,
            "kebab-case" => RenameRule::Kebab,
            "lowercase" => RenameRule::Lower,
            "camelCase" => RenameRule::Camel,
            other => {
                return Err(syn::Error::new_spanned(
                    lit,
                    format!(
                        "unknown rename rule `{other}`; expected one of: \
                         \"snake_case\" (the default), \"kebab-case\", \"lowercase\", \"camelCase\""
                    ),
                ));
            }
        })
    }

    /// Applies the rule to a method name.
    pub fn apply(self, name: &str) -> String {
        // Leading and trailing underscores are not word separators; keep them
        // out of the rewriting so `_x` does not become `-x`.
        let name = name.trim_matches('_');
        match self {
            RenameRule::Snake => name.to_owned(),
            RenameRule::Kebab => name.replace('_', "-"),
            RenameRule::Lower => name.replace('_', "").to_lowercase(),
            RenameRule::Camel => {
                let mut out = String::with_capacity(name.len());
                for (i, word) in name.split('_').filter(|w| !w.is_empty()).enumerate() {
                    let mut chars = word.chars();
                    if let Some(first) = chars.next() {
                        if i == 0 {
                            out.push(first);
                        } else {
                            out.extend(first.to_uppercase());
                        }
                        out.push_str(chars.as_str());
                    }
                }
                out
            }
        }
    }
}

/// The options of `#[command(…)]` on one method.
#[derive(Default)]
pub struct CommandOptions {
    /// The explicit name, with the literal for error spans.
    pub name: Option<LitStr>,
    /// Other names.
    pub aliases: Vec<LitStr>,
    /// Replaces the doc comment's first paragraph in `/help`.
    pub description: Option<LitStr>,
    /// Left out of the `/help` list.
    pub hidden: bool,
    /// Functions `async fn(&Self, &Context) -> bool` that must all say yes.
    pub checks: Vec<Path>,
    /// Per-user cooldown in milliseconds.
    pub cooldown_ms: Option<u64>,
}

impl CommandOptions {
    const KEYS: &'static str = "name, aliases, description, hidden, check, cooldown";

    /// Parses `#[command]` or `#[command(…)]`.
    pub fn parse(attr: &Attribute) -> syn::Result<Self> {
        let mut options = CommandOptions::default();
        if matches!(attr.meta, syn::Meta::Path(_)) {
            return Ok(options);
        }
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                options.name = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("aliases") {
                let array: ExprArray = meta.value()?.parse()?;
                for element in array.elems {
                    match element {
                        Expr::Lit(syn::ExprLit {
                            lit: Lit::Str(s), ..
                        }) => options.aliases.push(s),
                        other => {
                            return Err(syn::Error::new_spanned(
                                other,
                                "aliases are string literals: `aliases = [\"plus\", \"sum\"]`",
                            ));
                        }
                    }
                }
            } else if meta.path.is_ident("alias") {
                options.aliases.push(meta.value()?.parse()?);
            } else if meta.path.is_ident("description") {
                options.description = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("hidden") {
                options.hidden = flag(&meta)?;
            } else if meta.path.is_ident("check") {
                options.checks.push(meta.value()?.parse()?);
            } else if meta.path.is_ident("cooldown") {
                options.cooldown_ms = Some(cooldown(meta.value()?.parse()?)?);
            } else {
                return Err(unknown_key(&meta, "#[command]", Self::KEYS));
            }
            Ok(())
        })?;
        Ok(options)
    }
}

/// The options of `#[arg(…)]` on one parameter.
#[derive(Default)]
pub struct ArgOptions {
    /// A function `fn(&str) -> Result<T, E: Display>` used instead of
    /// `ParseArg`.
    pub parse_with: Option<Path>,
    /// Takes the rest of the line even if the type is not `String`; the
    /// span of the key, for the "must be last" error.
    pub rest: Option<Span>,
}

impl ArgOptions {
    const KEYS: &'static str = "parse_with, rest";

    /// Parses and merges every `#[arg(…)]` among `attrs`.
    pub fn parse(attrs: &[Attribute]) -> syn::Result<Self> {
        let mut options = ArgOptions::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("arg")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("parse_with") {
                    options.parse_with = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("rest") {
                    if flag(&meta)? {
                        options.rest = Some(meta.path.span());
                    }
                } else {
                    return Err(unknown_key(&meta, "#[arg]", Self::KEYS));
                }
                Ok(())
            })?;
        }
        Ok(options)
    }
}

/// Checks that a marker attribute (`#[fallback]`, `#[skip]`, a hook) has no
/// arguments.
pub fn marker(attr: &Attribute) -> syn::Result<()> {
    match &attr.meta {
        syn::Meta::Path(_) => Ok(()),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "`#[{}]` takes no arguments",
                attr.path()
                    .get_ident()
                    .map_or_else(String::new, ToString::to_string)
            ),
        )),
    }
}

/// `key` alone or `key = true/false`.
fn flag(meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
    if meta.input.peek(syn::Token![=]) {
        Ok(meta.value()?.parse::<LitBool>()?.value)
    } else {
        Ok(true)
    }
}

fn unknown_key(meta: &ParseNestedMeta<'_>, attribute: &str, keys: &str) -> syn::Error {
    let key = meta
        .path
        .get_ident()
        .map_or_else(|| "?".to_owned(), ToString::to_string);
    meta.error(format!(
        "unknown key `{key}` in {attribute}; expected one of: {keys}"
    ))
}

/// A cooldown: an integer number of seconds (`cooldown = 5`) or a duration
/// string (`cooldown = "1m 30s"`, units `ms`, `s`, `m`, `h`, `d`).
fn cooldown(lit: Lit) -> syn::Result<u64> {
    let invalid = |lit: &dyn quote::ToTokens, why: &str| {
        syn::Error::new_spanned(
            lit,
            format!(
                "{why}; write the cooldown as seconds (`cooldown = 5`) or as a duration \
                 string such as \"500ms\", \"30s\", \"1m 30s\", \"2h\", \"1d\""
            ),
        )
    };
    match &lit {
        Lit::Int(int) => int
            .base10_parse::<u64>()
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(|| invalid(int, "the cooldown is too long")),
        Lit::Str(s) => parse_duration(&s.value()).map_err(|why| invalid(s, &why)),
        other => Err(invalid(other, "unsupported cooldown")),
    }
}

/// `"1m 30s"` → milliseconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let mut total: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("the duration is empty".to_owned());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{text}` is not a duration: expected a number"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is too long"))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let per_unit: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("`{text}` is missing a unit after {number}")),
            unit => return Err(format!("unknown unit `{unit}` in `{text}`")),
        };
        total = number
            .checked_mul(per_unit)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("`{text}` is too long"))?;
        rest = rest[unit_len..].trim_start();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("1m 30s"), Ok(90_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000));
        assert_eq!(parse_duration(" 2h "), Ok(7_200_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        for bad in ["", "5", "s", "5 parsecs", "1m x", "99999999999999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rename_rules() {
        assert_eq!(RenameRule::Snake.apply("set_name"), "set_name");
        assert_eq!(RenameRule::Kebab.apply("set_name"), "set-name");
        assert_eq!(RenameRule::Lower.apply("set_name"), "setname");
        assert_eq!(RenameRule::Camel.apply("set_user_name"), "setUserName");
        assert_eq!(RenameRule::Kebab.apply("_private_"), "private");
        assert_eq!(RenameRule::Camel.apply("add"), "add");
    }
}
