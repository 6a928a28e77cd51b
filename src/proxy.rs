//! Forwarding to the upstream: one pooled keep-alive client, hop-by-hop header hygiene,
//! `X-Forwarded-*`, WebSocket (and other HTTP/1.1) upgrades, and errors tagged by what failed.
//!
//! This module must not decide *whether* a request may pass nor *which* identity headers it
//! carries: the gateway has done both before calling [`Proxy::forward`]. Bodies stream through in
//! both directions; nothing here buffers one.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::body::{self, Body, BoxError};

/// How long an idle upstream connection stays pooled. Below the keep-alive timeouts of common
/// servers (nginx 75 s, most frameworks 60 s+), so we rarely pick a connection the upstream is
/// closing; when we do, the client retries requests that never started on a fresh connection.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static UPGRADE_TOKEN: HeaderValue = HeaderValue::from_static("upgrade");

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1, plus the
/// non-standard `Keep-Alive` and `Proxy-Connection` still sent in the wild).
static HOP_BY_HOP: [&HeaderName; 9] = [
    &header::CONNECTION,
    &KEEP_ALIVE,
    &PROXY_CONNECTION,
    &header::PROXY_AUTHENTICATE,
    &header::PROXY_AUTHORIZATION,
    &header::TE,
    &header::TRAILER,
    &header::TRANSFER_ENCODING,
    &header::UPGRADE,
];

/// Forwards requests to one upstream over a pooled keep-alive HTTP/1.1 client. Cheap to clone
/// (the pool is shared).
#[derive(Clone, Debug)]
pub struct Proxy {
    client: Client<HttpConnector, Body>,
    /// Where requests go, or why the upstream URL cannot be used (config validation should make
    /// this unreachable; `new` stays infallible so a bad URL fails requests, not start-up).
    origin: Result<Origin, String>,
    /// Time allowed until the upstream's response headers arrive; body streaming is not bounded.
    timeout: Duration,
}

#[derive(Clone, Debug)]
struct Origin {
    scheme: Scheme,
    authority: Authority,
    /// The `Host` header sent upstream: the upstream's own authority.
    host: HeaderValue,
    /// The upstream URL's path without a trailing slash ("" for none), prefixed to every request.
    base_path: String,
}

/// Facts about the client connection the proxy needs (already decided by the gateway).
#[derive(Clone, Copy, Debug)]
pub struct ForwardContext<'a> {
    pub client_ip: IpAddr,
    /// "http" or "https": the scheme browsers used to reach entrance.
    pub proto: &'a str,
    /// host[:port] browsers used (from `public_url`).
    pub host: &'a str,
    /// The (normalised) path plus the original query to request upstream; starts with `/`.
    pub path_and_query: &'a str,
}

