use std::time::Duration;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

use super::*;
use crate::config::{SessionConfig, SessionStoreConfig};
use crate::secret::Secret;
use crate::session::{RefreshToken, Renewal};

const T0: i64 = 1_000_000;

fn config(idle: Option<u64>) -> SessionConfig {
    SessionConfig {
        secrets: vec![Secret::new(vec![7u8; 32])],
        cookie_name: "_entrance".into(),
        lifetime: Duration::from_secs(8 * 3600),
        idle_timeout: idle.map(Duration::from_secs),
        refresh: Duration::from_secs(300),
        store: SessionStoreConfig::Cookie,
    }
}

fn alice(now: i64, sid: &str) -> Session {
    let mut session = Session::new(
        crate::session::user_for_tests("o-alice"),
        Some(sid.into()),
        now,
        8 * 3600,
    );
    session.renewal = Some(Renewal::new(RefreshToken("rt-1".into()), now, 3600, 300));
    session
}

/// The request cookies a browser would send back after `set_cookies`.
fn sent_back(set_cookies: &[String]) -> RequestCookies {
    let pairs: Vec<String> = set_cookies
        .iter()
        .filter_map(|c| c.split(';').next().map(str::to_owned))
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(&pairs.join("; ")).unwrap());
    RequestCookies::from_headers(&headers)
}

async fn signed_in(sessions: &Sessions, session: &Session) -> RequestCookies {
    let set = sessions
        .start(session, &RequestCookies::default(), session.issued_at)
        .await
        .unwrap();
    sent_back(&set)
}

async fn never(_: Session) -> Result<Session, RenewError> {
    panic!("renewal was not due")
}

#[tokio::test]
async fn a_session_unused_for_the_idle_timeout_ends_and_one_in_use_does_not() {
    let sessions = Sessions::new(&config(Some(600)), false).unwrap();
    let cookies = signed_in(&sessions, &alice(T0, "sid")).await;

    // Used after 5 minutes: alive, and its last use is written back.
    let Resumed::Active { set_cookies, .. } = sessions
        .resume(&cookies, T0 + 300, false, never)
        .await
        .unwrap()
    else {
        panic!("ended while in use");
    };
    assert!(!set_cookies.is_empty(), "the last use was not recorded");
    let touched = sent_back(&set_cookies);
    // 9 minutes after that use, still alive; the untouched cookie is idle by then.
    assert!(matches!(
        sessions
            .resume(&touched, T0 + 300 + 540, false, never)
            .await
            .unwrap(),
        Resumed::Active { .. }
    ));
    assert!(matches!(
        sessions
            .resume(&cookies, T0 + 600, false, never)
            .await
            .unwrap(),
        Resumed::Ended { reason: "idle", .. }
    ));
}

#[tokio::test]
async fn without_an_idle_timeout_unchanged_sessions_write_no_cookie() {
    let sessions = Sessions::new(&config(None), false).unwrap();
    let cookies = signed_in(&sessions, &alice(T0, "sid")).await;
    let Resumed::Active { set_cookies, .. } = sessions
        .resume(&cookies, T0 + 1800, false, never)
        .await
        .unwrap()
    else {
        panic!("ended");
    };
    assert!(set_cookies.is_empty());
}

#[tokio::test]
async fn a_refused_renewal_ends_the_session_and_a_passing_fault_keeps_it() {
    let sessions = Sessions::new(&config(None), false).unwrap();
    let cookies = signed_in(&sessions, &alice(T0, "sid")).await;
    let due = T0 + 3400;
    let refused = sessions
        .resume(&cookies, due, false, |_| async {
            Err(RenewError::Refused("invalid_grant AADSTS50173".into()))
        })
        .await
        .unwrap();
    let Resumed::Ended { clear, reason } = refused else {
        panic!("kept a session whose grant was refused");
    };
    assert_eq!(reason, "renewal_refused");
    assert!(!clear.is_empty());

    // Another session of the same kind, renewed while the provider is down: kept as it is.
    let cookies = signed_in(&sessions, &alice(T0, "sid-2")).await;
    let kept = sessions
        .resume(&cookies, due, false, |_| async {
            Err(RenewError::Transient("token endpoint unreachable".into()))
        })
        .await
        .unwrap();
    assert!(matches!(kept, Resumed::Active { .. }));
}

#[tokio::test]
async fn a_renewed_session_carries_the_new_refresh_token_in_its_cookie() {
    let sessions = Sessions::new(&config(None), false).unwrap();
    let cookies = signed_in(&sessions, &alice(T0, "sid")).await;
    let due = T0 + 3400;
    let Resumed::Active {
        session,
        set_cookies,
    } = sessions
        .resume(&cookies, due, false, |mut old: Session| async move {
            old.renewal = Some(Renewal::new(RefreshToken("rt-2".into()), due, 3600, 300));
            Ok(old)
        })
        .await
        .unwrap()
    else {
        panic!("ended");
    };
    assert_eq!(session.renewal.as_ref().unwrap().refresh_token.0, "rt-2");
    let reopened = sessions.codec().open_session(&sent_back(&set_cookies), due);
    assert_eq!(
        reopened.and_then(|s| s.renewal).map(|r| r.refresh_token.0),
        Some("rt-2".into())
    );
}

#[tokio::test]
async fn front_channel_logout_ends_cookie_sessions_of_that_sid_only() {
    let sessions = Sessions::new(&config(None), false).unwrap();
    let ended = signed_in(&sessions, &alice(T0, "sid-a")).await;
    let other = signed_in(&sessions, &alice(T0, "sid-b")).await;
    assert_eq!(sessions.end_sid("sid-a", T0 + 10).await.unwrap(), None);
    assert!(matches!(
        sessions
            .resume(&ended, T0 + 20, false, never)
            .await
            .unwrap(),
        Resumed::Ended {
            reason: "signed_out",
            ..
        }
    ));
    assert!(matches!(
        sessions
            .resume(&other, T0 + 20, false, never)
            .await
            .unwrap(),
        Resumed::Active { .. }
    ));
    // A sign-in after the logout, in the same Microsoft session, is a new session.
    let later = signed_in(&sessions, &alice(T0 + 30, "sid-a")).await;
    assert!(matches!(
        sessions
            .resume(&later, T0 + 40, false, never)
            .await
            .unwrap(),
        Resumed::Active { .. }
    ));
}

#[tokio::test]
async fn revoking_a_user_needs_a_server_side_store() {
    let sessions = Sessions::new(&config(None), false).unwrap();
    assert!(matches!(
        sessions.end_user("o-alice").await,
        Err(StoreError::NotServerSide)
    ));
}
