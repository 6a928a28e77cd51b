#![allow(clippy::unwrap_used)]
mod support;

use std::time::Duration;

use entrance::emulator::defaults::{
    ALICE_OID, ALL_STAFF_GROUP, CLIENT_ID, CONTOSO_TID, ENGINEERING_GROUP,
};
use support::*;
use tokio::net::TcpListener;

#[tokio::test]
async fn browser_navigation_without_session_is_sent_to_microsoft_sign_in() {
    let stack = Stack::default().await;
    let browser = Browser::new();

    let reply = browser.get(&stack.url("/anything")).await;
    let authorize = expect_authorize_redirect(&stack, &reply);

    let param = |name: &str| match query_param(&authorize, name) {
        Some(value) => value,
        None => panic!("authorize URL has no {name}: {authorize}"),
    };
    assert_eq!(param("client_id"), CLIENT_ID);
    assert_eq!(param("redirect_uri"), stack.redirect_uri());
    assert_eq!(param("response_type"), "code");
    assert_eq!(param("code_challenge_method"), "S256");
    assert!(!param("code_challenge").is_empty());
    assert!(!param("state").is_empty());
    assert!(!param("nonce").is_empty());
    assert!(
        param("scope").split(' ').any(|s| s == "openid"),
        "scope lacks openid: {authorize}"
    );
    assert!(
        reply.set_cookies().iter().any(|c| !c.deletes()),
        "no sign-in attempt cookie was set\n{reply}"
    );
    assert!(
        reply.session_cookies_set().is_empty(),
        "a session cookie was set before sign-in\n{reply}"
    );
    assert_eq!(stack.upstream.count(), 0, "the upstream was reached");
}

#[tokio::test]
async fn full_sign_in_returns_to_the_original_url_and_upstream_sees_identity() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let path = "/anything?q=1&r=two";

    let authorize = browser.begin_sign_in(&stack, path).await;
    let callback = browser.authorize(&authorize, ALICE).await;
    assert!(
        callback.starts_with(&format!("{}?", stack.redirect_uri())),
        "emulator did not come back to the callback: {callback}"
    );

    let reply = browser.get(&callback).await;
    assert_eq!(reply.status, 302, "callback must redirect\n{reply}");
    assert_eq!(reply.location().as_deref(), Some(path), "{reply}");
    let set = reply.session_cookies_set();
    assert!(!set.is_empty(), "no session cookie\n{reply}");
    for cookie in &set {
        assert!(
            cookie.has("httponly"),
            "session cookie not HttpOnly: {}",
            cookie.raw
        );
        assert_eq!(
            cookie.attribute("samesite").map(|s| s.to_ascii_lowercase()),
            Some("lax".to_string()),
            "session cookie not SameSite=Lax: {}",
            cookie.raw
        );
        assert_eq!(
            cookie.attribute("path"),
            Some("/"),
            "cookie path: {}",
            cookie.raw
        );
    }
    // The attempt cookie is cleared: only session cookies remain.
    let left: Vec<String> = browser
        .cookies(&stack.cookie_origin())
        .keys()
        .filter(|name| !is_session_cookie(name))
        .cloned()
        .collect();
    assert!(
        left.is_empty(),
        "cookies other than the session remain after the callback: {left:?}\n{reply}"
    );

    let landing = browser.get(&stack.url(path)).await;
    assert_eq!(landing.status, 200, "{landing}");
    let seen = stack.upstream.last();
    assert_eq!(seen.target, path, "{seen}");
    seen.assert_alice_identity();
    assert!(
        seen.all("x-forwarded-for")
            .iter()
            .any(|v| v.contains("127.0.0.1")),
        "X-Forwarded-For lacks the client address\n{seen}"
    );
    assert_eq!(seen.expect_header("x-forwarded-proto"), "http", "{seen}");
    assert_eq!(
        seen.expect_header("x-forwarded-host"),
        stack.addr().to_string(),
        "{seen}"
    );
}

