#![allow(clippy::unwrap_used)]
mod support;

use entrance::emulator::defaults::{CONTOSO_TID, ENGINEERING_GROUP, FABRIKAM_TID};
use support::*;

/// One stack with a route of every kind (after the built-in `/public/` route).
async fn policy_stack() -> Stack {
    Stack::start(Options {
        routes: vec![
            "{path: /admin/, allowed_roles: [Admin]}".to_string(),
            "{path: /blocked/, deny: true}".to_string(),
            "{path: /open/, public: true}".to_string(),
            "{path: /exact, deny: true}".to_string(),
            "{path: /submit, methods: [POST], allowed_roles: [Admin]}".to_string(),
            "{regex: '^/reports/[0-9]+$', allowed_roles: [Admin]}".to_string(),
            format!("{{path: /eng/, allowed_groups: [\"{ENGINEERING_GROUP}\"]}}"),
            // First match wins, in both orders.
            "{path: /docs/internal/, deny: true}".to_string(),
            "{path: /docs/, public: true}".to_string(),
            "{path: /help/, public: true}".to_string(),
            "{path: /help/secret/, deny: true}".to_string(),
        ],
        ..Options::default()
    })
    .await
}

/// `method path` with the browser's session; asserts the status and, for 200, that the upstream
/// received exactly this request; for anything else, that it received nothing.
async fn expect(stack: &Stack, browser: &Browser, method: &str, path: &str, status: u16) -> Reply {
    let before = stack.upstream.count();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let reply = browser
        .send(browser.request(method.clone(), &stack.url(path)))
        .await;
    assert_eq!(reply.status, status, "{method} {path}\n{reply}");
    if status == 200 {
        let seen = stack.upstream.last();
        assert_eq!(stack.upstream.count(), before + 1, "{seen}");
        assert_eq!(seen.target, path, "{seen}");
        assert_eq!(seen.method, method.as_str(), "{seen}");
    } else {
        assert_eq!(
            stack.upstream.count(),
            before,
            "{method} {path} answered {status} but reached the upstream: {:?}",
            stack.upstream.requests().last()
        );
    }
    reply
}

#[tokio::test]
async fn route_needing_role_admin_admits_alice_and_refuses_bob() {
    let stack = policy_stack().await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let bob = Browser::signed_in(&stack, BOB).await;

    expect(&stack, &alice, "GET", "/admin/users", 200).await;
    stack.upstream.last().assert_alice_identity();
    let refused = expect(&stack, &bob, "GET", "/admin/users", 403).await;
    assert!(refused.is_html(), "{refused}");
    // The prefix route covers what is below /admin/, not /admin itself or /administrator.
    expect(&stack, &bob, "GET", "/administrator", 200).await;
    // Bob may use the rest of the app.
    expect(&stack, &bob, "GET", "/anything", 200).await;
}

#[tokio::test]
async fn deny_route_is_403_signed_in_or_not() {
    let stack = policy_stack().await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    expect(&stack, &alice, "GET", "/blocked/x", 403).await;
    expect(&stack, &alice, "POST", "/blocked/x", 403).await;
    let anonymous = Browser::new();
    let reply = expect(&stack, &anonymous, "GET", "/blocked/x", 403).await;
    assert!(reply.location().is_none(), "{reply}");
}

#[tokio::test]
async fn public_route_needs_no_sign_in_and_carries_no_identity() {
    let stack = policy_stack().await;
    let anonymous = Browser::new();
    expect(&stack, &anonymous, "GET", "/open/page", 200).await;
    expect(&stack, &anonymous, "POST", "/open/form", 200).await;
    let seen = stack.upstream.last();
    for (name, _) in &seen.headers {
        assert!(
            !IDENTITY_HEADERS.contains(&canonical_header_name(name).as_str()),
            "identity header {name} on a public route without a session\n{seen}"
        );
    }
    // Outside the public prefix, sign-in is needed.
    let reply = anonymous.get(&stack.url("/opener")).await;
    assert_sends_to_sign_in(&stack, &reply);
}

#[tokio::test]
async fn exact_path_route_matches_only_that_path() {
    let stack = policy_stack().await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    expect(&stack, &alice, "GET", "/exact", 403).await;
    expect(&stack, &alice, "GET", "/exact?x=1", 403).await;
    expect(&stack, &alice, "GET", "/exactly", 200).await;
    expect(&stack, &alice, "GET", "/exact/below", 200).await;
}

#[tokio::test]
async fn method_restricted_route_applies_only_to_its_methods() {
    let stack = policy_stack().await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let bob = Browser::signed_in(&stack, BOB).await;
    expect(&stack, &bob, "POST", "/submit", 403).await;
    expect(&stack, &alice, "POST", "/submit", 200).await;
    // GET matches no route: the default rules, which Bob passes.
    expect(&stack, &bob, "GET", "/submit", 200).await;
}

#[tokio::test]
async fn regex_route_matches_the_normalised_path() {
    let stack = policy_stack().await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let bob = Browser::signed_in(&stack, BOB).await;
    expect(&stack, &bob, "GET", "/reports/42", 403).await;
    expect(&stack, &bob, "GET", "/reports/42?format=csv", 403).await;
    expect(&stack, &alice, "GET", "/reports/42", 200).await;
    // Not matched by the regex: the default rules.
    expect(&stack, &bob, "GET", "/reports/latest", 200).await;
    expect(&stack, &bob, "GET", "/reports/42/raw", 200).await;
}

