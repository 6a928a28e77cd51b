//! entrance's own endpoints: `/oauth2/start`, `/oauth2/callback`, `/oauth2/sign_out`,
//! `/oauth2/signed_out`, `/oauth2/userinfo`, `/oauth2/auth`, `/healthz`, `/readyz`.
//!
//! Each handler reads the request, asks the gateway's parts, and answers; none of them forwards.

mod callback;

use std::collections::HashMap;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::Body;
use crate::gateway::Gateway;
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
            "/oauth2/userinfo" => Endpoint::UserInfo,
            "/oauth2/auth" => Endpoint::Auth,
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
    now: i64,
) -> Response<Body> {
    let query = query_params(&req);
    let cookies = RequestCookies::from_headers(req.headers());
    match endpoint {
        Endpoint::Start => {
            let return_to = redirect::target_or_root(query.get("rd").map(String::as_str));
            gateway.begin_sign_in(return_to, &cookies, now, req.headers())
        }
        Endpoint::Callback => callback::handle(gateway, &req, &query, &cookies, now).await,
        Endpoint::SignOut => sign_out(gateway, &query, &cookies),
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
            Ok(Some(who)) => respond::json(
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
                    "expires_at": gateway.session(req.headers(), now).map(|s| s.expires_at),
                }),
            ),
            Ok(None) => respond_api(gateway, Failure::Unauthenticated),
            Err(failure) => respond_api(gateway, failure),
        },
        Endpoint::Auth => auth(gateway, &req, now).await,
        Endpoint::Health => respond::json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        Endpoint::Ready => {
            if gateway.provider.is_ready() {
                respond::json(StatusCode::OK, &serde_json::json!({"status": "ready"}))
            } else {
                respond::json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({
                        "status": "not ready",
                        "reason": "the identity provider's discovery document and keys are not loaded yet",
                    }),
                )
            }
        }
        Endpoint::Unknown => gateway.fail(Failure::NoSuchEndpoint, req.headers()),
    }
}

/// `/oauth2/auth` for nginx `auth_request` (and similar): 202 with the identity headers on the
/// response, 401 without a session or token, 403 when the rules deny. Query parameters add
/// rules (`allowed_groups=…`), so one entrance can guard many locations differently.
async fn auth(gateway: &Gateway, req: &Request<Incoming>, now: i64) -> Response<Body> {
    let pairs: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let extra = match policy::rules_from_query(&pairs) {
        Ok(rules) => rules,
        Err(why) => return respond_api(gateway, Failure::BadParameters(why)),
    };
    let who = match gateway.caller(req.headers(), now).await {
        Ok(who) => who,
        Err(failure) => return respond_api(gateway, failure),
    };
    let route = gateway.default_route();
    match gateway.policy.decide(&route, who.as_ref(), Some(&extra)) {
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
        Verdict::SignIn => respond_api(gateway, Failure::Unauthenticated),
        Verdict::Deny(reason) => respond_api(gateway, Failure::Denied(reason)),
    }
}

/// Clear every entrance cookie, then land on `rd` (validated), the signed-out page, or
/// Microsoft's end_session endpoint when configured.
fn sign_out(
    gateway: &Gateway,
    query: &HashMap<String, String>,
    cookies: &RequestCookies,
) -> Response<Body> {
    let landing = query
        .get("rd")
        .and_then(|rd| redirect::safe_path(rd))
        .unwrap_or_else(|| SIGNED_OUT_PATH.to_owned());
    let location = if gateway.settings.sign_out_at_microsoft {
        let mut back = gateway.settings.public_url.clone();
        back.set_path("");
        let post_logout = format!("{}{landing}", back.as_str().trim_end_matches('/'));
        gateway
            .provider
            .end_session_url(&post_logout)
            .map(|u| u.to_string())
            .unwrap_or(landing)
    } else {
        landing
    };
    let who = gateway
        .cookies
        .open_session(cookies, crate::gateway::unix_now());
    crate::logging::audit::sign_out(
        who.as_ref().map(|s| s.identity.oid.as_str()),
        &crate::gateway::reference(),
    );
    respond::with_cookies(
        respond::redirect(&location),
        gateway.cookies.clear_all(cookies),
    )
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
