#![allow(clippy::unwrap_used)]
mod support;

use entrance::emulator::Tamper;
use support::*;

/// Whether the page tells the operator to use the client secret's value: "secret value" or
/// "secret's value" in the text a person reads (tags removed, entities decoded, any case).
fn explains_secret_value(body: &str) -> bool {
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&apos;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .to_lowercase();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text.contains("secret value") || text.contains("secret's value")
}

/// A refused callback: an error page at `expected` status, no session, and the browser is still
/// sent to sign-in afterwards.
async fn assert_callback_refused(stack: &Stack, browser: &Browser, reply: &Reply, expected: u16) {
    assert_eq!(reply.status, expected, "callback must be refused\n{reply}");
    assert!(
        reply.is_html(),
        "refused callback is not an HTML page\n{reply}"
    );
    assert!(
        reply.session_cookies_set().is_empty(),
        "a refused callback set a session cookie\n{reply}"
    );
    assert!(
        browser.session_cookies(&stack.cookie_origin()).is_empty(),
        "the browser holds a session after a refused callback"
    );
    let next = browser.get(&stack.url("/anything")).await;
    assert_sends_to_sign_in(stack, &next);
    assert_eq!(stack.upstream.count(), 0, "the upstream was reached");
}

#[tokio::test]
async fn callback_whose_state_matches_no_attempt_is_400() {
    let stack = Stack::default().await;
    let victim = Browser::new();
    let authorize = victim.begin_sign_in(&stack, "/anything").await;
    let callback = victim.authorize(&authorize, ALICE).await;

    // Login CSRF: the attacker's callback URL opened in a browser that never started it.
    let other = Browser::new();
    let reply = other.get(&callback).await;
    assert_callback_refused(&stack, &other, &reply, 400).await;
}

#[tokio::test]
async fn callback_with_an_altered_state_is_400() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let authorize = browser.begin_sign_in(&stack, "/anything").await;
    let callback = browser.authorize(&authorize, ALICE).await;
    let mut url = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(n, v)| {
            let v = if n == "state" {
                format!("{v}x")
            } else {
                v.into_owned()
            };
            (n.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let tokens_before = stack.emulator.token_requests();

    let reply = browser.get(url.as_str()).await;
    assert_callback_refused(&stack, &browser, &reply, 400).await;
    assert_eq!(
        stack.emulator.token_requests(),
        tokens_before,
        "the code was redeemed although state did not match"
    );
}

#[tokio::test]
async fn replayed_callback_is_refused() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let authorize = browser.begin_sign_in(&stack, "/anything").await;
    let callback = browser.authorize(&authorize, ALICE).await;
    // Everything a thief could have copied just before the callback: URL and attempt cookie.
    let stolen = browser.cookies(&stack.cookie_origin());

    let first = browser.get(&callback).await;
    assert_eq!(first.status, 302, "{first}");
    assert!(!first.session_cookies_set().is_empty(), "{first}");

    let thief = Browser::new();
    thief.replace_cookies(&stack.cookie_origin(), stolen);
    let replay = thief.get(&callback).await;
    assert!(replay.status >= 400, "replayed callback accepted\n{replay}");
    assert!(replay.is_html(), "{replay}");
    assert!(
        replay.session_cookies_set().is_empty(),
        "a replayed callback set a session cookie\n{replay}"
    );
    let next = thief.get(&stack.url("/anything")).await;
    assert_sends_to_sign_in(&stack, &next);

    // Without the attempt cookie the URL alone is worth nothing either.
    let stranger = Browser::new();
    let reply = stranger.get(&callback).await;
    assert_callback_refused(&stack, &stranger, &reply, 400).await;
}

/// The emulator damages the next ID token; entrance must refuse it with 401 and no session.
async fn tampered_id_token_is_refused(tamper: Tamper) {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let authorize = browser.begin_sign_in(&stack, "/anything").await;
    let callback = browser.authorize(&authorize, ALICE).await;
    stack.emulator.tamper_next_id_token(tamper);
    let tokens_before = stack.emulator.token_requests();

    let reply = browser.get(&callback).await;
    assert!(
        stack.emulator.token_requests() > tokens_before,
        "{tamper:?}: entrance never redeemed the code, so the ID token was not tested"
    );
    assert_callback_refused(&stack, &browser, &reply, 401).await;

    // The damage applied once: a clean sign-in works on the same stack.
    let clean = Browser::new();
    let reply = clean.sign_in(&stack, ALICE, "/anything").await;
    assert_eq!(
        reply.status, 200,
        "{tamper:?}: clean sign-in after\n{reply}"
    );
}

