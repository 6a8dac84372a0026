//! Reading types as written in a signature: references, paths, `Option<T>`.

use syn::{FnArg, GenericArgument, PathArguments, Signature, Type};

/// Whether some parameter is `&mut Context`.
pub(super) fn takes_context_mut(sig: &Signature) -> bool {
    sig.inputs
        .iter()
        .any(|arg| matches!(arg, FnArg::Typed(p) if is_ref_to(&p.ty, "Context", true)))
}

/// Whether `ty` is `&T` (`&mut T` when `mutable`) with `T` a path ending in
/// `name`.
pub(super) fn is_ref_to(ty: &Type, name: &str, mutable: bool) -> bool {
    match ty {
        Type::Reference(r) => r.mutability.is_some() == mutable && is_path_to(&r.elem, name),
        Type::Paren(p) => is_ref_to(&p.elem, name, mutable),
        _ => false,
    }
}

/// Whether `ty` is a path ending in `name` without generic arguments.
pub(super) fn is_path_to(ty: &Type, name: &str) -> bool {
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
pub(super) fn option_inner(ty: &Type) -> Option<&Type> {
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

/// A type as a person would write it: `Option<i64>`, `std::net::IpAddr`.
pub(super) fn type_name(ty: &Type) -> String {
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
