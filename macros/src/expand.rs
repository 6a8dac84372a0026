//! Writing the output: the impl block as it was (our attributes removed), a
//! hidden function holding the `Router` built from plain `CommandSpec`s, and
//! a `Handler` impl whose `handle` routes the text and calls the methods,
//! plus one forwarding method per hook the user marked (the others keep the
//! trait's defaults).
//!
//! The generated code only makes calls; every decision (matching, help,
//! errors, cooldowns) is made by the `Router` of
//! `ilink_framework::command::__private`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ItemImpl;
use syn::spanned::Spanned;

use crate::attrs::ImplOptions;
use crate::model::{self, Arg, Command, Kind, Routes};

/// Expands `#[commands(args)] item`.
pub fn commands(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut item: ItemImpl = match syn::parse2(item) {
        Ok(item) => item,
        Err(e) => {
            return syn::Error::new(
                e.span(),
                "#[commands] goes on an impl block: `#[commands] impl MyBot { … }`",
            )
            .to_compile_error();
        }
    };
    let options = ImplOptions::parse(args);
    let routes = model::read(
        &mut item,
        options.as_ref().unwrap_or(&ImplOptions::default()),
    );
    match (options, routes) {
        (Ok(options), Ok(routes)) => {
            let generated = handler(&item, &options, &routes);
            quote! { #item #generated }
        }
        // Keep the methods so that the rest of the crate still finds them
        // and only the real mistakes are reported.
        (options, routes) => {
            let mut errors = TokenStream::new();
            for e in [options.err(), routes.err()].into_iter().flatten() {
                errors.extend(e.to_compile_error());
            }
            quote! { #item #errors }
        }
    }
}

fn handler(item: &ItemImpl, options: &ImplOptions, routes: &Routes) -> TokenStream {
    let krate = &options.krate;
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let prefix = &options.prefix;
    let help = options.help;
    let specs = routes.commands.iter().map(|c| spec(c, options));
    let arms = routes
        .commands
        .iter()
        .enumerate()
        .map(|(i, c)| arm(i, c, options));
    let refusals = routes
        .commands
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.options.checks.is_empty())
        .map(|(i, c)| refusal(i, c, options));
    let report_error = failure(options, quote!(__error));
    let fallback = match &routes.fallback {
        Some(f) => {
            let method = &f.method;
            let msg = if f.by_ref {
                quote!(&__msg)
            } else {
                quote!(__msg)
            };
            quote! {
                ::core::result::Result::map_err(
                    Self::#method(self, __ctx, #msg).await,
                    ::core::convert::Into::into,
                )
            }
        }
        None => quote!(::core::result::Result::Ok(())),
    };
    // Each hook's call is spanned at the user's method, so a parameter type
    // that only looks right (another crate's `Context`) is reported there.
    let on_error = routes.on_error.as_ref().map(|method| {
        let call = quote_spanned!(method.span()=> Self::#method(self, __ctx, __error).await);
        quote! {
            async fn on_error(&self, __ctx: &mut #krate::Context, __error: #krate::FrameworkError) {
                #call
            }
        }
    });
    let on_conversation_start = routes.on_conversation_start.as_ref().map(|method| {
        let call = quote_spanned!(method.span()=> Self::#method(self, __ctx).await);
        quote! {
            async fn on_conversation_start(
                &self,
                __ctx: &mut #krate::Context,
            ) -> #krate::HandlerResult {
                ::core::result::Result::map_err(#call, ::core::convert::Into::into)
            }
        }
    });
    let on_conversation_end = routes.on_conversation_end.as_ref().map(|method| {
        let call =
            quote_spanned!(method.span()=> Self::#method(self, __account, __conversation).await);
        quote! {
            async fn on_conversation_end(
                &self,
                __account: &#krate::AccountId,
                __conversation: &#krate::ConversationKey,
            ) {
                #call
            }
        }
    });
    let on_account_event = routes.on_account_event.as_ref().map(|method| {
        let call = quote_spanned!(method.span()=> Self::#method(self, __event).await);
        quote! {
            async fn on_account_event(&self, __event: &#krate::AccountEvent) {
                #call
            }
        }
    });
    quote! {
        impl #impl_generics #self_ty #where_clause {
            /// The commands of this impl, built once.
            #[doc(hidden)]
            fn __ilink_router() -> ::core::result::Result<
                &'static #krate::command::__private::Router,
                &'static #krate::command::SpecError,
            > {
                static ROUTER: ::std::sync::OnceLock<
                    ::core::result::Result<#krate::command::__private::Router, #krate::command::SpecError>,
                > = ::std::sync::OnceLock::new();
                ROUTER
                    .get_or_init(|| {
                        #krate::command::__private::Router::builder(#prefix)
                            .help(#help)
                            #(.command(#specs))*
                            .build()
                    })
                    .as_ref()
            }
        }

        #[#krate::async_trait]
        impl #impl_generics #krate::Handler for #self_ty #where_clause {
            async fn handle(
                &self,
                __ctx: &mut #krate::Context,
                __msg: #krate::Message,
            ) -> #krate::HandlerResult {
                let __router = match Self::__ilink_router() {
                    ::core::result::Result::Ok(router) => router,
                    ::core::result::Result::Err(e) => {
                        return ::core::result::Result::Err(::std::boxed::Box::new(
                            ::core::clone::Clone::clone(e),
                        ));
                    }
                };
                match __router.route(__msg.text().unwrap_or_default()) {
                    #krate::command::__private::Route::NotACommand => {}
                    #krate::command::__private::Route::Reply(__text) => {
                        __ctx.reply(__text).await?;
                        return ::core::result::Result::Ok(());
                    }
                    #krate::command::__private::Route::Error(__error) => #report_error
                    #krate::command::__private::Route::ArgsError { index: __index, error: __error } => {
                        // Who may not run the command is refused before
                        // being told how to call it.
                        match __index {
                            #(#refusals)*
                            _ => {}
                        }
                        #report_error
                    }
                    #krate::command::__private::Route::Command { index: __index, args: __args } => {
                        // Unused when no command takes arguments.
                        let _ = &__args;
                        return match __index {
                            #(#arms)*
                            _ => ::core::result::Result::Ok(()),
                        };
                    }
                }
                #fallback
            }

            #on_error
            #on_conversation_start
            #on_conversation_end
            #on_account_event
        }
    }
}

