//! The single check every redirect target passes (after sign-in, after sign-out, `rd=`).
//!
//! Pure: a string in, a same-origin path (or nothing) out. It must not know about hosts,
//! configuration or the request; a target that is not a plain same-origin path is refused, never
//! repaired.

use std::borrow::Cow;

use percent_encoding::{percent_decode, percent_encode, AsciiSet, CONTROLS};

/// Longest redirect target accepted, in bytes of the raw form.
pub const MAX_TARGET_LEN: usize = 2048;

/// Rounds of percent-decoding tried, the last of which must change nothing: up to three layers
/// of encoding are looked through, a deeper one is refused rather than decoded without end.
/// Real paths have one layer; more is an attempt to get something past a single decoder.
const MAX_DECODE_ROUNDS: usize = 4;

/// Bytes escaped when the accepted raw target is returned. `percent_encode` always escapes
/// non-ASCII; the controls in the set never reach it (they are refused). So the result is always
/// a valid `HeaderValue` for `Location` (browsers send non-ASCII the same way).
const NON_ASCII: &AsciiSet = CONTROLS;

/// `raw` as a same-origin path to redirect to, or None when it is not one.
///
/// Accepted: a path that starts with exactly one `/`, optionally followed by a query and a
/// fragment. Refused, on the raw form and on every percent-decoded form (decoded until stable,
/// to defeat double encoding): a second `/` or a `\` at the start, a `\` anywhere, control
/// characters, whitespace, `//` anywhere and `:/` anywhere (they smuggle another origin inside
/// a same-origin path; see `looks_same_origin`), and anything longer than [`MAX_TARGET_LEN`].
///
/// The returned string is the raw form (not decoded), with any non-ASCII byte percent-encoded so
/// that it is always a valid header value.
pub fn safe_path(raw: &str) -> Option<String> {
    if raw.len() > MAX_TARGET_LEN || !looks_same_origin(raw.as_bytes()) {
        return None;
    }
    // Each round that changes anything makes the text shorter, so MAX_DECODE_ROUNDS bounds
    // the work; a target still changing after that many rounds is refused.
    let mut current: Cow<'_, [u8]> = Cow::Borrowed(raw.as_bytes());
    for _ in 0..MAX_DECODE_ROUNDS {
        match Cow::from(percent_decode(&current)) {
            Cow::Borrowed(_) => {
                return Some(percent_encode(raw.as_bytes(), NON_ASCII).to_string());
            }
            Cow::Owned(decoded) => {
                if !looks_same_origin(&decoded) {
                    return None;
                }
                current = Cow::Owned(decoded);
            }
        }
    }
    None
}

/// `safe_path(raw)` or "/" when absent or refused.
pub fn target_or_root(raw: Option<&str>) -> String {
    raw.and_then(safe_path).unwrap_or_else(|| "/".to_owned())
}

/// Where to return after sign-in for a request the server itself received: `path` is the
/// request's normalised path, `query` its raw query. The query cannot change the origin, so it
/// is kept as it is (an app's own `?next=https://…` survives); only the path passes the full
/// check. Anything unusable (a control character, a refused path) falls back to `/`.
pub fn own_request_target(path: &str, query: Option<&str>) -> String {
    let Some(path) = safe_path(path) else {
        return "/".to_owned();
    };
    match query {
        None => path,
        Some(q) if q.bytes().all(|b| b.is_ascii_graphic()) => format!("{path}?{q}"),
        Some(_) => path,
    }
}

/// Whether one form (raw or decoded) of a target is a plain same-origin path.
///
/// Beyond "starts with one `/`", two rules catch targets that are same-origin paths to us but
/// carry another origin inside them: `//` anywhere (`/redirect?url=//evil.com`,
/// `/https://evil.com`, `/evil.com//..`) and `:/` anywhere (`/http:/evil.com`). Such a path sends
/// the browser to a page of the app that may itself redirect off-site, or to a server that
/// strips the leading slash or collapses slashes; the public open-redirect corpora list them for
/// that reason. A legitimate post-sign-in target almost never needs either.
fn looks_same_origin(bytes: &[u8]) -> bool {
    if bytes.first() != Some(&b'/') {
        return false;
    }
    let mut prev = 0u8;
    for &b in bytes {
        let refused = b < 0x20
            || b == 0x7F
            || b == b' '
            || b == b'\\'
            || (b == b'/' && (prev == b'/' || prev == b':'));
        if refused {
            return false;
        }
        prev = b;
    }
    // Non-ASCII text: refuse Unicode whitespace and controls (U+0085, U+00A0, U+2028, U+3000,
    // ...), which some parsers trim or treat as separators.
    if !bytes.is_ascii() {
        let text = String::from_utf8_lossy(bytes);
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return false;
        }
    }
    true
}

#[cfg(test)]
#[path = "redirect_tests.rs"]
mod tests;
