//! The built-in pages: askama templates (`templates/*.html`, checked at compile time, every
//! `{{ value }}` HTML-escaped) over one view of a [`Page`] and its [`Branding`].

use askama::Template;

use super::{usable_accent, Branding, Page, PageKind};

/// Served if a template ever fails to render (askama only fails when a value's `Display` does;
/// ours are all strings), so a request path never panics.
const FALLBACK: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Error</title></head><body><main><h1>Something went wrong</h1>\
<p>This page could not be shown.</p></main></body></html>\n";

/// What every template sees: the page's values and the branding.
pub(super) struct View<'a> {
    pub brand: &'a Branding,
    /// Checked: `#rgb` or `#rrggbb` (it goes into CSS).
    pub accent: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    pub operator_hint: Option<&'a str>,
    pub action: Option<Action<'a>>,
    pub reference: Option<&'a str>,
}

/// A link styled as a button.
pub(super) struct Action<'a> {
    pub label: &'a str,
    pub href: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    v: View<'a>,
}

#[derive(Template)]
#[template(path = "forbidden.html")]
struct ForbiddenPage<'a> {
    v: View<'a>,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage<'a> {
    v: View<'a>,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    v: View<'a>,
}

/// `page` through the built-in template for `kind`.
pub(super) fn render(kind: PageKind, page: &Page<'_>, brand: &Branding) -> String {
    let v = View {
        brand,
        accent: usable_accent(brand),
        title: page.title,
        message: page.message,
        operator_hint: page.operator_hint,
        action: page.action.map(|(label, href)| Action { label, href }),
        reference: page.reference,
    };
    let rendered = match kind {
        PageKind::Error => ErrorPage { v }.render(),
        PageKind::Forbidden => ForbiddenPage { v }.render(),
        PageKind::SignedOut => SignedOutPage { v }.render(),
        PageKind::SignIn => SignInPage { v }.render(),
    };
    rendered.unwrap_or_else(|_| FALLBACK.to_owned())
}