/// Why a request could not be forwarded. The variant says whose fault it was, so the gateway can
/// pick the status: `Connect` and `Upstream` 502, `Timeout` 504, `BadRequest` 400.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The upstream refused or could not be reached (or its URL is unusable).
    #[error("could not connect to the upstream")]
    Connect(#[source] BoxError),
    /// No response headers from the upstream within the configured timeout.
    #[error("the upstream did not answer in time")]
    Timeout,
    /// The upstream broke the protocol or the connection after connecting.
    #[error("the upstream request failed")]
    Upstream(#[source] BoxError),
    /// The client's request cannot be turned into an upstream request.
    #[error("cannot forward the request: {0}")]
    BadRequest(&'static str),
}

impl Proxy {
    /// A proxy to `upstream` (`http://host:port[/base]`). A base path is prefixed to every request
    /// path; the upstream URL's query and fragment are ignored. Only `http` upstreams are
    /// supported: any other scheme fails every request with [`ProxyError::Connect`].
    pub fn new(upstream: &url::Url, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        // Requests are small and latency-bound; Nagle only adds delay.
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Proxy {
            client,
            origin: Origin::from_url(upstream),
            timeout,
        }
    }

    /// Forward `req` (headers already cleaned of client identity headers and carrying entrance's
    /// identity headers) to the upstream; stream both bodies without buffering.
    ///
    /// `client_upgrade` is the client connection's `hyper::upgrade::on(&mut req)`, taken by the
    /// gateway when [`is_upgrade_request`] is true. If the upstream then answers 101, the two
    /// connections are joined in a background task and the 101 is returned for the client.
    pub async fn forward(
        &self,
        req: Request<Body>,
        client_upgrade: Option<OnUpgrade>,
        ctx: &ForwardContext<'_>,
    ) -> Result<Response<Body>, ProxyError> {
        let origin = self
            .origin
            .as_ref()
            .map_err(|reason| ProxyError::Connect(reason.clone().into()))?;
        let (parts, body) = req.into_parts();
        // An upgrade we could not tunnel (no client handle, e.g. HTTP/2) is forwarded as a plain
        // request: the hop-by-hop strip below removes its upgrade headers.
        let client_upgrade = client_upgrade.filter(|_| is_upgrade_request(&parts.headers));
        let mut headers = parts.headers;
        prepare_request_headers(&mut headers, client_upgrade.is_some(), ctx)?;
        headers.insert(header::HOST, origin.host.clone());

        // A fresh request: HTTP/1.1 upstream whatever the client spoke, with origin-form URI
        // built from our upstream, never from the client's (possibly absolute) URI.
        let mut upstream_req = Request::new(body);
        *upstream_req.method_mut() = parts.method;
        *upstream_req.uri_mut() = origin.uri(ctx.path_and_query)?;
        *upstream_req.version_mut() = Version::HTTP_11;
        *upstream_req.headers_mut() = headers;

        let response = match tokio::time::timeout(self.timeout, self.client.request(upstream_req))
            .await
        {
            Err(_elapsed) => return Err(ProxyError::Timeout),
            Ok(Err(error)) if error.is_connect() => return Err(ProxyError::Connect(error.into())),
            Ok(Err(error)) => return Err(ProxyError::Upstream(error.into())),
            Ok(Ok(response)) => response,
        };

        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            return match client_upgrade {
                Some(client) => Ok(tunnel(client, response)),
                // We never asked to switch, so there is nothing to switch the client to.
                None => Err(ProxyError::Upstream(
                    "upstream switched protocols without an upgrade request".into(),
                )),
            };
        }
        let (parts, body) = response.into_parts();
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers, |_| false);
        let mut out = Response::new(body::stream(body));
        *out.status_mut() = parts.status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

impl Origin {
    fn from_url(upstream: &url::Url) -> Result<Origin, String> {
        let host = upstream
            .host_str()
            .ok_or_else(|| format!("upstream URL {upstream} has no host"))?;
        let authority = match upstream.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let invalid = || format!("upstream URL {upstream} has an invalid host");
        Ok(Origin {
            scheme: Scheme::try_from(upstream.scheme())
                .map_err(|_| format!("upstream URL {upstream} has an invalid scheme"))?,
            host: HeaderValue::from_str(&authority).map_err(|_| invalid())?,
            authority: Authority::try_from(authority.as_str()).map_err(|_| invalid())?,
            base_path: upstream.path().trim_end_matches('/').to_owned(),
        })
    }

    fn uri(&self, path_and_query: &str) -> Result<Uri, ProxyError> {
        if !path_and_query.starts_with('/') {
            return Err(ProxyError::BadRequest("the path does not start with '/'"));
        }
        let path_and_query = if self.base_path.is_empty() {
            PathAndQuery::try_from(path_and_query)
        } else {
            PathAndQuery::try_from(format!("{}{path_and_query}", self.base_path))
        }
        .map_err(|_| ProxyError::BadRequest("the path is not a valid URI path"))?;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).map_err(|_| ProxyError::BadRequest("cannot build the upstream URI"))
    }
}

/// True when the request asks to switch protocols (WebSocket and friends): a `Connection` header
/// with the `upgrade` token and an `Upgrade` header.
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).any(|token| token.eq_ignore_ascii_case("upgrade"))
}

