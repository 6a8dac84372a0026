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

use ilink_command_names as names;
use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{
    Attribute, Expr, FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, ItemImpl, Pat, Path,
    PathArguments, ReturnType, Signature, Type,
};

use crate::attrs::{self, ArgOptions, CommandOptions, ImplOptions};

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

/// A method marker that overrides one `Handler` hook of the same name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hook {
    OnError,
    ConversationStart,
    ConversationEnd,
    AccountEvent,
}

impl Hook {
    const ALL: [Hook; 4] = [
        Hook::OnError,
        Hook::ConversationStart,
        Hook::ConversationEnd,
        Hook::AccountEvent,
    ];

    /// The attribute's name, which is also the `Handler` method's name.
    fn name(self) -> &'static str {
        match self {
            Hook::OnError => "on_error",
            Hook::ConversationStart => "on_conversation_start",
            Hook::ConversationEnd => "on_conversation_end",
            Hook::AccountEvent => "on_account_event",
        }
    }

    /// What the duplicate error calls the method already chosen.
    fn role(self) -> &'static str {
        match self {
            Hook::OnError => "the error hook",
            Hook::ConversationStart => "the conversation-start hook",
            Hook::ConversationEnd => "the conversation-end hook",
            Hook::AccountEvent => "the account-event hook",
        }
    }

    fn of(attr: &Attribute) -> Option<Hook> {
        Hook::ALL
            .into_iter()
            .find(|h| attr.path().is_ident(h.name()))
    }

    /// Checks the method's signature against the hook's.
    fn read(self, sig: &Signature) -> syn::Result<()> {
        match self {
            Hook::OnError => read_on_error(sig),
            Hook::ConversationStart => read_on_conversation_start(sig),
            Hook::ConversationEnd => read_on_conversation_end(sig),
            Hook::AccountEvent => read_on_account_event(sig),
        }
    }

    fn slot(self, routes: &mut Routes) -> &mut Option<Ident> {
        match self {
            Hook::OnError => &mut routes.on_error,
            Hook::ConversationStart => &mut routes.on_conversation_start,
            Hook::ConversationEnd => &mut routes.on_conversation_end,
            Hook::AccountEvent => &mut routes.on_account_event,
        }
    }
}

/// One command method.
pub struct Command {
    /// The method.
    pub method: Ident,
    /// The command name.
    pub name: String,
    /// The doc comment, one expression per `#[doc]` line.
    pub docs: Vec<Expr>,
    /// The `#[command(…)]` options.
    pub options: CommandOptions,
    /// The arguments after `ctx`.
    pub args: Vec<Arg>,
}

/// How an argument takes its value (mirrors the runtime's `ArgKind`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Required,
    Optional,
    Rest,
    OptionalRest,
}

impl Kind {
    pub fn is_optional(self) -> bool {
        matches!(self, Kind::Optional | Kind::OptionalRest)
    }
}

/// One argument of a command.
pub struct Arg {
    /// Shown in usage lines.
    pub name: String,
    /// The parameter's type.
    pub ty: Type,
    /// The type a value is parsed to: `T` for `Option<T>`, else `ty`.
    pub value_ty: Type,
    /// The parsed type as written, for error messages.
    pub type_name: String,
    /// How it takes its value.
    pub kind: Kind,
    /// A custom parser.
    pub parse_with: Option<Path>,
}

/// The fallback method.
pub struct Fallback {
    /// The method.
    pub method: Ident,
    /// Whether it takes `&Message` (else `Message`).
    pub by_ref: bool,
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

/// Whether some parameter is `&mut Context`.
fn takes_context_mut(sig: &Signature) -> bool {
    sig.inputs
        .iter()
        .any(|arg| matches!(arg, FnArg::Typed(p) if is_ref_to(&p.ty, "Context", true)))
}

/// Whether `ty` is `&T` (`&mut T` when `mutable`) with `T` a path ending in
/// `name`.
fn is_ref_to(ty: &Type, name: &str, mutable: bool) -> bool {
    match ty {
        Type::Reference(r) => r.mutability.is_some() == mutable && is_path_to(&r.elem, name),
        Type::Paren(p) => is_ref_to(&p.elem, name, mutable),
        _ => false,
    }
}

/// Whether `ty` is a path ending in `name` without generic arguments.
fn is_path_to(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == name && s.arguments.is_empty()),
        Type::Paren(p) => is_path_to(&p.elem, name),
        _ => false,
    }
}

