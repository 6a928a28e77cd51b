//! The plain-HTTP listener's one answer (`listen.redirect_http`): a redirect to the same host and
//! path over https. The target is decided by a pure function of the request's host, method and
//! path, tested beside it.
//!
//! It must not serve anything else, nor redirect to a host that is not a plain host name or IP.

use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use crate::body::{self, Body};

/// Longest host name accepted (RFC 1035 §2.3.4: 253 characters in text form).
const MAX_HOST_LEN: usize = 253;

/// The redirect for `req` to https on `https_port`, or 400 when it names no valid host.
pub(super) fn respond<B>(req: &Request<B>, https_port: u16) -> Response<Body> {
    let host = req.uri().authority().map(|a| a.as_str()).or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
    });
    let path = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let decided = redirect(req.method(), host, path, https_port)
        .and_then(|(status, location)| Some((status, HeaderValue::try_from(location).ok()?)));
    let mut response = Response::new(body::empty());
    match decided {
        Some((status, location)) => {
            *response.status_mut() = status;
            response.headers_mut().insert(header::LOCATION, location);
        }
        None => *response.status_mut() = StatusCode::BAD_REQUEST,
    }
    response
}

/// Status and `Location` for a request to `host` (`authority`, port optional) for `path` (path
/// and query as received): 301 for GET and HEAD, 308 for the rest (keeps method and body).
/// `None` when `host` is missing or is not a plain host name, IPv4 or bracketed IPv6 address.
fn redirect(
    method: &Method,
    host: Option<&str>,
    path: &str,
    https_port: u16,
) -> Option<(StatusCode, String)> {
    let host = bare_host(host?)?;
    let status = if method == Method::GET || method == Method::HEAD {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    // Only origin-form paths are kept: anything else (`*`, an absolute URL's leftovers) becomes /.
    let path = if path.starts_with('/') { path } else { "/" };
    let location = if https_port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{https_port}{path}")
    };
    Some((status, location))
}

/// `authority` without its port, when it is a plain host: letters, digits, `-`, `.` and `_`, or a
/// bracketed IPv6 address. No user info, no empty host, no stray characters.
fn bare_host(authority: &str) -> Option<String> {
    let parsed: http::uri::Authority = authority.parse().ok()?;
    let text = parsed.as_str();
    if text.contains('@') {
        return None;
    }
    // A port that is present must be a number (`host:` and `host:x` are refused).
    if let Some((_, port)) = text.rsplit_once(':') {
        if !text.ends_with(']') && port.parse::<u16>().is_err() {
            return None;
        }
    }
    let host = parsed.host();
    let valid = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host.len() <= MAX_HOST_LEN
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    };
    valid.then(|| host.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn target(method: Method, host: Option<&str>, path: &str, port: u16) -> Option<(u16, String)> {
        redirect(&method, host, path, port).map(|(s, l)| (s.as_u16(), l))
    }

    #[test]
    fn get_and_head_are_moved_permanently_the_rest_keep_their_method() {
        assert_eq!(
            target(Method::GET, Some("example.com"), "/a?b=c", 443),
            Some((301, "https://example.com/a?b=c".into()))
        );
        assert_eq!(
            target(Method::HEAD, Some("example.com"), "/", 443)
                .unwrap()
                .0,
            301
        );
        assert_eq!(
            target(Method::POST, Some("example.com"), "/", 443)
                .unwrap()
                .0,
            308
        );
        assert_eq!(
            target(Method::DELETE, Some("example.com"), "/", 443)
                .unwrap()
                .0,
            308
        );
    }

    #[test]
    fn the_http_port_is_dropped_and_the_https_port_added_unless_443() {
        assert_eq!(
            target(Method::GET, Some("example.com:8080"), "/x", 8443)
                .unwrap()
                .1,
            "https://example.com:8443/x"
        );
        assert_eq!(
            target(Method::GET, Some("example.com:80"), "/x", 443)
                .unwrap()
                .1,
            "https://example.com/x"
        );
        assert_eq!(
            target(Method::GET, Some("[::1]:8080"), "/", 8443)
                .unwrap()
                .1,
            "https://[::1]:8443/"
        );
        assert_eq!(
            target(Method::GET, Some("127.0.0.1"), "/", 443).unwrap().1,
            "https://127.0.0.1/"
        );
    }

    #[test]
    fn a_missing_or_strange_host_is_refused() {
        for host in [
            None,
            Some(""),
            Some(":80"),
            Some("user@evil.com"),
            Some("evil.com:"),
            Some("evil.com:x"),
            Some("a b"),
            Some("evil.com/path"),
            Some("evil.com\\@good"),
            Some("[not-ipv6]"),
            Some("[::1"),
            Some("%65vil.com"),
        ] {
            assert_eq!(target(Method::GET, host, "/", 443), None, "{host:?}");
        }
        let long = "a".repeat(MAX_HOST_LEN + 1);
        assert_eq!(target(Method::GET, Some(&long), "/", 443), None);
    }

    #[test]
    fn the_path_cannot_change_the_host() {
        assert_eq!(
            target(Method::GET, Some("good.com"), "//evil.com/x", 443)
                .unwrap()
                .1,
            "https://good.com//evil.com/x"
        );
        assert_eq!(
            target(Method::GET, Some("good.com"), "*", 443).unwrap().1,
            "https://good.com/"
        );
    }
}
