//! Reading the impl block: which methods are commands, the fallback and the
//! hooks (`#[on_error]`, `#[on_conversation_start]`, `#[on_conversation_end]`,
//! `#[on_account_event]`), and whether their signatures fit.
//!
//! A method is a command when it has `#[command]`, or when it is not marked
//! otherwise and takes a `&mut Context` parameter: the signature says what
//! the method is for, and a method that takes the context but has a wrong
//! receiver or is not async is then a compile error instead of a command
//! that silently never runs. Methods without `&mut Context` (helpers,
//! checks taking `&Context`, constructors) are left alone, as is anything
//! marked `#[skip]`.
//!
//! All problems are collected, so one build reports every misuse at once.

mod command;
mod hooks;
mod types;

pub use command::{Arg, Command, Kind};
pub use hooks::Fallback;

use syn::{Attribute, FnArg, Ident, ImplItem, ItemImpl, Signature};

use crate::attrs::{self, CommandOptions, ImplOptions};

use self::command::{read_command, register};
use self::hooks::{Hook, read_fallback};
use self::types::{is_ref_to, takes_context_mut};

/// What the impl block declares.
pub struct Routes {
    /// The commands, in source order.
    pub commands: Vec<Command>,
    /// The `#[fallback]` method.
    pub fallback: Option<Fallback>,
    /// The `#[on_error]` method.
    pub on_error: Option<Ident>,
    /// The `#[on_conversation_start]` method.
    pub on_conversation_start: Option<Ident>,
    /// The `#[on_conversation_end]` method.
    pub on_conversation_end: Option<Ident>,
    /// The `#[on_account_event]` method.
    pub on_account_event: Option<Ident>,
}

/// Errors gathered while reading.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn check<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }
}

/// The role a method's attributes give it.
enum Role {
    Command(CommandOptions),
    Fallback,
    Hook(Hook),
    Skip,
    /// No attribute of ours: a command if it takes `&mut Context`.
    Unmarked,
}

const OURS: [&str; 7] = [
    "command",
    "fallback",
    "on_error",
    "on_conversation_start",
    "on_conversation_end",
    "on_account_event",
    "skip",
];

/// Reads `item`, removing the attributes this macro understands so that the
/// impl can be emitted as it is.
pub fn read(item: &mut ItemImpl, options: &ImplOptions) -> syn::Result<Routes> {
    let mut errors = Errors::default();
    let mut routes = Routes {
        commands: Vec::new(),
        fallback: None,
        on_error: None,
        on_conversation_start: None,
        on_conversation_end: None,
        on_account_event: None,
    };
    if let Some((_, path, _)) = &item.trait_ {
        errors.push(syn::Error::new_spanned(
            path,
            "#[commands] goes on an inherent impl block (`impl MyBot { … }`); \
             it writes the `Handler` impl itself",
        ));
    }
    // Where each taken name came from, for duplicate errors.
    let mut taken: Vec<(String, String)> = Vec::new();
    let mut fallback_attr_seen: Option<Ident> = None;
    // The first method marked with each hook, even if its signature was
    // wrong: a second marker is a duplicate either way.
    let mut hooks_seen: Vec<(Hook, Ident)> = Vec::new();

    for impl_item in &mut item.items {
        let ImplItem::Fn(f) = impl_item else { continue };
        let Some(role) = errors.check(role_of(&f.attrs)) else {
            f.attrs.retain(|a| !is_ours(a));
            continue;
        };
        // The whole marker (`#[fallback]`), where a duplicate is reported.
        let marker = f.attrs.iter().find(|a| is_ours(a)).cloned();
        let duplicate = |message: String| match &marker {
            Some(attr) => syn::Error::new_spanned(attr, message),
            None => syn::Error::new(f.sig.ident.span(), message),
        };
        f.attrs.retain(|a| !is_ours(a));
        match role {
            Role::Skip => {}
            Role::Unmarked if !takes_context_mut(&f.sig) => {}
            Role::Unmarked => {
                let command = read_command(f, CommandOptions::default(), true, options);
                if let Some(command) = errors.check(command) {
                    register(&mut errors, &mut taken, &command, options);
                    routes.commands.push(command);
                }
            }
            Role::Command(command_options) => {
                let command = read_command(f, command_options, false, options);
                if let Some(command) = errors.check(command) {
                    register(&mut errors, &mut taken, &command, options);
                    routes.commands.push(command);
                }
            }
            Role::Fallback => {
                if let Some(first) = &fallback_attr_seen {
                    errors.push(duplicate(format!(
                        "only one #[fallback] per impl block; `{first}` is already the fallback"
                    )));
                    continue;
                }
                fallback_attr_seen = Some(f.sig.ident.clone());
                if let Some(fallback) = errors.check(read_fallback(&f.sig)) {
                    routes.fallback = Some(fallback);
                }
            }
            Role::Hook(hook) => {
                if let Some((_, first)) = hooks_seen.iter().find(|(h, _)| *h == hook) {
                    errors.push(duplicate(format!(
                        "only one #[{}] per impl block; `{first}` is already {}",
                        hook.name(),
                        hook.role()
                    )));
                    continue;
                }
                hooks_seen.push((hook, f.sig.ident.clone()));
                if errors.check(hook.read(&f.sig)).is_some() {
                    *hook.slot(&mut routes) = Some(f.sig.ident.clone());
                }
            }
        }
    }
    match errors.0 {
        Some(e) => Err(e),
        None => Ok(routes),
    }
}

