//! The signed-in user's identity and how it is shown to the upstream: which headers a client may
//! never send, and how the identity is rendered into headers.
//!
//! Pure: header maps and values in, header maps out. No I/O, no configuration lookups.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

/// Who the user is, as the ID token (browser sessions) or the access token (API callers) said.
/// Stable key: `(tid, oid)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub oid: String,
    pub tid: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Set when the caller presented a bearer access token rather than a session cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<ApiCaller>,
}

/// What an access token says about the calling application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCaller {
    /// The client application's id (`azp` in v2 tokens, `appid` in v1).
    pub client_id: String,
    /// Delegated scopes (`scp`, space-separated in the token); empty for app-only tokens.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// An application calling as itself (client credentials), not on behalf of a user.
    #[serde(default)]
    pub app_only: bool,
}

/// `X-Auth-Request-User`: `preferred_username`, else `oid`; the client id for an application
/// calling as itself.
pub const X_AUTH_REQUEST_USER: HeaderName = HeaderName::from_static("x-auth-request-user");
/// `X-Auth-Request-Email`: the `email` claim, when present.
pub const X_AUTH_REQUEST_EMAIL: HeaderName = HeaderName::from_static("x-auth-request-email");
/// `X-Auth-Request-Preferred-Username`, when present.
pub const X_AUTH_REQUEST_PREFERRED_USERNAME: HeaderName =
    HeaderName::from_static("x-auth-request-preferred-username");
/// `X-Auth-Request-Groups`: comma-separated, omitted when empty.
pub const X_AUTH_REQUEST_GROUPS: HeaderName = HeaderName::from_static("x-auth-request-groups");
/// `X-Auth-Request-Roles`: comma-separated, omitted when empty.
pub const X_AUTH_REQUEST_ROLES: HeaderName = HeaderName::from_static("x-auth-request-roles");
/// `X-Auth-Request-Oid`: the user's object id.
pub const X_AUTH_REQUEST_OID: HeaderName = HeaderName::from_static("x-auth-request-oid");
/// `X-Auth-Request-Tid`: the user's tenant id.
pub const X_AUTH_REQUEST_TID: HeaderName = HeaderName::from_static("x-auth-request-tid");
/// `X-Auth-Request-Client-Id`: the calling application's client id, for bearer callers only.
pub const X_AUTH_REQUEST_CLIENT_ID: HeaderName =
    HeaderName::from_static("x-auth-request-client-id");
/// `X-Forwarded-User`: same value as `X-Auth-Request-User`.
pub const X_FORWARDED_USER: HeaderName = HeaderName::from_static("x-forwarded-user");
/// `X-Forwarded-Email`: same value as `X-Auth-Request-Email`.
pub const X_FORWARDED_EMAIL: HeaderName = HeaderName::from_static("x-forwarded-email");

/// Header names (lower-case, '-' form) a client may never send, matched exactly.
const STRIPPED_EXACT: &[&str] = &[
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-preferred-username",
    "x-forwarded-groups",
    "x-forwarded-access-token",
    "gap-auth",
    "x-remote-user",
    "remote-user",
];

/// Header name prefixes (lower-case, '-' form) a client may never send. `x-ms-client-principal`
/// has no trailing '-' so that the bare header and `-id`, `-name`, `-idp` all match.
const STRIPPED_PREFIXES: &[&str] = &["x-auth-request-", "x-ms-client-principal", "x-ms-token-"];

/// Remove, from a client's request, every header entrance could set, in any spelling an upstream
/// might treat as the same: any case, '_' for '-'. Covers every `x-auth-request-*`,
/// `x-forwarded-user`, `x-forwarded-email`, `x-forwarded-preferred-username`,
/// `x-forwarded-groups`, `x-forwarded-access-token`, `x-ms-client-principal*`, `x-ms-token-*`,
/// `gap-auth`, `x-remote-user`, `remote-user`. (X-Forwarded-For/Proto/Host are the proxy's
/// business, not here.)
///
/// Why the underscore spelling: CGI-style servers (PHP, WSGI, Rack, some nginx set-ups) turn
/// `X_Auth_Request_User` and `X-Auth-Request-User` into the same variable, so a client could
/// forge an identity header that entrance never saw under its own name.
pub fn strip_client_identity_headers(headers: &mut HeaderMap) {
    // Most requests carry none: look first, allocate only when there is something to remove.
    if !headers.keys().any(is_identity_header) {
        return;
    }
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_identity_header(name))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

/// Whether `name` is, in some spelling, a header only entrance may set.
fn is_identity_header(name: &HeaderName) -> bool {
    let name = name.as_str().as_bytes();
    STRIPPED_EXACT
        .iter()
        .any(|want| name.len() == want.len() && same_spelling(name, want.as_bytes()))
        || STRIPPED_PREFIXES.iter().any(|prefix| {
            name.len() >= prefix.len() && same_spelling(&name[..prefix.len()], prefix.as_bytes())
        })
}

