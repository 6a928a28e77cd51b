#![allow(clippy::unwrap_used)]
mod support;

use entrance::emulator::defaults::{CONSUMERS_TID, DAVE_OID};
use support::*;

/// Signs `user` in and follows every redirect from the callback on: the final answer.
async fn sign_in_and_follow(stack: &Stack, browser: &Browser, user: &str) -> Reply {
    let authorize = browser.begin_sign_in(stack, "/anything").await;
    let callback = browser.authorize(&authorize, user).await;
    browser.follow(&callback).await
}

fn common(allowed_tenants: &[&str]) -> Options {
    Options {
        tenant: "common".to_string(),
        allowed_tenants: allowed_tenants.iter().map(|t| t.to_string()).collect(),
        ..Options::default()
    }
}

#[tokio::test]
async fn personal_account_is_refused_when_any_work_tenant_is_allowed() {
    // "*" means any work or school tenant; personal accounts must be listed on purpose.
    let stack = Stack::start(common(&["*"])).await;
    let browser = Browser::new();
    let reply = sign_in_and_follow(&stack, &browser, DAVE).await;
    assert_eq!(reply.status, 403, "a personal account got in\n{reply}");
    assert!(reply.is_html(), "403 is not an HTML page\n{reply}");
    assert!(
        reply.body.to_ascii_lowercase().contains("personal"),
        "403 page does not say personal accounts are not allowed\n{reply}"
    );
    assert_eq!(stack.upstream.count(), 0, "{:?}", stack.upstream.requests());

    let again = browser.get(&stack.url("/anything")).await;
    assert_ne!(again.status, 200, "{again}");
    let auth = browser.get(&stack.url("/oauth2/auth")).await;
    assert_ne!(auth.status, 202, "{auth}");
    assert_eq!(stack.upstream.count(), 0);
}

#[tokio::test]
async fn work_account_signs_in_where_personal_accounts_are_refused() {
    let stack = Stack::start(common(&["*"])).await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let reply = browser.get(&stack.url("/anything")).await;
    assert_eq!(reply.status, 200, "{reply}");
    stack.upstream.last().assert_alice_identity();
}

#[tokio::test]
async fn personal_account_signs_in_when_its_tenant_is_listed_next_to_any() {
    let stack = Stack::start(common(&["*", CONSUMERS_TID])).await;
    let browser = Browser::new();
    let reply = browser.sign_in(&stack, DAVE, "/anything").await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = stack.upstream.last();
    assert_eq!(seen.expect_header("x-auth-request-user"), DAVE, "{seen}");
    assert_eq!(
        seen.expect_header("x-auth-request-tid"),
        CONSUMERS_TID,
        "{seen}"
    );
    assert_eq!(seen.expect_header("x-auth-request-oid"), DAVE_OID, "{seen}");
}

#[tokio::test]
async fn personal_account_signs_in_when_only_its_tenant_is_listed() {
    let stack = Stack::start(common(&[CONSUMERS_TID])).await;
    let browser = Browser::new();
    let reply = browser.sign_in(&stack, DAVE, "/anything").await;
    assert_eq!(reply.status, 200, "{reply}");

    // Listing only the personal tenant refuses work accounts.
    let work = Browser::new();
    let reply = sign_in_and_follow(&stack, &work, ALICE).await;
    assert_eq!(reply.status, 403, "{reply}");
}

#[tokio::test]
async fn personal_account_signs_in_when_the_tenant_is_consumers() {
    let stack = Stack::start(Options {
        tenant: "consumers".to_string(),
        allowed_tenants: Vec::new(),
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let reply = browser.sign_in(&stack, DAVE, "/anything").await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(
        stack.upstream.last().expect_header("x-auth-request-tid"),
        CONSUMERS_TID
    );
}
