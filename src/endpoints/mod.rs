//! entrance's own endpoints: `/oauth2/start`, `/oauth2/callback`, `/oauth2/sign_out`,
//! `/oauth2/signed_out`, `/oauth2/frontchannel_logout`, `/oauth2/refresh` (and Easy Auth's
//! `/.auth/refresh`), `/oauth2/userinfo`, `/oauth2/auth`, `/healthz`, `/readyz`.
//!
//! Each handler reads the request, asks the gateway's parts, and answers; none of them forwards.

pub(crate) mod callback;

use std::collections::HashMap;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::Body;
use crate::forwarded::{self, ClientView};
use crate::gateway::{Caller, Gateway};
use crate::identity;
use crate::pages::Page;
use crate::policy::{self, Verdict};
use crate::redirect;
use crate::respond::{self, Failure};
use crate::session::RequestCookies;

/// Where entrance's sign-out lands when no `rd` is given: a page, so a protected `/` does not
/// silently sign the user in again.
pub const SIGNED_OUT_PATH: &str = "/oauth2/signed_out";

/// An endpoint entrance answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Start,
    Callback,
    SignOut,
    SignedOut,
    /// Microsoft's front-channel logout: `?sid=` ends that sign-in session's sessions.
    FrontChannelLogout,
    /// Renew the session now.
    Refresh,
    UserInfo,
    Auth,
    Health,
    Ready,
    /// Anything else under `/oauth2/`: ours, but unknown.
    Unknown,
}

impl Endpoint {
    /// Which endpoint `path` names, if it is one of entrance's.
    pub fn recognise(path: &str) -> Option<Endpoint> {
        Some(match path {
            "/oauth2/start" => Endpoint::Start,
            "/oauth2/callback" => Endpoint::Callback,
            "/oauth2/sign_out" => Endpoint::SignOut,
            "/oauth2/signed_out" => Endpoint::SignedOut,
            "/oauth2/frontchannel_logout" => Endpoint::FrontChannelLogout,
            "/oauth2/refresh" | "/.auth/refresh" => Endpoint::Refresh,
            "/oauth2/userinfo" => Endpoint::UserInfo,
            // Envoy's ext_authz appends the original path to its check path.
            "/oauth2/auth" => Endpoint::Auth,
            p if p.starts_with("/oauth2/auth/") => Endpoint::Auth,
            "/healthz" => Endpoint::Health,
            "/readyz" => Endpoint::Ready,
            p if p.starts_with("/oauth2/") => Endpoint::Unknown,
            _ => return None,
        })
    }
}

/// Answer a request for `endpoint`.
pub async fn serve(
    gateway: &Gateway,
    endpoint: Endpoint,
    req: Request<Incoming>,
    client: &ClientView,
    now: i64,
) -> Response<Body> {
    let query = query_params(&req);
    let cookies = RequestCookies::from_headers(req.headers());
    match endpoint {
        Endpoint::Start => {
            // Without `rd`, a trusted proxy (nginx's sign-in location) may name the page.
            let proxied = match query.get("rd") {
                Some(_) => None,
                None => original_request(gateway, &req, client).map(|o| o.uri),
            };
            let rd = query.get("rd").map(String::as_str).or(proxied.as_deref());
            let return_to = redirect::target_or_root(rd);
            gateway.begin_sign_in(return_to, &cookies, now, req.headers())
        }
        Endpoint::Callback => callback::handle(gateway, &req, &query, &cookies, now).await,
        Endpoint::SignOut => sign_out(gateway, &query, &cookies, now).await,
        Endpoint::FrontChannelLogout => frontchannel_logout(gateway, &query, &cookies, now).await,
        Endpoint::Refresh => refresh(gateway, &req, now).await,
        Endpoint::SignedOut => respond::html(
            StatusCode::OK,
            Page {
                title: "You are signed out",
                message: "You have signed out of this application.",
                operator_hint: None,
                action: Some(("Sign in again", "/oauth2/start")),
                reference: None,
            }
            .render_with(crate::pages::PageKind::SignedOut, &gateway.brand),
        ),
        Endpoint::UserInfo => match gateway.caller(req.headers(), now).await {
            Ok(Caller {
                who: Some(who),
                session,
                set_cookies,
            }) => respond::with_cookies(
                respond::json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "oid": who.oid,
                        "tid": who.tid,
                        "sub": who.sub,
                        "name": who.name,
                        "preferred_username": who.preferred_username,
                        "email": who.email,
                        "groups": who.groups,
                        "roles": who.roles,
                        "client_id": who.caller.as_ref().map(|c| c.client_id.clone()),
                        "expires_at": session.map(|s| s.expires_at),
                    }),
                ),
                set_cookies,
            ),
            Ok(Caller { set_cookies, .. }) => {
                respond::with_cookies(respond_api(gateway, Failure::Unauthenticated), set_cookies)
            }
            Err(failure) => respond_api(gateway, failure),
        },
        Endpoint::Auth => auth(gateway, &req, client, now).await,
        Endpoint::Health => respond::json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        Endpoint::Ready => ready(gateway).await,
        Endpoint::Unknown => gateway.fail(Failure::NoSuchEndpoint, req.headers()),
    }
}

