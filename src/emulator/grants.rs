//! Outstanding grants: authorization codes (single use, 10 minutes) and refresh tokens
//! (reusable, 90 days of inactivity), kept in memory behind short-lived mutexes.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::protocol::{opaque, AadError};
use super::tenancy::Scope;

/// Microsoft's documented code lifetime ("about 10 minutes").
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Refresh tokens expire after 90 days without use (web apps).
pub(crate) const REFRESH_INACTIVITY: Duration = Duration::from_secs(90 * 24 * 3600);

/// PKCE as sent to /authorize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pkce {
    S256(String),
    Plain(String),
}

/// What a sign-in at /authorize granted; carried by its code and later by its refresh tokens.
#[derive(Debug, Clone)]
pub(crate) struct Authorization {
    pub client_id: String,
    /// Exactly as sent to /authorize (the token request must repeat it).
    pub redirect_uri: String,
    /// The tenant path the sign-in happened on.
    pub scope: Scope,
    pub username: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub pkce: Option<Pkce>,
    /// Per sign-in session id: `sid` claim and `session_state`.
    pub sid: String,
}

struct CodeEntry {
    auth: Authorization,
    issued: Instant,
    /// Redeemed codes are kept until they expire so a replay gets AADSTS54005, not "unknown".
    redeemed: bool,
}

struct RefreshEntry {
    auth: Authorization,
    last_used: Instant,
}

/// Codes and refresh tokens by value.
#[derive(Default)]
pub(crate) struct Grants {
    codes: Mutex<HashMap<String, CodeEntry>>,
    refresh: Mutex<HashMap<String, RefreshEntry>>,
    /// The newest refresh token of each sign-in session (`sid`).
    newest: Mutex<HashMap<String, String>>,
    /// Refresh tokens used after a newer one of the same sign-in was issued (clients should
    /// keep the rotated one; Microsoft still accepts the old one).
    pub stale_refresh_uses: std::sync::atomic::AtomicUsize,
}

/// A poisoned map is still a consistent map (every update is a single insert or field write).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Is a code issued at `issued` past its lifetime at `now`?
pub(crate) fn code_expired(issued: Instant, now: Instant) -> bool {
    now.saturating_duration_since(issued) > CODE_LIFETIME
}

fn unknown_grant() -> AadError {
    AadError::new(
        "invalid_grant",
        9002313,
        "Invalid request. Request is malformed or invalid.",
    )
}

impl Grants {
    /// Store a new code and return it. Expired codes are swept here, so the map stays small.
    pub fn issue_code(&self, auth: Authorization, now: Instant) -> String {
        let code = format!("1.{}", opaque(96));
        let mut codes = lock(&self.codes);
        codes.retain(|_, e| !code_expired(e.issued, now));
        codes.insert(
            code.clone(),
            CodeEntry {
                auth,
                issued: now,
                redeemed: false,
            },
        );
        code
    }

    /// Redeem a code: it must exist, be unused and fresh, and pass `check` (client, redirect URI,
    /// tenant, PKCE). Only a successful redemption uses it up.
    pub fn redeem_code(
        &self,
        code: &str,
        now: Instant,
        check: impl FnOnce(&Authorization) -> Result<(), AadError>,
    ) -> Result<Authorization, AadError> {
        let mut codes = lock(&self.codes);
        let entry = codes.get_mut(code).ok_or_else(unknown_grant)?;
        if entry.redeemed {
            return Err(AadError::new(
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid \
                 code or use an existing refresh token.",
            ));
        }
        if code_expired(entry.issued, now) {
            return Err(AadError::new(
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. \
                 Send a new interactive authorization request for this user and resource.",
            ));
        }
        check(&entry.auth)?;
        entry.redeemed = true;
        Ok(entry.auth.clone())
    }

    /// Store a new refresh token for this grant and return it.
    pub fn issue_refresh(&self, auth: Authorization, now: Instant) -> String {
        let token = format!("1.{}", opaque(160));
        lock(&self.newest).insert(auth.sid.clone(), token.clone());
        let mut refresh = lock(&self.refresh);
        refresh.retain(|_, e| now.saturating_duration_since(e.last_used) <= REFRESH_INACTIVITY);
        refresh.insert(
            token.clone(),
            RefreshEntry {
                auth,
                last_used: now,
            },
        );
        token
    }

    /// Use a refresh token. It stays valid afterwards (Microsoft does not revoke the old one when
    /// it hands out a new one).
    pub fn use_refresh(
        &self,
        token: &str,
        now: Instant,
        check: impl FnOnce(&Authorization) -> Result<(), AadError>,
    ) -> Result<Authorization, AadError> {
        let mut refresh = lock(&self.refresh);
        let entry = refresh.get_mut(token).ok_or_else(unknown_grant)?;
        if now.saturating_duration_since(entry.last_used) > REFRESH_INACTIVITY {
            return Err(AadError::new(
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity.",
            ));
        }
        check(&entry.auth)?;
        entry.last_used = now;
        if lock(&self.newest)
            .get(&entry.auth.sid)
            .is_some_and(|newest| newest != token)
        {
            self.stale_refresh_uses
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(entry.auth.clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn auth() -> Authorization {
        Authorization {
            client_id: "c".into(),
            redirect_uri: "r".into(),
            scope: Scope::Common,
            username: "u".into(),
            scopes: vec!["openid".into()],
            nonce: None,
            pkce: None,
            sid: "s".into(),
        }
    }

    #[test]
    fn code_is_single_use_and_expires() {
        let grants = Grants::default();
        let t0 = Instant::now();
        let code = grants.issue_code(auth(), t0);
        let failing = grants.redeem_code(&code, t0, |_| Err(unknown_grant()));
        assert_eq!(failing.unwrap_err().code, 9002313);
        assert!(grants.redeem_code(&code, t0, |_| Ok(())).is_ok());
        assert_eq!(
            grants.redeem_code(&code, t0, |_| Ok(())).unwrap_err().code,
            54005
        );
        let late = grants.issue_code(auth(), t0);
        let eleven = t0 + Duration::from_secs(11 * 60);
        assert_eq!(
            grants
                .redeem_code(&late, eleven, |_| Ok(()))
                .unwrap_err()
                .code,
            70008
        );
        assert!(!code_expired(t0, t0 + CODE_LIFETIME));
        assert_eq!(
            grants.redeem_code("nope", t0, |_| Ok(())).unwrap_err().code,
            9002313
        );
    }

    #[test]
    fn refresh_tokens_are_reusable() {
        let grants = Grants::default();
        let t0 = Instant::now();
        let rt = grants.issue_refresh(auth(), t0);
        assert!(grants.use_refresh(&rt, t0, |_| Ok(())).is_ok());
        assert!(grants.use_refresh(&rt, t0, |_| Ok(())).is_ok());
        let later = t0 + REFRESH_INACTIVITY + Duration::from_secs(1);
        assert_eq!(
            grants.use_refresh(&rt, later, |_| Ok(())).unwrap_err().code,
            700082
        );
    }
}
