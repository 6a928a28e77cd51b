//! The syntax of forwarding headers: comma lists, RFC 7239 `Forwarded` elements and nodes,
//! `host[:port]`, and origin-form URIs. Parsing and validation only; which values to believe is
//! decided in the parent module.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv6Addr};

use http::header::{HeaderMap, HeaderName};

use super::Proto;

/// One parsed RFC 7239 `forwarded-element`; `by` and extension parameters are ignored.
#[derive(Default)]
pub(super) struct Element<'h> {
    pub(super) for_: Option<Cow<'h, str>>,
    pub(super) proto: Option<Cow<'h, str>>,
    pub(super) host: Option<Cow<'h, str>>,
}

/// All comma-separated items of every `name` header, in order; commas inside `"quoted strings"`
/// do not split (RFC 7239 values), empty items are skipped (RFC 9110 §5.6.1). A header value
/// that is not visible ASCII is one `None` (unreadable) item.
pub(super) fn list_items<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Vec<Option<&'h str>> {
    let mut items = Vec::new();
    for value in headers.get_all(name) {
        match value.to_str() {
            Ok(value) => items.extend(
                split_outside_quotes(value, b',')
                    .into_iter()
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(Some),
            ),
            Err(_) => items.push(None),
        }
    }
    items
}

/// The last item of the `name` headers: the value our peer itself wrote when proxies append.
/// A present but unreadable header gives `Some("")`, which no validation accepts: an invalid
/// claim falls back to our own value rather than to another header.
pub(super) fn last_item<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    let value = headers.get_all(name).iter().next_back()?;
    let Ok(value) = value.to_str() else {
        return Some("");
    };
    Some(
        value
            .rsplit(',')
            .map(str::trim)
            .find(|item| !item.is_empty())
            .unwrap_or(""),
    )
}

/// The only `name` header: `Some(None)` when absent, `None` (refused) when sent more than once or
/// not visible ASCII.
pub(super) fn single_value<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Option<Option<&'h str>> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Some(None);
    };
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok().map(Some)
}

/// Split on `separator` outside `"quoted strings"` (with `\` escapes).
fn split_outside_quotes(value: &str, separator: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, byte) in value.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && byte == b'\\' {
            escaped = true;
        } else if byte == b'"' {
            quoted = !quoted;
        } else if !quoted && byte == separator {
            parts.push(&value[start..i]);
            start = i + 1;
        }
    }
    parts.push(&value[start..]);
    parts
}

/// One `forwarded-element` (`for=…;proto=…;host=…;by=…`), or `None` if malformed: a pair
/// without `=`, a bad name, a bad value, or a parameter given twice (RFC 7239 §4).
pub(super) fn parse_element(raw: &str) -> Option<Element<'_>> {
    let mut element = Element::default();
    for pair in split_outside_quotes(raw, b';') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=')?;
        let (name, value) = (name.trim(), unquote(value.trim())?);
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return None;
        }
        let slot = if name.eq_ignore_ascii_case("for") {
            &mut element.for_
        } else if name.eq_ignore_ascii_case("proto") {
            &mut element.proto
        } else if name.eq_ignore_ascii_case("host") {
            &mut element.host
        } else {
            continue;
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    Some(element)
}

/// A token or a `"quoted-string"` value. Tokens are read leniently (any visible ASCII but `"`
/// and `\`) because proxies write unquoted IPv6 and `host:port`.
fn unquote(value: &str) -> Option<Cow<'_, str>> {
    let Some(inner) = value.strip_prefix('"') else {
        let token = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        return token.then_some(Cow::Borrowed(value));
    };
    let inner = inner.strip_suffix('"')?;
    if !inner.contains('\\') {
        return (!inner.contains('"')).then_some(Cow::Borrowed(inner));
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(Cow::Owned(out))
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The address in a forwarding node: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711` (a port may be an obfuscated `_name`), or a bare IPv6 address. `unknown`,
/// obfuscated `_name` nodes and anything else give `None`.
pub(super) fn node_ip(node: &str) -> Option<IpAddr> {
    let ip = if let Some(rest) = node.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_node_port)) {
            return None;
        }
        IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?)
    } else if let Ok(ip) = node.parse::<IpAddr>() {
        ip
    } else {
        let (addr, port) = node.rsplit_once(':')?;
        if !is_node_port(port) {
            return None;
        }
        IpAddr::V4(addr.parse().ok()?)
    };
    Some(ip.to_canonical())
}

/// RFC 7239 `node-port`: 1 to 5 digits, or an obfuscated `_name`.
fn is_node_port(port: &str) -> bool {
    match port.strip_prefix('_') {
        Some(name) => {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        }
        None => (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// A forwarded host, validated and lower-cased, with `X-Forwarded-Port` added when the host has
/// no port (left out when it is the default for `proto`). `None` when either is invalid.
pub(super) fn forwarded_host(host: &str, port: Option<&str>, proto: Proto) -> Option<String> {
    let (name, own_port) = split_authority(host)?;
    let port = match (own_port, port) {
        (Some(port), _) => Some(port),
        (None, Some(claimed)) => Some(parse_port(claimed)?).filter(|p| *p != proto.default_port()),
        (None, None) => None,
    };
    let name = name.to_ascii_lowercase();
    Some(match port {
        Some(port) => format!("{name}:{port}"),
        None => name,
    })
}

/// `host[:port]`: a DNS-style name (letters, digits, `-`, `_`, `.`), an IPv4 address or a
/// bracketed IPv6 address, and an optional port 1–65535. Anything else (`/`, `@`, spaces,
/// control characters, userinfo, a path) is refused.
pub(super) fn split_authority(value: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = if let Some(rest) = value.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        addr.parse::<Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':')?),
        };
        (&value[..addr.len() + 2], port)
    } else {
        let (name, port) = match value.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (value, None),
        };
        let name_ok = (1..=253).contains(&name.len())
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !name_ok {
            return None;
        }
        (name, port)
    };
    let port = match port {
        Some(port) => Some(parse_port(port)?),
        None => None,
    };
    Some((name, port))
}

/// A TCP port 1–65535 in plain digits.
fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().filter(|port| *port != 0)
}

/// `uri` if it is a safe origin-form `path?query`: one leading `/` (not `//`, which browsers
/// read as another host), visible ASCII only, no `\` (read as `/`), no `#`, and none of `"<>`
/// (browsers percent-encode them; raw, they only make trouble in pages and headers).
pub(super) fn origin_form(uri: &str) -> Option<String> {
    if !uri.starts_with('/') || uri.starts_with("//") {
        return None;
    }
    if !uri
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'\\' | b'#' | b'"' | b'<' | b'>'))
    {
        return None;
    }
    http::uri::PathAndQuery::try_from(uri).ok()?;
    Some(uri.to_owned())
}
