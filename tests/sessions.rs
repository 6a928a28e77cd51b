//! Sessions that last: renewal with the rotated refresh token (once, however many requests
//! arrive at the moment it is due), a refused renewal sending the user back through sign-in,
//! secret rotation, front-channel logout by `sid`, and a large group list staying small.
//! The Redis store has its own file (`tests/redis_sessions.rs`).
#![allow(clippy::unwrap_used)]
mod support;

use std::time::Duration;

use entrance::emulator::RefreshRefusal;
use support::*;

/// The emulator's access tokens live this long in these tests, so a session is due for renewal
/// after half of it (entrance renews short-lived tokens at half life).
const SHORT_TOKEN_SECS: i64 = 4;

/// Waits until a session signed in now is due for renewal.
async fn until_renewal_is_due() {
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(SHORT_TOKEN_SECS * 1000 / 2 + 1200).unwrap(),
    ))
    .await;
}

/// A stack whose access tokens are short-lived, and Alice signed in on it.
async fn alice_with_short_tokens(options: Options) -> (Stack, Browser) {
    let stack = Stack::start(options).await;
    stack.emulator.set_access_token_lifetime(SHORT_TOKEN_SECS);
    let browser = Browser::signed_in(&stack, ALICE).await;
    (stack, browser)
}

#[tokio::test]
async fn a_session_is_renewed_before_its_token_expires_and_keeps_the_rotated_refresh_token() {
    let (stack, browser) = alice_with_short_tokens(Options::default()).await;
    assert_eq!(stack.emulator.refresh_requests(), 0, "renewed too early");

    for round in 1..=2 {
        until_renewal_is_due().await;
        let reply = browser.get(&stack.url("/anything")).await;
        assert_eq!(reply.status, 200, "round {round}: request failed\n{reply}");
        assert!(
            !reply.session_cookies_set().is_empty(),
            "round {round}: the renewed session was not written back to the browser\n{reply}"
        );
        assert_eq!(
            stack.emulator.refresh_requests(),
            round,
            "round {round}: one renewal expected"
        );
        stack.upstream.last().assert_alice_identity();
    }
    assert_eq!(
        stack.emulator.stale_refresh_token_uses(),
        0,
        "entrance renewed with an old refresh token instead of the rotated one"
    );
    // Between renewals nothing calls Microsoft.
    let before = stack.emulator.refresh_requests();
    browser.get(&stack.url("/anything")).await;
    assert_eq!(stack.emulator.refresh_requests(), before);
}

#[tokio::test]
async fn twenty_parallel_requests_at_renewal_time_make_one_token_call_and_all_succeed() {
    let (stack, browser) = alice_with_short_tokens(Options::default()).await;
    until_renewal_is_due().await;
    let cookie = browser.cookie_header(&stack.url("/")).unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut requests = Vec::new();
    for i in 0..20 {
        let request = client
            .get(stack.url(&format!("/anything?parallel={i}")))
            .header("cookie", cookie.clone())
            .header("accept", "text/html");
        requests.push(tokio::spawn(async move {
            Reply::read(request.send().await.unwrap()).await
        }));
    }
    for (i, request) in requests.into_iter().enumerate() {
        let reply = request.await.unwrap();
        assert_eq!(reply.status, 200, "parallel request {i} failed\n{reply}");
        assert!(
            !reply.session_cookies_set().is_empty(),
            "parallel request {i} did not get the renewed session\n{reply}"
        );
    }
    assert_eq!(
        stack.emulator.refresh_requests(),
        1,
        "20 requests at renewal time must share one token call"
    );
    assert_eq!(stack.upstream.count(), 21, "sign-in request plus the 20");
}

#[tokio::test]
async fn groups_read_from_graph_are_read_again_at_renewal_never_dropped() {
    let stack = Stack::default().await;
    stack.emulator.set_access_token_lifetime(SHORT_TOKEN_SECS);
    let browser = Browser::new();
    let reply = browser
        .sign_in(&stack, entrance::emulator::defaults::ERIN, "/anything")
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    let graph_calls = stack.emulator.graph_requests();
    assert!(graph_calls > 0, "overage groups were not read from Graph");
    until_renewal_is_due().await;
    let reply = browser.get(&stack.url("/anything")).await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(stack.emulator.refresh_requests(), 1);
    assert!(
        stack.emulator.graph_requests() > graph_calls,
        "the renewal did not read the groups from Graph again"
    );
    let groups = stack.upstream.last().expect_header("x-auth-request-groups");
    assert_eq!(groups.split(',').count(), 250, "groups lost at renewal");

    // Graph down at the next renewal: the session keeps the groups it has.
    stack.emulator.set_graph_available(false);
    until_renewal_is_due().await;
    let reply = browser.get(&stack.url("/anything")).await;
    assert_eq!(reply.status, 200, "{reply}");
    let groups = stack.upstream.last().expect_header("x-auth-request-groups");
    assert_eq!(
        groups.split(',').count(),
        250,
        "groups dropped when Graph failed"
    );
}

