//! The `#[tiered::test]` attribute. Use it through the `tiered` crate, which
//! re-exports it; this crate is an implementation detail.
//!
//! The attribute keeps the user's function as written and registers a
//! `tiered::__private::TestDef` for it with `inventory`. Every option is checked
//! here, at compile time, so a misuse (no tier, tier 4, an unknown option, a
//! malformed duration, a non-fn item) is an error that points at the token
//! that is wrong rather than a surprise at run time.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitInt, LitStr, ReturnType};

/// Marks a function as a tiered test. See the `tiered` crate's documentation.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(args.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

#[derive(Default)]
struct Options {
    tier: Option<(u8, Span)>,
    ignore: Option<Option<String>>,
    should_panic: Option<Option<String>>,
    timeout_ms: Option<u64>,
    retries: Option<u32>,
    tags: Vec<String>,
    needs: Vec<String>,
    serial: Option<String>,
    exclusive: bool,
    isolation: Option<String>,
}

fn parse_options(args: TokenStream2) -> syn::Result<Options> {
    let mut opts = Options::default();
    let parser = syn::meta::parser(|meta| {
        let key = meta
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        match key.as_str() {
            "tier" => {
                let lit: LitInt = meta.value()?.parse()?;
                let tier: u8 = lit.base10_parse().unwrap_or(0);
                if !(1..=3).contains(&tier) {
                    return Err(syn::Error::new(
                        lit.span(),
                        "tier must be 1 (unit), 2 (integration) or 3 (end to end)",
                    ));
                }
                opts.tier = Some((tier, lit.span()));
            }
            "ignore" => {
                opts.ignore = Some(if meta.input.peek(syn::Token![=]) {
                    Some(meta.value()?.parse::<LitStr>()?.value())
                } else {
                    None
                });
            }
            "should_panic" => {
                opts.should_panic = Some(if meta.input.peek(syn::Token![=]) {
                    Some(meta.value()?.parse::<LitStr>()?.value())
                } else if meta.input.peek(syn::token::Paren) {
                    let mut expected = None;
                    meta.parse_nested_meta(|inner| {
                        if inner.path.is_ident("expected") {
                            expected = Some(inner.value()?.parse::<LitStr>()?.value());
                            Ok(())
                        } else {
                            Err(inner.error("expected `should_panic(expected = \"...\")`"))
                        }
                    })?;
                    expected
                } else {
                    None
                });
            }
            "timeout" => {
                let lit: LitStr = meta.value()?.parse()?;
                let ms = parse_duration_ms(&lit.value()).map_err(|e| {
                    syn::Error::new(lit.span(), format!("invalid timeout: {e}"))
                })?;
                opts.timeout_ms = Some(ms);
            }
            "retries" => {
                let lit: LitInt = meta.value()?.parse()?;
                let n: u32 = lit.base10_parse().map_err(|_| {
                    syn::Error::new(lit.span(), "retries is a count of reruns, 0 to 100")
                })?;
                if n > 100 {
                    return Err(syn::Error::new(
                        lit.span(),
                        "retries is a count of reruns, 0 to 100",
                    ));
                }
                opts.retries = Some(n);
            }
            "tags" => {
                let value = meta.value()?;
                let content;
                syn::bracketed!(content in value);
                let tags = content.parse_terminated(|p| p.parse::<LitStr>(), syn::Token![,])?;
                opts.tags = tags.iter().map(LitStr::value).collect();
            }
            "needs" => {
                let value = meta.value()?;
                let content;
                syn::bracketed!(content in value);
                let names = content.parse_terminated(|p| p.parse::<LitStr>(), syn::Token![,])?;
                for n in &names {
                    if !["postgres", "redis", "neo4j", "chroma"].contains(&n.value().as_str()) {
                        return Err(syn::Error::new(
                            n.span(),
                            "unknown service; expected \"postgres\", \"redis\", \"neo4j\" or \"chroma\"",
                        ));
                    }
                }
                opts.needs = names.iter().map(LitStr::value).collect();
            }
            "serial" => {
                opts.serial = Some(if meta.input.peek(syn::Token![=]) {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().trim().is_empty() {
                        return Err(syn::Error::new(
                            lit.span(),
                            "name the group, e.g. serial = \"schema\", or write `serial` alone",
                        ));
                    }
                    lit.value()
                } else {
                    "serial".to_string()
                });
            }
            "exclusive" => opts.exclusive = true,
            "isolation" => {
                let lit: LitStr = meta.value()?.parse()?;
                if !["process", "worker"].contains(&lit.value().as_str()) {
                    return Err(syn::Error::new(
                        lit.span(),
                        "isolation is \"process\" (a fresh process for this test) or \"worker\" (a shared worker process)",
                    ));
                }
                opts.isolation = Some(lit.value());
            }
            _ => {
                return Err(meta.error(
                    "unknown option; expected one of `tier`, `ignore`, `should_panic`, `timeout`, `retries`, `tags`, `needs`, `serial`, `exclusive`, `isolation`",
                ))
            }
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, args)?;
    Ok(opts)
}

/// Parses `"30s"`, `"500ms"`, `"2m"`, `"1h"` (whole numbers, one unit).
fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number; write e.g. \"30s\""))?;
    let factor = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use ms, s, m or h"
            ))
        }
    };
    Ok(n * factor)
}

