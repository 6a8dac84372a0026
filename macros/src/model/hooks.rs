//! The fallback and the hook methods, and the signatures they must have.

use syn::{Attribute, FnArg, Ident, ReturnType, Signature, Type};

use super::types::{is_path_to, is_ref_to};
use super::{Routes, read_head, read_receiver};

/// A method marker that overrides one `Handler` hook of the same name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Hook {
    OnError,
    ConversationStart,
    ConversationEnd,
    AccountEvent,
}

impl Hook {
    pub(super) const ALL: [Hook; 4] = [
        Hook::OnError,
        Hook::ConversationStart,
        Hook::ConversationEnd,
        Hook::AccountEvent,
    ];

    /// The attribute's name, which is also the `Handler` method's name.
    pub(super) fn name(self) -> &'static str {
        match self {
            Hook::OnError => "on_error",
            Hook::ConversationStart => "on_conversation_start",
            Hook::ConversationEnd => "on_conversation_end",
            Hook::AccountEvent => "on_account_event",
        }
    }

    /// What the duplicate error calls the method already chosen.
    pub(super) fn role(self) -> &'static str {
        match self {
            Hook::OnError => "the error hook",
            Hook::ConversationStart => "the conversation-start hook",
            Hook::ConversationEnd => "the conversation-end hook",
            Hook::AccountEvent => "the account-event hook",
        }
    }

    pub(super) fn of(attr: &Attribute) -> Option<Hook> {
        Hook::ALL
            .into_iter()
            .find(|h| attr.path().is_ident(h.name()))
    }

    /// Checks the method's signature against the hook's.
    pub(super) fn read(self, sig: &Signature) -> syn::Result<()> {
        match self {
            Hook::OnError => read_on_error(sig),
            Hook::ConversationStart => read_on_conversation_start(sig),
            Hook::ConversationEnd => read_on_conversation_end(sig),
            Hook::AccountEvent => read_on_account_event(sig),
        }
    }

    pub(super) fn slot(self, routes: &mut Routes) -> &mut Option<Ident> {
        match self {
            Hook::OnError => &mut routes.on_error,
            Hook::ConversationStart => &mut routes.on_conversation_start,
            Hook::ConversationEnd => &mut routes.on_conversation_end,
            Hook::AccountEvent => &mut routes.on_account_event,
        }
    }
}

/// The fallback method.
pub struct Fallback {
    /// The method.
    pub method: Ident,
    /// Whether it takes `&Message` (else `Message`).
    pub by_ref: bool,
}

pub(super) fn read_fallback(sig: &Signature) -> syn::Result<Fallback> {
    let shape = format!(
        "async fn {}(&self, ctx: &mut Context, msg: &Message) -> HandlerResult",
        sig.ident
    );
    let what = "the #[fallback] method";
    let params = read_head(sig, what, &shape, "")?;
    let msg = one_after_context(sig, &params, what, &shape, "message")?;
    let by_ref = if is_ref_to(&msg.ty, "Message", false) {
        true
    } else if is_path_to(&msg.ty, "Message") {
        false
    } else {
        return Err(syn::Error::new_spanned(
            &msg.ty,
            format!("{what} takes the message as `&Message` or `Message`: `{shape}`"),
        ));
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
    let error = one_after_context(sig, &params, what, &shape, "error")?;
    if !is_path_to(&error.ty, "FrameworkError") {
        return Err(syn::Error::new_spanned(
            &error.ty,
            format!("{what} takes the error by value as `FrameworkError`: `{shape}`"),
        ));
    }
    if !returns_unit(sig) {
        return Err(syn::Error::new_spanned(
            &sig.output,
            format!("{what} returns nothing (it is the last stop for errors): `{shape}`"),
        ));
    }
    Ok(())
}

/// The one parameter a hook takes after the context (`noun` names it in
/// the errors); its type is for the caller to check.
fn one_after_context<'s>(
    sig: &Signature,
    params: &[&'s syn::PatType],
    what: &str,
    shape: &str,
    noun: &str,
) -> syn::Result<&'s syn::PatType> {
    match params {
        [one] => Ok(one),
        [] => Err(syn::Error::new(
            sig.paren_token.span.join(),
            format!("{what} takes the {noun} after the context: `{shape}`"),
        )),
        [_, extra, ..] => Err(syn::Error::new_spanned(
            extra,
            format!("{what} takes nothing after the {noun}: `{shape}`"),
        )),
    }
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

#[cfg(test)]
mod tests {
    use syn::{ImplItemFn, parse_quote};

    use super::*;

    fn error_of(result: syn::Result<impl Sized>) -> String {
        match result {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_fallback_and_the_error_hook_take_exactly_one_thing_after_the_context() {
        let missing: ImplItemFn = parse_quote! {
            async fn f(&self, ctx: &mut Context) -> HandlerResult { Ok(()) }
        };
        let extra: ImplItemFn = parse_quote! {
            async fn f(&self, ctx: &mut Context, a: &Message, b: u8) -> HandlerResult { Ok(()) }
        };
        assert!(
            error_of(read_fallback(&missing.sig)).contains("takes the message after the context")
        );
        assert!(error_of(read_fallback(&extra.sig)).contains("takes nothing after the message"));
        assert!(
            error_of(read_on_error(&missing.sig)).contains("takes the error after the context")
        );
        let extra_error: ImplItemFn = parse_quote! {
            async fn f(&self, ctx: &mut Context, e: FrameworkError, b: u8) {}
        };
        assert!(
            error_of(read_on_error(&extra_error.sig)).contains("takes nothing after the error")
        );

        let by_ref: ImplItemFn = parse_quote! {
            async fn f(&self, ctx: &mut Context, msg: &Message) -> HandlerResult { Ok(()) }
        };
        let by_value: ImplItemFn = parse_quote! {
            async fn f(&self, ctx: &mut Context, msg: Message) -> HandlerResult { Ok(()) }
        };
        assert!(read_fallback(&by_ref.sig).unwrap().by_ref);
        assert!(!read_fallback(&by_value.sig).unwrap().by_ref);
        let wrong: ImplItemFn = parse_quote! {
            async fn f(&self, ctx: &mut Context, msg: String) -> HandlerResult { Ok(()) }
        };
        assert!(error_of(read_fallback(&wrong.sig)).contains("as `&Message` or `Message`"));
        let on_error: ImplItemFn = parse_quote! {
            async fn f(&self, ctx: &mut Context, error: FrameworkError) {}
        };
        assert!(read_on_error(&on_error.sig).is_ok());
    }
}
