//! Trusted proxies, and what they say about the original request: the client's address, the
//! scheme and host it used, the request a forward-auth check is about, and the
//! `X-Forwarded-For` chain to send upstream.
//!
//! Forwarding headers (`Forwarded`, `X-Forwarded-*`, `X-Original-*`) are believed only when the
//! TCP peer is in `trusted_proxies`; from anyone else every one of them is ignored. Pure: headers
//! and addresses in, values out. This module must not do I/O, log, or decide access.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderMap, HeaderName, FORWARDED};
use http::Method;
use ipnet::{IpNet, Ipv4Net};

mod syntax;

use syntax::{
    forwarded_host, last_item, list_items, node_ip, origin_form, parse_element, single_value,
    Element,
};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
static X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
static X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
static X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
static X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
static X_ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Headers through which a client or proxy describes the original request. Removed before
/// forwarding so the upstream sees only what entrance decided (see [`strip_forwarding_headers`]).
static FORWARDING_HEADERS: [&HeaderName; 12] = [
    &FORWARDED,
    &X_FORWARDED_FOR,
    &X_FORWARDED_PROTO,
    &X_FORWARDED_HOST,
    &X_FORWARDED_PORT,
    &X_FORWARDED_PREFIX,
    &X_FORWARDED_METHOD,
    &X_FORWARDED_URI,
    &X_ORIGINAL_METHOD,
    &X_ORIGINAL_URI,
    &X_ORIGINAL_URL,
    &X_REAL_IP,
];

/// How many addresses of a forwarding chain are followed (the peer included). Real chains are a
/// few hops; the cap bounds work and the upstream `X-Forwarded-For` whatever the header holds.
const MAX_HOPS: usize = 32;

/// `trusted_proxies`: the peers whose forwarding headers are believed. Empty (the default)
/// trusts nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// IPv6 networks inside `::ffff:0:0/96` are stored as their IPv4 networks, so that they match
    /// the IPv4 form [`TrustedProxies::contains`] gives mapped peers.
    nets: Vec<ipnet::IpNet>,
}

/// The scheme a client used: only `http` and `https` exist for entrance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http,
    Https,
}

/// The client as entrance should see it: behind a trusted proxy, what the proxy says; otherwise
/// the TCP peer and entrance's own public scheme and host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    /// The client's address (IPv4-mapped IPv6 shown as IPv4).
    pub client_ip: IpAddr,
    /// The scheme the client used to reach the first trusted proxy (or entrance).
    pub proto: Proto,
    /// `host[:port]` the client asked for, lower case; a validated value, safe to put in a URL.
    pub host: String,
    /// The TCP peer is a trusted proxy (whether or not it sent forwarding headers).
    pub via_trusted_proxy: bool,
    /// Client first, the TCP peer last; every address between them is a trusted proxy. Never
    /// empty; `chain[0] == client_ip`.
    chain: Vec<IpAddr>,
}

/// What a forward-auth check (nginx `auth_request`, Traefik `forwardAuth`) is asking about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalRequest {
    /// The original method, or `None` when the proxy did not send one (nginx's documented
    /// `auth_request` setup sends only `X-Original-URI`). The caller decides the fallback; the
    /// check request's own method is the usual one.
    pub method: Option<Method>,
    /// The original `path?query` as the client sent it (not normalised): starts with a single
    /// `/`, visible ASCII only, none of `\ # " < >`.
    pub uri: String,
}

/// The forwarding claims read from a trusted peer's headers, still unvalidated except `chain`.
struct Claims<'h> {
    chain: Vec<IpAddr>,
    proto: Option<Cow<'h, str>>,
    host: Option<Cow<'h, str>>,
    /// `X-Forwarded-Port`, added to a host without a port.
    port: Option<&'h str>,
}

impl TrustedProxies {
    /// Trust these networks (see [`TrustedProxies::parse`] for the config's strings).
    pub fn new(nets: Vec<ipnet::IpNet>) -> Self {
        TrustedProxies {
            nets: nets.into_iter().map(canonical_net).collect(),
        }
    }

    /// Parse the `trusted_proxies` entries: a CIDR network (`10.0.0.0/8`, `2001:db8::/32`) or a
    /// single address (`/32` or `/128`). Every bad entry is reported with its index and a message
    /// for the operator.
    pub fn parse(entries: &[&str]) -> Result<TrustedProxies, Vec<(usize, String)>> {
        let mut nets = Vec::with_capacity(entries.len());
        let mut problems = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match parse_net(entry) {
                Ok(net) => nets.push(net),
                Err(problem) => problems.push((index, problem)),
            }
        }
        if problems.is_empty() {
            Ok(TrustedProxies::new(nets))
        } else {
            Err(problems)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The networks, as given (mapped IPv6 networks shown as IPv4).
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    /// True when `ip` is in a trusted network. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`,
    /// what a dual-stack listener reports for IPv4 peers) is matched as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }
}

/// One `trusted_proxies` entry: a CIDR network or a single address. A network with host bits
/// set (`10.0.0.1/8`) is refused: it is usually a typo for an address or a smaller network.
pub fn parse_net(entry: &str) -> Result<IpNet, String> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let net = entry.parse::<IpNet>().map_err(|_| {
        format!(
            "`{entry}` is not an IP address or CIDR network; write one like `10.0.0.0/8`, \
             `192.0.2.10` or `2001:db8::/32`"
        )
    })?;
    let network = net.trunc();
    if network != net {
        return Err(format!(
            "`{entry}` has host bits set; write the network `{network}`, or `{}` for the single \
             address",
            net.addr()
        ));
    }
    Ok(net)
}

