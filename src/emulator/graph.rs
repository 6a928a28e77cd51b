//! The slice of Microsoft Graph a gateway needs to resolve groups overage, served on the
//! emulator's own listener under `/v1.0/` (discovery's `msgraph_host` points here):
//! `GET …/transitiveMemberOf[/microsoft.graph.group]` with `$top`/`$skiptoken` paging and
//! `POST …/getMemberObjects`, for `me` (delegated tokens) or `users/{oid or upn}`.
//!
//! Callers present the opaque Graph access tokens the token endpoint issued; Graph's error shape
//! (`{"error":{"code","message","innerError"}}`) throughout. A switch makes it answer 503.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::body::Incoming;
use hyper::header::{self, HeaderName};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::body::Body;

use super::access_token::LIFETIME_SECS;
use super::config::UserConfig;
use super::http::{self, Params};
use super::protocol::{guid, opaque, timestamp};
use super::State;

/// Graph's default and maximum page sizes for `transitiveMemberOf`.
const DEFAULT_TOP: usize = 100;
const MAX_TOP: usize = 999;
/// Graph's JSON content type.
const GRAPH_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// Who a Graph token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GraphGrant {
    /// The signed-in user; `None` for an app-only (client credentials) token.
    pub username: Option<String>,
    /// The tenant the token is for.
    pub tid: String,
    pub client_id: String,
}

/// Graph's state in the emulator: the tokens it honours, the outage switch, a request count.
#[derive(Default)]
pub(crate) struct GraphService {
    tokens: Mutex<HashMap<String, (GraphGrant, Instant)>>,
    /// While set, every Graph request gets 503.
    pub down: AtomicBool,
    /// Requests under `/v1.0/`, answered or not.
    pub requests: AtomicUsize,
    /// Server-driven paging: when non-zero, pages hold at most this many objects whatever
    /// `$top` asked (Graph may always return fewer than `$top` and a nextLink).
    pub page_cap: AtomicUsize,
}

impl GraphService {
    /// A new opaque Graph access token for `grant`, valid for an hour from `now`.
    pub fn issue(&self, grant: GraphGrant, now: Instant) -> String {
        let token = format!("EwB{}", opaque(96));
        let mut tokens = self.lock();
        tokens.retain(|_, (_, expires)| *expires > now);
        let lifetime = Duration::from_secs(LIFETIME_SECS.unsigned_abs());
        tokens.insert(token.clone(), (grant, now + lifetime));
        token
    }

