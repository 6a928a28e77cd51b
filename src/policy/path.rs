//! Request paths: how a raw path is normalised before any decision (and forwarding), and the
//! view of it that routes are matched against.
//!
//! Pure. Must not decide anything about access; it only says which path the decision is about.

use std::borrow::Cow;

/// A request path that entrance refuses to make a decision on, because an upstream could read it
/// differently from us. The message is safe to log; it never echoes the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadPath {
    #[error("the path does not start with '/'")]
    NotAbsolute,
    #[error("the path contains an encoded '/' or '\\'")]
    EncodedSeparator,
    #[error("the path contains a backslash")]
    Backslash,
    #[error("the path contains a control character")]
    ControlCharacter,
    #[error("the path contains an invalid percent-escape")]
    InvalidEscape,
    #[error("the path contains a dot segment with parameters (like '..;')")]
    DotSegmentWithParameters,
}

/// Normalise a request path (path only, no query) for policy decisions and forwarding.
///
/// Percent-decodes unreserved characters (`%2E` -> `.`, `%41` -> `A`, `%7e` -> `~`), resolves `.`
/// and `..` segments (never above the root), collapses repeated slashes, keeps other
/// percent-escapes as they are with upper-case hex, and keeps a trailing slash (a path whose last
/// segment is `.` or `..` ends with `/`, as RFC 3986 resolves it).
///
/// Refused: paths not starting with `/`, an encoded `/` or `\` (`%2F`, `%5C`), a raw backslash,
/// control bytes raw or encoded (including NUL and DEL), invalid percent-escapes, and a segment
/// that is `.` or `..` followed by `;` (Tomcat and other servlet containers read `/..;/` as
/// `/../`, so `/public/..;/admin` would be public to us and `/admin` to them).
pub fn normalize_path(raw: &str) -> Result<String, BadPath> {
    let rest = raw.strip_prefix('/').ok_or(BadPath::NotAbsolute)?;
    let mut out = String::with_capacity(raw.len());
    // Whether the last segment asks for a trailing slash: empty, `.` or `..`.
    let mut trailing_slash = false;
    for segment in rest.split('/') {
        let start = out.len();
        out.push('/');
        push_decoded_segment(&mut out, segment)?;
        let decoded = &out[start + 1..];
        trailing_slash = matches!(decoded, "" | "." | "..");
        match decoded {
            "" | "." => out.truncate(start),
            ".." => {
                out.truncate(start);
                // Output segments never contain '/' (an encoded one is refused), so the last '/'
                // starts the previous segment; at the root there is nothing to remove.
                let previous = out.rfind('/').unwrap_or(0);
                out.truncate(previous);
            }
            _ => {
                if let Some((head, _)) = decoded.split_once(';') {
                    if head == "." || head == ".." {
                        return Err(BadPath::DotSegmentWithParameters);
                    }
                }
            }
        }
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Append one segment of a raw path to `out`, decoding unreserved characters and upper-casing the
/// hex of every escape that stays.
fn push_decoded_segment(out: &mut String, segment: &str) -> Result<(), BadPath> {
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let (hi, lo) = match (bytes.get(i + 1), bytes.get(i + 2)) {
                    (Some(&hi), Some(&lo)) => (hi, lo),
                    _ => return Err(BadPath::InvalidEscape),
                };
                let value = match (hex_value(hi), hex_value(lo)) {
                    (Some(h), Some(l)) => (h << 4) | l,
                    _ => return Err(BadPath::InvalidEscape),
                };
                match value {
                    b'/' | b'\\' => return Err(BadPath::EncodedSeparator),
                    v if v.is_ascii_control() => return Err(BadPath::ControlCharacter),
                    v if is_unreserved(v) => out.push(char::from(v)),
                    _ => {
                        out.push('%');
                        out.push(char::from(hi.to_ascii_uppercase()));
                        out.push(char::from(lo.to_ascii_uppercase()));
                    }
                }
                i += 3;
            }
            b'\\' => return Err(BadPath::Backslash),
            b if b.is_ascii_control() => return Err(BadPath::ControlCharacter),
            _ => {
                // Copy the run up to the next byte that needs a look, keeping UTF-8 intact: the
                // bytes looked at are all ASCII, so the run ends on a character boundary.
                let end = bytes[i..]
                    .iter()
                    .position(|&c| c == b'%' || c == b'\\' || c.is_ascii_control())
                    .map_or(bytes.len(), |p| i + p);
                out.push_str(&segment[i..end]);
                i = end;
            }
        }
    }
    Ok(())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The view of a normalised path that routes match: each segment without its `;parameters`
/// (`/admin;jsessionid=x` is `/admin`), because servlet containers (Tomcat, Jetty, Spring)
/// drop them before routing; a deny or protect route must not be escaped with `;x`. Segments
/// that become empty are dropped like repeated slashes. Borrowed when there is no `;`.
pub(crate) fn match_view(path: &str) -> Cow<'_, str> {
    if !path.contains(';') {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (index, segment) in segments.iter().enumerate() {
        let bare = segment.split_once(';').map_or(*segment, |(head, _)| head);
        if bare.is_empty() {
            // An emptied last segment keeps the trailing slash (`/admin/;x` is `/admin/`).
            if index == last && !out.ends_with('/') {
                out.push('/');
            }
            continue;
        }
        out.push('/');
        out.push_str(bare);
    }
    if out.is_empty() {
        out.push('/');
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
