#![allow(clippy::unwrap_used)]
mod support;

use support::*;

/// Identity headers a client tries to smuggle in, in the spellings an upstream may treat as the
/// same header. Every value contains "forged".
const FORGED: &[(&str, &str)] = &[
    ("X-Auth-Request-User", "forged-admin"),
    ("x-auth-request-user", "forged-admin-2"),
    ("X_Auth_Request_User", "forged-admin-3"),
    ("X-AUTH-REQUEST-EMAIL", "forged@evil.example"),
    ("X-Auth-Request-Preferred_Username", "forged-admin-4"),
    ("X-Auth-Request-Groups", "forged-group"),
    ("X_Auth_Request_Roles", "forged-role"),
    ("X-Auth-Request-Oid", "forged-oid"),
    ("x-auth-request-tid", "forged-tid"),
    ("X-Forwarded-User", "forged-admin-5"),
    ("X-Forwarded-Email", "forged@evil.example"),
    ("x_forwarded_email", "forged-2@evil.example"),
];

async fn send_forged(stack: &Stack, browser: &Browser, path: &str) -> Reply {
    let mut request = browser.request(reqwest::Method::GET, &stack.url(path));
    for (name, value) in FORGED {
        request = request.header(*name, *value);
    }
    browser.send(request).await
}

fn assert_nothing_forged(seen: &Recorded) {
    for (name, value) in &seen.headers {
        assert!(
            !value.contains("forged"),
            "a forged header reached the upstream as {name}: {value}\n{seen}"
        );
        let canonical = canonical_header_name(name);
        if IDENTITY_HEADERS.contains(&canonical.as_str()) {
            assert_eq!(
                name, &canonical,
                "an identity header reached the upstream in a client's spelling\n{seen}"
            );
        }
    }
}

#[tokio::test]
async fn forged_identity_headers_never_reach_the_upstream_on_protected_routes() {
    let stack = Stack::default().await;
    let browser = Browser::signed_in(&stack, ALICE).await;

    let reply = send_forged(&stack, &browser, "/anything").await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = stack.upstream.last();
    assert_nothing_forged(&seen);
    seen.assert_alice_identity();
}

#[tokio::test]
async fn forged_identity_headers_never_reach_the_upstream_on_public_routes() {
    let stack = Stack::default().await;
    let browser = Browser::new();

    let reply = send_forged(&stack, &browser, "/public/page").await;
    assert_eq!(
        reply.status, 200,
        "a public route needs no sign-in\n{reply}"
    );
    let seen = stack.upstream.last();
    assert_eq!(seen.target, "/public/page", "{seen}");
    assert_nothing_forged(&seen);
    for (name, _) in &seen.headers {
        assert!(
            !IDENTITY_HEADERS.contains(&canonical_header_name(name).as_str()),
            "identity header {name} on a public route without a session\n{seen}"
        );
    }

    // Signed in, a public route still never passes on what the client forged.
    let signed_in = Browser::signed_in(&stack, ALICE).await;
    let reply = send_forged(&stack, &signed_in, "/public/page").await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_nothing_forged(&stack.upstream.last());
}

#[tokio::test]
async fn forged_identity_headers_are_ignored_without_a_session() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let reply = send_forged(&stack, &browser, "/anything").await;
    assert_sends_to_sign_in(&stack, &reply);
    assert_eq!(stack.upstream.count(), 0);
}

#[tokio::test]
async fn own_cookies_are_removed_from_the_cookie_header_sent_upstream() {
    let stack = Stack::default().await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    // A second sign-in attempt leaves an attempt cookie beside the session.
    let start = browser.get(&stack.url("/oauth2/start?rd=%2Fother")).await;
    expect_authorize_redirect(&stack, &start);
    let own: Vec<String> = browser
        .cookies(&stack.cookie_origin())
        .keys()
        .cloned()
        .collect();
    assert!(
        own.iter().any(|name| !is_session_cookie(name)),
        "no attempt cookie beside the session: {own:?}"
    );
    browser.set_cookie(&stack.cookie_origin(), "theme", "dark");
    browser.set_cookie(&stack.cookie_origin(), "app_session", "abc123");

    let reply = browser.get(&stack.url("/anything")).await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = stack.upstream.last();
    let mut cookies = seen.cookies();
    cookies.sort();
    assert_eq!(
        cookies,
        vec![
            ("app_session".to_string(), "abc123".to_string()),
            ("theme".to_string(), "dark".to_string())
        ],
        "the upstream must receive the app's cookies and none of entrance's ({own:?})\n{seen}"
    );
}

#[tokio::test]
async fn no_cookie_header_reaches_the_upstream_when_only_entrance_cookies_were_sent() {
    let stack = Stack::default().await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let reply = browser.get(&stack.url("/anything")).await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = stack.upstream.last();
    assert!(
        seen.cookies().is_empty(),
        "entrance's cookies reached the upstream\n{seen}"
    );
}