impl Proto {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Https => "https",
        }
    }

    /// `http` or `https`, any case; anything else is `None`.
    pub fn from_scheme(scheme: &str) -> Option<Proto> {
        if scheme.eq_ignore_ascii_case("https") {
            Some(Proto::Https)
        } else if scheme.eq_ignore_ascii_case("http") {
            Some(Proto::Http)
        } else {
            None
        }
    }

    /// The port a URL of this scheme leaves out.
    pub fn default_port(self) -> u16 {
        match self {
            Proto::Http => 80,
            Proto::Https => 443,
        }
    }
}

impl ClientView {
    /// Addresses from the client to the TCP peer: the client first, trusted proxies after it, the
    /// peer last.
    pub fn chain(&self) -> &[IpAddr] {
        &self.chain
    }

    /// The `X-Forwarded-For` value to send upstream: [`ClientView::chain`] joined by `", "`.
    /// Entries left of the client (which the client wrote itself) are dropped.
    pub fn forwarded_for_upstream(&self) -> String {
        join_chain(&self.chain)
    }
}

/// How the client sees this request. From an untrusted peer: the peer's address and entrance's
/// own `own_proto`/`own_host`, every forwarding header ignored. From a trusted peer: the client
/// address, scheme and host its forwarding headers give, each falling back to the peer / ours
/// when absent or invalid.
///
/// A request uses one dialect: `X-Forwarded-For/-Proto/-Host` when any of them is present, else
/// RFC 7239 `Forwarded`. `X-Forwarded-*` wins because the proxies people run (nginx, Envoy,
/// Traefik, HAProxy, cloud load balancers) set those and pass a client's own `Forwarded` header
/// through untouched; reading it first would let any client behind them pick its address.
pub fn client_view(
    peer: SocketAddr,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
    own_proto: Proto,
    own_host: &str,
) -> ClientView {
    let peer_ip = peer.ip().to_canonical();
    if !trusted.contains(peer_ip) {
        return ClientView {
            client_ip: peer_ip,
            proto: own_proto,
            host: own_host.to_owned(),
            via_trusted_proxy: false,
            chain: vec![peer_ip],
        };
    }
    let claims = claims(peer_ip, headers, trusted);
    let proto = match &claims.proto {
        Some(claimed) => Proto::from_scheme(claimed).unwrap_or(own_proto),
        None => own_proto,
    };
    let host = match &claims.host {
        Some(claimed) => forwarded_host(claimed, claims.port, proto),
        None => None,
    };
    ClientView {
        client_ip: claims.chain.first().copied().unwrap_or(peer_ip),
        proto,
        host: host.unwrap_or_else(|| own_host.to_owned()),
        via_trusted_proxy: true,
        chain: claims.chain,
    }
}