#[tokio::test]
async fn a_revoked_grant_ends_the_session_and_the_browser_signs_in_again_where_it_was() {
    let (stack, browser) = alice_with_short_tokens(Options::default()).await;
    stack
        .emulator
        .refuse_refresh_tokens(ALICE, RefreshRefusal::Revoked);
    until_renewal_is_due().await;

    let reply = browser.get(&stack.url("/anything/deep?x=1")).await;
    assert_sends_to_sign_in(&stack, &reply);
    assert!(
        reply
            .set_cookies()
            .iter()
            .any(|c| c.deletes() && is_session_cookie(&c.name)),
        "the ended session's cookie was not deleted\n{reply}"
    );
    let count = stack.upstream.count();
    // Signing in again lands on the page the user was on.
    let again = browser.sign_in(&stack, ALICE, "/anything/deep?x=1").await;
    assert_eq!(again.status, 200, "{again}");
    assert_eq!(stack.upstream.count(), count + 1);
}

#[tokio::test]
async fn an_api_call_whose_renewal_needs_mfa_gets_401_not_a_redirect() {
    let (stack, browser) = alice_with_short_tokens(Options::default()).await;
    stack
        .emulator
        .refuse_refresh_tokens(ALICE, RefreshRefusal::MfaRequired);
    until_renewal_is_due().await;
    let before = stack.upstream.count();
    let reply = api_get(&browser, &stack.url("/anything")).await;
    assert_api_unauthorized(&reply);
    assert_eq!(stack.upstream.count(), before, "the upstream was reached");
    // The session is gone for good, not retried on the next call.
    let again = api_get(&browser, &stack.url("/anything")).await;
    assert_api_unauthorized(&again);
    assert_eq!(stack.emulator.refresh_requests(), 1);
}

#[tokio::test]
async fn oauth2_refresh_renews_at_once_and_easy_auth_path_does_too() {
    let stack = Stack::default().await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    for (path, expected) in [("/oauth2/refresh", 1), ("/.auth/refresh", 2)] {
        let reply = api_get(&browser, &stack.url(path)).await;
        assert_eq!(reply.status, 200, "{path}\n{reply}");
        assert_eq!(reply.json()["renewable"], true, "{path}\n{reply}");
        assert_eq!(stack.emulator.refresh_requests(), expected, "{path}");
    }
    let anonymous = api_get(&Browser::new(), &stack.url("/oauth2/refresh")).await;
    assert_api_unauthorized(&anonymous);
}

#[tokio::test]
async fn sessions_survive_a_secret_rotation_until_the_old_secret_is_removed() {
    let old = random_session_secret();
    let new = random_session_secret();
    let stack = Stack::start(Options {
        session_secret: Some(old.clone()),
        ..Options::default()
    })
    .await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let old_cookies = browser.session_cookies(&stack.cookie_origin());

    // Step 1: the new secret is added first; sessions sealed with the old one still open.
    let rotating = stack
        .replica(Options {
            session_secret: Some(format!("[\"{new}\", \"{old}\"]")),
            ..Options::default()
        })
        .await;
    let during = Browser::new();
    during.replace_cookies(&rotating.cookie_origin(), old_cookies.clone());
    let reply = during.get(&rotating.url("/anything")).await;
    assert_eq!(
        reply.status, 200,
        "an old-secret session was refused mid-rotation\n{reply}"
    );
    // A renewal re-seals the session, now with the new secret.
    let renewed = during.get(&rotating.url("/oauth2/refresh")).await;
    assert_eq!(renewed.status, 200, "{renewed}");
    let new_cookies = during.session_cookies(&rotating.cookie_origin());
    assert_ne!(
        new_cookies, old_cookies,
        "the renewal did not re-seal the session"
    );

    // Step 2: the old secret is removed; only sessions sealed with the new one remain.
    let rotated = stack
        .replica(Options {
            session_secret: Some(new.clone()),
            ..Options::default()
        })
        .await;
    let with_old = Browser::new();
    with_old.replace_cookies(&rotated.cookie_origin(), old_cookies);
    let refused = with_old.get(&rotated.url("/anything")).await;
    assert_eq!(
        refused.status, 302,
        "an old-secret session opened after removal\n{refused}"
    );
    let with_new = Browser::new();
    with_new.replace_cookies(&rotated.cookie_origin(), new_cookies);
    let kept = with_new.get(&rotated.url("/anything")).await;
    assert_eq!(kept.status, 200, "a new-secret session was refused\n{kept}");
}

