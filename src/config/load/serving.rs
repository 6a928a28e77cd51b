//! The front door: `listen` (an address, or a map with `address`, `tls` and `redirect_http`),
//! `limits` and `trusted_proxies`, checked and turned into their typed values.
//!
//! Must not: parse the TLS files (only check they are readable files; the tls module parses them
//! at start), bind a socket, or quote a value that came from the environment.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use url::Url;

use super::files::certificate_pair;
use super::validate::duration;
use super::{Flag, Problems, RawCertificate, Text};
use crate::server::Limits;
use crate::tls::CertificateFiles;

const DEFAULT_LISTEN: &str = "127.0.0.1:4180";
/// hyper's HTTP/1 reader refuses (panics on) a smaller buffer.
const MIN_HEADER_BYTES: u64 = 8 * 1024;
const MAX_HEADER_BYTES: u64 = 1024 * 1024;
const MAX_CONNECTIONS: u64 = 1_000_000;
const MIN_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(300);
const SIZE_HINT: &str = "write a number of bytes, or a size like 64KiB or 1MiB (KiB, MiB and GiB \
                         are powers of 1024)";

/// Why `/0` is refused (checked before host bits: `::1/0` is not a typo for `::/0`).
const EVERY_CLIENT: &str = "trusts every client, so anyone could forge X-Forwarded-For and the \
                            scheme; list your proxies' addresses or their network, like \
                            10.0.0.0/8";

/// `listen`: `127.0.0.1:4180`, or `{address, tls: {cert_file, key_file}, redirect_http}`.
pub(super) enum RawListen {
    Address(Text),
    Map(RawListenMap),
}

