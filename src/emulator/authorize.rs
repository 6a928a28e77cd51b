//! `/{tenant}/oauth2/v2.0/authorize`: validate the request in Microsoft's order, then sign the
//! `login_hint` user in at once or show the user picker.
//!
//! Order matters for safety, as at Microsoft: until the client and its redirect URI are known
//! good, errors are pages on the emulator; only afterwards do they go back to the redirect URI.

use std::time::{Instant, SystemTime};

use hyper::header::{HeaderValue, SET_COOKIE};
use hyper::{Response, StatusCode};
use url::Url;

use crate::body::Body;

use super::access_token;
use super::grants::{Authorization, Pkce};
use super::http::{self, Params};
use super::pages;
use super::protocol::{guid, html_escape, redirect_uri_matches, AadError, Trace};
use super::sso;
use super::tenancy::{TenantPath, Unavailable};
use super::State;

/// How the result goes back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

/// A validated redirect URI with the client's `state`, ready to carry a result or an error.
struct Reply<'a> {
    redirect_uri: &'a str,
    mode: ResponseMode,
    state: Option<&'a str>,
}

impl Reply<'_> {
    /// Send `pairs` (then `state`) to the client.
    fn send(&self, pairs: &[(&str, &str)]) -> Response<Body> {
        let mut all: Vec<(&str, &str)> = pairs.to_vec();
        if let Some(state) = self.state {
            all.push(("state", state));
        }
        let Ok(mut url) = Url::parse(self.redirect_uri) else {
            // Unreachable: the URI matched a registered one, which parses.
            return http::not_found();
        };
        match self.mode {
            ResponseMode::Query => {
                url.query_pairs_mut().extend_pairs(&all);
                http::redirect(url.as_str())
            }
            ResponseMode::Fragment => {
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&all)
                    .finish();
                url.set_fragment(Some(&encoded));
                http::redirect(url.as_str())
            }
            ResponseMode::FormPost => {
                let inputs: String = all
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                            html_escape(k),
                            html_escape(v)
                        )
                    })
                    .collect();
                http::html(
                    StatusCode::OK,
                    format!(
                        "<!doctype html><html><head><title>Working...</title></head>\
                         <body onload=\"document.forms[0].submit()\"><form method=\"POST\" \
                         action=\"{}\">{inputs}<noscript><button>Continue</button></noscript>\
                         </form></body></html>",
                        html_escape(url.as_str())
                    ),
                )
            }
        }
    }

    fn error(&self, err: &AadError, authority: &str, trace: &Trace) -> Response<Body> {
        tracing::info!(
            error = err.error,
            code = err.code,
            "emulator: authorize error redirect"
        );
        self.send(&[
            ("error", err.error),
            ("error_description", &err.description(trace)),
            ("error_uri", &err.error_uri(authority)),
        ])
    }
}