/// `T` if `ty` is `Option<T>`.
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Option" || p.qself.is_some() {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
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

fn read_command(
    f: &mut ImplItemFn,
    options: CommandOptions,
    implicit: bool,
    impl_options: &ImplOptions,
) -> syn::Result<Command> {
    let method = f.sig.ident.clone();
    let shape = format!("async fn {method}(&self, ctx: &mut Context, …) -> HandlerResult");
    let hint = if implicit {
        "\n(it is a command because it takes `&mut Context`; mark it #[skip] if it is a helper)"
    } else {
        ""
    };
    let params = read_head(&f.sig, "a command", &shape, hint)?;
    if matches!(f.sig.output, ReturnType::Default) {
        return Err(syn::Error::new(
            f.sig.paren_token.span.close(),
            format!("a command returns `HandlerResult`: `{shape}`"),
        ));
    }
    let mut errors = Errors::default();
    let mut args: Vec<Arg> = Vec::new();
    let count = params.len();
    for (i, param) in params.into_iter().enumerate() {
        if let Some(arg) = errors.check(read_arg(param, i + 1 == count, &args)) {
            args.push(arg);
        }
    }
    // The `#[arg]` attributes are ours; parameters cannot carry unknown
    // attributes into the emitted impl.
    for input in f.sig.inputs.iter_mut() {
        if let FnArg::Typed(p) = input {
            p.attrs.retain(|a| !a.path().is_ident("arg"));
        }
    }
    if let Some(e) = errors.0 {
        return Err(e);
    }

    let name = match &options.name {
        Some(lit) => {
            check_name(lit.value(), lit.span(), impl_options)?;
            lit.value()
        }
        None => impl_options.rename_all.apply(&method.unraw().to_string()),
    };
    for alias in &options.aliases {
        check_name(alias.value(), alias.span(), impl_options)?;
    }
    let docs = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => Some(nv.value.clone()),
            _ => None,
        })
        .collect();
    Ok(Command {
        method,
        name,
        docs,
        options,
        args,
    })
}

fn check_name(name: String, span: Span, options: &ImplOptions) -> syn::Result<()> {
    if !names::is_valid_name(&name) {
        return Err(syn::Error::new(
            span,
            "a command name must be one word without whitespace",
        ));
    }
    if !options.prefix.is_empty() && names::strip_prefix(&name, &options.prefix).is_some() {
        return Err(syn::Error::new(
            span,
            format!(
                "write the name without the prefix `{}`; it is added when matching",
                options.prefix
            ),
        ));
    }
    Ok(())
}

fn read_arg(param: &syn::PatType, last: bool, before: &[Arg]) -> syn::Result<Arg> {
    let options = ArgOptions::parse(&param.attrs)?;
    let name = match &*param.pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
            let name = p.ident.unraw().to_string();
            let trimmed = name.trim_start_matches('_');
            if trimmed.is_empty() {
                name
            } else {
                trimmed.to_owned()
            }
        }
        other => {
            return Err(syn::Error::new_spanned(
                other,
                "a command argument needs a plain name (`count: u32`): the name is shown in \
                 the usage line",
            ));
        }
    };
    let ty = (*param.ty).clone();
    let inner = option_inner(&ty).cloned();
    let value_ty = inner.clone().unwrap_or_else(|| ty.clone());
    let is_string = is_path_to(&value_ty, "String");
    if let Some(span) = options.rest {
        if !last {
            return Err(syn::Error::new(
                span,
                format!("`{name}` takes the rest of the line, so it must be the last argument"),
            ));
        }
    }
    let rest = last && (is_string || options.rest.is_some());
    let kind = match (inner.is_some(), rest) {
        (false, false) => Kind::Required,
        (true, false) => Kind::Optional,
        (false, true) => Kind::Rest,
        (true, true) => Kind::OptionalRest,
    };
    if let Some(optional) = before.iter().find(|a| a.kind.is_optional()) {
        if kind == Kind::Required {
            return Err(syn::Error::new_spanned(
                &param.pat,
                format!(
                    "the required argument `{name}` follows the optional argument `{}`; \
                     optional (`Option<…>`) arguments must come after the required ones",
                    optional.name
                ),
            ));
        }
        if kind == Kind::Rest {
            return Err(syn::Error::new_spanned(
                &param.ty,
                format!(
                    "`{name}` takes the rest of the line and must not be empty, but it follows \
                     the optional argument `{}`: make it `Option<String>`, or `{}` required",
                    optional.name, optional.name
                ),
            ));
        }
    }
    Ok(Arg {
        name,
        type_name: type_name(&value_ty),
        ty,
        value_ty,
        kind,
        parse_with: options.parse_with,
    })
}

