//! Sealed cookies: the session (split into numbered chunks when large) and one short-lived
//! cookie per sign-in attempt. Sealing is AES-256-GCM with the cookie's name as associated
//! data (the `cookie` crate's private jar), so a value cannot be moved to another cookie.
//!
//! Everything here is pure: parsed request cookies and `now` in, `Set-Cookie` values out.

use cookie::time::{Duration as CookieDuration, OffsetDateTime};
use cookie::{Cookie, Key, SameSite};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::Session;
use crate::oidc::attempt::{Attempt, ATTEMPT_LIFETIME_SECS};

/// Largest cookie value we write; browsers cap a whole cookie near 4096 bytes.
const CHUNK_SIZE: usize = 3800;
/// More chunks than this means the session is too large for cookies.
const MAX_CHUNKS: usize = 8;
/// Concurrent sign-in attempts kept per browser; older ones are evicted.
pub const MAX_ATTEMPTS: usize = 4;
/// Characters of the state that name an attempt's cookie.
const ATTEMPT_TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CookieError {
    #[error("the session secret must be at least 32 bytes")]
    ShortSecret,
    #[error("the session needs {0} bytes, more than fits in {MAX_CHUNKS} cookies")]
    TooLarge(usize),
    #[error("cannot encode the session: {0}")]
    Encode(String),
}

/// The cookies of one request, as name/value pairs in header order.
#[derive(Debug, Default)]
pub struct RequestCookies {
    pairs: Vec<(String, String)>,
}

impl RequestCookies {
    /// Parse every `Cookie` header (HTTP/2 may send several). Malformed pairs are skipped.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut pairs = Vec::new();
        for value in headers.get_all(COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            for part in text.split(';') {
                if let Some((name, value)) = part.trim().split_once('=') {
                    pairs.push((name.trim().to_owned(), value.trim().to_owned()));
                }
            }
        }
        RequestCookies { pairs }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(n, _)| n.as_str())
    }
}

/// Seals and opens entrance's cookies.
pub struct Codec {
    /// The first seals; every one opens (secret rotation).
    keys: Vec<Key>,
    /// Session cookie name, with `__Host-` when served over https.
    session_name: String,
    /// Prefix of attempt cookie names.
    attempt_prefix: String,
    secure: bool,
}

impl Codec {
    /// `secret` must hold at least 32 bytes; `secure` when public_url is https.
    pub fn new(secret: &[u8], base_name: &str, secure: bool) -> Result<Self, CookieError> {
        Self::with_secrets(&[secret], base_name, secure)
    }

    /// Several secrets (rotation): the first seals, every one opens. Each must hold at least 32
    /// bytes, and there must be one.
    pub fn with_secrets(
        secrets: &[&[u8]],
        base_name: &str,
        secure: bool,
    ) -> Result<Self, CookieError> {
        if secrets.is_empty() || secrets.iter().any(|s| s.len() < 32) {
            return Err(CookieError::ShortSecret);
        }
        let prefix = if secure { "__Host-" } else { "" };
        Ok(Codec {
            keys: secrets.iter().map(|s| Key::derive_from(s)).collect(),
            session_name: format!("{prefix}{base_name}"),
            attempt_prefix: format!("{prefix}{base_name}_attempt_"),
            secure,
        })
    }

    pub fn session_name(&self) -> &str {
        &self.session_name
    }

    /// True for every cookie entrance writes (session, its chunks, attempts).
    pub fn is_own(&self, name: &str) -> bool {
        name == self.session_name
            || name
                .strip_prefix(&self.session_name)
                .is_some_and(|rest| rest.starts_with('_'))
    }

    /// The session in `cookies`, if one is there, opens with our key and has not expired.
    /// Tampered, truncated, foreign or expired cookies all give `None`.
    pub fn open_session(&self, cookies: &RequestCookies, now: i64) -> Option<Session> {
        let plain = self.open(&self.session_name, &self.session_value(cookies)?)?;
        let session = unpack(serde_json::from_str(&plain).ok()?)?;
        (!session.is_expired(now)).then_some(session)
    }