#[tokio::test]
async fn each_sign_in_attempt_has_its_own_state_nonce_and_verifier() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let first = browser.begin_sign_in(&stack, "/a").await;
    let second = browser.begin_sign_in(&stack, "/b").await;
    for name in ["state", "nonce", "code_challenge"] {
        assert_ne!(
            query_param(&first, name),
            query_param(&second, name),
            "{name} repeated between attempts"
        );
    }
}

#[tokio::test]
async fn two_tabs_signing_in_at_once_both_succeed() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let tab_a = browser.begin_sign_in(&stack, "/anything?tab=a").await;
    let tab_b = browser.begin_sign_in(&stack, "/anything?tab=b").await;
    let callback_a = browser.authorize(&tab_a, ALICE).await;
    let callback_b = browser.authorize(&tab_b, ALICE).await;

    let reply_b = browser.get(&callback_b).await;
    assert_eq!(reply_b.status, 302, "{reply_b}");
    assert_eq!(
        reply_b.location().as_deref(),
        Some("/anything?tab=b"),
        "{reply_b}"
    );
    let reply_a = browser.get(&callback_a).await;
    assert_eq!(reply_a.status, 302, "{reply_a}");
    assert_eq!(
        reply_a.location().as_deref(),
        Some("/anything?tab=a"),
        "{reply_a}"
    );

    let landing = browser.get(&stack.url("/anything?tab=a")).await;
    assert_eq!(landing.status, 200, "{landing}");
}

#[tokio::test]
async fn start_endpoint_begins_sign_in_and_lands_on_rd() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let rd = "/anything?from=start";
    let reply = browser
        .get(&stack.url(&format!("/oauth2/start?rd={}", encode(rd))))
        .await;
    let authorize = expect_authorize_redirect(&stack, &reply);
    let callback = browser.authorize(&authorize, ALICE).await;
    let reply = browser.get(&callback).await;
    assert_eq!(reply.status, 302, "{reply}");
    assert_eq!(reply.location().as_deref(), Some(rd), "{reply}");
    let landing = browser.get(&stack.url(rd)).await;
    assert_eq!(landing.status, 200, "{landing}");
    assert_eq!(stack.upstream.last().target, rd);
}

#[tokio::test]
async fn sign_out_clears_the_session_and_shows_the_signed_out_page() {
    let stack = Stack::default().await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let before = browser.session_cookies(&stack.cookie_origin());
    assert!(!before.is_empty());

    let reply = browser.get(&stack.url("/oauth2/sign_out")).await;
    assert_eq!(reply.status, 302, "{reply}");
    assert_eq!(
        reply.location().as_deref(),
        Some("/oauth2/signed_out"),
        "{reply}"
    );
    for name in before.keys() {
        assert!(
            reply
                .set_cookies()
                .iter()
                .any(|c| &c.name == name && c.deletes()),
            "sign-out did not clear {name}\n{reply}"
        );
    }
    assert!(
        browser.session_cookies(&stack.cookie_origin()).is_empty(),
        "session cookies survive sign-out"
    );

    let page = browser.get(&stack.url("/oauth2/signed_out")).await;
    assert_eq!(page.status, 200, "{page}");
    assert!(page.is_html(), "{page}");

    let again = browser.get(&stack.url("/anything")).await;
    assert_sends_to_sign_in(&stack, &again);
}

#[tokio::test]
async fn sign_out_with_a_safe_rd_redirects_there() {
    let stack = Stack::default().await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let reply = browser
        .get(&stack.url(&format!("/oauth2/sign_out?rd={}", encode("/public/bye"))))
        .await;
    assert_eq!(reply.status, 302, "{reply}");
    assert_eq!(reply.location().as_deref(), Some("/public/bye"), "{reply}");
    assert!(browser.session_cookies(&stack.cookie_origin()).is_empty());
}

