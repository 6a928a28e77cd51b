#![allow(clippy::unwrap_used)]
mod support;

use std::collections::BTreeSet;

use entrance::emulator::defaults::{erin_groups, ALL_STAFF_GROUP, ENGINEERING_GROUP, ERIN};
use support::*;

/// The group ids in an `X-Auth-Request-Groups` value.
fn group_set(header: &str) -> BTreeSet<String> {
    header
        .split(',')
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect()
}

/// One of Erin's groups that Alice (Engineering, All Staff) is not in.
fn erin_only_group() -> String {
    let group = erin_groups()[2].clone();
    assert!(group != ENGINEERING_GROUP && group != ALL_STAFF_GROUP);
    group
}

#[tokio::test]
async fn user_in_250_groups_signs_in_with_every_group_from_microsoft_graph() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let reply = browser.sign_in(&stack, ERIN, "/anything").await;
    assert_eq!(reply.status, 200, "{reply}");
    assert!(
        stack.emulator.graph_requests() > 0,
        "the ID token carried the groups overage claim, but entrance never asked Microsoft Graph"
    );

    let want: BTreeSet<String> = erin_groups().into_iter().collect();
    let seen = stack.upstream.last();
    let groups = group_set(&seen.expect_header("x-auth-request-groups"));
    assert_eq!(groups.len(), 250, "X-Auth-Request-Groups\n{seen}");
    assert_eq!(groups, want, "X-Auth-Request-Groups is not Erin's groups");

    // 250 group ids do not fit one cookie: the session is split.
    let cookies = browser.session_cookies(&stack.cookie_origin());
    let names: Vec<&String> = cookies.keys().collect();
    assert!(
        cookies.contains_key("_entrance_0") && cookies.contains_key("_entrance_1"),
        "expected the session split into _entrance_0, _entrance_1, ...; got {names:?}"
    );

    // The split session reads back whole on the next request, without asking Graph again.
    let graph_calls = stack.emulator.graph_requests();
    let again = browser.get(&stack.url("/next")).await;
    assert_eq!(again.status, 200, "{again}");
    let seen = stack.upstream.last();
    assert_eq!(seen.target, "/next", "{seen}");
    assert_eq!(
        group_set(&seen.expect_header("x-auth-request-groups")),
        want,
        "groups lost between requests"
    );
    assert_eq!(
        stack.emulator.graph_requests(),
        graph_calls,
        "groups are resolved at sign-in, not on every request"
    );
}

#[tokio::test]
async fn groups_over_three_graph_pages_are_all_collected() {
    let stack = Stack::default().await;
    // Graph pages server-side (100 a page, whatever $top asks): 250 groups take 3 pages.
    stack.emulator.set_graph_page_size(100);
    let before = stack.emulator.graph_requests();
    let browser = Browser::new();
    let reply = browser.sign_in(&stack, ERIN, "/anything").await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(
        stack.emulator.graph_requests() - before,
        3,
        "entrance should follow @odata.nextLink over exactly 3 pages"
    );
    let want: BTreeSet<String> = erin_groups().into_iter().collect();
    let seen = stack.upstream.last();
    assert_eq!(
        group_set(&seen.expect_header("x-auth-request-groups")),
        want,
        "groups from later pages are missing\n{seen}"
    );
}

#[tokio::test]
async fn group_rule_admits_the_user_in_250_groups_and_refuses_others() {
    let group = erin_only_group();
    let stack = Stack::start(Options {
        routes: vec![format!("{{path: /eng/, allowed_groups: [\"{group}\"]}}")],
        ..Options::default()
    })
    .await;

    let erin = Browser::new();
    let reply = erin.sign_in(&stack, ERIN, "/eng/dashboard").await;
    assert_eq!(reply.status, 200, "Erin is in {group}\n{reply}");
    assert_eq!(stack.upstream.last().target, "/eng/dashboard");

    let alice = Browser::signed_in(&stack, ALICE).await;
    let before = stack.upstream.count();
    let reply = alice.get(&stack.url("/eng/dashboard")).await;
    assert_eq!(reply.status, 403, "Alice is not in {group}\n{reply}");
    assert_eq!(
        stack.upstream.count(),
        before,
        "a refused user reached the upstream"
    );

    // The same rule as a query parameter of /oauth2/auth.
    let url = stack.url(&format!("/oauth2/auth?allowed_groups={group}"));
    let reply = erin.get(&url).await;
    assert_eq!(reply.status, 202, "{reply}");
    let reply = alice.get(&url).await;
    assert_eq!(reply.status, 403, "{reply}");
}

