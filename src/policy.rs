//! Pure decisions: which routes are public, how a request path is normalised before any decision,
//! and whether a signed-in identity is authorised.
//!
//! No I/O, no clock, no globals: values in, values out. Responses, logging and the order of the
//! steps belong to the gateway.

use crate::config::{AuthorizationConfig, RouteConfig, TenantRule};
use crate::identity::Identity;

/// Whether a route needs a signed-in user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No sign-in needed (identity headers are still stripped).
    Public,
    /// Sign-in (and authorisation) needed.
    Protected,
}

/// One configured route, compiled.
#[derive(Debug, Clone)]
struct Route {
    /// Normalised with [`normalize_path`] when that succeeds, so that it compares equal to
    /// normalised request paths (`/%7Euser/` and `/~user/` are one route).
    path: String,
    /// The path ended in `/`: it matches every path that starts with it.
    prefix: bool,
    access: Access,
}

/// The configured routes, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    /// Compile the configured routes, keeping their order.
    pub fn new(routes: &[RouteConfig]) -> Self {
        let routes = routes
            .iter()
            .map(|r| {
                // Config validation reports bad route paths; a path that does not normalise is
                // kept as written and simply never matches a normalised request path by accident.
                let path = normalize_path(&r.path).unwrap_or_else(|_| r.path.clone());
                Route {
                    prefix: path.ends_with('/'),
                    path,
                    access: if r.public {
                        Access::Public
                    } else {
                        Access::Protected
                    },
                }
            })
            .collect();
        Self { routes }
    }

    /// `path` must already be normalised. First matching route wins; no match = Protected.
    ///
    /// A route path ending in `/` is a prefix (`/static/` matches `/static/` and `/static/x`,
    /// not `/static`); any other route path matches exactly that path (`/healthz` does not match
    /// `/healthz/`).
    pub fn access(&self, path: &str) -> Access {
        self.routes
            .iter()
            .find(|r| {
                if r.prefix {
                    path.starts_with(r.path.as_str())
                } else {
                    path == r.path
                }
            })
            .map_or(Access::Protected, |r| r.access)
    }
}

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

/// The outcome of authorising a signed-in identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(DenyReason),
}

/// Why a signed-in identity was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    TenantNotAllowed,
    EmailDomainNotAllowed,
    EmailMissing,
}

impl DenyReason {
    /// Stable code for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::TenantNotAllowed => "tenant_not_allowed",
            Self::EmailDomainNotAllowed => "email_domain_not_allowed",
            Self::EmailMissing => "email_missing",
        }
    }

    /// Sentence for the 403 page: says the reason without revealing the configuration.
    pub fn user_message(self) -> &'static str {
        match self {
            Self::TenantNotAllowed => {
                "Your organisation's accounts are not allowed to use this application."
            }
            Self::EmailDomainNotAllowed => {
                "Accounts with your email domain are not allowed to use this application."
            }
            Self::EmailMissing => {
                "Your account has no email address, and this application only admits certain \
                 email domains."
            }
        }
    }
}

/// Whether `who` may use the application under `rules`. The tenant rule is checked first.
///
/// Email domains are checked on the `email` claim only, never on `preferred_username`: Microsoft
/// documents that one as mutable and not for authorisation decisions.
pub fn authorize(rules: &AuthorizationConfig, who: &Identity) -> Decision {
    let tenant_ok = match &rules.allowed_tenants {
        TenantRule::Unrestricted | TenantRule::Any => true,
        TenantRule::Only(tenants) => tenants.iter().any(|t| t.eq_ignore_ascii_case(&who.tid)),
    };
    if !tenant_ok {
        return Decision::Deny(DenyReason::TenantNotAllowed);
    }
    if rules.allowed_email_domains.is_empty() {
        return Decision::Allow;
    }
    let email = match who.email.as_deref() {
        Some(e) if !e.is_empty() => e,
        _ => return Decision::Deny(DenyReason::EmailMissing),
    };
    match email_domain(email) {
        Some(domain)
            if rules
                .allowed_email_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain)) =>
        {
            Decision::Allow
        }
        _ => Decision::Deny(DenyReason::EmailDomainNotAllowed),
    }
}

/// The domain of an address with exactly one `@` and a non-empty local part, without one
/// trailing dot. Not lower-cased: callers compare ignoring ASCII case.
fn email_domain(email: &str) -> Option<&str> {
    let (local, domain) = email.split_once('@')?;
    if local.is_empty() || domain.contains('@') {
        return None;
    }
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    (!domain.is_empty()).then_some(domain)
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
