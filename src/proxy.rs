//! Forwarding to the upstreams: one pooled keep-alive client per upstream (http, https with
//! rustls, or a unix socket), bounded connect and response-header waits, hop-by-hop header
//! hygiene, `X-Forwarded-*`, WebSocket (and other HTTP/1.1) upgrades, and errors tagged by what
//! failed.
//!
//! This module must not decide *whether* a request may pass nor *which* identity headers it
//! carries: the gateway has done both before calling [`Proxy::forward_to`]. Which upstream serves
//! a path is [`crate::upstream`]'s pure decision. Bodies stream through in both directions;
//! nothing here buffers one.

use std::fmt::Write as _;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::body::{self, Body, BoxError};
use crate::upstream::{
    Origin, Selected, Target, Upstream, UpstreamConfig, UpstreamError, Upstreams,
};

mod pool;

use pool::Pool;

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

/// Forwards requests to a site's upstreams, each over its own pooled keep-alive HTTP/1.1
/// client. Cheap to clone (the pools are shared).
#[derive(Clone)]
pub struct Proxy {
    upstreams: Arc<Upstreams>,
    /// One per upstream, in the same order.
    pools: Arc<[Pool]>,
}

/// Facts about the client connection the proxy needs (already decided by the gateway).
#[derive(Clone, Copy, Debug)]
pub struct ForwardContext<'a> {
    /// The `X-Forwarded-For` to send: the client, the trusted proxies after it, the peer (see
    /// [`crate::forwarded::ClientView::forwarded_for_upstream`]). What the client sent is never
    /// appended here.
    pub forwarded_for: &'a str,
    /// "http" or "https": the scheme browsers used to reach entrance.
    pub proto: &'a str,
    /// host[:port] browsers used (from `public_url`).
    pub host: &'a str,
    /// The (normalised) path plus the original query; starts with `/`. [`Proxy::forward`]
    /// chooses the upstream by it; [`Proxy::forward_to`] sends the [`Selected`] path instead.
    pub path_and_query: &'a str,
}