/// Compare a header name with a lower-case, '-' spelled one, ignoring ASCII case and reading
/// '_' as '-'. Both slices have the same length.
fn same_spelling(name: &[u8], want: &[u8]) -> bool {
    name.iter().zip(want).all(|(&n, &w)| {
        let n = match n {
            b'_' => b'-',
            other => other.to_ascii_lowercase(),
        };
        n == w
    })
}

/// Set the identity headers for the upstream (and for /oauth2/auth responses). Names are a
/// contract: X-Auth-Request-User (preferred_username, else oid), X-Auth-Request-Email (email
/// claim when present), X-Auth-Request-Preferred-Username, X-Auth-Request-Groups and
/// X-Auth-Request-Roles (comma-separated; omitted when empty), X-Auth-Request-Oid,
/// X-Auth-Request-Tid, X-Forwarded-User (same as X-Auth-Request-User), X-Forwarded-Email (when
/// email present), X-Auth-Request-Client-Id (bearer callers: the calling app's client id).
///
/// An application calling as itself (app-only token) has no user: its user header is the client
/// id, so an upstream logging "who" never sees an empty or misleading name.
///
/// Every contract header is either inserted (replacing any value) or removed, so nothing a client
/// sent under one of these names survives, even when [`strip_client_identity_headers`] was not
/// called. Control characters are removed from values, so a claim can never split or forge a
/// header; a value that is empty or still invalid after that is left out, never a panic.
pub fn set_identity_headers(headers: &mut HeaderMap, who: &Identity) {
    let preferred = who.preferred_username.as_deref().and_then(header_value);
    let client_id = who.caller.as_ref().and_then(|c| header_value(&c.client_id));
    let app_only = who.caller.as_ref().is_some_and(|c| c.app_only);
    // A username that cleans to nothing falls back to the oid like an absent one.
    let user = if app_only {
        client_id.clone().or_else(|| header_value(&who.oid))
    } else {
        preferred.clone().or_else(|| header_value(&who.oid))
    };
    let email = who.email.as_deref().and_then(header_value);

    put(headers, X_AUTH_REQUEST_USER, user.clone());
    put(headers, X_FORWARDED_USER, user);
    put(headers, X_AUTH_REQUEST_EMAIL, email.clone());
    put(headers, X_FORWARDED_EMAIL, email);
    put(headers, X_AUTH_REQUEST_PREFERRED_USERNAME, preferred);
    put(headers, X_AUTH_REQUEST_GROUPS, joined_value(&who.groups));
    put(headers, X_AUTH_REQUEST_ROLES, joined_value(&who.roles));
    put(headers, X_AUTH_REQUEST_OID, header_value(&who.oid));
    put(headers, X_AUTH_REQUEST_TID, header_value(&who.tid));
    put(headers, X_AUTH_REQUEST_CLIENT_ID, client_id);
}

/// Insert `value` under `name`, replacing what was there, or remove `name` when there is none.
fn put(headers: &mut HeaderMap, name: HeaderName, value: Option<HeaderValue>) {
    match value {
        Some(value) => {
            headers.insert(name, value);
        }
        None => {
            headers.remove(name);
        }
    }
}

/// A claim as a header value: control characters removed (tab kept), surrounding whitespace
/// trimmed, UTF-8 kept as bytes. None when nothing (valid) is left.
fn header_value(claim: &str) -> Option<HeaderValue> {
    let bytes = claim.as_bytes();
    let value = if bytes.iter().copied().any(is_forbidden) {
        let clean: Vec<u8> = bytes
            .iter()
            .copied()
            .filter(|&b| !is_forbidden(b))
            .collect();
        HeaderValue::from_bytes(clean.trim_ascii()).ok()?
    } else {
        HeaderValue::from_bytes(bytes.trim_ascii()).ok()?
    };
    (!value.is_empty()).then_some(value)
}

/// Groups or roles as one comma-separated value; entries that are empty once cleaned are left
/// out, and so is the header when no entry is left.
fn joined_value(items: &[String]) -> Option<HeaderValue> {
    let mut out: Vec<u8> = Vec::new();
    for item in items {
        let clean: Vec<u8> = item.bytes().filter(|&b| !is_forbidden(b)).collect();
        let clean = clean.trim_ascii();
        if clean.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(clean);
    }
    if out.is_empty() {
        return None;
    }
    HeaderValue::from_bytes(&out).ok()
}

/// Bytes that may not appear in a header value: controls other than tab, and DEL.
fn is_forbidden(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7F
}

#[cfg(test)]
#[path = "identity_tests.rs"]
mod tests;
