//! The gateway: shared state, and the story of one request ([`Gateway::handle`]).
//!
//! Nothing below this module knows the order of the steps; nothing above it knows how a step
//! works. Starting and serving the gateway is in [`serve`]; who a request is from (bearer token
//! or session, renewed when due) in [`caller`]; what a request's access-log line says in
//! [`trace`].

mod caller;
mod serve;
mod trace;

pub use caller::Caller;
pub use serve::{config_summary, serve, start, start_with_admin, Listeners, Serving};
use trace::{note, RequestScope, Trace, REQUEST};
pub use trace::{note_decision, note_identity, note_route, reference};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::header::ACCEPT;
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use hyper::body::Incoming;
use url::Url;

use crate::body::{self, Body};
use crate::config::{Config, GroupsSource};
use crate::forwarded::{self, ClientView, Proto, TrustedProxies};
use crate::identity::{self, Identity};
use crate::metrics::Metrics;
use crate::oidc::{self, Provider};
use crate::pages::{self, Branding};
use crate::policy::{self, Policy, Route, Verdict};
use crate::proxy::{self, ForwardContext, Proxy, ProxyError};
use crate::respond::{self, Audience, Failure};
use crate::session::{self, Codec, RequestCookies, Sessions};
use crate::{endpoints, logging, redirect};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("identity provider settings: {0}")]
    Provider(#[from] oidc::OidcError),
    #[error(transparent)]
    Sessions(#[from] session::SessionsError),
    #[error("{0}")]
    Ui(String),
    #[error("listener: {0}")]
    Listen(#[from] std::io::Error),
    #[error("TLS certificate: {0}")]
    Tls(String),
    #[error("upstreams: {0}")]
    Upstream(#[from] crate::upstream::UpstreamError),
}

/// Settings the request path reads, derived once from the config.
pub struct Settings {
    pub public_url: Url,
    /// `host[:port]` of public_url, for X-Forwarded-Host.
    pub public_host: String,
    /// The scheme of public_url.
    pub public_proto: Proto,
    /// Peers whose forwarding headers (client IP, scheme, host, forward-auth URI) are believed.
    pub trusted_proxies: TrustedProxies,
    pub groups_source: GroupsSource,
    /// `Some(accepted audiences)` when bearer tokens for this app's API are accepted.
    pub api_audiences: Option<Vec<String>>,
    pub lifetime_secs: i64,
    pub sign_out_at_microsoft: bool,
}

/// Shared state of a running gateway.
pub struct Gateway {
    pub settings: Settings,
    pub provider: Arc<Provider>,
    /// Where sessions live, and their renewal and ending.
    pub sessions: Sessions,
    pub policy: Policy,
    proxy: Proxy,
    /// `limits.max_body_bytes`.
    max_body_bytes: Option<u64>,
    pub metrics: Arc<Metrics>,
    /// Page branding (`ui:`), with any operator templates read at start.
    pub brand: Branding,
    /// Show an interstitial "Sign in with Microsoft" page instead of redirecting at once.
    sign_in_page: bool,
    /// Discovery and key refresh, stopped when the gateway is dropped (after a reload).
    background: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(mut background) = self.background.lock() {
            if let Some(task) = background.take() {
                task.abort();
            }
        }
    }
}

/// public_url + `/oauth2/callback`: the redirect URI to register.
pub fn redirect_uri(public_url: &Url) -> Url {
    let mut url = public_url.clone();
    url.set_path("/oauth2/callback");
    url.set_query(None);
    url
}

impl Gateway {
    pub fn new(config: &Config) -> Result<Self, StartError> {
        let public_url = config.public_url.clone();
        let secure = public_url.scheme() == "https";
        let public_host = match (public_url.host_str(), public_url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => String::new(),
        };
        Ok(Gateway {
            provider: Arc::new(Provider::new(
                &config.provider,
                &redirect_uri(&public_url),
                config.api.enabled,
            )?),
            sessions: Sessions::new(&config.session, secure)?,
            policy: Policy::new(
                &config.authorization,
                &config.routes,
                config.provider.tenant == "consumers"
                    || config.provider.tenant == crate::config::PERSONAL_ACCOUNTS_TENANT,
            ),
            proxy: Proxy::from_upstreams(&config.upstreams)?,
            max_body_bytes: config.limits.max_body_bytes,
            metrics: Metrics::install(),
            brand: Branding::from_config(&config.ui).map_err(StartError::Ui)?,
            sign_in_page: config.ui.sign_in_page,
            background: Mutex::new(None),
            settings: Settings {
                public_host,
                public_proto: if secure { Proto::Https } else { Proto::Http },
                trusted_proxies: config.trusted_proxies.clone(),
                public_url,
                groups_source: config.authorization.groups_source,
                api_audiences: config.api.enabled.then(|| api_audiences(config)),
                lifetime_secs: i64::try_from(config.session.lifetime.as_secs()).unwrap_or(i64::MAX),
                sign_out_at_microsoft: config.provider.sign_out_at_microsoft,
            },
        })
    }

    /// Start discovery and key refresh (once).
    pub fn start_background(self: &Arc<Self>) {
        if let Ok(mut background) = self.background.lock() {
            if background.is_none() {
                *background = Some(self.provider.spawn_refresher());
            }
        }
    }

    /// Around the story: a request id (sent upstream and back, shown on error pages), then one
    /// access-log line and the request metrics.
    pub async fn observe(&self, mut req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        // Who the client is: the peer, or what a trusted proxy in front says.
        let client = forwarded::client_view(
            peer,
            req.headers(),
            &self.settings.trusted_proxies,
            self.settings.public_proto,
            &self.settings.public_host,
        );
        let request_id = logging::request_id(req.headers(), client.via_trusted_proxy);
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            req.headers_mut().insert(logging::X_REQUEST_ID, value);
        }
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or_default()
            .to_owned();
        let scope = RequestScope {
            id: request_id.clone(),
            trace: Arc::new(Mutex::new(Trace::default())),
        };
        // The span OpenTelemetry export (feature `otel`) turns into the server span; the logs
        // never print span fields. Path without the query, like the access log.
        let span = tracing::info_span!(
            "request",
            otel.kind = "server",
            http.request.method = method.as_str(),
            url.path = path.as_str(),
            request_id = request_id.as_str(),
        );
        let handled = REQUEST.scope(scope.clone(), self.handle(req, &client));
        let mut response = tracing::Instrument::instrument(handled, span).await;
        let trace = scope.trace.lock().map(|t| t.clone()).unwrap_or_default();
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(logging::X_REQUEST_ID, value);
        }
        let status = response.status().as_u16();
        let seconds = started.elapsed().as_secs_f64();
        self.metrics
            .request(&host, &trace.route, &method, status, seconds);
        let bytes = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        logging::AccessLog {
            request_id: &request_id,
            client_ip: client.client_ip,
            host: &host,
            method: &method,
            path: &path,
            status,
            bytes,
            duration_ms: seconds * 1000.0,
            upstream_ms: trace.upstream_ms,
            oid: trace.oid.as_deref(),
            tid: trace.tid.as_deref(),
            decision: &trace.decision,
        }
        .emit();
        response
    }

    /// The story of one request from `client`.
    pub async fn handle(&self, mut req: Request<Incoming>, client: &ClientView) -> Response<Body> {
        let now = unix_now();
        // 1. Nothing the client says about identity is believed, on any route.
        identity::strip_client_identity_headers(req.headers_mut());
        // 2. entrance's own endpoints.
        if let Some(endpoint) = endpoints::Endpoint::recognise(req.uri().path()) {
            note(|t| {
                t.decision = "endpoint".into();
                t.route = "entrance".into();
            });
            return endpoints::serve(self, endpoint, req, client, now).await;
        }
        // 3. Which route, decided on the normalised path.
        let path = match policy::normalize_path(req.uri().path()) {
            Ok(path) => path,
            Err(bad) => return self.fail(Failure::BadPath(bad.to_string()), req.headers()),
        };
        let route = self.policy.route(req.method(), &path);
        note(|t| t.route = route.label());
        // 4. Who is asking: an API caller's bearer token, or a browser's session. Public routes
        //    do not ask (and so never receive identity headers, nor refuse a stale token).
        let caller = if route.is_public() {
            Caller::default()
        } else {
            match self.caller(req.headers(), now).await {
                Ok(caller) => caller,
                Err(failure @ Failure::InvalidToken(_)) => {
                    return self.fail_as(failure, Audience::Api)
                }
                Err(failure) => return self.fail(failure, req.headers()),
            }
        };
        // A renewed session's new cookie, or the deletion of an ended one, goes back with
        // whatever the answer is.
        let set_cookies = caller.set_cookies;
        let who = caller.who;
        let response = self.decide(req, client, &path, &route, who, now).await;
        respond::with_cookies(response, set_cookies)
    }

    /// 5. What to do with a request from `who` (after the route was found).
    async fn decide(
        &self,
        req: Request<Incoming>,
        client: &ClientView,
        path: &str,
        route: &Route<'_>,
        who: Option<Identity>,
        now: i64,
    ) -> Response<Body> {
        if let Some(who) = &who {
            note_identity(who);
        }
        match self.policy.decide(route, who.as_ref(), None) {
            Verdict::Allow => {
                note_decision(if route.is_public() { "public" } else { "allow" });
                self.forward(req, client, path, who.as_ref()).await
            }
            Verdict::SignIn => {
                note_decision("sign_in");
                self.sign_in(&req, path, now)
            }
            Verdict::Deny(reason) => {
                note_decision(&format!("deny:{}", reason.code()));
                if let Some(who) = &who {
                    logging::audit::denied(
                        &who.oid,
                        &who.tid,
                        reason.code(),
                        &route.label(),
                        &reference(),
                    );
                }
                let audience = if who.as_ref().is_some_and(|w| w.caller.is_some()) {
                    Audience::Api
                } else {
                    audience(req.headers())
                };
                self.fail_as(Failure::Denied(reason), audience)
            }
        }
    }

    /// 6a. Send an allowed (or public) request upstream with the identity headers.
    async fn forward(
        &self,
        mut req: Request<Incoming>,
        client: &ClientView,
        path: &str,
        who: Option<&Identity>,
    ) -> Response<Body> {
        let upgrade =
            proxy::is_upgrade_request(req.headers()).then(|| hyper::upgrade::on(&mut req));
        self.cookies().strip_own_cookies(req.headers_mut());
        if let Some(who) = who {
            identity::set_identity_headers(req.headers_mut(), who);
        }
        // This request's span as the upstream's parent; a client's `traceparent` is not
        // believed (no proxy is trusted yet), so it is replaced whenever a span is recorded.
        #[cfg(feature = "otel")]
        crate::telemetry::inject(req.headers_mut());
        let path_and_query = match req.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        let audience = audience(req.headers());
        let Some(selected) = self.proxy.select(&path_and_query) else {
            return self.fail_as(Failure::NoUpstream, audience);
        };
        let announced = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if let (Some(max), Some(length)) = (self.max_body_bytes, announced) {
            if length > max {
                return self.fail_as(Failure::BodyTooLarge, audience);
            }
        }
        let (parts, incoming) = req.into_parts();
        let req = Request::from_parts(parts, body::stream_limited(incoming, self.max_body_bytes));
        let forwarded_for = client.forwarded_for_upstream();
        let ctx = ForwardContext {
            forwarded_for: &forwarded_for,
            proto: client.proto.as_str(),
            host: &client.host,
            path_and_query: &path_and_query,
        };
        let started = Instant::now();
        let result = self.proxy.forward_to(&selected, req, upgrade, &ctx).await;
        let seconds = started.elapsed().as_secs_f64();
        note(|t| t.upstream_ms = Some(seconds * 1000.0));
        let outcome = match &result {
            Ok(_) => "ok",
            Err(ProxyError::Timeout) => "timeout",
            Err(_) => "unreachable",
        };
        self.metrics.upstream(seconds, outcome);
        match result {
            Ok(response) => response,
            Err(error) => {
                let failure = match error {
                    ProxyError::Timeout => Failure::UpstreamTimeout,
                    ProxyError::BadRequest(why) => Failure::BadPath(why.to_owned()),
                    ProxyError::Connect(e) | ProxyError::Upstream(e) => {
                        Failure::UpstreamUnreachable(e.to_string())
                    }
                };
                self.fail_as(failure, audience)
            }
        }
    }

    /// 6b. No session: browsers go to Microsoft (remembering where they were), API callers get 401.
    fn sign_in<B>(&self, req: &Request<B>, path: &str, now: i64) -> Response<Body> {
        if !is_browser_navigation(req.method(), req.headers()) {
            // Scripts, XHR and form posts cannot follow a sign-in redirect: a JSON 401 they can
            // act on, whatever they accept.
            return self.fail_as(Failure::Unauthenticated, Audience::Api);
        }
        let return_to = redirect::own_request_target(path, req.uri().query());
        if self.sign_in_page {
            let start = format!(
                "/oauth2/start?rd={}",
                url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
            );
            return respond::html(
                http::StatusCode::OK,
                pages::sign_in_page(&self.brand, &start),
            );
        }
        let cookies = RequestCookies::from_headers(req.headers());
        self.begin_sign_in(return_to, &cookies, now, req.headers())
    }

    /// Redirect to the authorize endpoint with a fresh attempt cookie.
    pub fn begin_sign_in(
        &self,
        return_to: String,
        cookies: &RequestCookies,
        now: i64,
        headers: &HeaderMap,
    ) -> Response<Body> {
        match self.provider.begin(return_to, now) {
            Ok((url, attempt)) => {
                let set = self.cookies().seal_attempt(&attempt, cookies, now);
                respond::with_cookies(respond::redirect(url.as_str()), set)
            }
            Err(error) => self.fail(Failure::Oidc(error), headers),
        }
    }

    /// A failure answered as the client prefers (page or JSON), with a fresh reference.
    pub fn fail(&self, failure: Failure, headers: &HeaderMap) -> Response<Body> {
        self.fail_as(failure, audience(headers))
    }

    /// A failure answered for `audience`, branded, with the request's reference.
    pub fn fail_as(&self, failure: Failure, audience: Audience) -> Response<Body> {
        failure.into_response(audience, &reference(), &self.brand)
    }

    /// The cookie codec: attempt cookies, and entrance's cookies stripped before the upstream.
    pub fn cookies(&self) -> &Codec {
        self.sessions.codec()
    }

    /// The default route: for decisions that have no request path (`/oauth2/auth`).
    pub fn default_route(&self) -> Route<'_> {
        self.policy.defaults()
    }
}