/// Why a request could not be forwarded. The variant says whose fault it was, so the gateway can
/// pick the status: `Connect` and `Upstream` 502, `Timeout` 504, `BadRequest` 400.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The upstream refused, could not be reached in its connect timeout, or failed the TLS
    /// handshake. The source says which upstream and why.
    #[error("could not connect to the upstream")]
    Connect(#[source] BoxError),
    /// No response headers from the upstream within its response-header timeout.
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
    /// A proxy to every upstream of `configs` (longest prefix wins), with TLS files read now.
    pub fn from_upstreams(configs: &[UpstreamConfig]) -> Result<Self, UpstreamError> {
        let upstreams = Upstreams::new(configs)?;
        let pools: Vec<Pool> = upstreams.iter().map(Pool::new).collect();
        Ok(Proxy {
            upstreams: Arc::new(upstreams),
            pools: Arc::from(pools),
        })
    }

    /// The upstream that serves `path_and_query` and the path to send it; `None` when no prefix
    /// matches (the gateway answers 404). See [`Upstreams::select`].
    pub fn select<'a>(&'a self, path_and_query: &'a str) -> Option<Selected<'a>> {
        self.upstreams.select(path_and_query)
    }

    /// [`Proxy::select`] by `ctx.path_and_query`, then [`Proxy::forward_to`]. A path no prefix
    /// matches is a [`ProxyError::BadRequest`]; callers with several upstreams should select
    /// first and answer 404 themselves.
    pub async fn forward(
        &self,
        req: Request<Body>,
        client_upgrade: Option<OnUpgrade>,
        ctx: &ForwardContext<'_>,
    ) -> Result<Response<Body>, ProxyError> {
        check_origin_form(ctx.path_and_query)?;
        let selected = self
            .select(ctx.path_and_query)
            .ok_or(ProxyError::BadRequest("no upstream serves this path"))?;
        self.forward_to(&selected, req, client_upgrade, ctx).await
    }

    /// Forward `req` (headers already cleaned of client identity headers and carrying entrance's
    /// identity headers) to the `selected` upstream (from this proxy's [`Proxy::select`]) at
    /// `selected.path_and_query`; stream both bodies without buffering.
    ///
    /// `client_upgrade` is the client connection's `hyper::upgrade::on(&mut req)`, taken by the
    /// gateway when [`is_upgrade_request`] is true. If the upstream then answers 101, the two
    /// connections are joined in a background task and the 101 is returned for the client.
    pub async fn forward_to(
        &self,
        selected: &Selected<'_>,
        req: Request<Body>,
        client_upgrade: Option<OnUpgrade>,
        ctx: &ForwardContext<'_>,
    ) -> Result<Response<Body>, ProxyError> {
        let upstream = selected.upstream;
        // The pool at the same index, provided `selected` came from this proxy.
        let own = self
            .upstreams
            .get(selected.index)
            .is_some_and(|ours| std::ptr::eq(ours, upstream));
        let pool = self
            .pools
            .get(selected.index)
            .filter(|_| own)
            .ok_or(ProxyError::BadRequest(
                "the selected upstream belongs to another proxy",
            ))?;
        let (parts, body) = req.into_parts();
        // An upgrade we could not tunnel (no client handle, e.g. HTTP/2) is forwarded as a plain
        // request: the hop-by-hop strip below removes its upgrade headers.
        let client_upgrade = client_upgrade.filter(|_| is_upgrade_request(&parts.headers));
        let upstream_req = upstream_request(
            upstream,
            &selected.path_and_query,
            parts,
            body,
            client_upgrade.is_some(),
            ctx,
        )?;
        let waited = upstream.config.timeouts.response_header;
        let response = match tokio::time::timeout(waited, pool.request(upstream_req)).await {
            Err(_elapsed) => return Err(ProxyError::Timeout),
            Ok(Err(error)) if error.is_connect() => {
                return Err(ProxyError::Connect(describe(upstream, &error).into()))
            }
            Ok(Err(error)) => return Err(ProxyError::Upstream(describe(upstream, &error).into())),
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

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field(
                "upstreams",
                &self
                    .upstreams
                    .iter()
                    .map(|upstream| (&upstream.config.prefix, &upstream.config.target))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A fresh request for `upstream`: HTTP/1.1 whatever the client spoke, with an origin-form URI
/// built from the upstream and `path_and_query`, never from the client's (possibly absolute) URI.
fn upstream_request(
    upstream: &Upstream,
    path_and_query: &str,
    parts: Parts,
    body: Body,
    keep_upgrade: bool,
    ctx: &ForwardContext<'_>,
) -> Result<Request<Body>, ProxyError> {
    let host = if upstream.config.preserve_host {
        client_host(&parts, ctx)?
    } else {
        upstream.origin.host.clone()
    };
    let mut headers = parts.headers;
    prepare_request_headers(&mut headers, keep_upgrade, ctx)?;
    headers.insert(header::HOST, host);

    let mut upstream_req = Request::new(body);
    *upstream_req.method_mut() = parts.method;
    *upstream_req.uri_mut() = uri(&upstream.origin, path_and_query)?;
    *upstream_req.version_mut() = Version::HTTP_11;
    *upstream_req.headers_mut() = headers;
    Ok(upstream_req)
}

/// The `Host` the client asked for (`preserve_host`): its `Host` header, else the HTTP/2
/// `:authority`, else the public host.
fn client_host(parts: &Parts, ctx: &ForwardContext<'_>) -> Result<HeaderValue, ProxyError> {
    if let Some(host) = parts.headers.get(header::HOST) {
        return Ok(host.clone());
    }
    let host = parts
        .uri
        .authority()
        .map_or(ctx.host, |authority| authority.as_str());
    HeaderValue::from_str(host).map_err(|_| ProxyError::BadRequest("invalid host"))
}

fn check_origin_form(path_and_query: &str) -> Result<(), ProxyError> {
    if path_and_query.starts_with('/') {
        Ok(())
    } else {
        Err(ProxyError::BadRequest("the path does not start with '/'"))
    }
}

/// The absolute URI of `path_and_query` at `origin` (its base path prefixed).
fn uri(origin: &Origin, path_and_query: &str) -> Result<Uri, ProxyError> {
    check_origin_form(path_and_query)?;
    let path_and_query = if origin.base_path.is_empty() {
        PathAndQuery::try_from(path_and_query)
    } else {
        PathAndQuery::try_from(format!("{}{path_and_query}", origin.base_path))
    }
    .map_err(|_| ProxyError::BadRequest("the path is not a valid URI path"))?;
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(origin.scheme.clone());
    parts.authority = Some(origin.authority.clone());
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).map_err(|_| ProxyError::BadRequest("cannot build the upstream URI"))
}

/// The upstream and the whole cause chain of a client error, for the operator's log
/// (hyper-util's own message is only "client error (Connect)").
fn describe(upstream: &Upstream, error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!(
        "upstream {} ({}): {error}",
        upstream.config.prefix,
        target(upstream)
    );
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

fn target(upstream: &Upstream) -> String {
    match &upstream.config.target {
        Target::Url(url) => url.to_string(),
        Target::Unix(path) => format!("unix:{}", path.display()),
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

    // Every forwarding header the client (or a proxy) sent goes; entrance states its own.
    crate::forwarded::strip_forwarding_headers(headers);
    let forwarded_for = HeaderValue::from_str(ctx.forwarded_for)
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