    /// The session cookie's sealed value, chunks joined.
    fn session_value(&self, cookies: &RequestCookies) -> Option<String> {
        Some(match cookies.get(&self.chunk_name(0)) {
            Some(first) => {
                let mut joined = first.to_owned();
                for i in 1..MAX_CHUNKS {
                    match cookies.get(&self.chunk_name(i)) {
                        Some(part) => joined.push_str(part),
                        None => break,
                    }
                }
                joined
            }
            None => cookies.get(&self.session_name)?.to_owned(),
        })
    }

    /// The server-side session id in the session cookie (`session.store: redis`), when the
    /// cookie opens with one of our keys and holds a handle.
    pub fn open_handle(&self, cookies: &RequestCookies) -> Option<String> {
        let plain = self.open(&self.session_name, &self.session_value(cookies)?)?;
        let handle: Handle = serde_json::from_str(&plain).ok()?;
        Some(handle.h)
    }

    /// `Set-Cookie` values that store a server-side session's id (one small cookie), and clear
    /// any chunk left from a cookie-stored session.
    pub fn seal_handle(&self, id: &str, existing: &RequestCookies, max_age: i64) -> Vec<String> {
        let json = serde_json::to_string(&Handle { h: id.to_owned() }).unwrap_or_default();
        let mut out = vec![self.set(
            &self.session_name,
            self.seal(&self.session_name, json),
            max_age.max(0),
        )];
        for name in self.session_cookie_names(existing) {
            if name != self.session_name {
                out.push(self.clear(name));
            }
        }
        out
    }

    /// Seal `plain` bound to `name` (the associated data) with the current key: for values kept
    /// outside cookies (the Redis store), so a value cannot be moved to another key either.
    pub fn seal_value(&self, name: &str, plain: String) -> String {
        self.seal(name, plain)
    }

    /// Open what [`Codec::seal_value`] sealed under `name`, with any of our keys.
    pub fn open_value(&self, name: &str, sealed: &str) -> Option<String> {
        self.open(name, sealed)
    }

    /// Whether the request carries a session cookie at all (valid or not).
    pub fn has_session_cookie(&self, cookies: &RequestCookies) -> bool {
        self.session_cookie_names(cookies).next().is_some()
    }

    /// `Set-Cookie` values that store `session`, and clear any chunk the new value does not use.
    pub fn seal_session(
        &self,
        session: &Session,
        existing: &RequestCookies,
        now: i64,
    ) -> Result<Vec<String>, CookieError> {
        let json = serde_json::to_string(&pack(session))
            .map_err(|e| CookieError::Encode(e.to_string()))?;
        let sealed = self.seal(&self.session_name, json);
        let max_age = (session.expires_at - now).max(0);
        let mut out = Vec::new();
        let used: Vec<String> = if sealed.len() <= CHUNK_SIZE {
            out.push(self.set(&self.session_name, sealed, max_age));
            vec![self.session_name.clone()]
        } else {
            let parts: Vec<&str> = split_at_boundaries(&sealed, CHUNK_SIZE);
            if parts.len() > MAX_CHUNKS {
                return Err(CookieError::TooLarge(sealed.len()));
            }
            parts
                .into_iter()
                .enumerate()
                .map(|(i, part)| {
                    let name = self.chunk_name(i);
                    out.push(self.set(&name, part.to_owned(), max_age));
                    name
                })
                .collect()
        };
        for name in self.session_cookie_names(existing) {
            if !used.iter().any(|u| u == name) {
                out.push(self.clear(name));
            }
        }
        Ok(out)
    }

    /// `Set-Cookie` values that delete the session (every chunk present) and every attempt.
    pub fn clear_all(&self, existing: &RequestCookies) -> Vec<String> {
        existing
            .names()
            .filter(|n| self.is_own(n))
            .map(|n| self.clear(n))
            .collect()
    }