#[tokio::test]
async fn userinfo_returns_the_session_identity() {
    let stack = Stack::default().await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let reply = api_get(&browser, &stack.url("/oauth2/userinfo")).await;
    assert_eq!(reply.status, 200, "{reply}");
    let json = reply.json();
    assert_eq!(json["oid"], ALICE_OID, "{reply}");
    assert_eq!(json["tid"], CONTOSO_TID, "{reply}");
    assert_eq!(json["preferred_username"], ALICE, "{reply}");
    assert_eq!(json["email"], ALICE, "{reply}");
    assert!(
        json["sub"].as_str().is_some_and(|s| !s.is_empty()),
        "{reply}"
    );
    assert!(
        json["name"].as_str().is_some_and(|s| !s.is_empty()),
        "{reply}"
    );
    let groups: Vec<&str> = json["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("groups is not an array\n{reply}"))
        .iter()
        .filter_map(|g| g.as_str())
        .collect();
    assert!(groups.contains(&ENGINEERING_GROUP), "{reply}");
    assert!(groups.contains(&ALL_STAFF_GROUP), "{reply}");
    assert_eq!(json["roles"], serde_json::json!(["Admin"]), "{reply}");
}

#[tokio::test]
async fn userinfo_without_a_session_is_401_json() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let reply = browser.get(&stack.url("/oauth2/userinfo")).await;
    assert_eq!(reply.status, 401, "{reply}");
    assert!(
        reply.content_type().starts_with("application/json"),
        "{reply}"
    );
    let _ = reply.json();
}

#[tokio::test]
async fn auth_endpoint_answers_202_with_identity_headers_when_signed_in() {
    let stack = Stack::default().await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let before = stack.upstream.count();
    let reply = browser.get(&stack.url("/oauth2/auth")).await;
    assert_eq!(reply.status, 202, "{reply}");
    assert_eq!(
        reply.header("x-auth-request-user").as_deref(),
        Some(ALICE),
        "{reply}"
    );
    assert_eq!(
        reply.header("x-auth-request-email").as_deref(),
        Some(ALICE),
        "{reply}"
    );
    assert_eq!(
        reply.header("x-auth-request-tid").as_deref(),
        Some(CONTOSO_TID),
        "{reply}"
    );
    assert_eq!(
        reply.header("x-auth-request-oid").as_deref(),
        Some(ALICE_OID),
        "{reply}"
    );
    assert_eq!(
        stack.upstream.count(),
        before,
        "/oauth2/auth must not proxy"
    );
}

#[tokio::test]
async fn auth_endpoint_answers_401_without_a_session() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let reply = browser.get(&stack.url("/oauth2/auth")).await;
    assert_eq!(reply.status, 401, "{reply}");
    // Not a redirect (nginx treats a 3xx from the check as an error), but where sign-in starts.
    assert_eq!(
        reply.location().as_deref(),
        Some("/oauth2/start?rd=%2F"),
        "{reply}"
    );
    assert!(reply.header("x-auth-request-user").is_none(), "{reply}");
}

#[tokio::test]
async fn healthz_and_readyz_answer_200_when_ready() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    for path in ["/healthz", "/readyz"] {
        let reply = browser.get(&stack.url(path)).await;
        assert_eq!(reply.status, 200, "{reply}");
    }
    assert_eq!(stack.upstream.count(), 0);
}

