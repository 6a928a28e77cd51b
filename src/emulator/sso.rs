//! Which browser is which: the emulator's single sign-on cookie and the sign-ins made under it,
//! so that sign-out knows which apps' front-channel logout URLs to load.
//!
//! Microsoft keeps a session cookie (`ESTSAUTH`) on its own host; the emulator sets one of the
//! same name at every successful sign-in. It only groups sign-ins by browser: the emulator never
//! signs anyone in from it (every sign-in still needs a `login_hint` or a click in the picker).
//! This module must not render pages or decide where a browser goes next (see `logout`).

use std::sync::{Mutex, MutexGuard};

use hyper::header::{HeaderMap, COOKIE};

use super::id_token::login_hint;
use super::protocol::opaque;

/// The cookie's name, Microsoft's for its browser session.
pub(crate) const COOKIE_NAME: &str = "ESTSAUTH";

/// Longest cookie value taken as a browser id; ours are 43 characters.
const MAX_ID_LEN: usize = 128;

/// One successful sign-in at /authorize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignIn {
    /// The browser's id (the cookie's value).
    pub browser: String,
    pub client_id: String,
    /// Lower case.
    pub username: String,
    /// The sign-in session: `sid` claim and `session_state`.
    pub sid: String,
    /// Signed out at the end_session endpoint; an ended sign-in is not notified again.
    pub ended: bool,
}

/// Every sign-in so far, oldest first (ended ones stay, so tests can still name them).
#[derive(Default)]
pub(crate) struct SignIns {
    records: Mutex<Vec<SignIn>>,
}

/// A poisoned list is still a consistent list (every update is one push or field write).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl SignIns {
    /// Remember that `username` signed in to `client_id` in `browser` with session `sid`.
    pub fn record(&self, browser: &str, client_id: &str, username: &str, sid: &str) {
        lock(&self.records).push(SignIn {
            browser: browser.to_owned(),
            client_id: client_id.to_ascii_lowercase(),
            username: username.to_ascii_lowercase(),
            sid: sid.to_owned(),
            ended: false,
        });
    }

    /// The sign-in sessions of `username`, oldest first, signed out or not.
    pub fn sids_of(&self, username: &str) -> Vec<String> {
        let username = username.to_ascii_lowercase();
        lock(&self.records)
            .iter()
            .filter(|r| r.username == username)
            .map(|r| r.sid.clone())
            .collect()
    }

    /// Sign out: end the live sign-ins [`covered`] picks and return them, oldest first.
    pub fn end(&self, browser: Option<&str>, logout_hint: Option<&str>) -> Vec<SignIn> {
        let mut records = lock(&self.records);
        let picked = covered(&records, browser, logout_hint);
        let mut ended = Vec::with_capacity(picked.len());
        for i in picked {
            if let Some(r) = records.get_mut(i) {
                r.ended = true;
                ended.push(r.clone());
            }
        }
        ended
    }

    /// Does `browser` still have a sign-in that has not been signed out?
    pub fn has_live(&self, browser: &str) -> bool {
        lock(&self.records)
            .iter()
            .any(|r| r.browser == browser && !r.ended)
    }
}

/// Which live sign-ins a sign-out ends (indexes into `records`): those of the browser the
/// cookie names, narrowed to the account of `logout_hint` when it is one the emulator issued.
/// Without a known cookie, the hint alone picks its own browser and account: a deliberate
/// emulator deviation (Microsoft signs out only what its cookie names), so that scripted
/// clients without a cookie jar can still exercise front-channel logout.
pub(crate) fn covered(
    records: &[SignIn],
    browser: Option<&str>,
    logout_hint: Option<&str>,
) -> Vec<usize> {
    let hinted = logout_hint.and_then(|h| records.iter().find(|r| login_hint(&r.sid) == h));
    let known_cookie = browser.filter(|b| records.iter().any(|r| r.browser == *b));
    let Some(browser) = known_cookie.or(hinted.map(|r| r.browser.as_str())) else {
        return Vec::new();
    };
    let account = hinted.map(|r| r.username.as_str());
    records
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.ended && r.browser == browser)
        .filter(|(_, r)| account.is_none_or(|a| r.username == a))
        .map(|(i, _)| i)
        .collect()
}