fn is_ours(attr: &Attribute) -> bool {
    OURS.iter().any(|name| attr.path().is_ident(name))
}

fn role_of(attrs: &[Attribute]) -> syn::Result<Role> {
    let mut role = Role::Unmarked;
    let mut first: Option<&Attribute> = None;
    for attr in attrs.iter().filter(|a| is_ours(a)) {
        if let Some(first) = first {
            return Err(syn::Error::new_spanned(
                attr,
                format!(
                    "`{}` cannot be combined with `{}` on the same method",
                    attr_name(attr),
                    attr_name(first)
                ),
            ));
        }
        first = Some(attr);
        role = if attr.path().is_ident("command") {
            Role::Command(CommandOptions::parse(attr)?)
        } else {
            attrs::marker(attr)?;
            if attr.path().is_ident("fallback") {
                Role::Fallback
            } else if let Some(hook) = Hook::of(attr) {
                Role::Hook(hook)
            } else {
                Role::Skip
            }
        };
    }
    Ok(role)
}

fn attr_name(attr: &Attribute) -> String {
    let name = attr
        .path()
        .get_ident()
        .map_or_else(String::new, ToString::to_string);
    format!("#[{name}]")
}

/// The shape every method of ours shares: `async`, not generic, `&self`
/// first. Returns the parameters after `&self`.
fn read_receiver<'s>(
    sig: &'s Signature,
    what: &str,
    shape: &str,
    hint: &str,
) -> syn::Result<syn::punctuated::Iter<'s, FnArg>> {
    if sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            sig.fn_token,
            format!("{what} must be an `async fn`: `{shape}`{hint}"),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            format!("{what} cannot have generic parameters"),
        ));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        Some(FnArg::Receiver(r)) => {
            return Err(syn::Error::new_spanned(
                r,
                format!(
                    "{what} takes `&self` (the handler is shared by every conversation): `{shape}`"
                ),
            ));
        }
        Some(FnArg::Typed(p)) => {
            return Err(syn::Error::new_spanned(
                p,
                format!("{what} takes `&self` first: `{shape}`{hint}"),
            ));
        }
        None => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                format!("{what} takes `&self` first: `{shape}`{hint}"),
            ));
        }
    }
    Ok(inputs)
}

