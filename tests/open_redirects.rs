#![allow(clippy::unwrap_used)]
mod support;

use support::*;

/// How many payloads go through a whole sign-in (the others stop at the authorize redirect).
const FULL_SIGN_INS: usize = 40;

/// Whether `location` is a same-origin path.
fn same_origin_path(location: &str) -> bool {
    location.starts_with('/') && !location.starts_with("//") && !location.starts_with("/\\")
}

fn report(failures: &[String], total: usize, what: &str) {
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(30).collect();
        panic!(
            "{} of {total} open-redirect payloads were not refused by {what}:\n{}",
            failures.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[tokio::test]
async fn sign_out_never_redirects_outside_the_origin() {
    let stack = Stack::default().await;
    let payloads = open_redirect_payloads();
    assert!(payloads.len() >= 500, "only {} payloads", payloads.len());
    let browser = Browser::new();
    let mut failures = Vec::new();
    for payload in &payloads {
        let reply = browser
            .get(&stack.url(&format!("/oauth2/sign_out?rd={}", encode(payload))))
            .await;
        let location = reply.location();
        let ok = (300..400).contains(&reply.status)
            && location
                .as_deref()
                .is_some_and(|l| same_origin_path(l) && (l == "/oauth2/signed_out" || l == "/"));
        if !ok {
            failures.push(format!(
                "  rd={payload:?} -> {} Location: {location:?}",
                reply.status
            ));
        }
    }
    report(&failures, payloads.len(), "/oauth2/sign_out");
}

#[tokio::test]
async fn start_with_an_unsafe_rd_lands_on_root_after_sign_in() {
    let stack = Stack::default().await;
    let payloads = open_redirect_payloads();
    let step = (payloads.len() / FULL_SIGN_INS).max(1);
    let browser = Browser::new();
    let mut failures = Vec::new();
    for (index, payload) in payloads.iter().enumerate() {
        browser.clear_cookies();
        let reply = browser
            .get(&stack.url(&format!("/oauth2/start?rd={}", encode(payload))))
            .await;
        let location = reply.location().unwrap_or_default();
        if reply.status != 302 || !location.starts_with(&stack.emulator.authority()) {
            failures.push(format!(
                "  rd={payload:?}: /oauth2/start answered {} Location: {location:?}",
                reply.status
            ));
            continue;
        }
        if index % step != 0 {
            continue;
        }
        let authorize = url::Url::parse(&location).unwrap();
        let callback = browser.authorize(&authorize, ALICE).await;
        let landed = browser.get(&callback).await;
        if landed.status != 302 || landed.location().as_deref() != Some("/") {
            failures.push(format!(
                "  rd={payload:?}: after sign-in {} Location: {:?}",
                landed.status,
                landed.location()
            ));
        }
    }
    report(&failures, payloads.len(), "/oauth2/start");
}

#[tokio::test]
async fn navigation_to_a_double_slash_path_never_becomes_an_open_redirect() {
    let stack = Stack::default().await;
    for path in [
        "//evil.example/x",
        "/\\evil.example/x",
        "///evil.example",
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
    ] {
        let browser = Browser::new();
        let reply = browser.get(&stack.url(path)).await;
        if reply.status != 302 {
            // Refusing such a path outright is fine; it just must not be a server error.
            assert!(reply.status < 500, "{path}: {reply}");
            continue;
        }
        let authorize = expect_authorize_redirect(&stack, &reply);
        let callback = browser.authorize(&authorize, ALICE).await;
        let landed = browser.get(&callback).await;
        let location = landed.expect_redirect();
        assert!(
            same_origin_path(&location),
            "{path}: after sign-in the browser is sent to {location:?}\n{landed}"
        );
        let target = resolve(&stack.url("/"), &location);
        assert!(
            target.starts_with(&stack.url("/")),
            "{path}: {location:?} leaves the origin"
        );
    }
}
