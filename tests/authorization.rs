#![allow(clippy::unwrap_used)]
mod support;

use entrance::emulator::defaults::{CONSUMERS_TID, CONTOSO_TID};
use support::*;

/// Signs `user` in and follows every redirect from the callback on: the final answer.
async fn sign_in_and_follow(stack: &Stack, browser: &Browser, user: &str) -> Reply {
    let authorize = browser.begin_sign_in(stack, "/anything").await;
    let callback = browser.authorize(&authorize, user).await;
    browser.follow(&callback).await
}

fn assert_forbidden(stack: &Stack, reply: &Reply, wording: &[&str]) {
    assert_eq!(reply.status, 403, "expected 403\n{reply}");
    assert!(reply.is_html(), "403 is not an HTML page\n{reply}");
    let body = reply.body.to_ascii_lowercase();
    assert!(
        wording.iter().any(|w| body.contains(w)),
        "403 page does not name the reason (expected one of {wording:?})\n{reply}"
    );
    assert_eq!(
        stack.upstream.count(),
        0,
        "a denied user reached the upstream: {:?}",
        stack.upstream.requests()
    );
}

#[tokio::test]
async fn user_from_a_tenant_not_allowed_gets_403() {
    let stack = Stack::start(Options {
        allowed_tenants: vec![CONTOSO_TID.to_string()],
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let reply = sign_in_and_follow(&stack, &browser, CAROL).await;
    assert_forbidden(&stack, &reply, &["organisation", "organization", "tenant"]);

    // Whatever entrance kept, the next navigation is not let through either.
    let again = browser.get(&stack.url("/anything")).await;
    assert_ne!(again.status, 200, "{again}");
    assert_eq!(stack.upstream.count(), 0);
}

#[tokio::test]
async fn user_from_an_allowed_tenant_is_let_through() {
    let stack = Stack::start(Options {
        allowed_tenants: vec![CONTOSO_TID.to_string()],
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let reply = sign_in_and_follow(&stack, &browser, ALICE).await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(
        stack.upstream.last().expect_header("x-auth-request-user"),
        ALICE
    );
}

#[tokio::test]
async fn personal_account_outside_the_allowed_email_domains_gets_403() {
    // Personal accounts are admitted by the tenant rule, so the email domain is what refuses.
    let stack = Stack::start(Options {
        tenant: "common".to_string(),
        allowed_tenants: vec!["*".to_string(), CONSUMERS_TID.to_string()],
        allowed_email_domains: vec!["contoso.com".to_string()],
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let reply = sign_in_and_follow(&stack, &browser, DAVE).await;
    assert_forbidden(&stack, &reply, &["email domain"]);
}

#[tokio::test]
async fn work_account_outside_the_allowed_email_domains_gets_403() {
    let stack = Stack::start(Options {
        allowed_email_domains: vec!["contoso.com".to_string()],
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let reply = sign_in_and_follow(&stack, &browser, CAROL).await;
    assert_forbidden(&stack, &reply, &["email domain"]);

    let allowed = Browser::new();
    let reply = sign_in_and_follow(&stack, &allowed, ALICE).await;
    assert_eq!(reply.status, 200, "{reply}");
}

#[tokio::test]
async fn policy_is_applied_on_every_request_not_only_at_sign_in() {
    // Two deployments sharing one session secret: the first lets any tenant in, the second
    // (the same gateway after its operator tightened the config) only Contoso.
    let secret = random_session_secret();
    let open = Stack::start(Options {
        session_secret: Some(secret.clone()),
        ..Options::default()
    })
    .await;
    let strict = Stack::start(Options {
        session_secret: Some(secret),
        allowed_tenants: vec![CONTOSO_TID.to_string()],
        ..Options::default()
    })
    .await;

    let browser = Browser::signed_in(&open, CAROL).await;
    let cookies = browser.session_cookies(&open.cookie_origin());
    browser.replace_cookies(&strict.cookie_origin(), cookies);

    let auth = browser.get(&strict.url("/oauth2/auth")).await;
    assert_eq!(auth.status, 403, "/oauth2/auth for a denied user\n{auth}");
    assert!(auth.header("x-auth-request-user").is_none(), "{auth}");

    let page = browser.get(&strict.url("/anything")).await;
    assert_forbidden(&strict, &page, &["organisation", "organization", "tenant"]);
}