    /// `Set-Cookie` values that delete the session (every chunk present), leaving attempts.
    pub fn clear_session(&self, existing: &RequestCookies) -> Vec<String> {
        self.session_cookie_names(existing)
            .map(|n| self.clear(n))
            .collect()
    }

    /// `Set-Cookie` values that store `attempt`, evicting the oldest attempts beyond the cap.
    pub fn seal_attempt(
        &self,
        attempt: &Attempt,
        existing: &RequestCookies,
        now: i64,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let mut live: Vec<(i64, &str)> = Vec::new();
        for (name, value) in &existing.pairs {
            if !name.starts_with(&self.attempt_prefix) {
                continue;
            }
            match self.open_attempt_value(name, value, now) {
                Some(a) => live.push((a.created_at, name)),
                None => out.push(self.clear(name)),
            }
        }
        live.sort();
        let excess = (live.len() + 1).saturating_sub(MAX_ATTEMPTS);
        for (_, name) in live.into_iter().take(excess) {
            out.push(self.clear(name));
        }
        let name = self.attempt_name(&attempt.state);
        // An attempt serialises to a few hundred bytes: it always fits one cookie.
        let json = serde_json::to_string(attempt).unwrap_or_default();
        out.push(self.set(&name, self.seal(&name, json), ATTEMPT_LIFETIME_SECS));
        out
    }

    /// The attempt whose state is `state`, if its cookie is present, opens, matches exactly
    /// and is not older than ten minutes.
    pub fn open_attempt(&self, state: &str, cookies: &RequestCookies, now: i64) -> Option<Attempt> {
        let name = self.attempt_name(state);
        let attempt = self.open_attempt_value(&name, cookies.get(&name)?, now)?;
        use subtle::ConstantTimeEq;
        let same = attempt.state.len() == state.len()
            && bool::from(attempt.state.as_bytes().ct_eq(state.as_bytes()));
        same.then_some(attempt)
    }

    /// `Set-Cookie` that deletes the attempt of `state`.
    pub fn clear_attempt(&self, state: &str) -> String {
        self.clear(&self.attempt_name(state))
    }