#[tokio::test]
async fn group_route_admits_members_only() {
    let stack = policy_stack().await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let bob = Browser::signed_in(&stack, BOB).await;
    expect(&stack, &alice, "GET", "/eng/wiki", 200).await;
    expect(&stack, &bob, "GET", "/eng/wiki", 403).await;
}

#[tokio::test]
async fn first_matching_route_wins() {
    let stack = policy_stack().await;
    let anonymous = Browser::new();
    let alice = Browser::signed_in(&stack, ALICE).await;
    // deny listed before the public prefix around it
    expect(&stack, &alice, "GET", "/docs/internal/x", 403).await;
    expect(&stack, &anonymous, "GET", "/docs/internal/x", 403).await;
    expect(&stack, &anonymous, "GET", "/docs/guide", 200).await;
    // the public prefix listed before the deny inside it
    expect(&stack, &anonymous, "GET", "/help/secret/x", 200).await;
}

#[tokio::test]
async fn auth_endpoint_takes_rules_from_the_query() {
    let stack = policy_stack().await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let bob = Browser::signed_in(&stack, BOB).await;
    let before = stack.upstream.count();

    let groups = stack.url(&format!("/oauth2/auth?allowed_groups={ENGINEERING_GROUP}"));
    let reply = alice.get(&groups).await;
    assert_eq!(reply.status, 202, "{reply}");
    assert_eq!(reply.header("x-auth-request-user").as_deref(), Some(ALICE));
    let reply = bob.get(&groups).await;
    assert_eq!(reply.status, 403, "{reply}");
    assert!(reply.header("x-auth-request-user").is_none(), "{reply}");

    let roles = stack.url("/oauth2/auth?allowed_roles=Admin");
    assert_eq!(alice.get(&roles).await.status, 202);
    assert_eq!(bob.get(&roles).await.status, 403);

    // Without a query, the default rules, which both pass.
    assert_eq!(bob.get(&stack.url("/oauth2/auth")).await.status, 202);

    for query in ["bogus=1", "allowed_groups="] {
        let reply = alice
            .get(&stack.url(&format!("/oauth2/auth?{query}")))
            .await;
        assert_eq!(reply.status, 400, "/oauth2/auth?{query}\n{reply}");
    }
    assert_eq!(
        stack.upstream.count(),
        before,
        "/oauth2/auth must not proxy"
    );
}

/// Carol's session, minted by a stack that admits anyone, in a browser for `strict` (which
/// shares its session secret).
async fn carol_in(strict: &Stack, open_options: Options) -> Browser {
    let open = Stack::start(open_options).await;
    let browser = Browser::signed_in(&open, CAROL).await;
    let cookies = browser.session_cookies(&open.cookie_origin());
    assert!(!cookies.is_empty());
    browser.replace_cookies(&strict.cookie_origin(), cookies);
    browser
}

#[tokio::test]
async fn replace_mode_swaps_the_default_rules_and_add_mode_keeps_them() {
    let secret = random_session_secret();
    let strict = Stack::start(Options {
        session_secret: Some(secret.clone()),
        allowed_email_domains: vec!["contoso.com".to_string()],
        routes: vec![
            "{path: /partners/, mode: replace, allowed_emails: [carol@fabrikam.com]}".to_string(),
            "{path: /partners-add/, mode: add, allowed_emails: [carol@fabrikam.com]}".to_string(),
            "{path: /partners-default/, allowed_emails: [carol@fabrikam.com]}".to_string(),
            "{path: /admins/, allowed_roles: [Admin]}".to_string(),
        ],
        ..Options::default()
    })
    .await;
    let carol = carol_in(
        &strict,
        Options {
            session_secret: Some(secret),
            ..Options::default()
        },
    )
    .await;
    let alice = Browser::signed_in(&strict, ALICE).await;
    let bob = Browser::signed_in(&strict, BOB).await;

    // The defaults (contoso.com) refuse Carol everywhere else.
    expect(&strict, &carol, "GET", "/anything", 403).await;
    // replace: only the route's rule.
    expect(&strict, &carol, "GET", "/partners/x", 200).await;
    expect(&strict, &alice, "GET", "/partners/x", 403).await;
    // add (explicit and default): the route's rule and the defaults.
    for path in ["/partners-add/x", "/partners-default/x"] {
        expect(&strict, &carol, "GET", path, 403).await;
        expect(&strict, &alice, "GET", path, 403).await;
    }
    expect(&strict, &alice, "GET", "/admins/x", 200).await;
    expect(&strict, &bob, "GET", "/admins/x", 403).await;
    expect(&strict, &carol, "GET", "/admins/x", 403).await;
}

#[tokio::test]
async fn replace_mode_keeps_the_default_tenant_rule_unless_the_route_lists_tenants() {
    let secret = random_session_secret();
    let strict = Stack::start(Options {
        session_secret: Some(secret.clone()),
        allowed_tenants: vec![CONTOSO_TID.to_string()],
        routes: vec![
            "{path: /partners/, mode: replace, allowed_emails: [carol@fabrikam.com]}".to_string(),
            format!(
                "{{path: /fabrikam/, mode: replace, allowed_tenants: [\"{FABRIKAM_TID}\"], \
                 allowed_emails: [carol@fabrikam.com]}}"
            ),
        ],
        ..Options::default()
    })
    .await;
    let carol = carol_in(
        &strict,
        Options {
            session_secret: Some(secret),
            ..Options::default()
        },
    )
    .await;
    expect(&strict, &carol, "GET", "/anything", 403).await;
    expect(&strict, &carol, "GET", "/partners/x", 403).await;
    expect(&strict, &carol, "GET", "/fabrikam/x", 200).await;
}