    /// The grant behind a token: `Err(true)` when it expired, `Err(false)` when unknown.
    fn lookup(&self, token: &str, now: Instant) -> Result<GraphGrant, bool> {
        match self.lock().get(token) {
            Some((grant, expires)) if *expires > now => Ok(grant.clone()),
            Some(_) => Err(true),
            None => Err(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (GraphGrant, Instant)>> {
        match self.tokens.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// A Graph error: status, `code`, `message`.
#[derive(Debug)]
struct GraphError(StatusCode, &'static str, String);

impl GraphError {
    fn respond(&self, state: &State) -> Response<Body> {
        let request_id = guid();
        let body = json!({"error": {
            "code": self.1,
            "message": self.2,
            "innerError": {
                "date": timestamp(SystemTime::now()).replace(' ', "T"),
                "request-id": request_id,
                "client-request-id": request_id,
            }
        }});
        let challenge = format!(
            "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", \
             client_id=\"00000003-0000-0000-c000-000000000000\"",
            state.authority
        );
        let mut headers: Vec<(HeaderName, &str)> = vec![
            (header::CONTENT_TYPE, GRAPH_JSON),
            (HeaderName::from_static("request-id"), &request_id),
        ];
        if self.0 == StatusCode::UNAUTHORIZED {
            headers.push((header::WWW_AUTHENTICATE, &challenge));
        }
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            headers.push((header::RETRY_AFTER, "1"));
        }
        http::respond(self.0, &headers, body.to_string())
    }
}

fn bad_request(message: impl Into<String>) -> GraphError {
    GraphError(StatusCode::BAD_REQUEST, "BadRequest", message.into())
}

fn unauthorized(message: &str) -> GraphError {
    GraphError(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message.to_string(),
    )
}

/// The operation a path asks for.
#[derive(Debug, PartialEq, Eq)]
enum Operation {
    /// `transitiveMemberOf`; `true` with the `microsoft.graph.group` cast.
    TransitiveMemberOf(bool),
    GetMemberObjects,
}

/// Answer one request under `/v1.0/`; `rest` is the path after it.
pub(crate) async fn handle(
    state: &State,
    rest: &[&str],
    query: &Params,
    req: Request<Incoming>,
) -> Response<Body> {
    state.graph.requests.fetch_add(1, Ordering::SeqCst);
    match serve(state, rest, query, req).await {
        Ok(body) => http::respond(
            StatusCode::OK,
            &[
                (header::CONTENT_TYPE, GRAPH_JSON),
                (HeaderName::from_static("request-id"), &guid()),
            ],
            body.to_string(),
        ),
        Err(err) => {
            tracing::info!(
                status = err.0.as_u16(),
                code = err.1,
                "emulator: Graph request refused"
            );
            err.respond(state)
        }
    }
}

async fn serve(
    state: &State,
    rest: &[&str],
    query: &Params,
    req: Request<Incoming>,
) -> Result<Value, GraphError> {
    if state.graph.down.load(Ordering::SeqCst) {
        return Err(GraphError(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry later.".to_string(),
        ));
    }
    let (subject, op) = route(rest)?;
    let expected = match op {
        Operation::TransitiveMemberOf(_) => Method::GET,
        Operation::GetMemberObjects => Method::POST,
    };
    if req.method() != expected {
        return Err(GraphError(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.".to_string(),
        ));
    }
    let grant = authorize(state, &req)?;
    let user = target_user(state, &grant, subject)?;
    match op {
        Operation::TransitiveMemberOf(cast) => {
            let path = req.uri().path().to_string();
            let mut page = Page::from_query(query)?;
            let cap = state.graph.page_cap.load(Ordering::SeqCst);
            if cap > 0 {
                page.top = page.top.min(cap);
            }
            Ok(page.render(&state.authority, &path, cast, &user.groups))
        }
        Operation::GetMemberObjects => {
            let body = http::read_bytes(req.into_body())
                .await
                .map_err(|e| bad_request(e.to_string()))?;
            let parsed: Value = serde_json::from_slice(&body)
                .map_err(|_| bad_request("Unable to read JSON request payload."))?;
            if !parsed["securityEnabledOnly"].is_boolean() {
                return Err(bad_request(
                    "The parameter 'securityEnabledOnly' in the request payload is not a valid \
                     parameter for the operation 'getMemberObjects'.",
                ));
            }
            // Every emulator group is a security group, so both values return the same list.
            Ok(json!({
                "@odata.context": format!("{}/v1.0/$metadata#Collection(Edm.String)", state.authority),
                "value": user.groups,
            }))
        }
    }
}

/// `me/...` (None) or `users/{id}/...` (Some(id)), and the operation.
fn route<'a>(rest: &[&'a str]) -> Result<(Option<&'a str>, Operation), GraphError> {
    let (subject, tail) = match rest {
        ["me", tail @ ..] => (None, tail),
        ["users", id, tail @ ..] => (Some(*id), tail),
        _ => {
            let first = rest.first().copied().unwrap_or("");
            return Err(bad_request(format!(
                "Resource not found for the segment '{first}'."
            )));
        }
    };
    let op = match tail {
        ["transitiveMemberOf"] => Operation::TransitiveMemberOf(false),
        ["transitiveMemberOf", "microsoft.graph.group"] => Operation::TransitiveMemberOf(true),
        ["getMemberObjects"] => Operation::GetMemberObjects,
        _ => {
            let last = tail.last().copied().unwrap_or("");
            return Err(bad_request(format!(
                "Resource not found for the segment '{last}'."
            )));
        }
    };
    Ok((subject, op))
}

/// The Graph grant behind the request's bearer token.
fn authorize(state: &State, req: &Request<Incoming>) -> Result<GraphGrant, GraphError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        })
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("Access token is empty."))?;
    state
        .graph
        .lookup(token, Instant::now())
        .map_err(|expired| {
            if expired {
                unauthorized("Lifetime validation failed, the token is expired.")
            } else {
                unauthorized(
                    "Access token validation failure. Invalid audience or not a token issued \
                     for Microsoft Graph.",
                )
            }
        })
}

