//! Forwarding headers are believed only from `trusted_proxies`: the client IP, scheme and host,
//! and for forward-auth checks (nginx `auth_request`, Traefik `forwardAuth`, Envoy `ext_authz`)
//! the original method and URI, so per-route policy applies to the real request.
#![allow(clippy::unwrap_used)]
mod support;

use support::*;

/// A stack with a denied `/admin/` route; `trusted` lists `trusted_proxies` (the test client
/// connects from 127.0.0.1).
async fn stack(trusted: &[&str]) -> Stack {
    Stack::start(Options {
        routes: vec!["{path: /admin/, deny: true}".into()],
        extra_yaml: if trusted.is_empty() {
            String::new()
        } else {
            format!(
                "trusted_proxies: {}\n",
                serde_json::to_string(trusted).unwrap()
            )
        },
        ..Options::default()
    })
    .await
}

async fn check(browser: &Browser, stack: &Stack, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = browser.request(reqwest::Method::GET, &stack.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    browser.send(request).await
}

#[tokio::test]
async fn an_untrusted_caller_cannot_choose_the_route_a_check_is_judged_by() {
    let stack = stack(&[]).await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let reply = check(
        &alice,
        &stack,
        "/oauth2/auth",
        &[("x-original-uri", "/admin/")],
    )
    .await;
    assert_eq!(
        reply.status, 202,
        "X-Original-URI from an untrusted peer must be ignored\n{reply}"
    );
    let reply = check(&alice, &stack, "/oauth2/auth/admin/x", &[]).await;
    assert_eq!(
        reply.status, 202,
        "an untrusted Envoy-style path chose the route\n{reply}"
    );
}

#[tokio::test]
async fn a_trusted_proxy_s_original_uri_chooses_the_route_for_nginx_traefik_and_envoy() {
    let stack = stack(&["127.0.0.1"]).await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    for (what, path, headers) in [
        (
            "nginx",
            "/oauth2/auth",
            vec![("x-original-uri", "/admin/panel?x=1")],
        ),
        (
            "traefik",
            "/oauth2/auth",
            vec![
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/admin/panel"),
            ],
        ),
        ("envoy", "/oauth2/auth/admin/panel", vec![]),
        // Dot segments are resolved before the route is chosen.
        (
            "nginx dot segments",
            "/oauth2/auth",
            vec![("x-original-uri", "/app/../admin/")],
        ),
    ] {
        let reply = check(&alice, &stack, path, &headers).await;
        assert_eq!(
            reply.status, 403,
            "{what}: the original URI was not judged\n{reply}"
        );
    }
    let allowed = check(
        &alice,
        &stack,
        "/oauth2/auth",
        &[("x-original-uri", "/app/")],
    )
    .await;
    assert_eq!(allowed.status, 202, "{allowed}");
    assert_eq!(
        allowed.header("x-auth-request-email").as_deref(),
        Some("alice@contoso.com"),
        "{allowed}"
    );
}

#[tokio::test]
async fn an_anonymous_check_says_where_sign_in_starts_and_traefik_navigations_go_there() {
    let stack = stack(&["127.0.0.1"]).await;
    let anonymous = Browser::new();
    // nginx: 401 (its error_page redirects), with the start URL for the original request.
    let reply = check(
        &anonymous,
        &stack,
        "/oauth2/auth",
        &[("x-original-uri", "/app/page?q=1"), ("accept", "text/html")],
    )
    .await;
    assert_eq!(reply.status, 401, "{reply}");
    assert_eq!(
        reply.location().as_deref(),
        Some("/oauth2/start?rd=%2Fapp%2Fpage%3Fq%3D1"),
        "{reply}"
    );
    // Traefik hands the answer to the browser: a navigation goes straight to Microsoft.
    let reply = check(
        &anonymous,
        &stack,
        "/oauth2/auth",
        &[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/app/page"),
            ("accept", "text/html"),
        ],
    )
    .await;
    let authorize = expect_authorize_redirect(&stack, &reply);
    let callback = anonymous.authorize(&authorize, ALICE).await;
    let back = anonymous.get(&callback).await;
    assert_eq!(back.expect_redirect(), "/app/page", "{back}");
    // Scripts get 401 either way.
    let api = check(
        &Browser::new(),
        &stack,
        "/oauth2/auth",
        &[
            ("x-forwarded-method", "POST"),
            ("x-forwarded-uri", "/app/api"),
        ],
    )
    .await;
    assert_eq!(api.status, 401, "{api}");
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_client_never_reach_the_upstream() {
    let stack = stack(&[]).await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let reply = check(
        &alice,
        &stack,
        "/anything",
        &[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=203.0.113.9;host=evil.example"),
            ("x-real-ip", "203.0.113.9"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = stack.upstream.last();
    assert_eq!(
        seen.header("x-forwarded-for").as_deref(),
        Some("127.0.0.1"),
        "{seen}"
    );
    assert_eq!(
        seen.header("x-forwarded-host"),
        Some(stack.addr().to_string()),
        "{seen}"
    );
    assert_eq!(
        seen.header("x-forwarded-proto").as_deref(),
        Some("http"),
        "{seen}"
    );
    assert!(seen.header("forwarded").is_none(), "{seen}");
    assert!(seen.header("x-real-ip").is_none(), "{seen}");
}

#[tokio::test]
async fn a_trusted_proxy_s_client_address_scheme_and_host_are_passed_on() {
    let stack = stack(&["127.0.0.1"]).await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let reply = check(
        &alice,
        &stack,
        "/anything",
        &[
            ("x-forwarded-for", "198.51.100.1, 203.0.113.9"),
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = stack.upstream.last();
    // The client is the first untrusted address from the right; what it wrote itself is dropped.
    assert_eq!(
        seen.header("x-forwarded-for").as_deref(),
        Some("203.0.113.9, 127.0.0.1"),
        "{seen}"
    );
    assert_eq!(
        seen.header("x-forwarded-host").as_deref(),
        Some("app.example.com"),
        "{seen}"
    );
    assert_eq!(
        seen.header("x-forwarded-proto").as_deref(),
        Some("https"),
        "{seen}"
    );
}
