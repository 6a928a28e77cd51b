//! Sessions: what entrance remembers about a signed-in user, and how it is kept in sealed
//! cookies (AES-256-GCM through the `cookie` crate's private jar, split into chunks when large).
//!
//! The cookie codec ([`cookies::Codec`]) is pure: headers and `now` in, values out. Where
//! sessions live (cookies or Redis), their lifetimes, renewal with one token call per session
//! however many requests ask at once, and ending them (sign-out, front-channel logout, admin
//! revocation) are in [`lifecycle`].

pub mod cookies;
mod flights;
pub mod lifecycle;
pub mod redis_store;
mod revocations;

use serde::{Deserialize, Serialize};

use crate::identity::Identity;
use crate::oidc::attempt::random_token;

pub use cookies::{Codec, CookieError, RequestCookies};
pub use lifecycle::{RenewError, Resumed, Sessions, SessionsError, StoreError};

/// The first `bytes` bytes of the SHA-256 of `text`, in hex: a session id as Redis keys show it,
/// a refresh token as a renewal's key. Never reversible to the value.
pub(crate) fn digest_hex(text: &str, bytes: usize) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A signed-in user's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Random, new at every sign-in (no fixation).
    pub id: String,
    pub identity: Identity,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds; enforced on the data, not only by the cookie's Max-Age.
    pub expires_at: i64,
    /// The ID token's `sid` (Microsoft's sign-in session), for single sign-out later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Unix seconds of the last request seen (kept coarsely), for `session.idle_timeout`.
    #[serde(default)]
    pub seen_at: i64,
    /// The ID token's `login_hint` claim: sent as `logout_hint` at sign-out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
    /// Present when sign-in returned a refresh token (`offline_access`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<Renewal>,
}

/// What renewing a session needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewal {
    /// Replaced by the new one at every renewal (Microsoft rotates them).
    pub refresh_token: RefreshToken,
    /// Unix seconds when the access token from the last token call expires.
    pub access_expires_at: i64,
    /// Unix seconds from which the session is renewed: `session.refresh` before the access
    /// token expires, but never before half its life has passed (short-lived tokens would
    /// otherwise be renewed on every request).
    pub renew_at: i64,
    /// The groups came from Microsoft Graph (overage or `groups_source: graph`): read them
    /// again at every renewal, never drop them.
    #[serde(default)]
    pub groups_from_graph: bool,
}

/// A refresh token: never printed, never logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RefreshToken(pub String);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Session {
    pub fn new(identity: Identity, sid: Option<String>, now: i64, lifetime_secs: i64) -> Self {
        Session {
            id: random_token(16),
            identity,
            issued_at: now,
            expires_at: now.saturating_add(lifetime_secs),
            sid,
            seen_at: now,
            login_hint: None,
            renewal: None,
        }
    }

    /// Past the absolute lifetime.
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// Unused for longer than `idle_timeout` seconds.
    pub fn is_idle(&self, now: i64, idle_timeout: Option<i64>) -> bool {
        idle_timeout.is_some_and(|idle| now.saturating_sub(self.seen_at) >= idle)
    }

    /// Due for renewal: it has a refresh token and its renewal time has come.
    pub fn needs_renewal(&self, now: i64) -> bool {
        self.renewal.as_ref().is_some_and(|r| now >= r.renew_at)
    }
}

impl Renewal {
    /// After a token call at `now` that returned an access token living `lifetime` seconds:
    /// renew `margin` seconds before it expires, but not before half its life.
    pub fn new(refresh_token: RefreshToken, now: i64, lifetime: i64, margin: i64) -> Renewal {
        let lifetime = lifetime.max(0);
        Renewal {
            refresh_token,
            access_expires_at: now.saturating_add(lifetime),
            renew_at: now.saturating_add((lifetime - margin).max(lifetime / 2)),
            groups_from_graph: false,
        }
    }
}

/// A user with ids only (`oid` as given, tenant `t`), for the session tests of this crate.
#[cfg(test)]
pub(crate) fn user_for_tests(oid: &str) -> Identity {
    Identity {
        oid: oid.into(),
        tid: "t".into(),
        sub: "s".into(),
        name: None,
        preferred_username: None,
        email: None,
        groups: vec![],
        roles: vec![],
        caller: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Identity {
        user_for_tests("o")
    }

    #[test]
    fn idle_sessions_end_after_the_idle_timeout_and_never_without_one() {
        let mut s = Session::new(who(), None, 100, 1000);
        assert!(!s.is_idle(10_000, None));
        assert!(!s.is_idle(159, Some(60)));
        assert!(s.is_idle(160, Some(60)));
        s.seen_at = 150;
        assert!(!s.is_idle(160, Some(60)));
    }

    #[test]
    fn renewal_is_due_a_margin_before_the_access_token_expires() {
        let mut s = Session::new(who(), None, 100, 10_000);
        assert!(!s.needs_renewal(5_000), "no refresh token, no renewal");
        s.renewal = Some(Renewal::new(RefreshToken("rt".into()), 100, 3_600, 300));
        assert!(!s.needs_renewal(3_399));
        assert!(s.needs_renewal(3_400));
        assert!(format!("{s:?}").contains("***") && !format!("{s:?}").contains("\"rt\""));
    }

    #[test]
    fn short_lived_access_tokens_are_renewed_at_half_life_not_on_every_request() {
        let r = Renewal::new(RefreshToken("rt".into()), 1_000, 60, 300);
        assert_eq!(r.access_expires_at, 1_060);
        assert_eq!(r.renew_at, 1_030);
    }

    #[test]
    fn sessions_get_fresh_ids_and_expire_at_lifetime() {
        let a = Session::new(who(), None, 100, 10);
        let b = Session::new(who(), None, 100, 10);
        assert_ne!(a.id, b.id);
        assert!(!a.is_expired(109));
        assert!(a.is_expired(110));
    }
}