    /// Remove entrance's own cookies from the `Cookie` header(s) sent upstream; other cookies
    /// pass unchanged.
    pub fn strip_own_cookies(&self, headers: &mut HeaderMap) {
        if !headers.contains_key(COOKIE) {
            return;
        }
        let values: Vec<HeaderValue> = headers.get_all(COOKIE).iter().cloned().collect();
        if !values
            .iter()
            .any(|v| v.to_str().map_or(true, |s| s.contains(&*self.session_name)))
        {
            return;
        }
        headers.remove(COOKIE);
        for value in values {
            let Ok(text) = value.to_str() else {
                // Not text: cannot be ours (ours are ASCII); keep it as it was.
                headers.append(COOKIE, value);
                continue;
            };
            let kept: Vec<&str> = text
                .split(';')
                .map(str::trim)
                .filter(|part| {
                    let name = part.split_once('=').map_or(*part, |(n, _)| n).trim();
                    !part.is_empty() && !self.is_own(name)
                })
                .collect();
            if kept.is_empty() {
                continue;
            }
            if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
                headers.append(COOKIE, v);
            }
        }
    }

    fn open_attempt_value(&self, name: &str, value: &str, now: i64) -> Option<Attempt> {
        let plain = self.open(name, value)?;
        let attempt: Attempt = serde_json::from_str(&plain).ok()?;
        // The name binds the value to its state: the state inside must name this cookie.
        (self.attempt_name(&attempt.state) == name && !attempt.is_expired(now)).then_some(attempt)
    }

    fn session_cookie_names<'a>(
        &self,
        existing: &'a RequestCookies,
    ) -> impl Iterator<Item = &'a str> {
        let session_name = self.session_name.clone();
        existing.names().filter(move |n| {
            *n == session_name
                || n.strip_prefix(session_name.as_str())
                    .and_then(|rest| rest.strip_prefix('_'))
                    .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        })
    }

    fn chunk_name(&self, i: usize) -> String {
        format!("{}_{i}", self.session_name)
    }

    fn attempt_name(&self, state: &str) -> String {
        let tag: String = state
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(ATTEMPT_TAG_LEN)
            .collect();
        format!("{}{tag}", self.attempt_prefix)
    }

    fn seal(&self, name: &str, plain: String) -> String {
        let Some(key) = self.keys.first() else {
            return String::new();
        };
        let mut jar = cookie::CookieJar::new();
        jar.private_mut(key)
            .add(Cookie::new(name.to_owned(), plain));
        jar.get(name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default()
    }

    fn open(&self, name: &str, sealed: &str) -> Option<String> {
        let jar = cookie::CookieJar::new();
        self.keys.iter().find_map(|key| {
            jar.private(key)
                .decrypt(Cookie::new(name.to_owned(), sealed.to_owned()))
                .map(|c| c.value().to_owned())
        })
    }

    fn set(&self, name: &str, value: String, max_age_secs: i64) -> String {
        Cookie::build((name.to_owned(), value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(CookieDuration::seconds(max_age_secs))
            .build()
            .to_string()
    }

    fn clear(&self, name: &str) -> String {
        Cookie::build((name.to_owned(), ""))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(CookieDuration::ZERO)
            .expires(OffsetDateTime::UNIX_EPOCH)
            .build()
            .to_string()
    }
}

/// What the session cookie holds when the session lives server-side: its id only.
#[derive(Serialize, Deserialize)]
struct Handle {
    h: String,
}

/// The session as stored: group ids packed as 16 bytes each (base64) when they are all GUIDs,
/// which makes a 250-group session about half the size: cookies stay under proxies' 8 KB
/// header limits for longer.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    session: Session,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    packed_groups: String,
}

fn pack(session: &Session) -> Stored {
    let groups = &session.identity.groups;
    let mut bytes = Vec::with_capacity(groups.len() * 16);
    let all_guids = groups.iter().all(|g| guid_bytes(g, &mut bytes));
    if !all_guids || groups.is_empty() {
        return Stored {
            session: session.clone(),
            packed_groups: String::new(),
        };
    }
    let mut session = session.clone();
    session.identity.groups = Vec::new();
    Stored {
        session,
        packed_groups: STANDARD_NO_PAD.encode(bytes),
    }
}

fn unpack(stored: Stored) -> Option<Session> {
    let mut session = stored.session;
    if !stored.packed_groups.is_empty() {
        let bytes = STANDARD_NO_PAD.decode(stored.packed_groups).ok()?;
        if bytes.len() % 16 != 0 {
            return None;
        }
        session.identity.groups = bytes.chunks(16).map(format_guid).collect();
    }
    Some(session)
}

/// Append the 16 bytes of a lower- or upper-case 8-4-4-4-12 GUID; false when `text` is not one.
fn guid_bytes(text: &str, out: &mut Vec<u8>) -> bool {
    // Only lower-case GUIDs round-trip to the same text; others stay as they are.
    if !crate::oidc::id_token::is_guid(text) || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return false;
    }
    let hex: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    for pair in hex.chunks(2) {
        let Ok(s) = std::str::from_utf8(pair) else {
            return false;
        };
        let Ok(byte) = u8::from_str_radix(s, 16) else {
            return false;
        };
        out.push(byte);
    }
    true
}

fn format_guid(b: &[u8]) -> String {
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

/// Split ASCII text into pieces of at most `size` bytes.
fn split_at_boundaries(text: &str, size: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(size);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        parts.push(head);
        rest = tail;
    }
    parts
}

#[cfg(test)]
#[path = "cookies_tests.rs"]
mod tests;
