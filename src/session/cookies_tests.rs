#![allow(clippy::unwrap_used)]

use http::HeaderValue;

use super::*;
use crate::identity::Identity;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const NOW: i64 = 1_700_000_000;

fn codec(secure: bool) -> Codec {
    Codec::new(SECRET, "_entrance", secure).unwrap()
}

fn session(groups: usize) -> Session {
    Session::new(
        Identity {
            oid: "oid-1".into(),
            tid: "tid-1".into(),
            sub: "sub-1".into(),
            name: Some("Zoë".into()),
            preferred_username: Some("zoe@contoso.com".into()),
            email: Some("zoe@contoso.com".into()),
            groups: (0..groups)
                .map(|i| format!("{i:08}-0000-4000-8000-000000000000"))
                .collect(),
            roles: vec!["Admin".into()],
            caller: None,
        },
        Some("sid".into()),
        NOW,
        3600,
    )
}

/// The cookies a browser would send back after receiving `set_cookies`.
fn browser_sends(set_cookies: &[String]) -> RequestCookies {
    let pairs: Vec<String> = set_cookies
        .iter()
        .map(|c| Cookie::parse(c.clone()).unwrap())
        .filter(|c| c.max_age() != Some(CookieDuration::ZERO))
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(&pairs.join("; ")).unwrap());
    RequestCookies::from_headers(&headers)
}

#[test]
fn a_session_round_trips() {
    let c = codec(false);
    let s = session(2);
    let set = c.seal_session(&s, &RequestCookies::default(), NOW).unwrap();
    assert_eq!(set.len(), 1);
    assert!(set[0].starts_with("_entrance="));
    assert!(
        set[0].contains("HttpOnly") && set[0].contains("SameSite=Lax") && set[0].contains("Path=/")
    );
    assert!(!set[0].contains("Secure"));
    assert_eq!(c.open_session(&browser_sends(&set), NOW), Some(s));
}

#[test]
fn https_cookies_are_secure_and_host_prefixed() {
    let c = codec(true);
    let set = c
        .seal_session(&session(0), &RequestCookies::default(), NOW)
        .unwrap();
    assert!(set[0].starts_with("__Host-_entrance="));
    assert!(set[0].contains("Secure"));
}

#[test]
fn large_sessions_are_chunked_and_joined_and_stale_chunks_cleared() {
    let c = codec(false);
    let big = session(200);
    let set = c
        .seal_session(&big, &RequestCookies::default(), NOW)
        .unwrap();
    assert!(set.len() > 1, "200 groups should not fit one cookie");
    assert!(set.iter().all(|s| s.len() < 4096));
    let sent = browser_sends(&set);
    assert_eq!(c.open_session(&sent, NOW), Some(big));

    // Now a small session replaces the big one: every old chunk is deleted.
    let small = session(0);
    let set2 = c.seal_session(&small, &sent, NOW).unwrap();
    let deleted = set2.iter().filter(|s| s.contains("Max-Age=0")).count();
    assert_eq!(deleted, set.len());
    assert_eq!(c.open_session(&browser_sends(&set2), NOW), Some(small));
}

#[test]
fn tampered_truncated_foreign_and_expired_cookies_are_no_session() {
    let c = codec(false);
    let set = c
        .seal_session(&session(0), &RequestCookies::default(), NOW)
        .unwrap();
    let value = Cookie::parse(set[0].clone()).unwrap().value().to_owned();
    let send = |v: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("_entrance={v}")).unwrap(),
        );
        RequestCookies::from_headers(&headers)
    };
    let mut flipped = value.clone().into_bytes();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        c.open_session(&send(&String::from_utf8(flipped).unwrap()), NOW),
        None
    );
    assert_eq!(c.open_session(&send(&value[..value.len() / 2]), NOW), None);
    assert_eq!(c.open_session(&send(""), NOW), None);
    let foreign = Codec::new(b"another-secret-another-secret-00", "_entrance", false).unwrap();
    assert_eq!(foreign.open_session(&send(&value), NOW), None);
    assert_eq!(c.open_session(&send(&value), NOW + 3600), None);
    assert!(c.open_session(&send(&value), NOW + 3599).is_some());
}

#[test]
fn a_session_value_cannot_be_replayed_under_another_cookie_name() {
    let c = codec(false);
    let attempt = Attempt::new("/".into(), NOW);
    let set = c.seal_attempt(&attempt, &RequestCookies::default(), NOW);
    let value = Cookie::parse(set.last().unwrap().clone())
        .unwrap()
        .value()
        .to_owned();
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_str(&format!("_entrance={value}")).unwrap(),
    );
    assert_eq!(
        c.open_session(&RequestCookies::from_headers(&headers), NOW),
        None
    );
}