fn param<'p>(params: &'p Params, name: &str) -> Option<&'p str> {
    params.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn missing(name: &str) -> AadError {
    AadError::new(
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// Handle GET or POST /authorize with its parameters and the browser's emulator cookie, if any.
pub(crate) fn authorize(
    state: &State,
    tenant: &TenantPath,
    params: &Params,
    browser: Option<String>,
) -> Response<Body> {
    let trace = Trace::new(SystemTime::now());
    let page = |err: AadError| {
        tracing::info!(code = err.code, "emulator: authorize error page");
        pages::error_page(&err, &trace)
    };
    let Some(client_id) = param(params, "client_id") else {
        return page(missing("client_id"));
    };
    let Some(app) = state.config.app(client_id) else {
        return page(app_not_found(state, tenant, client_id));
    };
    let unavailable = match tenant.app_available(app) {
        Ok(()) => None,
        Err(Unavailable::NotInTenant) => return page(app_not_found(state, tenant, client_id)),
        Err(Unavailable::Redirect(e)) => Some(e),
    };
    if app.redirect_uris.is_empty() {
        return page(AadError::new(
            "invalid_request",
            500113,
            "No reply address is registered for the application.",
        ));
    }
    let Some(redirect_uri) = param(params, "redirect_uri") else {
        return page(missing("redirect_uri"));
    };
    if !app
        .redirect_uris
        .iter()
        .any(|r| redirect_uri_matches(r, redirect_uri))
    {
        return page(AadError::new(
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the \
                 redirect URIs configured for the application '{}'. Make sure the redirect URI \
                 sent in the request matches one added to your application in the Azure portal. \
                 Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to \
                 fix this.",
                app.client_id
            ),
        ));
    }
    let mut reply = Reply {
        redirect_uri,
        mode: ResponseMode::Query,
        state: params.get("state").map(String::as_str),
    };
    let fail = |reply: &Reply<'_>, err: AadError| reply.error(&err, &state.authority, &trace);
    reply.mode = match param(params, "response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        Some(other) => {
            return fail(
                &reply,
                malformed(&format!("unsupported response_mode '{other}'")),
            )
        }
    };
    if let Some(err) = unavailable {
        return fail(&reply, err);
    }
    match param(params, "response_type") {
        None => return fail(&reply, missing("response_type")),
        Some("code") => {}
        Some(other) => {
            let err = AadError::new(
                "unsupported_response_type",
                700054,
                format!("response_type '{other}' is not enabled for the application."),
            );
            return fail(&reply, err);
        }
    }
    let Some(scope) = param(params, "scope") else {
        return fail(&reply, missing("scope"));
    };
    let mut scopes: Vec<String> = Vec::new();
    for s in scope.split_whitespace() {
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }
    // A scope naming an API that does not exist fails here, as at Microsoft (AADSTS500011).
    let tenant_name = match &tenant.scope {
        super::tenancy::Scope::Tenant(tid) => tid.as_str(),
        _ => tenant.segment.as_str(),
    };
    if let Err(err) = access_token::resolve(&state.config, &scopes, false, tenant_name) {
        return fail(&reply, err);
    }
    let pkce = match pkce(params) {
        Ok(p) => p,
        Err(e) => return fail(&reply, e),
    };
    let prompt = param(params, "prompt");
    if let Some(p) = prompt {
        if !matches!(p, "login" | "none" | "consent" | "select_account") {
            return fail(
                &reply,
                malformed(&format!("unsupported prompt value '{p}'")),
            );
        }
    }
    let hint = param(params, "login_hint");
    let Some(user) = hint.and_then(|h| state.config.user(h)) else {
        if prompt == Some("none") {
            let err = AadError::new(
                "login_required",
                50058,
                "A silent sign-in request was sent but no user is signed in.",
            );
            return fail(&reply, err);
        }
        let users = tenant.eligible(&state.config, app);
        return pages::sign_in(tenant, app, &users, params, hint);
    };
    if let Err(err) = tenant.admits(&state.config, app, user) {
        return fail(&reply, err);
    }
    let sid = guid();
    let auth = Authorization {
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scope: tenant.scope.clone(),
        username: user.username.clone(),
        scopes,
        nonce: params.get("nonce").cloned(),
        pkce,
        sid: sid.clone(),
    };
    // The browser keeps (or gets) its emulator cookie, so sign-out knows what it signed into.
    let browser = browser.unwrap_or_else(sso::new_browser_id);
    state
        .sign_ins
        .record(&browser, &app.client_id, &user.username, &sid);
    let code = state.grants.issue_code(auth, Instant::now());
    tracing::info!(client_id = %app.client_id, user = %user.username, "emulator: signed in, code issued");
    let mut response = reply.send(&[("code", &code), ("session_state", &sid)]);
    if let Ok(cookie) = HeaderValue::from_str(&sso::set_cookie(&browser)) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// AADSTS700016, the answer for an app that does not exist (here).
fn app_not_found(state: &State, tenant: &TenantPath, client_id: &str) -> AadError {
    let directory = match &tenant.scope {
        super::tenancy::Scope::Tenant(tid) => state
            .config
            .tenant(tid)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| tid.clone()),
        _ => "Microsoft Services".to_string(),
    };
    AadError::new(
        "unauthorized_client",
        700016,
        format!(
            "Application with identifier '{client_id}' was not found in the directory \
             '{directory}'. This can happen if the application has not been installed by the \
             administrator of the tenant or consented to by any user in the tenant. You may have \
             sent your authentication request to the wrong tenant."
        ),
    )
}

fn malformed(detail: &str) -> AadError {
    AadError::new(
        "invalid_request",
        9002313,
        format!("Invalid request. Request is malformed or invalid. ({detail})"),
    )
}

/// The PKCE challenge, if any. Method defaults to `plain` (RFC 7636); sizes are checked as
/// Microsoft does (AADSTS501491).
fn pkce(params: &Params) -> Result<Option<Pkce>, AadError> {
    let Some(challenge) = param(params, "code_challenge") else {
        return Ok(None);
    };
    let bad_size = || {
        AadError::new(
            "invalid_request",
            501491,
            "Invalid size of Code_Challenge parameter.",
        )
    };
    let base64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    };
    match param(params, "code_challenge_method").unwrap_or("plain") {
        "S256" if challenge.len() == 43 && base64url(challenge) => {
            Ok(Some(Pkce::S256(challenge.to_string())))
        }
        "plain" if (43..=128).contains(&challenge.len()) && base64url(challenge) => {
            Ok(Some(Pkce::Plain(challenge.to_string())))
        }
        "S256" | "plain" => Err(bad_size()),
        other => Err(malformed(&format!(
            "unsupported code_challenge_method '{other}'"
        ))),
    }
}