fn expand(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let func: ItemFn = syn::parse2(item.clone()).map_err(|_| {
        syn::Error::new(
            item.clone()
                .into_iter()
                .next()
                .map_or(Span::call_site(), |t| t.span()),
            "#[tiered::test] applies to a function (`fn` or `async fn`)",
        )
    })?;
    let opts = parse_options(args)?;
    let Some((tier, _)) = opts.tier else {
        return Err(syn::Error::new(
            Span::call_site(),
            "missing tier: write #[tiered::test(tier = 1)] (1 unit, 2 integration, 3 end to end)",
        ));
    };
    if !func.sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            func.sig.generics.span(),
            "a tiered test cannot be generic",
        ));
    }
    let ident = &func.sig.ident;
    let is_async = func.sig.asyncness.is_some();
    let mut setups = Vec::new();
    let mut needs = Vec::new();
    let mut inits = Vec::new();
    let mut call_args = Vec::new();
    for (i, arg) in func.sig.inputs.iter().enumerate() {
        let FnArg::Typed(pat_ty) = arg else {
            return Err(syn::Error::new(
                arg.span(),
                "a tiered test cannot take `self`",
            ));
        };
        let ty = &pat_ty.ty;
        let var = format_ident!("__tiered_fixture_{}", i);
        setups.push(quote! {
            let #var: #ty = ::tiered::__private::setup_fixture::<#ty>(&__ctx).await?;
        });
        needs.push(quote_spanned! {ty.span()=> <#ty as ::tiered::Fixture>::needs(__needs); });
        inits.push(
            quote_spanned! {ty.span()=> <#ty as ::tiered::Fixture>::session_inits(__inits); },
        );
        call_args.push(var);
    }
    let call = if is_async {
        quote! { #ident(#(#call_args),*).await }
    } else {
        quote! { #ident(#(#call_args),*) }
    };
    let ret_span = match &func.sig.output {
        ReturnType::Default => func.sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    let into_result =
        quote_spanned! {ret_span=> ::tiered::__private::IntoTestResult::into_test_result(__out) };
    // With fixtures (or an async body) the test runs on the shared runtime;
    // a plain sync test with no fixtures runs directly on the test thread.
    let body = if is_async || !setups.is_empty() {
        quote! {
            ::tiered::__private::TestBody::Async(|__ctx| ::std::boxed::Box::pin(async move {
                #(#setups)*
                let __out = #call;
                #into_result
            }))
        }
    } else {
        quote! {
            ::tiered::__private::TestBody::Sync(|| {
                let __out = #call;
                #into_result
            })
        }
    };
    let ignored = opts.ignore.is_some();
    let ignore_reason = match opts.ignore.flatten() {
        Some(r) => quote!(::std::option::Option::Some(#r)),
        None => quote!(::std::option::Option::None),
    };
    let should_panic = match opts.should_panic {
        None => quote!(::tiered::__private::ShouldPanic::No),
        Some(None) => quote!(::tiered::__private::ShouldPanic::Yes),
        Some(Some(m)) => quote!(::tiered::__private::ShouldPanic::WithMessage(#m)),
    };
    let timeout = match opts.timeout_ms {
        Some(ms) => quote!(::std::option::Option::Some(#ms)),
        None => quote!(::std::option::Option::None),
    };
    let retries = match opts.retries {
        Some(n) => quote!(::std::option::Option::Some(#n)),
        None => quote!(::std::option::Option::None),
    };
    let tags = &opts.tags;
    let declared_needs = &opts.needs;
    let serial = match &opts.serial {
        Some(g) => quote!(::std::option::Option::Some(#g)),
        None => quote!(::std::option::Option::None),
    };
    let exclusive = opts.exclusive;
    let isolation = match opts.isolation.as_deref() {
        Some("process") => quote!(::std::option::Option::Some(
            ::tiered::__private::Isolation::Process
        )),
        Some(_) => quote!(::std::option::Option::Some(
            ::tiered::__private::Isolation::Worker
        )),
        None => quote!(::std::option::Option::None),
    };
    let name = ident.to_string();
    Ok(quote! {
        #func

        ::tiered::__private::inventory::submit! {
            ::tiered::__private::TestDef {
                name: #name,
                module_path: ::std::module_path!(),
                tier: #tier,
                ignored: #ignored,
                ignore_reason: #ignore_reason,
                should_panic: #should_panic,
                timeout_ms: #timeout,
                retries: #retries,
                tags: &[#(#tags),*],
                serial: #serial,
                exclusive: #exclusive,
                isolation: #isolation,
                needs: |__needs: &mut ::std::vec::Vec<&'static str>| {
                    #(__needs.push(#declared_needs);)*
                    #(#needs)*
                },
                session_inits: |__inits: &mut ::std::vec::Vec<::tiered::__private::SessionInit>| {
                    #(#inits)*
                },
                file: ::std::file!(),
                line: ::std::line!(),
                body: #body,
            }
        }
    })
}
