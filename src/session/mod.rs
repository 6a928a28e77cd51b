//! Sessions: what entrance remembers about a signed-in user, and how it is kept in sealed
//! cookies (AES-256-GCM through the `cookie` crate's private jar, split into chunks when large).
//!
//! The cookie codec ([`cookies::Codec`]) is pure: headers and `now` in, values out.

pub mod cookies;

use serde::{Deserialize, Serialize};

use crate::identity::Identity;
use crate::oidc::attempt::random_token;

pub use cookies::{Codec, CookieError, RequestCookies};

/// A signed-in user's session. Tokens are not kept in this version.
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
}

impl Session {
    pub fn new(identity: Identity, sid: Option<String>, now: i64, lifetime_secs: i64) -> Self {
        Session {
            id: random_token(16),
            identity,
            issued_at: now,
            expires_at: now.saturating_add(lifetime_secs),
            sid,
        }
    }

    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Identity {
        Identity {
            oid: "o".into(),
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

    #[test]
    fn sessions_get_fresh_ids_and_expire_at_lifetime() {
        let a = Session::new(who(), None, 100, 10);
        let b = Session::new(who(), None, 100, 10);
        assert_ne!(a.id, b.id);
        assert!(!a.is_expired(109));
        assert!(a.is_expired(110));
    }
}