#[tokio::test]
async fn readyz_is_503_until_discovery_loads() {
    // The emulator's port is bound but not served yet: discovery cannot load until it starts.
    let emulator_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = format!("http://{}", emulator_listener.local_addr().unwrap());
    let upstream = Upstream::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let options = Options::default();
    let yaml = options.yaml(
        port,
        &format!("http://{}", upstream.addr),
        &authority,
        &random_session_secret(),
    );
    let config = load_config(&yaml, &options.resolved_client_secret());
    let gateway = tokio::time::timeout(
        Duration::from_secs(20),
        entrance::gateway::start(config, listener),
    )
    .await
    .expect("gateway::start must not wait for the identity provider")
    .unwrap();
    let origin = format!("http://{}", gateway.addr());
    let browser = Browser::new();

    let health = browser.get(&format!("{origin}/healthz")).await;
    assert_eq!(health.status, 200, "{health}");
    let ready = browser.get(&format!("{origin}/readyz")).await;
    assert_eq!(ready.status, 503, "readyz before discovery loaded\n{ready}");

    let _emulator = start_emulator_on(emulator_listener).await;
    wait_ready(&format!("{origin}/readyz")).await;
}

#[tokio::test]
async fn api_calls_without_a_session_get_401_json_never_a_redirect() {
    let stack = Stack::default().await;
    let browser = Browser::new();

    let json = api_get(&browser, &stack.url("/anything")).await;
    assert_api_unauthorized(&json);

    let xhr = browser
        .send(
            browser
                .request(reqwest::Method::GET, &stack.url("/anything"))
                .header("x-requested-with", "XMLHttpRequest"),
        )
        .await;
    assert_api_unauthorized(&xhr);

    let post = browser
        .send(
            browser
                .request(reqwest::Method::POST, &stack.url("/anything"))
                .body("a=1"),
        )
        .await;
    assert_api_unauthorized(&post);

    assert_eq!(stack.upstream.count(), 0, "the upstream was reached");
}

#[tokio::test]
async fn new_sign_ins_work_after_microsoft_rotates_its_keys() {
    let stack = Stack::default().await;
    let first = Browser::signed_in(&stack, ALICE).await;

    stack.emulator.rotate_keys();

    let second = Browser::new();
    let reply = second.sign_in(&stack, BOB, "/anything").await;
    assert_eq!(
        reply.status, 200,
        "sign-in after key rollover failed\n{reply}"
    );
    assert_eq!(
        stack.upstream.last().expect_header("x-auth-request-user"),
        BOB
    );

    // The earlier session does not depend on the signing keys.
    let reply = first.get(&stack.url("/anything")).await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(
        stack.upstream.last().expect_header("x-auth-request-user"),
        ALICE
    );
}

#[tokio::test]
async fn personal_account_signs_in_when_tenant_is_common() {
    // Personal accounts pass only when their tenant is listed next to "*".
    let stack = Stack::start(Options {
        tenant: "common".to_string(),
        allowed_tenants: vec![
            "*".to_string(),
            entrance::emulator::defaults::CONSUMERS_TID.to_string(),
        ],
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let reply = browser.sign_in(&stack, DAVE, "/anything").await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = stack.upstream.last();
    assert_eq!(seen.expect_header("x-auth-request-user"), DAVE, "{seen}");
    assert_eq!(
        seen.expect_header("x-auth-request-tid"),
        entrance::emulator::defaults::CONSUMERS_TID,
        "{seen}"
    );
}

#[tokio::test]
async fn the_optional_interstitial_offers_a_sign_in_button_that_starts_sign_in() {
    let stack = Stack::start(Options {
        extra_yaml: "ui:\n  sign_in_page: true\n  title: Contoso Portal\n".to_string(),
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let page = browser.get(&stack.url("/reports?year=2026")).await;
    assert_eq!(page.status, 200, "{page}");
    assert!(page.body.contains("Sign in with Microsoft"), "{page}");
    assert!(
        page.body.contains("Contoso Portal"),
        "branding missing\n{page}"
    );
    let href = "/oauth2/start?rd=%2Freports%3Fyear%3D2026";
    assert!(
        page.body.contains(href),
        "the button does not start sign-in for this page\n{page}"
    );
    let start = browser.get(&stack.url(href)).await;
    assert_eq!(start.status, 302, "{start}");
    assert!(
        start
            .header("location")
            .unwrap_or_default()
            .starts_with(&stack.emulator.authority()),
        "{start}"
    );
}