#[tokio::test]
async fn front_channel_logout_by_sid_ends_the_session_without_any_cookie() {
    let stack = Stack::default().await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let bob = Browser::signed_in(&stack, BOB).await;
    let sid = stack
        .emulator
        .sign_in_sessions(ALICE)
        .pop()
        .expect("the emulator recorded Alice's sign-in");

    // Microsoft loads the URL in a hidden iframe: no cookie of ours comes with it.
    let logout = Browser::new()
        .get(&stack.url(&format!("/oauth2/frontchannel_logout?sid={sid}")))
        .await;
    assert_eq!(logout.status, 200, "{logout}");
    let csp = logout.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains(&format!("frame-ancestors {}", stack.emulator.authority())),
        "the identity provider may not frame the logout page: {csp:?}"
    );
    assert!(logout.header("x-frame-options").is_none(), "{logout}");

    let reply = alice.get(&stack.url("/anything")).await;
    assert_sends_to_sign_in(&stack, &reply);
    let other = bob.get(&stack.url("/anything")).await;
    assert_eq!(
        other.status, 200,
        "another user's session ended too\n{other}"
    );
    // Signing in again makes a new session that the old logout does not touch.
    let again = alice.sign_in(&stack, ALICE, "/anything").await;
    assert_eq!(again.status, 200, "{again}");

    let missing = Browser::new()
        .get(&stack.url("/oauth2/frontchannel_logout"))
        .await;
    assert_eq!(missing.status, 400, "{missing}");
}

#[tokio::test]
async fn sign_out_at_microsoft_carries_the_logout_hint() {
    let stack = Stack::start(Options {
        credential_yaml: Some(
            "client_secret: ${TEST_CLIENT_SECRET}\nsign_out_at_microsoft: true".into(),
        ),
        ..Options::default()
    })
    .await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let reply = browser.get(&stack.url("/oauth2/sign_out")).await;
    let location = reply.expect_redirect();
    if location.starts_with(&stack.emulator.authority()) {
        let url = url::Url::parse(&location).unwrap();
        let hint = url
            .query_pairs()
            .find(|(k, _)| k == "logout_hint")
            .map(|(_, v)| v.into_owned());
        assert!(
            hint.is_some_and(|h| h.starts_with("O.")),
            "end_session without the login_hint claim as logout_hint: {location}"
        );
    } else {
        panic!("sign-out did not go to Microsoft's end_session endpoint: {location}");
    }
    assert!(
        reply
            .set_cookies()
            .iter()
            .any(|c| c.deletes() && is_session_cookie(&c.name)),
        "{reply}"
    );
}

#[tokio::test]
async fn a_user_in_200_groups_reaches_the_upstream_in_under_8_kb_of_headers() {
    let mut emulator = entrance::emulator::EmulatorConfig::default();
    let groups: Vec<String> = entrance::emulator::defaults::erin_groups()
        .into_iter()
        .take(200)
        .collect();
    let user = emulator
        .users
        .iter_mut()
        .find(|u| u.username.eq_ignore_ascii_case(ALICE))
        .unwrap();
    user.groups = groups.clone();
    let stack = Stack::start(Options {
        emulator: Some(emulator),
        ..Options::default()
    })
    .await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let cookie = browser.cookie_header(&stack.url("/")).unwrap();
    let reply = browser.get(&stack.url("/anything")).await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = stack.upstream.last();
    let forwarded = seen.expect_header("x-auth-request-groups");
    assert_eq!(forwarded.split(',').count(), 200, "groups lost\n{seen}");
    assert!(
        seen.cookies()
            .iter()
            .all(|(name, _)| !is_session_cookie(name)),
        "entrance's own cookies were forwarded\n{seen}"
    );
    // What the upstream receives: request line aside, every header line.
    let header_bytes: usize = seen
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len() + 4)
        .sum();
    assert!(
        header_bytes < 8 * 1024,
        "{header_bytes} bytes of headers upstream (nginx and many servers refuse over 8 KB)\n{seen}"
    );
    // And what the browser sends entrance stays within common proxy limits too.
    assert!(
        cookie.len() < 8 * 1024,
        "the browser sends {} bytes of cookies for 200 groups",
        cookie.len()
    );
}