/// `/oauth2/auth`: the auth service of nginx `auth_request`, Traefik `forwardAuth` and Envoy
/// `ext_authz` (HTTP). 202 with the identity headers on the response when allowed, 401 without a
/// session or token (with `Location` naming where sign-in starts), 403 when the rules deny.
///
/// Called by a trusted proxy, the original method and URI (`X-Original-*` from nginx,
/// `X-Forwarded-Method`/`-Uri` from Traefik, the path under `/oauth2/auth/` from Envoy) choose the
/// route, so per-route policy applies to the real request. Traefik and Envoy hand a non-2xx
/// answer to the browser as it is, so a browser navigation they ask about is sent straight to
/// sign-in; nginx needs the 401. Query parameters add rules (`allowed_groups=…`).
async fn auth(
    gateway: &Gateway,
    req: &Request<Incoming>,
    client: &ClientView,
    now: i64,
) -> Response<Body> {
    let pairs: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let original = original_request(gateway, req, client);
    // Envoy's check carries the app's query, not rules for entrance.
    let envoy = req.uri().path() != "/oauth2/auth";
    let extra = if envoy {
        crate::config::Rules::default()
    } else {
        match policy::rules_from_query(&pairs) {
            Ok(rules) => rules,
            Err(why) => return respond_api(gateway, Failure::BadParameters(why)),
        }
    };
    let (route, target) = match &original {
        Some(original) => {
            let (path, query) = match original.uri.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (original.uri.as_str(), None),
            };
            let path = match policy::normalize_path(path) {
                Ok(path) => path,
                Err(bad) => return respond_api(gateway, Failure::BadPath(bad.to_string())),
            };
            let method = original
                .method
                .clone()
                .unwrap_or_else(|| req.method().clone());
            let route = gateway.policy.route(&method, &path);
            (route, redirect::own_request_target(&path, query))
        }
        None => (gateway.default_route(), "/".to_owned()),
    };
    crate::gateway::note_route(&route);
    let Caller {
        who, set_cookies, ..
    } = if route.is_public() {
        Caller::default()
    } else {
        match gateway.caller(req.headers(), now).await {
            Ok(caller) => caller,
            Err(failure) => return respond_api(gateway, failure),
        }
    };
    let response = match gateway.policy.decide(&route, who.as_ref(), Some(&extra)) {
        Verdict::Allow => {
            let mut response = respond::json(
                StatusCode::ACCEPTED,
                &serde_json::json!({"status": "allowed"}),
            );
            if let Some(who) = &who {
                identity::set_identity_headers(response.headers_mut(), who);
            }
            response
        }
        Verdict::SignIn => {
            let nginx = req.headers().contains_key("x-original-uri");
            let navigation = original.as_ref().is_some_and(|o| {
                crate::gateway::is_browser_navigation(
                    o.method.as_ref().unwrap_or(req.method()),
                    req.headers(),
                )
            });
            if navigation && !nginx {
                // Traefik / Envoy: this answer goes to the browser as it is.
                return gateway.begin_sign_in(
                    target,
                    &RequestCookies::from_headers(req.headers()),
                    now,
                    req.headers(),
                );
            }
            let mut response = respond_api(gateway, Failure::Unauthenticated);
            let start = format!(
                "/oauth2/start?rd={}",
                url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
            );
            if let Ok(value) = http::HeaderValue::from_str(&start) {
                response.headers_mut().insert(http::header::LOCATION, value);
            }
            response
        }
        Verdict::Deny(reason) => respond_api(gateway, Failure::Denied(reason)),
    };
    respond::with_cookies(response, set_cookies)
}

/// What a trusted forward-auth caller says the original request was.
fn original_request(
    gateway: &Gateway,
    req: &Request<Incoming>,
    client: &ClientView,
) -> Option<forwarded::OriginalRequest> {
    if !client.via_trusted_proxy {
        return None;
    }
    let trusted = &gateway.settings.trusted_proxies;
    let peer = std::net::SocketAddr::new(*client.chain().last()?, 0);
    if let Some(original) = forwarded::original_request(peer, req.headers(), trusted) {
        return Some(original);
    }
    let path_and_query = req.uri().path_and_query().map(|p| p.as_str())?;
    forwarded::envoy_original_uri(path_and_query, "/oauth2/auth").map(|uri| {
        forwarded::OriginalRequest {
            method: Some(req.method().clone()),
            uri,
        }
    })
}

/// `/readyz`: 200 once sign-in can work (discovery and keys loaded; Redis answering when
/// sessions live there), else 503 saying what is missing.
async fn ready(gateway: &Gateway) -> Response<Body> {
    let not_ready = |reason: String| {
        respond::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "not ready", "reason": reason}),
        )
    };
    if !gateway.provider.is_ready() {
        return not_ready(
            "the identity provider's discovery document and keys are not loaded yet".into(),
        );
    }
    if let Err(error) = gateway.sessions.ready().await {
        return not_ready(format!("the session store does not answer: {error}"));
    }
    respond::json(StatusCode::OK, &serde_json::json!({"status": "ready"}))
}