/// Turn the client's headers into the upstream's: drop hop-by-hop headers (keeping the upgrade
/// pair when we tunnel), then set `X-Forwarded-For/-Proto/-Host`.
fn prepare_request_headers(
    headers: &mut HeaderMap,
    keep_upgrade: bool,
    ctx: &ForwardContext<'_>,
) -> Result<(), ProxyError> {
    let upgrade: Vec<HeaderValue> = if keep_upgrade {
        headers.get_all(header::UPGRADE).iter().cloned().collect()
    } else {
        Vec::new()
    };
    strip_hop_by_hop(headers, set_by_entrance);
    restore_upgrade(headers, upgrade);

    let mut forwarded_for = String::new();
    for value in headers.get_all(&X_FORWARDED_FOR) {
        // A value that is not visible ASCII cannot be an address list; drop it, keep the rest.
        if let Ok(value) = value.to_str() {
            let value = value.trim();
            if !value.is_empty() {
                forwarded_for.push_str(value);
                forwarded_for.push_str(", ");
            }
        }
    }
    let _ = write!(forwarded_for, "{}", ctx.client_ip);
    let forwarded_for = HeaderValue::try_from(forwarded_for)
        .map_err(|_| ProxyError::BadRequest("invalid X-Forwarded-For"))?;
    let proto = HeaderValue::from_str(ctx.proto)
        .map_err(|_| ProxyError::BadRequest("invalid forwarded proto"))?;
    let host = HeaderValue::from_str(ctx.host)
        .map_err(|_| ProxyError::BadRequest("invalid forwarded host"))?;
    headers.insert(X_FORWARDED_FOR.clone(), forwarded_for);
    headers.insert(X_FORWARDED_PROTO.clone(), proto);
    headers.insert(X_FORWARDED_HOST.clone(), host);
    Ok(())
}

/// Headers the gateway set for the upstream. A client naming them in `Connection` must not make
/// us drop them: the client's own copies were stripped already, so these are entrance's, and
/// dropping them would let a client erase (say) its group list before the upstream sees it.
fn set_by_entrance(name: &HeaderName) -> bool {
    let name = name.as_str();
    name.starts_with("x-auth-request-")
        || name.starts_with("x-forwarded-")
        || name.starts_with("x-ms-client-principal")
        || name.starts_with("x-ms-token-")
        || name == header::AUTHORIZATION.as_str()
}

/// Remove the hop-by-hop headers and every header the `Connection` header names, except those
/// `keep` protects.
fn strip_hop_by_hop(headers: &mut HeaderMap, keep: fn(&HeaderName) -> bool) {
    // Collected first because the names borrow the map; empty (no allocation) when there is no
    // Connection header, as with every HTTP/2 request.
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .filter(|name| !keep(name))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Put back `Connection: upgrade` and the `Upgrade` values on a message we tunnel.
fn restore_upgrade(headers: &mut HeaderMap, upgrade: Vec<HeaderValue>) {
    if upgrade.is_empty() {
        return;
    }
    headers.insert(header::CONNECTION, UPGRADE_TOKEN.clone());
    for value in upgrade {
        headers.append(header::UPGRADE, value);
    }
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// The upstream agreed to switch protocols: join the two upgraded connections in a background
/// task and hand the client its 101.
fn tunnel(client: OnUpgrade, mut response: Response<Incoming>) -> Response<Body> {
    let upstream = hyper::upgrade::on(&mut response);
    tokio::spawn(async move {
        // The client side completes only after hyper has written our 101, i.e. after we return.
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(both) => both,
            Err(error) => {
                tracing::debug!(%error, "upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        let metrics = crate::metrics::Metrics::install();
        metrics.websocket(true);
        match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            Ok((to_upstream, to_client)) => {
                tracing::debug!(to_upstream, to_client, "upgraded connection closed");
            }
            Err(error) => tracing::debug!(%error, "upgraded connection ended with an error"),
        }
        metrics.websocket(false);
    });
    let (parts, _empty) = response.into_parts();
    let mut headers = parts.headers;
    let upgrade: Vec<HeaderValue> = headers.get_all(header::UPGRADE).iter().cloned().collect();
    strip_hop_by_hop(&mut headers, |_| false);
    restore_upgrade(&mut headers, upgrade);
    let mut out = Response::new(body::empty());
    *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *out.headers_mut() = headers;
    out
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