/// The `CommandSpec` expression of one command.
fn spec(command: &Command, options: &ImplOptions) -> TokenStream {
    let krate = &options.krate;
    let name = &command.name;
    let aliases = command.options.aliases.iter();
    let docs = (!command.docs.is_empty()).then(|| {
        let lines = command.docs.iter();
        quote!(.docs(::core::concat!(#(#lines, "\n"),*)))
    });
    let description = command
        .options
        .description
        .as_ref()
        .map(|d| quote!(.description(#d)));
    let hidden = command.options.hidden.then(|| quote!(.hidden(true)));
    let cooldown = command
        .options
        .cooldown_ms
        .map(|ms| quote!(.cooldown(::core::time::Duration::from_millis(#ms))));
    let args = command.args.iter().map(|arg| {
        let name = &arg.name;
        let type_name = &arg.type_name;
        let kind = match arg.kind {
            Kind::Required => quote!(Required),
            Kind::Optional => quote!(Optional),
            Kind::Rest => quote!(Rest),
            Kind::OptionalRest => quote!(OptionalRest),
        };
        quote! {
            .arg(#krate::command::ArgSpec::new(#name, #type_name, #krate::command::ArgKind::#kind))
        }
    });
    quote! {
        #krate::command::CommandSpec::new(#name)
            #(.alias(#aliases))*
            #docs
            #description
            #hidden
            #cooldown
            #(#args)*
    }
}

/// The match arm that runs command `index`: checks, arguments, cooldown,
/// then the method.
fn arm(index: usize, command: &Command, options: &ImplOptions) -> TokenStream {
    let krate = &options.krate;
    let method = &command.method;
    let fail = |error: TokenStream| failure(options, error);
    let checks = checks(index, command, options);
    let values: Vec<_> = (0..command.args.len())
        .map(|i| format_ident!("__arg{}", i))
        .collect();
    let types = command.args.iter().map(|a| &a.ty);
    let getters = command
        .args
        .iter()
        .enumerate()
        .map(|(i, arg)| getter(i, arg));
    let arg_failed = fail(quote!(__error));
    let cooldown_failed = fail(quote!(__error));
    quote! {
        #index => {
            #(#checks)*
            let __parsed = (|| -> ::core::result::Result<(#(#types,)*), #krate::command::CommandError> {
                ::core::result::Result::Ok((#(#getters,)*))
            })();
            let (#(#values,)*) = match __parsed {
                ::core::result::Result::Ok(values) => values,
                ::core::result::Result::Err(__error) => #arg_failed
            };
            if let ::core::result::Result::Err(__error) = __router.start_cooldown(
                #index,
                __ctx.account().as_str(),
                __ctx.message().sender(),
            ) #cooldown_failed
            ::core::result::Result::map_err(
                Self::#method(self, __ctx, #(#values),*).await,
                ::core::convert::Into::into,
            )
        }
    }
}

/// The expression converting argument `index`.
fn getter(index: usize, arg: &Arg) -> TokenStream {
    let optional = arg.kind.is_optional();
    match &arg.parse_with {
        Some(parse) => {
            let call = if optional {
                quote_spanned!(parse.span()=> __args.get_opt_with(#index, #parse))
            } else {
                quote_spanned!(parse.span()=> __args.get_with(#index, #parse))
            };
            quote!(#call?)
        }
        None => {
            let ty = &arg.value_ty;
            // Spanned at the type: a type without `FromStr` is reported on
            // the parameter, naming the type.
            let call = if optional {
                quote_spanned!(ty.span()=> __args.get_opt::<#ty>(#index))
            } else {
                quote_spanned!(ty.span()=> __args.get::<#ty>(#index))
            };
            quote!(#call?)
        }
    }
}

/// Reports `error` to `on_error` and ends the handling of the message.
fn failure(options: &ImplOptions, error: TokenStream) -> TokenStream {
    let krate = &options.krate;
    quote! {{
        #krate::Handler::on_error(self, __ctx, #krate::FrameworkError::Command(#error)).await;
        return ::core::result::Result::Ok(());
    }}
}

/// The checks of command `index`, each refusing the message when it fails.
fn checks(index: usize, command: &Command, options: &ImplOptions) -> Vec<TokenStream> {
    command
        .options
        .checks
        .iter()
        .map(|check| {
            let refused = failure(options, quote!(__router.check_failed(#index)));
            // Spanned at the path, so a check with the wrong signature is
            // reported there.
            let call = quote_spanned!(check.span()=> #check(self, &*__ctx).await);
            quote! {
                let __allowed: bool = #call;
                if !__allowed #refused
            }
        })
        .collect()
}

/// The match arm running command `index`'s checks alone (its arguments did
/// not split).
fn refusal(index: usize, command: &Command, options: &ImplOptions) -> TokenStream {
    let checks = checks(index, command, options);
    quote! {
        #index => { #(#checks)* }
    }
}