/// The user a request is about: the token's user for `me`, a user of the token's tenant for
/// `users/{oid or upn}`.
fn target_user<'s>(
    state: &'s State,
    grant: &GraphGrant,
    subject: Option<&str>,
) -> Result<&'s UserConfig, GraphError> {
    let not_found = |id: &str| {
        GraphError(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects \
                 are not present."
            ),
        )
    };
    match (subject, &grant.username) {
        (None, None) => Err(GraphError(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "/me request is only valid with delegated authentication flow.".to_string(),
        )),
        (None, Some(username)) => state
            .config
            .user(username)
            .ok_or_else(|| not_found(username)),
        (Some(id), _) => state
            .config
            .users
            .iter()
            .find(|u| {
                u.tenant == grant.tid
                    && (u.oid.eq_ignore_ascii_case(id) || u.username.eq_ignore_ascii_case(id))
            })
            .ok_or_else(|| not_found(id)),
    }
}

/// One page request of `transitiveMemberOf`.
#[derive(Debug, PartialEq, Eq)]
struct Page {
    top: usize,
    /// `$top` as sent, repeated in the next link.
    explicit_top: bool,
    offset: usize,
    select: Option<String>,
}

impl Page {
    fn from_query(query: &Params) -> Result<Page, GraphError> {
        let top = match query.get("$top") {
            None => None,
            Some(t) => match t.parse::<usize>() {
                Ok(n) if (1..=MAX_TOP).contains(&n) => Some(n),
                _ => {
                    return Err(bad_request(format!(
                        "Invalid page size specified: '{t}'. Must be between 1 and {MAX_TOP} \
                         inclusive."
                    )))
                }
            },
        };
        let offset = match query.get("$skiptoken") {
            None => 0,
            Some(token) => decode_skiptoken(token)
                .ok_or_else(|| bad_request("Invalid value for $skiptoken."))?,
        };
        Ok(Page {
            top: top.unwrap_or(DEFAULT_TOP),
            explicit_top: top.is_some(),
            offset,
            select: query.get("$select").cloned().filter(|s| !s.is_empty()),
        })
    }

    /// The response body for this page of `groups`; `path` is the request path (the next link
    /// repeats it with the same `$select`/`$top`).
    fn render(&self, authority: &str, path: &str, cast: bool, groups: &[String]) -> Value {
        let entity = if cast { "groups" } else { "directoryObjects" };
        let context = match &self.select {
            Some(sel) => format!("{authority}/v1.0/$metadata#{entity}({sel})"),
            None => format!("{authority}/v1.0/$metadata#{entity}"),
        };
        let end = groups.len().min(self.offset.saturating_add(self.top));
        let value: Vec<Value> = groups
            .get(self.offset..end)
            .unwrap_or(&[])
            .iter()
            .map(|id| {
                let mut item = json!({"@odata.type": "#microsoft.graph.group", "id": id});
                if self.select.is_none() {
                    // "Limited information": User.Read sees ids only, other properties null.
                    item["displayName"] = Value::Null;
                }
                item
            })
            .collect();
        let mut body = json!({"@odata.context": context, "value": value});
        if end < groups.len() {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let mut query = Vec::new();
            if let Some(sel) = &self.select {
                query.push(format!("$select={}", enc(sel)));
            }
            if self.explicit_top {
                query.push(format!("$top={}", self.top));
            }
            query.push(format!("$skiptoken={}", encode_skiptoken(end)));
            body["@odata.nextLink"] = json!(format!("{authority}{path}?{}", query.join("&")));
        }
        body
    }
}

/// Skip tokens are opaque to clients; here they carry the offset of the next page.
fn encode_skiptoken(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_skiptoken(token: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
