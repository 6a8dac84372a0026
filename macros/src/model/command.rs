//! Command methods: their names, their arguments and how each takes its value.

use ilink_command_names as names;
use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Expr, FnArg, Ident, ImplItemFn, Pat, Path, ReturnType, Type};

use crate::attrs::{ArgOptions, CommandOptions, ImplOptions};

use super::types::{is_path_to, option_inner, type_name};
use super::{Errors, read_head};

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

pub(super) fn read_command(
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

pub(super) fn check_name(name: String, span: Span, options: &ImplOptions) -> syn::Result<()> {
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
pub(super) fn register(
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