/// The browser id from the request's cookies, if it carries a well-formed one.
pub(crate) fn browser_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim())
        .filter(|v| is_browser_id(v))
        .map(str::to_owned)
}

/// Base64url characters only, 1 to [`MAX_ID_LEN`] of them: anything else is ignored, so a
/// forged value can neither break the Set-Cookie header nor grow without bound.
fn is_browser_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_ID_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new browser id.
pub(crate) fn new_browser_id() -> String {
    opaque(32)
}

/// The Set-Cookie value that (re)states the browser's session. `SameSite=Lax`: top-level
/// navigations from an app to the emulator carry it, as sign-out redirects are.
pub(crate) fn set_cookie(browser: &str) -> String {
    format!("{COOKIE_NAME}={browser}; Path=/; HttpOnly; SameSite=Lax")
}

/// The Set-Cookie value that deletes the cookie (every sign-in of the browser ended).
pub(crate) fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn sign_ins() -> SignIns {
        let s = SignIns::default();
        s.record("b1", "APP-1", "Alice@contoso.com", "sid-a1");
        s.record("b1", "app-2", "alice@contoso.com", "sid-a2");
        s.record("b1", "app-1", "bob@contoso.com", "sid-b1");
        s.record("b2", "app-1", "alice@contoso.com", "sid-a3");
        s
    }

    fn sids(ended: &[SignIn]) -> Vec<&str> {
        ended.iter().map(|r| r.sid.as_str()).collect()
    }

    #[test]
    fn a_cookie_signs_out_its_browser_only_and_only_once() {
        let s = sign_ins();
        assert_eq!(
            sids(&s.end(Some("b1"), None)),
            ["sid-a1", "sid-a2", "sid-b1"]
        );
        assert!(!s.has_live("b1"));
        assert!(s.has_live("b2"));
        assert!(s.end(Some("b1"), None).is_empty(), "notified twice");
        assert_eq!(
            s.sids_of("ALICE@contoso.com"),
            ["sid-a1", "sid-a2", "sid-a3"]
        );
    }

    #[test]
    fn a_logout_hint_narrows_the_browser_to_its_account() {
        let s = sign_ins();
        let ended = s.end(Some("b1"), Some(&login_hint("sid-b1")));
        assert_eq!(sids(&ended), ["sid-b1"]);
        assert_eq!(ended[0].client_id, "app-1");
        assert!(s.has_live("b1"), "Alice is still signed in in that browser");
    }

    #[test]
    fn without_a_cookie_the_hint_picks_its_own_browser() {
        let s = sign_ins();
        assert_eq!(sids(&s.end(None, Some(&login_hint("sid-a3")))), ["sid-a3"]);
        assert_eq!(
            sids(&s.end(Some("unknown"), Some(&login_hint("sid-a1")))),
            ["sid-a1", "sid-a2"]
        );
        assert!(s.end(None, Some("O.not-ours")).is_empty());
        assert!(s.end(None, None).is_empty());
        assert!(s.end(Some("unknown"), None).is_empty());
    }

    #[test]
    fn only_a_well_formed_cookie_names_a_browser() {
        let mut h = HeaderMap::new();
        assert_eq!(browser_from(&h), None);
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; ESTSAUTH=abc-_9 ; b=2"),
        );
        assert_eq!(browser_from(&h).as_deref(), Some("abc-_9"));
        for bad in ["ESTSAUTH=", "ESTSAUTH=a b", "ESTSAUTH=a,b", "XESTSAUTH=a"] {
            let mut h = HeaderMap::new();
            h.append(COOKIE, HeaderValue::from_str(bad).unwrap());
            assert_eq!(browser_from(&h), None, "{bad}");
        }
        let long = format!("ESTSAUTH={}", "a".repeat(MAX_ID_LEN + 1));
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_str(&long).unwrap());
        assert_eq!(browser_from(&h), None);
        let id = new_browser_id();
        assert!(is_browser_id(&id), "{id}");
        assert!(set_cookie(&id).starts_with(&format!("ESTSAUTH={id};")));
        assert!(clear_cookie().contains("Max-Age=0"));
    }
}