/// The `X-Forwarded-For` value to send upstream for this request. From an untrusted peer: the
/// peer's address alone (whatever the client sent is dropped). From a trusted peer: the client
/// it names, the trusted proxies after it, then the peer. Same as
/// [`ClientView::forwarded_for_upstream`] when a view is at hand.
pub fn forwarded_for_upstream(
    peer: SocketAddr,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> String {
    let peer_ip = peer.ip().to_canonical();
    if !trusted.contains(peer_ip) {
        return peer_ip.to_string();
    }
    join_chain(&claims(peer_ip, headers, trusted).chain)
}

/// Remove every header that describes the original request ([`FORWARDING_HEADERS`]: `Forwarded`,
/// `X-Forwarded-*` for address, scheme, host, port, prefix, method and URI, `X-Original-*`,
/// `X-Real-IP`), so the upstream receives only the ones entrance sets afterwards.
pub fn strip_forwarding_headers(headers: &mut HeaderMap) {
    for name in FORWARDING_HEADERS {
        headers.remove(name);
    }
}

/// The request a forward-auth call is about, or `None` when the peer is not trusted, no original
/// URI is given, or a value is unusable: a URI that is absolute (`http://…`), protocol-relative
/// (`//…`), or holds spaces, control characters, `\ # " < >`; a method that is not a token; a
/// header sent twice. nginx's `X-Original-URI` (+ `X-Original-Method`) is read when present,
/// else Traefik's `X-Forwarded-Uri` (+ `X-Forwarded-Method`); the two are never mixed.
pub fn original_request(
    peer: SocketAddr,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Option<OriginalRequest> {
    if !trusted.contains(peer.ip()) {
        return None;
    }
    let (method_name, uri_name) = if headers.contains_key(&X_ORIGINAL_URI) {
        (&X_ORIGINAL_METHOD, &X_ORIGINAL_URI)
    } else {
        (&X_FORWARDED_METHOD, &X_FORWARDED_URI)
    };
    let uri = origin_form(single_value(headers, uri_name)??)?;
    let method = match single_value(headers, method_name)? {
        None => None,
        Some(name) => Some(Method::from_bytes(name.as_bytes()).ok()?),
    };
    Some(OriginalRequest { method, uri })
}

/// The original `path?query` in an Envoy HTTP `ext_authz` check, which sends it appended to the
/// configured `path_prefix`: `/oauth2/auth/app/x?y` with prefix `/oauth2/auth` is `/app/x?y`.
/// `None` when `path` is not under the prefix or the rest is not a safe origin-form URI (same
/// rules as [`original_request`]). Checks no trust: the caller requires a trusted peer first.
pub fn envoy_original_uri(path: &str, check_prefix: &str) -> Option<String> {
    let rest = path.strip_prefix(check_prefix.trim_end_matches('/'))?;
    if !rest.starts_with('/') {
        return None;
    }
    origin_form(rest)
}

/// IPv6 networks inside `::ffff:0:0/96` as the IPv4 networks they map.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        if let (Some(v4), Some(prefix)) =
            (v6.addr().to_ipv4_mapped(), v6.prefix_len().checked_sub(96))
        {
            if let Ok(v4net) = Ipv4Net::new(v4, prefix) {
                return IpNet::V4(v4net);
            }
        }
    }
    net
}

/// Read a trusted peer's claims in the request's dialect (see [`client_view`]).
fn claims<'h>(peer_ip: IpAddr, headers: &'h HeaderMap, trusted: &TrustedProxies) -> Claims<'h> {
    let x_forwarded = [&X_FORWARDED_FOR, &X_FORWARDED_PROTO, &X_FORWARDED_HOST]
        .iter()
        .any(|name| headers.contains_key(*name));
    if x_forwarded {
        let items = list_items(headers, &X_FORWARDED_FOR);
        Claims {
            chain: walk(peer_ip, items.into_iter().rev(), trusted),
            proto: last_item(headers, &X_FORWARDED_PROTO).map(Cow::Borrowed),
            host: last_item(headers, &X_FORWARDED_HOST).map(Cow::Borrowed),
            port: last_item(headers, &X_FORWARDED_PORT),
        }
    } else {
        forwarded_claims(peer_ip, headers, trusted)
    }
}

/// RFC 7239 claims. The `for=` chain is walked from the right like `X-Forwarded-For`; `proto`
/// and `host` come from the element where the walk stopped: it was written by the outermost
/// trusted proxy and describes the request that proxy received from the client.
fn forwarded_claims<'h>(
    peer_ip: IpAddr,
    headers: &'h HeaderMap,
    trusted: &TrustedProxies,
) -> Claims<'h> {
    let elements = list_items(headers, &FORWARDED);
    let mut chain = vec![peer_ip];
    let mut stopped_at: Option<Element<'h>> = None;
    for raw in elements.into_iter().rev().take(MAX_HOPS - 1) {
        // A malformed element ends the walk; the last good element still speaks.
        let Some(element) = raw.and_then(parse_element) else {
            break;
        };
        let ip = element.for_.as_deref().and_then(node_ip);
        stopped_at = Some(element);
        match ip {
            Some(ip) => {
                chain.push(ip);
                if !trusted.contains(ip) {
                    break;
                }
            }
            // No `for=`, `unknown`, an obfuscated `_name` or garbage: the proxy does not know
            // (or say) who its client is, and what lies further left was written by that client.
            None => break,
        }
    }
    chain.reverse();
    let (proto, host) = match stopped_at {
        Some(element) => (element.proto, element.host),
        None => (None, None),
    };
    Claims {
        chain,
        proto,
        host,
        port: None,
    }
}

/// Walk an `X-Forwarded-For` list from the right (items already reversed), starting at the
/// peer: each address is pushed; the first untrusted one is the client and ends the walk; an
/// unreadable item ends it too, leaving the last good address as the client. Returns the chain
/// client-first.
fn walk<'h>(
    peer_ip: IpAddr,
    items: impl Iterator<Item = Option<&'h str>>,
    trusted: &TrustedProxies,
) -> Vec<IpAddr> {
    let mut chain = vec![peer_ip];
    for item in items.take(MAX_HOPS - 1) {
        let Some(ip) = item.and_then(node_ip) else {
            break;
        };
        chain.push(ip);
        if !trusted.contains(ip) {
            break;
        }
    }
    chain.reverse();
    chain
}

fn join_chain(chain: &[IpAddr]) -> String {
    chain
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "forwarded_tests.rs"]
mod tests;
