//! The emulator's HTML: directory page, user picker and error pages, each under a banner that
//! says this is not Microsoft (the sign-out page lives with its endpoint in `logout`).
//!
//! Every value from a request or the config is HTML-escaped.

use hyper::{Response, StatusCode};

use crate::body::Body;

use super::config::{AppConfig, TenantConfig, UserConfig};
use super::http::{self, Params};
use super::protocol::{html_escape as esc, AadError, Trace};
use super::tenancy::TenantPath;
use super::State;

const BANNER: &str =
    "<div style=\"background:#b00020;color:#fff;padding:12px 16px;font-weight:bold\">\
    Microsoft identity EMULATOR — for development and tests only. Anyone can sign in as anyone; \
    never expose it.</div>";

/// A whole page: `body` (already HTML) under the banner.
pub(super) fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — identity \
         emulator</title><style>body{{font-family:system-ui,sans-serif;margin:0}}main{{padding:16px 24px;\
         max-width:860px}}button{{padding:10px 14px;margin:4px 0;min-width:360px;text-align:left;\
         cursor:pointer}}td,th{{padding:4px 10px;text-align:left;vertical-align:top}}code{{font-size:90%}}\
         </style></head><body>{BANNER}<main>{body}</main></body></html>",
        esc(title)
    )
}

/// `GET /`: tenants, apps and users.
pub(crate) fn home(state: &State) -> Response<Body> {
    let config = &state.config;
    let authority = esc(&state.authority);
    let tenants: String = config
        .tenants
        .iter()
        .map(|t| {
            format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&t.name),
                esc(&t.id),
                esc(&t.domains.join(", "))
            )
        })
        .collect();
    let apps: String = config
        .apps
        .iter()
        .map(|a| {
            format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{:?}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.name),
                esc(&a.client_id),
                a.sign_in_audience,
                esc(&a.redirect_uris.join(" ")),
                esc(&state.frontchannel.get(&a.client_id).unwrap_or_default())
            )
        })
        .collect();
    let users: String = config
        .users
        .iter()
        .map(|u| {
            let tenant = config.tenant(&u.tenant).map(|t| t.name.as_str()).unwrap_or("");
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&u.username),
                esc(&u.name),
                esc(tenant),
                esc(&u.oid),
                esc(&group_summary(&u.groups)),
                esc(&u.roles.join(", "))
            )
        })
        .collect();
    let body = format!(
        "<h1>Microsoft identity emulator</h1>\
         <p>Authority: <code>{authority}</code>. Discovery: <code>{authority}/common/v2.0/.well-known/openid-configuration</code></p>\
         <h2>Tenants</h2><table><tr><th>Name</th><th>Id</th><th>Domains</th></tr>{tenants}</table>\
         <h2>Apps</h2><table><tr><th>Name</th><th>Client id</th><th>Accounts</th><th>Redirect URIs</th><th>Front-channel logout URL</th></tr>{apps}</table>\
         <h2>Users</h2><table><tr><th>Username</th><th>Name</th><th>Tenant</th><th>oid</th><th>Groups</th><th>Roles</th></tr>{users}</table>"
    );
    http::html(StatusCode::OK, layout("Directory", &body))
}

/// A user's groups for the directory page: listed when few, counted when many.
fn group_summary(groups: &[String]) -> String {
    match groups.len() {
        0..=10 => groups.join(", "),
        n if n > super::groups::JWT_GROUP_LIMIT => {
            format!("{n} groups (over 200: tokens carry the overage claim; ask Graph)")
        }
        n => format!("{n} groups"),
    }
}

/// The user picker. Each button posts the original parameters (minus `prompt` and
/// `login_hint`) plus its user as `login_hint`, so /authorize completes it on the same path.
pub(crate) fn sign_in(
    tenant: &TenantPath,
    app: &AppConfig,
    users: &[(&UserConfig, Option<&TenantConfig>)],
    params: &Params,
    hint: Option<&str>,
) -> Response<Body> {
    let action = format!("/{}/oauth2/v2.0/authorize", tenant.segment);
    let mut carried: Vec<(&String, &String)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "login_hint" && k.as_str() != "prompt")
        .collect();
    carried.sort();
    let hidden: String = carried
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect();
    let buttons: String = users
        .iter()
        .map(|(u, t)| {
            format!(
                "<form method=\"post\" action=\"{}\">{hidden}\
                 <input type=\"hidden\" name=\"login_hint\" value=\"{}\">\
                 <button type=\"submit\"><strong>{}</strong><br>{} · {}</button></form>",
                esc(&action),
                esc(&u.username),
                esc(&u.name),
                esc(&u.username),
                esc(t.map(|t| t.name.as_str()).unwrap_or(""))
            )
        })
        .collect();
    let note = match hint {
        Some(h) => format!(
            "<p>No account named <code>{}</code>; pick one below.</p>",
            esc(h)
        ),
        None => String::new(),
    };
    let empty = if users.is_empty() {
        "<p>No account may sign in to this app through this tenant path.</p>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Pick an account</h1><p>to continue to <strong>{}</strong> (<code>{}</code>) via \
         <code>/{}</code></p>{note}{buttons}{empty}",
        esc(&app.name),
        esc(&app.client_id),
        esc(&tenant.segment)
    );
    http::html(StatusCode::OK, layout("Sign in", &body))
}

/// An error shown on the emulator itself (bad client or redirect URI): never a redirect.
pub(crate) fn error_page(err: &AadError, trace: &Trace) -> Response<Body> {
    let body = format!(
        "<h1>Sorry, but we're having trouble signing you in.</h1>\
         <p><strong>AADSTS{}</strong>: {}</p><p>error: <code>{}</code></p>\
         <pre>Trace ID: {}\nCorrelation ID: {}\nTimestamp: {}</pre>",
        err.code,
        esc(&err.message),
        esc(err.error),
        esc(&trace.trace_id),
        esc(&trace.correlation_id),
        esc(&trace.timestamp)
    );
    http::html(StatusCode::BAD_REQUEST, layout("Sign-in error", &body))
}

/// `GET /error?code=n`, the target of `error_uri`.
pub(crate) fn error_lookup(query: &Params) -> Response<Body> {
    let code = query.get("code").map(String::as_str).unwrap_or("");
    let body = format!(
        "<h1>Error AADSTS{}</h1><p>See Microsoft's reference for this code: \
         <code>https://login.microsoftonline.com/error?code={}</code></p>",
        esc(code),
        esc(code)
    );
    http::html(StatusCode::OK, layout("Error lookup", &body))
}