#[derive(Deserialize, Default)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with address, tls and redirect_http"
)]
pub(super) struct RawListenMap {
    address: Option<Text>,
    tls: Option<RawCertificate>,
    redirect_http: Option<Text>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of limits")]
pub(super) struct RawLimits {
    max_header_bytes: Option<Text>,
    max_connections: Option<Text>,
    header_read_timeout: Option<Text>,
    h2c: Option<Flag>,
    max_body_bytes: Option<Text>,
}

/// The checked `listen` keys, each `None` when refused.
pub(super) struct Listen {
    pub(super) address: Option<SocketAddr>,
    /// Whether `listen.tls` was given at all (valid or not): public URLs must then be https.
    pub(super) tls_given: bool,
    pub(super) tls: Option<Option<CertificateFiles>>,
    pub(super) redirect_http: Option<Option<SocketAddr>>,
}

impl Listen {
    /// The gateway's own addresses that were accepted, by the key that names them; nothing
    /// else (the admin listener) may bind them.
    pub(super) fn addresses(&self) -> Vec<(&'static str, SocketAddr)> {
        let redirect = self.redirect_http.flatten();
        let listen = self.address.map(|address| ("listen", address));
        listen
            .into_iter()
            .chain(redirect.map(|address| ("listen.redirect_http", address)))
            .collect()
    }
}

impl<'de> Deserialize<'de> for RawListen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListenVisitor;
        impl<'de> Visitor<'de> for ListenVisitor {
            type Value = RawListen;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an address like 127.0.0.1:4180, or a mapping with address, tls and \
                     redirect_http",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawListen, E> {
                Ok(RawListen::Address(Text(v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawListen, E> {
                Ok(RawListen::Address(Text(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawListen, E> {
                Ok(RawListen::Address(Text(v.to_string())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawListen, A::Error> {
                let deserializer = de::value::MapAccessDeserializer::new(map);
                RawListenMap::deserialize(deserializer).map(RawListen::Map)
            }
        }
        deserializer.deserialize_any(ListenVisitor)
    }
}

/// `listen` in either form; relative TLS file paths are resolved against `base_dir`.
pub(super) fn listen(raw: Option<RawListen>, base_dir: &Path, problems: &mut Problems) -> Listen {
    let map = match raw {
        None => RawListenMap::default(),
        Some(RawListen::Address(text)) => {
            return Listen {
                address: address("listen", Some(text), problems),
                tls_given: false,
                tls: Some(None),
                redirect_http: Some(None),
            }
        }
        Some(RawListen::Map(map)) => map,
    };
    let address = self::address("listen.address", map.address, problems);
    let tls_given = map.tls.is_some();
    let tls = match map.tls {
        None => Some(None),
        Some(raw) => certificate_pair(
            "listen.tls",
            raw.cert_file,
            raw.key_file,
            base_dir,
            problems,
        )
        .map(|(cert_file, key_file)| {
            Some(CertificateFiles {
                cert_file,
                key_file,
            })
        }),
    };
    let redirect_http = match map.redirect_http {
        None => Some(None),
        Some(text) => redirect_http(text, tls_given, address, problems).map(Some),
    };
    Listen {
        address,
        tls_given,
        tls,
        redirect_http,
    }
}

fn address(key: &str, raw: Option<Text>, problems: &mut Problems) -> Option<SocketAddr> {
    let text = raw.map_or_else(|| DEFAULT_LISTEN.to_owned(), |t| t.0);
    match text.trim().parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            let shown = problems.quote(key, &text);
            problems.push(
                key,
                format!(
                    "{shown} is not an address; write an IP address and port like \
                     127.0.0.1:4180 or 0.0.0.0:4180 (host names are not accepted)"
                ),
            );
            None
        }
    }
}

fn redirect_http(
    text: Text,
    tls_given: bool,
    listen: Option<SocketAddr>,
    problems: &mut Problems,
) -> Option<SocketAddr> {
    let key = "listen.redirect_http";
    let addr = address(key, Some(text), problems)?;
    if !tls_given {
        problems.push(
            key,
            "only with listen.tls: it answers plain http with a redirect to https; add tls, or \
             remove redirect_http",
        );
        return None;
    }
    if listen.is_some_and(|listen| overlaps(listen, addr)) {
        problems.push(
            key,
            "must differ from listen.address: one port cannot serve both https and the \
             redirect; use port 80 next to 443, e.g. 0.0.0.0:80",
        );
        return None;
    }
    Some(addr)
}

/// Whether binding both would collide: same port (not 0) on the same or an unspecified IP.
pub(super) fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// With `listen.tls`, browsers reach entrance over https: an http public URL at `key` would
/// send them to the wrong scheme. (Without tls both schemes are fine: https is then terminated
/// by a proxy in front.)
pub(super) fn scheme_fits_tls(
    key: &str,
    url: Url,
    tls_given: bool,
    problems: &mut Problems,
) -> Option<Url> {
    if tls_given && url.scheme() != "https" {
        problems.push(
            key,
            "must be https:// because listen.tls is set: browsers reach entrance over https",
        );
        return None;
    }
    Some(url)
}

/// The `limits` section.
pub(super) fn limits(raw: RawLimits, problems: &mut Problems) -> Option<Limits> {
    let defaults = Limits::default();
    let max_header_bytes = match raw.max_header_bytes {
        None => Some(defaults.max_header_bytes),
        Some(text) => max_header_bytes(&text, problems),
    };
    let max_connections = match raw.max_connections {
        None => Some(defaults.max_connections),
        Some(text) => max_connections(&text, problems),
    };
    let header_read_timeout = header_read_timeout(
        raw.header_read_timeout,
        defaults.header_read_timeout,
        problems,
    );
    let max_body_bytes = match raw.max_body_bytes {
        None => Some(None),
        Some(text) => max_body_bytes(&text, problems).map(Some),
    };
    Some(Limits {
        max_header_bytes: max_header_bytes?,
        max_connections: max_connections?,
        header_read_timeout: header_read_timeout?,
        h2c: raw.h2c.map_or(defaults.h2c, |Flag(on)| on),
        max_body_bytes: max_body_bytes?,
    })
}

fn max_header_bytes(text: &Text, problems: &mut Problems) -> Option<usize> {
    let key = "limits.max_header_bytes";
    let bytes = size(key, text, problems)?;
    let problem = if bytes < MIN_HEADER_BYTES {
        "must be at least 8KiB: the HTTP/1 reader needs that much, and browsers send several KiB \
         of cookies and headers"
    } else if bytes > MAX_HEADER_BYTES {
        "must be at most 1MiB: larger request heads are an attack, not a browser"
    } else {
        return usize::try_from(bytes).ok();
    };
    problems.push(key, problem);
    None
}

fn header_read_timeout(
    raw: Option<Text>,
    default: Duration,
    problems: &mut Problems,
) -> Option<Duration> {
    let key = "limits.header_read_timeout";
    let value = duration(key, raw, default, problems)?;
    let problem = if value < MIN_HEADER_READ_TIMEOUT {
        "must be at least 1s: slow mobile clients need time to send their headers"
    } else if value > MAX_HEADER_READ_TIMEOUT {
        "must be at most 5m: longer lets slow clients hold connections open (slowloris)"
    } else {
        return Some(value);
    };
    problems.push(key, problem);
    None
}

fn max_body_bytes(text: &Text, problems: &mut Problems) -> Option<u64> {
    let key = "limits.max_body_bytes";
    let bytes = size(key, text, problems)?;
    if bytes == 0 {
        problems.push(key, "must be more than 0; remove the key for no limit");
        return None;
    }
    Some(bytes)
}

fn max_connections(text: &Text, problems: &mut Problems) -> Option<usize> {
    let key = "limits.max_connections";
    match text.0.trim().parse::<u64>() {
        Ok(n) if (1..=MAX_CONNECTIONS).contains(&n) => usize::try_from(n).ok(),
        Ok(_) => {
            problems.push(
                key,
                "must be between 1 and 1000000; each connection holds a file descriptor",
            );
            None
        }
        Err(_) => {
            let shown = problems.quote(key, &text.0);
            problems.push(
                key,
                format!("{shown} is not a number; write a whole number like 10000"),
            );
            None
        }
    }
}

/// A byte size: `65536`, `64KiB`, `64 KiB`, `1MiB`, `1GiB` (units case-insensitive).
fn size(key: &str, text: &Text, problems: &mut Problems) -> Option<u64> {
    match parse_size(&text.0) {
        Some(bytes) => Some(bytes),
        None => {
            let shown = problems.quote(key, &text.0);
            problems.push(key, format!("{shown} is not a size; {SIZE_HINT}"));
            None
        }
    }
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(end);
    let number: u64 = digits.parse().ok()?;
    let unit = unit.trim();
    let multiplier: u64 = if unit.is_empty() || unit == "B" {
        1
    } else if unit.eq_ignore_ascii_case("KiB") {
        1 << 10
    } else if unit.eq_ignore_ascii_case("MiB") {
        1 << 20
    } else if unit.eq_ignore_ascii_case("GiB") {
        1 << 30
    } else {
        return None;
    };
    number.checked_mul(multiplier)
}

/// `trusted_proxies`: addresses (one host each) and networks in CIDR form, deduplicated.
pub(super) fn trusted_proxies(
    raw: Option<Vec<Text>>,
    problems: &mut Problems,
) -> Option<crate::forwarded::TrustedProxies> {
    let mut nets: Vec<IpNet> = Vec::new();
    let mut ok = true;
    for (index, Text(text)) in raw.unwrap_or_default().into_iter().enumerate() {
        let key = format!("trusted_proxies[{index}]");
        match proxy_net(text.trim()) {
            Ok(net) => {
                if !nets.contains(&net) {
                    nets.push(net);
                }
            }
            Err(why) => {
                let shown = problems.quote(&key, text.trim());
                problems.push(key, format!("{shown} {why}"));
                ok = false;
            }
        }
    }
    ok.then(|| crate::forwarded::TrustedProxies::new(nets))
}

/// One entry: `10.0.0.7` (that host: /32 or /128) or `10.0.0.0/8` (a network, host bits zero).
fn proxy_net(text: &str) -> Result<IpNet, String> {
    let net = if text.contains('/') {
        let net: IpNet = text.parse().map_err(|_| {
            "is not an IP network; write an address like 10.0.0.7 or a network like 10.0.0.0/8 \
             or fd00::/8"
                .to_owned()
        })?;
        if net.prefix_len() == 0 {
            return Err(EVERY_CLIENT.to_owned());
        }
        if net.trunc() != net {
            return Err(format!(
                "has host bits set, so it is not the network it looks like; write {} (the \
                 network), or the address alone for one host",
                net.trunc()
            ));
        }
        net
    } else {
        let ip: IpAddr = text.parse().map_err(|_| {
            "is not an IP address; write an address like 10.0.0.7 or a network like \
             10.0.0.0/8 (host names are not accepted)"
                .to_owned()
        })?;
        IpNet::from(ip)
    };
    Ok(net)
}