/// Registers the names of `command`, reporting those already taken.
fn register(
    errors: &mut Errors,
    taken: &mut Vec<(String, String)>,
    command: &Command,
    options: &ImplOptions,
) {
    let mut names: Vec<(String, Span)> = Vec::new();
    let name_span = command
        .options
        .name
        .as_ref()
        .map_or_else(|| command.method.span(), |l| l.span());
    names.push((command.name.clone(), name_span));
    names.extend(
        command
            .options
            .aliases
            .iter()
            .map(|a| (a.value(), a.span())),
    );
    let own = taken.len();
    for (name, span) in names {
        let key = names::name_key(&name);
        if let Some(at) = taken.iter().position(|(k, _)| *k == key) {
            let owner = if at >= own {
                "this command already".to_owned()
            } else {
                format!("the command `{}{}`", options.prefix, taken[at].1)
            };
            errors.push(syn::Error::new(
                span,
                format!(
                    "the command name `{name}` is taken by {owner} \
                     (names and aliases compare case-insensitively)"
                ),
            ));
        } else {
            taken.push((key, command.name.clone()));
        }
    }
}

fn read_fallback(sig: &Signature) -> syn::Result<Fallback> {
    let shape = format!(
        "async fn {}(&self, ctx: &mut Context, msg: &Message) -> HandlerResult",
        sig.ident
    );
    let what = "the #[fallback] method";
    let params = read_head(sig, what, &shape, "")?;
    let by_ref = match params.as_slice() {
        [msg] if is_ref_to(&msg.ty, "Message", false) => true,
        [msg] if is_path_to(&msg.ty, "Message") => false,
        [other] => {
            return Err(syn::Error::new_spanned(
                &other.ty,
                format!("{what} takes the message as `&Message` or `Message`: `{shape}`"),
            ));
        }
        [] => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                format!("{what} takes the message after the context: `{shape}`"),
            ));
        }
        [_, extra, ..] => {
            return Err(syn::Error::new_spanned(
                extra,
                format!("{what} takes no arguments after the message: `{shape}`"),
            ));
        }
    };
    if matches!(sig.output, ReturnType::Default) {
        return Err(syn::Error::new(
            sig.paren_token.span.close(),
            format!("{what} returns `HandlerResult`: `{shape}`"),
        ));
    }
    Ok(Fallback {
        method: sig.ident.clone(),
        by_ref,
    })
}

fn read_on_error(sig: &Signature) -> syn::Result<()> {
    let shape = format!(
        "async fn {}(&self, ctx: &mut Context, error: FrameworkError)",
        sig.ident
    );
    let what = "the #[on_error] method";
    let params = read_head(sig, what, &shape, "")?;
    match params.as_slice() {
        [error] if is_path_to(&error.ty, "FrameworkError") => {}
        [other] => {
            return Err(syn::Error::new_spanned(
                &other.ty,
                format!("{what} takes the error by value as `FrameworkError`: `{shape}`"),
            ));
        }
        [] => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                format!("{what} takes the error after the context: `{shape}`"),
            ));
        }
        [_, extra, ..] => {
            return Err(syn::Error::new_spanned(
                extra,
                format!("{what} takes nothing after the error: `{shape}`"),
            ));
        }
    }
    if !returns_unit(sig) {
        return Err(syn::Error::new_spanned(
            &sig.output,
            format!("{what} returns nothing (it is the last stop for errors): `{shape}`"),
        ));
    }
    Ok(())
}

