//! HTTP plumbing for the emulator: building JSON/HTML/redirect responses that cannot panic, and
//! reading query strings and bounded form bodies.

use std::collections::HashMap;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use crate::body::{full, Body};

use super::protocol::{AadError, Trace};

/// Request parameters, first occurrence of each name wins.
pub(crate) type Params = HashMap<String, String>;

/// Form bodies above this are refused; real authorize/token requests are a few KiB at most.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Why a form body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FormError {
    #[error("request body is larger than {MAX_FORM_BYTES} bytes or could not be read")]
    Unreadable,
}

/// A response with these headers; a header value that is not valid (never expected: every
/// value is built from URL-serialised or constant text) turns into a bare 500 instead of a panic.
pub(crate) fn respond(
    status: StatusCode,
    headers: &[(HeaderName, &str)],
    body: impl Into<bytes::Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    for (name, value) in headers {
        match HeaderValue::from_str(value) {
            Ok(v) => {
                resp.headers_mut().insert(name.clone(), v);
            }
            Err(_) => {
                tracing::error!(header = %name, "emulator built an invalid header value");
                let mut resp = Response::new(full("internal error"));
                *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                return resp;
            }
        }
    }
    resp
}

pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    respond(
        status,
        &[(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        value.to_string(),
    )
}

/// A token-endpoint style error body: `invalid_client` is 401, everything else 400.
pub(crate) fn aad_json(err: &AadError, authority: &str, trace: &Trace) -> Response<Body> {
    let status = if err.error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    respond(
        status,
        &[
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store, no-cache"),
            (header::PRAGMA, "no-cache"),
        ],
        err.to_json(authority, trace).to_string(),
    )
}

pub(crate) fn html(status: StatusCode, page: String) -> Response<Body> {
    respond(
        status,
        &[
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store, no-cache"),
        ],
        page,
    )
}

pub(crate) fn redirect(location: &str) -> Response<Body> {
    respond(
        StatusCode::FOUND,
        &[
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store, no-cache"),
        ],
        bytes::Bytes::new(),
    )
}

pub(crate) fn not_found() -> Response<Body> {
    json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": "not_found", "error_description": "No such endpoint on the Microsoft identity emulator."}),
    )
}

pub(crate) fn method_not_allowed(allow: &str) -> Response<Body> {
    let mut resp = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &serde_json::json!({"error": "method_not_allowed", "error_description": format!("Use {allow}.")}),
    );
    if let Ok(v) = HeaderValue::from_str(allow) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

/// `application/x-www-form-urlencoded` (or query) text to parameters. Invalid UTF-8 is replaced,
/// not rejected, so odd input gets a protocol error later rather than a crash here.
pub(crate) fn parse_params(raw: &[u8]) -> Params {
    let mut params = Params::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        params
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    params
}

/// Read a whole form body, bounded.
pub(crate) async fn read_form(body: Incoming) -> Result<Params, FormError> {
    Ok(parse_params(&read_bytes(body).await?))
}

/// Read a whole body (form or JSON), bounded.
pub(crate) async fn read_bytes(body: Incoming) -> Result<bytes::Bytes, FormError> {
    let collected = Limited::new(body, MAX_FORM_BYTES)
        .collect()
        .await
        .map_err(|_| FormError::Unreadable)?;
    Ok(collected.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_keep_the_first_value_and_survive_bad_bytes() {
        let p = parse_params(b"a=1&a=2&b=%FF%FE&c&=x&d=%zz");
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "\u{fffd}\u{fffd}");
        assert_eq!(p["c"], "");
        assert_eq!(p["d"], "%zz");
    }

    #[test]
    fn bad_header_value_is_a_500_not_a_panic() {
        let r = redirect("http://x/\nSet-Cookie: a=b");
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            aad_json(
                &AadError::new("invalid_client", 1, "x"),
                "a",
                &Trace::new(std::time::SystemTime::now())
            )
            .status(),
            401
        );
    }
}