/// Accepted `aud` values for API tokens: the client id, `api://{client id}`, and `api.audiences`.
fn api_audiences(config: &Config) -> Vec<String> {
    let client_id = &config.provider.client_id;
    let mut audiences = vec![client_id.clone(), format!("api://{client_id}")];
    audiences.extend(config.api.audiences.iter().cloned());
    audiences
}

/// A browser navigating (gets redirected to sign in) rather than a script or API client
/// (gets 401): GET/HEAD, asking for HTML, not marked as XHR.
pub fn is_browser_navigation(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    if headers.contains_key("x-requested-with") {
        return false;
    }
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|accept| accept.contains("text/html"))
}

/// Pages for browsers, JSON for everyone else.
pub fn audience(headers: &HeaderMap) -> Audience {
    if is_browser_navigation(&Method::GET, headers) {
        Audience::Browser
    } else {
        Audience::Api
    }
}

/// Seconds since the Unix epoch. The only clock read on the request path.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn browsers_are_told_apart_from_api_callers() {
        let html = headers(&[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]);
        assert!(is_browser_navigation(&Method::GET, &html));
        assert!(is_browser_navigation(&Method::HEAD, &html));
        assert!(!is_browser_navigation(&Method::POST, &html));
        assert!(!is_browser_navigation(
            &Method::GET,
            &headers(&[("accept", "application/json")])
        ));
        assert!(!is_browser_navigation(&Method::GET, &headers(&[])));
        assert!(!is_browser_navigation(
            &Method::GET,
            &headers(&[
                ("accept", "text/html"),
                ("x-requested-with", "XMLHttpRequest")
            ])
        ));
    }

    #[test]
    fn the_redirect_uri_is_public_url_plus_callback() {
        let url = Url::parse("https://app.example.com/").unwrap_or_else(|_| unreachable!());
        assert_eq!(
            redirect_uri(&url).as_str(),
            "https://app.example.com/oauth2/callback"
        );
    }
}