/// Whether the method returns `()`, written or not.
fn returns_unit(sig: &Signature) -> bool {
    match &sig.output {
        ReturnType::Default => true,
        ReturnType::Type(_, ty) => matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()),
    }
}

fn read_on_conversation_start(sig: &Signature) -> syn::Result<()> {
    let shape = format!(
        "async fn {}(&self, ctx: &mut Context) -> HandlerResult",
        sig.ident
    );
    let what = "the #[on_conversation_start] method";
    let params = read_head(sig, what, &shape, "")?;
    if let Some(extra) = params.first() {
        return Err(syn::Error::new_spanned(
            extra,
            format!("{what} takes nothing after the context: `{shape}`"),
        ));
    }
    // Unlike the other hooks it can fail: the error goes to the error hook
    // and the message is still handled.
    if matches!(sig.output, ReturnType::Default) {
        return Err(syn::Error::new(
            sig.paren_token.span.close(),
            format!("{what} returns `HandlerResult`: `{shape}`"),
        ));
    }
    Ok(())
}

fn read_on_conversation_end(sig: &Signature) -> syn::Result<()> {
    let shape = format!(
        "async fn {}(&self, account: &AccountId, conversation: &ConversationKey)",
        sig.ident
    );
    read_notification(
        sig,
        "the #[on_conversation_end] method",
        &shape,
        &[
            ("account", "AccountId"),
            ("conversation", "ConversationKey"),
        ],
        "the conversation has ended, no message is being handled",
    )
}

fn read_on_account_event(sig: &Signature) -> syn::Result<()> {
    let shape = format!("async fn {}(&self, event: &AccountEvent)", sig.ident);
    read_notification(
        sig,
        "the #[on_account_event] method",
        &shape,
        &[("event", "AccountEvent")],
        "account events are not about one message",
    )
}

/// A hook that is told something and has no `Context` to answer with:
/// `&self`, then `params` by shared reference (`(name, type)`), returning
/// `()`. `why_no_ctx` explains the missing context to whoever copied the
/// shape of the other hooks.
fn read_notification(
    sig: &Signature,
    what: &str,
    shape: &str,
    params: &[(&str, &str)],
    why_no_ctx: &str,
) -> syn::Result<()> {
    let mut inputs = read_receiver(sig, what, shape, "")?.filter_map(|arg| match arg {
        FnArg::Typed(p) => Some(p),
        FnArg::Receiver(_) => None,
    });
    for (name, ty) in params {
        let Some(param) = inputs.next() else {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                format!("{what} takes `{name}: &{ty}`: `{shape}`"),
            ));
        };
        if is_ref_to(&param.ty, ty, false) {
            continue;
        }
        let message =
            if is_ref_to(&param.ty, "Context", true) || is_ref_to(&param.ty, "Context", false) {
                format!("{what} takes no `Context` ({why_no_ctx}): `{shape}`")
            } else {
                format!("{what} takes the {name} as `&{ty}`: `{shape}`")
            };
        return Err(syn::Error::new_spanned(&param.ty, message));
    }
    if let Some(extra) = inputs.next() {
        return Err(syn::Error::new_spanned(
            extra,
            format!("{what} takes nothing more: `{shape}`"),
        ));
    }
    if !returns_unit(sig) {
        return Err(syn::Error::new_spanned(
            &sig.output,
            format!("{what} returns nothing: `{shape}`"),
        ));
    }
    Ok(())
}

/// A type as a person would write it: `Option<i64>`, `std::net::IpAddr`.
fn type_name(ty: &Type) -> String {
    let text = quote::quote!(#ty).to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let prev = out.chars().last().unwrap_or(' ');
            let next = chars.peek().copied().unwrap_or(' ');
            // Keep a space only between two word characters (`dyn Trait`)
            // and after a comma.
            let word = |c: char| c.is_alphanumeric() || c == '_' || c == '\'';
            if (word(prev) && word(next)) || prev == ',' {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
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