#[tokio::test]
async fn id_token_with_wrong_audience_is_refused() {
    tampered_id_token_is_refused(Tamper::WrongAudience).await;
}

#[tokio::test]
async fn id_token_with_wrong_issuer_is_refused() {
    tampered_id_token_is_refused(Tamper::WrongIssuer).await;
}

#[tokio::test]
async fn id_token_whose_issuer_names_another_tenant_than_tid_is_refused() {
    tampered_id_token_is_refused(Tamper::IssuerTenantMismatch).await;
}

#[tokio::test]
async fn expired_id_token_is_refused() {
    tampered_id_token_is_refused(Tamper::Expired).await;
}

#[tokio::test]
async fn id_token_not_yet_valid_is_refused() {
    tampered_id_token_is_refused(Tamper::NotYetValid).await;
}

#[tokio::test]
async fn id_token_signed_by_an_unknown_key_is_refused() {
    tampered_id_token_is_refused(Tamper::UnknownKey).await;
}

#[tokio::test]
async fn id_token_with_alg_none_is_refused() {
    tampered_id_token_is_refused(Tamper::AlgNone).await;
}

#[tokio::test]
async fn id_token_with_wrong_nonce_is_refused() {
    tampered_id_token_is_refused(Tamper::WrongNonce).await;
}

#[tokio::test]
async fn id_token_without_tid_is_refused() {
    tampered_id_token_is_refused(Tamper::MissingTid).await;
}

#[tokio::test]
async fn microsoft_error_on_the_callback_explains_the_code_without_echoing_it() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let authorize = browser.begin_sign_in(&stack, "/anything").await;
    let state = query_param(&authorize, "state").unwrap();
    let description = "AADSTS7000215: Invalid client secret provided. \
                       <script>alert(1)</script> marker-e7a1c";
    let url = format!(
        "{}?error=invalid_client&error_description={}&state={}",
        stack.redirect_uri(),
        encode(description),
        encode(&state)
    );

    let reply = browser.get(&url).await;
    assert!(reply.status >= 400, "{reply}");
    assert!(reply.is_html(), "{reply}");
    assert!(
        reply.body.contains("AADSTS7000215"),
        "page does not name the code\n{reply}"
    );
    assert!(
        explains_secret_value(&reply.body),
        "page does not explain the fix (use the secret value)\n{reply}"
    );
    assert!(!reply.body.contains("<script>alert(1)</script>"), "{reply}");
    assert!(
        !reply.body.contains("marker-e7a1c"),
        "page echoes error_description\n{reply}"
    );
    assert!(reply.session_cookies_set().is_empty(), "{reply}");
    let next = browser.get(&stack.url("/anything")).await;
    assert_sends_to_sign_in(&stack, &next);
}

#[tokio::test]
async fn wrong_client_secret_shows_the_secret_value_hint() {
    let stack = Stack::start(Options {
        client_secret: Some("00000000-1111-2222-3333-444444444444".to_string()),
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let authorize = browser.begin_sign_in(&stack, "/anything").await;
    let callback = browser.authorize(&authorize, ALICE).await;

    let reply = browser.get(&callback).await;
    assert!(reply.status >= 400, "{reply}");
    assert!(reply.is_html(), "{reply}");
    assert!(
        reply.body.contains("AADSTS7000215"),
        "page does not name the code\n{reply}"
    );
    assert!(
        explains_secret_value(&reply.body),
        "page does not explain the fix (use the secret value)\n{reply}"
    );
    assert!(
        !reply.body.contains("00000000-1111-2222-3333-444444444444"),
        "page shows the configured secret\n{reply}"
    );
    assert!(reply.session_cookies_set().is_empty(), "{reply}");
    let next = browser.get(&stack.url("/anything")).await;
    assert_sends_to_sign_in(&stack, &next);
}
