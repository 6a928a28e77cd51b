//! Which endpoint a request is for: path and method to handler, tenant segment resolved once
//! (unknown tenant → AADSTS90002 for every tenant path); `/v1.0/…` goes to Microsoft Graph.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::body::Body;

use super::http::{self, parse_params};
use super::protocol::Trace;
use super::tenancy::{unknown_tenant, TenantPath};
use super::{authorize, discovery, graph, logout, pages, sso, token, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Discovery,
    Keys,
    DiscoveryV1,
    KeysV1,
    Authorize,
    Token,
    Logout,
}

impl Endpoint {
    fn from_rest(rest: &[&str]) -> Option<Endpoint> {
        match rest {
            ["v2.0", ".well-known", "openid-configuration"] => Some(Endpoint::Discovery),
            ["discovery", "v2.0", "keys"] => Some(Endpoint::Keys),
            [".well-known", "openid-configuration"] => Some(Endpoint::DiscoveryV1),
            ["discovery", "keys"] => Some(Endpoint::KeysV1),
            ["oauth2", "v2.0", "authorize"] => Some(Endpoint::Authorize),
            ["oauth2", "v2.0", "token"] => Some(Endpoint::Token),
            ["oauth2", "v2.0", "logout"] => Some(Endpoint::Logout),
            _ => None,
        }
    }

    fn allows(self, method: &Method) -> Result<(), &'static str> {
        let ok = match self {
            Endpoint::Discovery | Endpoint::Keys | Endpoint::DiscoveryV1 | Endpoint::KeysV1 => {
                method == Method::GET || method == Method::HEAD
            }
            Endpoint::Authorize | Endpoint::Logout => {
                method == Method::GET || method == Method::POST
            }
            Endpoint::Token => method == Method::POST,
        };
        match (ok, self) {
            (true, _) => Ok(()),
            (
                false,
                Endpoint::Discovery | Endpoint::Keys | Endpoint::DiscoveryV1 | Endpoint::KeysV1,
            ) => Err("GET"),
            (false, Endpoint::Authorize | Endpoint::Logout) => Err("GET, POST"),
            (false, Endpoint::Token) => Err("POST"),
        }
    }
}

/// Answer one request. Never panics; every failure is a response.
pub(crate) async fn handle(state: &State, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let query = parse_params(req.uri().query().unwrap_or("").as_bytes());
    match segments.as_slice() {
        [""] if req.method() == Method::GET => pages::home(state),
        ["error"] if req.method() == Method::GET => pages::error_lookup(&query),
        ["v1.0", rest @ ..] => graph::handle(state, rest, &query, req).await,
        [tenant, rest @ ..] => match Endpoint::from_rest(rest) {
            Some(endpoint) => tenant_endpoint(state, endpoint, tenant, query, req).await,
            None => http::not_found(),
        },
        [] => http::not_found(),
    }
}

async fn tenant_endpoint(
    state: &State,
    endpoint: Endpoint,
    segment: &str,
    query: http::Params,
    req: Request<Incoming>,
) -> Response<Body> {
    if endpoint == Endpoint::Token && req.method() == Method::POST {
        state.token_requests.fetch_add(1, Ordering::SeqCst);
    }
    if let Err(allow) = endpoint.allows(req.method()) {
        return http::method_not_allowed(allow);
    }
    let Some(tenant) = TenantPath::resolve(&state.config, segment) else {
        tracing::info!(tenant = segment, "emulator: unknown tenant");
        let trace = Trace::new(SystemTime::now());
        return http::aad_json(&unknown_tenant(segment), &state.authority, &trace);
    };
    match endpoint {
        Endpoint::Discovery => discovery::openid_configuration(state, &tenant),
        Endpoint::Keys => discovery::jwks(state, &tenant),
        Endpoint::DiscoveryV1 => discovery::openid_configuration_v1(state, &tenant),
        Endpoint::KeysV1 => discovery::jwks_v1(state),
        Endpoint::Authorize => {
            let browser = sso::browser_from(req.headers());
            let params = match form_or_query(req, query).await {
                Ok(p) => p,
                Err(resp) => return resp,
            };
            authorize::authorize(state, &tenant, &params, browser)
        }
        Endpoint::Logout => {
            let browser = sso::browser_from(req.headers());
            let params = match form_or_query(req, query).await {
                Ok(p) => p,
                Err(resp) => return resp,
            };
            logout::end_session(state, &params, browser.as_deref())
        }
        Endpoint::Token => token::token(state, &tenant, req).await,
    }
}

/// GET reads the query; POST reads the form body, with query parameters filling any gaps.
async fn form_or_query(
    req: Request<Incoming>,
    query: http::Params,
) -> Result<http::Params, Response<Body>> {
    if req.method() != Method::POST {
        return Ok(query);
    }
    let mut form = http::read_form(req.into_body()).await.map_err(|e| {
        http::json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "invalid_request", "error_description": e.to_string()}),
        )
    })?;
    for (k, v) in query {
        form.entry(k).or_insert(v);
    }
    Ok(form)
}