/// The common shape: `async`, `&self`, then `ctx: &mut Context`. Returns the
/// parameters after `ctx`.
fn read_head<'s>(
    sig: &'s Signature,
    what: &str,
    shape: &str,
    hint: &str,
) -> syn::Result<Vec<&'s syn::PatType>> {
    let mut inputs = read_receiver(sig, what, shape, hint)?;
    match inputs.next() {
        Some(FnArg::Typed(p)) if is_ref_to(&p.ty, "Context", true) => {}
        Some(FnArg::Typed(p)) => {
            return Err(syn::Error::new_spanned(
                p,
                format!("{what} takes `ctx: &mut Context` right after `&self`: `{shape}`"),
            ));
        }
        _ => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                format!("{what} takes `ctx: &mut Context` right after `&self`: `{shape}`"),
            ));
        }
    }
    Ok(inputs
        .filter_map(|arg| match arg {
            FnArg::Typed(p) => Some(p),
            FnArg::Receiver(_) => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use ilink_command_names as names;
    use proc_macro2::Span;
    use syn::Type;

    use super::command::check_name;
    use super::types::type_name;
    use super::*;

    #[test]
    fn type_names_read_naturally() {
        let cases: [(Type, &str); 5] = [
            (syn::parse_quote!(i64), "i64"),
            (syn::parse_quote!(std::net::IpAddr), "std::net::IpAddr"),
            (syn::parse_quote!(Vec<(u8, u16)>), "Vec<(u8, u16)>"),
            (syn::parse_quote!(&'static str), "&'static str"),
            (syn::parse_quote!(Box<dyn Fn()>), "Box<dyn Fn()>"),
        ];
        for (ty, expected) in cases {
            assert_eq!(type_name(&ty), expected);
        }
    }

    fn all_chars() -> impl Iterator<Item = char> {
        (0..=u32::from(char::MAX)).filter_map(char::from_u32)
    }

    /// The macro's verdict on `name`, with the default prefix `/`.
    fn macro_accepts(name: &str) -> bool {
        check_name(name.to_owned(), Span::call_site(), &ImplOptions::default()).is_ok()
    }

    /// Whether the macro reports `b` as taken by `a` (the key `register`
    /// compares).
    fn macro_collides(a: &str, b: &str) -> bool {
        names::name_key(a) == names::name_key(b)
    }

    /// Whether the runtime refuses `b` next to `a` and matches `/b` to `a`;
    /// the two must agree.
    fn runtime_collides(a: &str, b: &str) -> bool {
        use ilink_framework::command::{CommandError, CommandSet, CommandSpec, SpecError};
        let mut set = CommandSet::new();
        set.add(CommandSpec::new(a)).expect("a valid name");
        let refused = matches!(
            set.add(CommandSpec::new(b)),
            Err(SpecError::DuplicateName { .. })
        );
        let matched = match set.find(&format!("/{b}")) {
            Ok(Some(found)) => found.spec.name == a,
            Err(CommandError::UnknownCommand { .. }) => false,
            other => panic!("{other:?}"),
        };
        assert_eq!(refused, matched, "{a:?} {b:?}");
        refused
    }

    #[test]
    fn whitespace_in_names_is_refused_as_by_the_runtime() {
        use ilink_framework::command::CommandSpec;
        for c in all_chars() {
            let name = format!("a{c}b");
            let runtime = CommandSpec::new(name.as_str()).validate().is_ok();
            assert_eq!(macro_accepts(&name), runtime, "U+{:04X}", c as u32);
            assert_eq!(runtime, !c.is_whitespace(), "U+{:04X}", c as u32);
        }
        assert!(!macro_accepts("") && !macro_accepts("/ping") && !macro_accepts("／ping"));
    }

    #[test]
    fn case_pairs_collide_as_in_the_runtime() {
        let mut pairs = 0;
        for c in all_chars() {
            let name = format!("x{c}");
            let upper: String = c.to_uppercase().collect();
            let lower: String = c.to_lowercase().collect();
            for other in [upper, lower] {
                if other == c.to_string() {
                    continue;
                }
                let other = format!("x{other}");
                let collides = macro_collides(&name, &other);
                assert!(collides, "{name:?} {other:?}");
                assert_eq!(
                    runtime_collides(&name, &other),
                    collides,
                    "{name:?} {other:?}"
                );
                pairs += 1;
            }
        }
        assert!(pairs > 2000, "{pairs}");
    }

    #[test]
    fn full_width_and_distinct_names_as_in_the_runtime() {
        for c in '\u{FF01}'..='\u{FF5E}' {
            let ascii = char::from_u32(c as u32 - 0xFEE0).unwrap();
            let (a, b) = (format!("x{ascii}"), format!("x{c}"));
            assert!(macro_collides(&a, &b), "{a:?} {b:?}");
            assert!(runtime_collides(&a, &b), "{a:?} {b:?}");
        }
        for (a, b) in [("add", "ad"), ("add", "add2"), ("σ", "s")] {
            assert!(!macro_collides(a, b), "{a:?} {b:?}");
            assert!(!runtime_collides(a, b), "{a:?} {b:?}");
        }
    }
}