#[tokio::test]
async fn default_group_rule_admits_the_user_in_250_groups() {
    let group = erin_only_group();
    let stack = Stack::start(Options {
        authorization_yaml: vec![format!("allowed_groups: [\"{group}\"]")],
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let reply = browser.sign_in(&stack, ERIN, "/anything").await;
    assert_eq!(reply.status, 200, "{reply}");
}

#[tokio::test]
async fn microsoft_graph_down_fails_the_sign_in_with_a_clear_page_and_no_session() {
    let stack = Stack::default().await;
    let browser = Browser::new();
    let authorize = browser.begin_sign_in(&stack, "/anything").await;
    let callback = browser.authorize(&authorize, ERIN).await;

    stack.emulator.set_graph_available(false);
    let reply = browser.get(&callback).await;
    assert_eq!(reply.status, 502, "Graph outage at sign-in\n{reply}");
    assert!(reply.is_html(), "{reply}");
    let body = reply.body.to_ascii_lowercase();
    assert!(
        body.contains("group") || body.contains("microsoft graph"),
        "the page does not say the groups could not be read from Microsoft Graph\n{reply}"
    );
    assert!(
        stack.emulator.graph_requests() > 0,
        "entrance did not try Microsoft Graph"
    );
    assert!(
        reply.session_cookies_set().is_empty(),
        "a session without groups was created\n{reply}"
    );
    assert!(
        browser.session_cookies(&stack.cookie_origin()).is_empty(),
        "the browser holds a session after the failed sign-in"
    );
    let next = browser.get(&stack.url("/anything")).await;
    assert_sends_to_sign_in(&stack, &next);
    assert_eq!(stack.upstream.count(), 0, "the upstream was reached");

    // Once Graph is back, the same user signs in.
    stack.emulator.set_graph_available(true);
    let reply = Browser::new().sign_in(&stack, ERIN, "/anything").await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(
        group_set(&stack.upstream.last().expect_header("x-auth-request-groups")).len(),
        250
    );
}

#[tokio::test]
async fn groups_come_from_the_token_without_graph_by_default() {
    let stack = Stack::default().await;
    let _alice = Browser::signed_in(&stack, ALICE).await;
    stack.upstream.last().assert_alice_identity();
    assert_eq!(
        stack.emulator.graph_requests(),
        0,
        "Alice's token lists her groups; Microsoft Graph is not needed"
    );
}

#[tokio::test]
async fn groups_source_graph_asks_graph_even_when_the_token_lists_groups() {
    let stack = Stack::start(Options {
        authorization_yaml: vec!["groups_source: graph".to_string()],
        ..Options::default()
    })
    .await;
    let before = stack.emulator.graph_requests();
    let _alice = Browser::signed_in(&stack, ALICE).await;
    assert!(
        stack.emulator.graph_requests() > before,
        "groups_source: graph did not call Microsoft Graph"
    );
    let seen = stack.upstream.last();
    seen.assert_alice_identity();
    let want: BTreeSet<String> = [ENGINEERING_GROUP, ALL_STAFF_GROUP]
        .iter()
        .map(|g| g.to_string())
        .collect();
    assert_eq!(
        group_set(&seen.expect_header("x-auth-request-groups")),
        want,
        "{seen}"
    );
}

#[tokio::test]
async fn groups_source_graph_with_graph_down_fails_the_sign_in() {
    let stack = Stack::start(Options {
        authorization_yaml: vec!["groups_source: graph".to_string()],
        ..Options::default()
    })
    .await;
    stack.emulator.set_graph_available(false);
    let browser = Browser::new();
    let authorize = browser.begin_sign_in(&stack, "/anything").await;
    let callback = browser.authorize(&authorize, ALICE).await;
    let reply = browser.get(&callback).await;
    assert_eq!(reply.status, 502, "{reply}");
    assert!(reply.session_cookies_set().is_empty(), "{reply}");
    assert_eq!(stack.upstream.count(), 0);
}