/// `/oauth2/refresh` (`/.auth/refresh`): renew the session now with its refresh token.
async fn refresh(gateway: &Gateway, req: &Request<Incoming>, now: i64) -> Response<Body> {
    match gateway.resume(req.headers(), now, true).await {
        Ok(Caller {
            session: Some(session),
            set_cookies,
            ..
        }) => respond::with_cookies(
            respond::json(
                StatusCode::OK,
                &serde_json::json!({
                    "status": "ok",
                    "expires_at": session.expires_at,
                    "renewable": session.renewal.is_some(),
                    "access_expires_at": session.renewal.as_ref().map(|r| r.access_expires_at),
                }),
            ),
            set_cookies,
        ),
        Ok(Caller { set_cookies, .. }) => {
            respond::with_cookies(respond_api(gateway, Failure::Unauthenticated), set_cookies)
        }
        Err(failure) => respond_api(gateway, failure),
    }
}

/// Microsoft's front-channel logout (the app registration's "Front-channel logout URL"): when
/// the user signs out at Microsoft, it loads this in an iframe with the `sid` of the sign-in
/// session. Every entrance session of that `sid` ends, on every replica with Redis. The
/// browser's cookies are usually not sent here (third-party iframe), so `sid` is what counts.
async fn frontchannel_logout(
    gateway: &Gateway,
    query: &HashMap<String, String>,
    cookies: &RequestCookies,
    now: i64,
) -> Response<Body> {
    let Some(sid) = query.get("sid").filter(|s| !s.is_empty() && s.len() <= 256) else {
        return respond_api(
            gateway,
            Failure::BadParameters("front-channel logout needs the sid parameter".into()),
        );
    };
    let ended = match gateway.sessions.end_sid(sid, now).await {
        Ok(ended) => ended,
        Err(error) => {
            gateway.metrics.session_store_error();
            return respond_api(gateway, Failure::SessionStoreUnavailable(error.to_string()));
        }
    };
    gateway.metrics.session_ended("frontchannel_logout");
    crate::logging::audit::frontchannel_logout(ended, &crate::gateway::reference());
    let mut response = respond::with_cookies(
        respond::html(
            StatusCode::OK,
            "<!doctype html><title>Signed out</title><p>Signed out.</p>".to_owned(),
        ),
        gateway.sessions.codec().clear_session(cookies),
    );
    // Microsoft shows this page in a hidden iframe of its own sign-out page.
    let headers = response.headers_mut();
    headers.remove("x-frame-options");
    if let Ok(value) = http::HeaderValue::from_str(&format!(
        "default-src 'none'; frame-ancestors {}",
        gateway.provider.authority_origin()
    )) {
        headers.insert("content-security-policy", value);
    }
    response
}

/// End the session (deleted server-side, every entrance cookie cleared), then land on `rd`
/// (validated), the signed-out page, or Microsoft's end_session endpoint when configured (with
/// `logout_hint`, so Microsoft need not ask which account).
async fn sign_out(
    gateway: &Gateway,
    query: &HashMap<String, String>,
    cookies: &RequestCookies,
    now: i64,
) -> Response<Body> {
    let landing = query
        .get("rd")
        .and_then(|rd| redirect::safe_path(rd))
        .unwrap_or_else(|| SIGNED_OUT_PATH.to_owned());
    let (session, clear) = gateway.sessions.end(cookies, now).await;
    let location = if gateway.settings.sign_out_at_microsoft {
        let mut back = gateway.settings.public_url.clone();
        back.set_path("");
        let post_logout = format!("{}{landing}", back.as_str().trim_end_matches('/'));
        let hint = session.as_ref().and_then(|s| s.login_hint.as_deref());
        gateway
            .provider
            .end_session_url(&post_logout, hint)
            .map(|u| u.to_string())
            .unwrap_or(landing)
    } else {
        landing
    };
    if session.is_some() {
        gateway.metrics.session_ended("signed_out");
    }
    crate::logging::audit::sign_out(
        session.as_ref().map(|s| s.identity.oid.as_str()),
        &crate::gateway::reference(),
    );
    respond::with_cookies(respond::redirect(&location), clear)
}

/// These endpoints are called by scripts and proxies: always JSON.
fn respond_api(gateway: &Gateway, failure: Failure) -> Response<Body> {
    gateway.fail_as(failure, respond::Audience::Api)
}

/// The query string as a map; the last value of a repeated name wins.
fn query_params<B>(req: &Request<B>) -> HashMap<String, String> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_paths_are_recognised_and_others_are_not() {
        assert_eq!(
            Endpoint::recognise("/oauth2/callback"),
            Some(Endpoint::Callback)
        );
        assert_eq!(Endpoint::recognise("/oauth2/nope"), Some(Endpoint::Unknown));
        assert_eq!(Endpoint::recognise("/healthz"), Some(Endpoint::Health));
        assert_eq!(Endpoint::recognise("/app/oauth2/start"), None);
        assert_eq!(Endpoint::recognise("/"), None);
    }
}