#[test]
fn attempts_are_found_by_state_only() {
    let c = codec(false);
    let a = Attempt::new("/here".into(), NOW);
    let b = Attempt::new("/there".into(), NOW);
    let set_a = c.seal_attempt(&a, &RequestCookies::default(), NOW);
    let sent_a = browser_sends(&set_a);
    let set_b = c.seal_attempt(&b, &sent_a, NOW);
    let mut all = set_a.clone();
    all.extend(set_b);
    let sent = browser_sends(&all);
    // Two tabs signing in at once: each callback finds its own attempt.
    assert_eq!(
        c.open_attempt(&a.state, &sent, NOW).unwrap().return_to,
        "/here"
    );
    assert_eq!(
        c.open_attempt(&b.state, &sent, NOW).unwrap().return_to,
        "/there"
    );
    // A state that shares the cookie tag but differs afterwards is refused.
    let forged = format!("{}x", &a.state[..a.state.len() - 1]);
    assert!(c.open_attempt(&forged, &sent, NOW).is_none());
    assert!(c.open_attempt("nope", &sent, NOW).is_none());
    assert!(c.open_attempt(&a.state, &sent, NOW + 601).is_none());
}

#[test]
fn attempt_cookies_are_capped() {
    let c = codec(false);
    let mut sent_cookies: Vec<String> = Vec::new();
    for i in 0..10 {
        let attempt = Attempt::new("/".into(), NOW + i);
        let set = c.seal_attempt(&attempt, &browser_sends(&sent_cookies), NOW + i);
        // Apply the browser's view: deletions remove, new ones add.
        for s in set {
            let parsed = Cookie::parse(s.clone()).unwrap();
            sent_cookies.retain(|old| Cookie::parse(old.clone()).unwrap().name() != parsed.name());
            if parsed.max_age() != Some(CookieDuration::ZERO) {
                sent_cookies.push(s);
            }
        }
        assert!(
            sent_cookies.len() <= MAX_ATTEMPTS,
            "after {i}: {}",
            sent_cookies.len()
        );
    }
    assert_eq!(sent_cookies.len(), MAX_ATTEMPTS);
}

#[test]
fn own_cookies_are_stripped_from_upstream_requests() {
    let c = codec(false);
    let mut headers = HeaderMap::new();
    headers.append(
        COOKIE,
        HeaderValue::from_static(
            "theme=dark; _entrance=abc; _entrance_0=x; _entrance_attempt_q=y; app=1",
        ),
    );
    headers.append(COOKIE, HeaderValue::from_static("_entrance_1=z"));
    c.strip_own_cookies(&mut headers);
    let all: Vec<&str> = headers
        .get_all(COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(all, vec!["theme=dark; app=1"]);
    // A cookie that merely starts with our name but is not ours stays.
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_static("_entrancex=1"));
    c.strip_own_cookies(&mut headers);
    assert_eq!(headers[COOKIE], "_entrancex=1");
}

#[test]
fn clear_all_deletes_every_own_cookie_present() {
    let c = codec(false);
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_static("_entrance_0=a; _entrance_1=b; other=1; _entrance_attempt_x=c"),
    );
    let set = c.clear_all(&RequestCookies::from_headers(&headers));
    assert_eq!(set.len(), 3);
    assert!(set.iter().all(|s| s.contains("Max-Age=0")));
}

#[test]
fn short_secrets_are_refused_not_panicked_on() {
    assert!(matches!(
        Codec::new(b"short", "_entrance", false),
        Err(CookieError::ShortSecret)
    ));
}

#[test]
fn random_cookie_headers_never_panic_and_never_open() {
    use rand::{Rng, SeedableRng};
    let c = codec(false);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let alphabet: &[u8] = b"abcAZ09+/=_-;., \t%\"";
    for _ in 0..2000 {
        let len = rng.gen_range(0..200);
        let value: String = (0..len)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
            .collect();
        let header = format!("_entrance={value}; _entrance_0={value}; _entrance_attempt_x={value}");
        let Ok(hv) = HeaderValue::from_str(&header) else {
            continue;
        };
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, hv);
        let cookies = RequestCookies::from_headers(&headers);
        assert!(c.open_session(&cookies, NOW).is_none());
        assert!(c.open_attempt("x", &cookies, NOW).is_none());
        c.strip_own_cookies(&mut headers);
        // Whatever survives (fragments after a ';' in the junk) is not one of ours.
        for value in headers.get_all(COOKIE) {
            for part in value.to_str().unwrap().split(';') {
                let name = part.split_once('=').map_or(part, |(n, _)| n).trim();
                assert!(!c.is_own(name), "{name} kept in {value:?}");
            }
        }
    }
}

#[test]
fn guid_groups_are_packed_and_come_back_identical() {
    let c = codec(false);
    let mut s = session(250);
    // Mixed case or non-GUID groups are stored as they are.
    s.identity.groups = (0..250)
        .map(|i| format!("{i:08x}-0000-4000-8000-00000000abcd"))
        .collect();
    let set = c.seal_session(&s, &RequestCookies::default(), NOW).unwrap();
    let total: usize = set.iter().map(String::len).sum();
    assert!(
        total < 8000,
        "250 packed groups take {total} bytes of cookies"
    );
    assert_eq!(c.open_session(&browser_sends(&set), NOW), Some(s.clone()));
    s.identity.groups.push("Not-A-Guid".into());
    let set = c.seal_session(&s, &RequestCookies::default(), NOW).unwrap();
    assert_eq!(c.open_session(&browser_sends(&set), NOW), Some(s));
}
