#![allow(clippy::unwrap_used)]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::*;

/// The browser's cookies do not make a session: navigation goes to sign-in, API calls get 401,
/// userinfo is 401, nothing reaches the upstream, and nothing is a 500.
async fn assert_no_session(stack: &Stack, browser: &Browser, what: &str) {
    let before = stack.upstream.count();
    let nav = browser.get(&stack.url("/anything")).await;
    assert!(nav.status != 500, "{what}: 500 for a bad session\n{nav}");
    if nav.status != 302 {
        panic!("{what}: navigation was not sent to sign-in\n{nav}");
    }
    assert_sends_to_sign_in(stack, &nav);
    let api = api_get(browser, &stack.url("/anything")).await;
    assert!(api.status != 500, "{what}: 500 for a bad session\n{api}");
    assert_api_unauthorized(&api);
    let userinfo = api_get(browser, &stack.url("/oauth2/userinfo")).await;
    assert_eq!(userinfo.status, 401, "{what}: userinfo\n{userinfo}");
    let auth = browser.get(&stack.url("/oauth2/auth")).await;
    assert_eq!(auth.status, 401, "{what}: /oauth2/auth\n{auth}");
    assert_eq!(
        stack.upstream.count(),
        before,
        "{what}: the upstream was reached without a valid session"
    );
}

/// A signed-in browser and its session cookies (there is at least one).
async fn signed_in(stack: &Stack) -> (Browser, BTreeMap<String, String>) {
    let browser = Browser::signed_in(stack, ALICE).await;
    let cookies = browser.session_cookies(&stack.cookie_origin());
    assert!(!cookies.is_empty(), "no session cookie after sign-in");
    (browser, cookies)
}

/// `value` with the character in the middle replaced by another of the same alphabet.
fn flip_middle(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    assert!(!chars.is_empty(), "empty cookie value");
    let mid = chars.len() / 2;
    chars[mid] = if chars[mid] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn session_cookie_with_a_flipped_character_is_no_session() {
    let stack = Stack::default().await;
    let (browser, cookies) = signed_in(&stack).await;
    for (name, value) in &cookies {
        let tampered = Browser::new();
        tampered.replace_cookies(&stack.cookie_origin(), cookies.clone());
        tampered.set_cookie(&stack.cookie_origin(), name, &flip_middle(value));
        assert_no_session(&stack, &tampered, &format!("{name} flipped")).await;
    }
    // The untouched cookies still work, so the refusals above are about the damage.
    let reply = browser.get(&stack.url("/anything")).await;
    assert_eq!(reply.status, 200, "{reply}");
}

#[tokio::test]
async fn truncated_session_cookie_is_no_session() {
    let stack = Stack::default().await;
    let (_browser, cookies) = signed_in(&stack).await;
    for (name, value) in &cookies {
        for keep in [value.len() / 2, value.len().saturating_sub(1), 1, 0] {
            let tampered = Browser::new();
            tampered.replace_cookies(&stack.cookie_origin(), cookies.clone());
            tampered.set_cookie(&stack.cookie_origin(), name, &value[..keep]);
            assert_no_session(&stack, &tampered, &format!("{name} cut to {keep} chars")).await;
        }
    }
}

#[tokio::test]
async fn session_cookie_sealed_with_another_secret_is_no_session() {
    let stack = Stack::default().await;
    let elsewhere = Stack::default().await;
    let (_browser, foreign) = signed_in(&elsewhere).await;

    let browser = Browser::new();
    browser.replace_cookies(&stack.cookie_origin(), foreign);
    assert_no_session(&stack, &browser, "cookie from another secret").await;
}

#[tokio::test]
async fn garbage_session_cookies_are_no_session() {
    let stack = Stack::default().await;
    let long = "A".repeat(4000);
    let values = [
        "",
        "x",
        "%%%",
        "null",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
        "////////////////////////////////////////////////",
        long.as_str(),
    ];
    for name in ["_entrance", "_entrance_0", "_entrance_1"] {
        for value in values {
            let browser = Browser::new();
            browser.set_cookie(&stack.cookie_origin(), name, value);
            let shown: String = value.chars().take(20).collect();
            assert_no_session(&stack, &browser, &format!("{name}={shown}")).await;
        }
    }
}

#[tokio::test]
async fn session_cookie_chunks_mixed_from_two_sessions_are_no_session() {
    let stack = Stack::default().await;
    let (_a, first) = signed_in(&stack).await;
    let (_b, second) = signed_in(&stack).await;
    if first.len() < 2 {
        println!("note: the session fits one cookie; nothing to mix");
        return;
    }
    let mut mixed = first.clone();
    let (name, value) = second.iter().last().unwrap();
    mixed.insert(name.clone(), value.clone());
    let browser = Browser::new();
    browser.replace_cookies(&stack.cookie_origin(), mixed);
    assert_no_session(&stack, &browser, "chunks of two sessions").await;
}

#[tokio::test]
async fn expired_session_is_no_session() {
    let stack = Stack::start(Options {
        lifetime: "2s".to_string(),
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let authorize = browser.begin_sign_in(&stack, "/anything").await;
    let callback = browser.authorize(&authorize, ALICE).await;
    let reply = browser.get(&callback).await;
    assert_eq!(reply.status, 302, "{reply}");
    assert!(!reply.session_cookies_set().is_empty(), "{reply}");
    let userinfo = api_get(&browser, &stack.url("/oauth2/userinfo")).await;
    assert_eq!(
        userinfo.status, 200,
        "fresh session not accepted\n{userinfo}"
    );

    // The jar keeps the cookie whatever its Max-Age said: expiry must be enforced by entrance.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!browser.session_cookies(&stack.cookie_origin()).is_empty());
    assert_no_session(&stack, &browser, "expired session").await;
}
