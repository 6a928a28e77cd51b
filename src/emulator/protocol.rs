//! Small protocol values shared by the emulator's endpoints: GUIDs and opaque ids, Microsoft's
//! timestamp format, the AADSTS error shape, HTML escaping and redirect-URI matching.
//!
//! Everything here is pure apart from the random generators.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use url::{Host, Url};

/// A random (version 4) GUID, lower case, as Microsoft prints them.
pub(crate) fn guid() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    guid_from(b)
}

/// A version-4 GUID made from 16 bytes (random or hashed), lower case.
pub(crate) fn guid_from(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `n` random bytes, base64url without padding: codes, refresh tokens, `uti`, `aio`.
pub(crate) fn opaque(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// 8-4-4-4-12 hex digits. Upper case is rejected so config stays in one canonical form.
pub(crate) fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}

/// Seconds since the Unix epoch (0 if the clock is before it, which only a broken host has).
pub(crate) fn unix_now(now: SystemTime) -> i64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Microsoft's error timestamp format, `2024-05-01 12:34:56Z` (UTC).
pub(crate) fn timestamp(now: SystemTime) -> String {
    let secs = unix_now(now);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm): no date crate needed for one format.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An error as Microsoft reports it: an OAuth `error` value plus an AADSTS number and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AadError {
    pub error: &'static str,
    pub code: u32,
    pub message: String,
}

/// The per-response diagnostics Microsoft attaches to every error.
pub(crate) struct Trace {
    pub trace_id: String,
    pub correlation_id: String,
    pub timestamp: String,
}

impl Trace {
    pub fn new(now: SystemTime) -> Self {
        Trace {
            trace_id: guid(),
            correlation_id: guid(),
            timestamp: timestamp(now),
        }
    }
}

impl AadError {
    pub fn new(error: &'static str, code: u32, message: impl Into<String>) -> Self {
        AadError {
            error,
            code,
            message: message.into(),
        }
    }

    /// "AADSTSnnn: text" followed by the trace lines, exactly as Microsoft formats it.
    pub fn description(&self, trace: &Trace) -> String {
        format!(
            "AADSTS{}: {}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
            self.code, self.message, trace.trace_id, trace.correlation_id, trace.timestamp
        )
    }

    pub fn error_uri(&self, authority: &str) -> String {
        format!("{authority}/error?code={}", self.code)
    }

    /// The JSON body of a token-endpoint (or discovery) error.
    pub fn to_json(&self, authority: &str, trace: &Trace) -> serde_json::Value {
        serde_json::json!({
            "error": self.error,
            "error_description": self.description(trace),
            "error_codes": [self.code],
            "timestamp": trace.timestamp,
            "trace_id": trace.trace_id,
            "correlation_id": trace.correlation_id,
            "error_uri": self.error_uri(authority),
        })
    }
}

/// Escape text for HTML element content and double-quoted attributes.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// 127.0.0.1, [::1] or localhost: the hosts whose port Microsoft ignores when matching.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Does the requested redirect URI match a registered one? Exact match of scheme, host, port,
/// path and query, except that a loopback URI may use any port (Microsoft documents this for
/// native and local development apps).
pub(crate) fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    let (Ok(reg), Ok(req)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    if req.fragment().is_some() || !req.username().is_empty() || req.password().is_some() {
        return false;
    }
    same_origin(&reg, &req) && reg.path() == req.path() && reg.query() == req.query()
}

/// Same scheme and host, and same port unless the host is loopback.
fn same_origin(reg: &Url, req: &Url) -> bool {
    reg.scheme() == req.scheme()
        && reg.host() == req.host()
        && (is_loopback(reg) || reg.port_or_known_default() == req.port_or_known_default())
}

/// For sign-out: does `requested` sit on the origin of a registered redirect URI?
pub(crate) fn origin_matches(registered: &str, requested: &str) -> bool {
    match (Url::parse(registered), Url::parse(requested)) {
        (Ok(reg), Ok(req)) => req.username().is_empty() && same_origin(&reg, &req),
        _ => false,
    }
}

/// Base64url of SHA-256: the PKCE S256 transform.
pub(crate) fn s256(verifier: &str) -> String {
    use sha2::{Digest, Sha256};
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn guid_has_microsoft_shape() {
        let g = guid();
        assert!(is_guid(&g), "{g}");
        assert_ne!(g, guid());
        assert!(!is_guid("6E5F1D2C-3B4A-4C5D-8E7F-0A1B2C3D4E5F"));
        assert!(!is_guid("not-a-guid"));
    }

    #[test]
    fn timestamp_is_utc_in_microsoft_format() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(timestamp(t), "2023-11-14 22:13:20Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01 00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(timestamp(leap), "2000-02-29 00:00:00Z");
    }

    #[test]
    fn loopback_ports_are_ignored_other_ports_are_not() {
        let reg = "http://127.0.0.1/oauth2/callback";
        assert!(redirect_uri_matches(
            reg,
            "http://127.0.0.1:8080/oauth2/callback"
        ));
        assert!(redirect_uri_matches(
            "http://localhost/cb",
            "http://localhost:1/cb"
        ));
        assert!(redirect_uri_matches("http://[::1]/cb", "http://[::1]:9/cb"));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.1:8080/oauth2/callback/"
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://localhost/oauth2/callback"
        ));
        assert!(!redirect_uri_matches(
            reg,
            "https://127.0.0.1/oauth2/callback"
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.1/oauth2/callback?x=1"
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.1/oauth2/callback#f"
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://u@127.0.0.1/oauth2/callback"
        ));
        assert!(!redirect_uri_matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
        assert!(redirect_uri_matches(
            "https://app.example/cb",
            "https://APP.example:443/cb"
        ));
        assert!(!redirect_uri_matches(reg, "not a url"));
    }

    #[test]
    fn error_description_carries_trace_lines() {
        let trace = Trace::new(UNIX_EPOCH);
        let e = AadError::new("invalid_grant", 54005, "Code already redeemed.");
        let d = e.description(&trace);
        assert!(d.starts_with("AADSTS54005: Code already redeemed.\r\nTrace ID: "));
        assert!(d.ends_with("\r\nTimestamp: 1970-01-01 00:00:00Z"));
        assert_eq!(
            e.to_json("http://x", &trace)["error_uri"],
            "http://x/error?code=54005"
        );
    }

    #[test]
    fn pkce_s256_matches_rfc7636_example() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
