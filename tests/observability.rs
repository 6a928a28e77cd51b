//! What an operator sees: Prometheus metrics and the status page on the admin listener, and
//! the request id that ties a user's error page to the logs.
#![allow(clippy::unwrap_used)]
mod support;

use support::*;

async fn scrape(stack: &Stack) -> String {
    reqwest::get(stack.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the first series of `name` whose labels contain every `label`.
fn series(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn a_scrape_shows_sign_ins_denials_by_reason_and_upstream_latency() {
    let stack = Stack::start(Options {
        routes: vec!["{path: /admin/, allowed_roles: [Admin]}".to_owned()],
        ..Options::default()
    })
    .await;
    let before = scrape(&stack).await;
    let successes_before =
        series(&before, "entrance_sign_ins_total", &["outcome=\"success\""]).unwrap_or(0.0);

    let alice = Browser::signed_in(&stack, ALICE).await;
    assert_eq!(alice.get(&stack.url("/anything")).await.status, 200);
    let bob = Browser::signed_in(&stack, BOB).await;
    assert_eq!(bob.get(&stack.url("/admin/x")).await.status, 403);

    let metrics = scrape(&stack).await;
    let successes = series(
        &metrics,
        "entrance_sign_ins_total",
        &["outcome=\"success\""],
    );
    assert!(
        successes.is_some_and(|n| n >= successes_before + 2.0),
        "two sign-ins are not counted:\n{metrics}"
    );
    assert!(
        series(&metrics, "entrance_requests_total", &["status=\"403\""]).is_some(),
        "the denial is not counted:\n{metrics}"
    );
    assert!(
        metrics.contains("entrance_upstream_duration_seconds"),
        "no upstream latency:\n{metrics}"
    );
    assert!(
        series(&metrics, "entrance_idp_requests_total", &["call=\"token\""]).is_some(),
        "token calls are not counted:\n{metrics}"
    );
    assert!(metrics.contains("entrance_build_info"), "{metrics}");
    assert!(metrics.contains("entrance_open_connections"), "{metrics}");
}

#[tokio::test]
async fn a_denied_sign_in_is_counted_by_its_reason() {
    let stack = Stack::start(Options {
        allowed_tenants: vec![entrance::emulator::defaults::CONTOSO_TID.to_owned()],
        ..Options::default()
    })
    .await;
    let carol = Browser::new();
    let authorize = carol.begin_sign_in(&stack, "/anything").await;
    let callback = carol.authorize(&authorize, CAROL).await;
    let reply = carol.follow(&callback).await;
    assert_eq!(reply.status, 403, "{reply}");
    let metrics = scrape(&stack).await;
    assert!(
        series(
            &metrics,
            "entrance_sign_ins_total",
            &["outcome=\"denied\"", "reason=\"tenant_not_allowed\""]
        )
        .is_some(),
        "denial by reason missing:\n{metrics}"
    );
    let status: serde_json::Value = reqwest::Client::new()
        .get(stack.admin_url("/status"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failures = status["recent_sign_in_failures"].to_string();
    assert!(failures.contains("tenant_not_allowed"), "{status}");
    assert_eq!(status["identity_provider"]["reachable"], true, "{status}");
    let kids = status["identity_provider"]["key_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !kids.is_empty(),
        "the status page lists no signing key ids: {status}"
    );
    assert!(
        status["identity_provider"]["keys_age_secs"].is_u64(),
        "{status}"
    );
}

#[tokio::test]
async fn the_status_page_shows_a_broken_identity_provider_as_broken() {
    let stack = Stack::default().await;
    // A second gateway whose authority is a closed port: never reachable.
    let port = closed_port().await;
    let yaml = stack.yaml.replace(
        &stack.emulator.authority(),
        &format!("http://127.0.0.1:{port}"),
    );
    let config = load_config(&yaml, &stack.options.resolved_client_secret());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin.local_addr().unwrap();
    let (_gateway, _admin) = entrance::gateway::start_with_admin(config, listener, Some(admin))
        .await
        .unwrap();
    let page = reqwest::get(format!("http://{admin_addr}/status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("BROKEN"),
        "the status page does not say broken:\n{page}"
    );
    assert!(page.contains("not reachable"), "{page}");
}

#[tokio::test]
async fn error_pages_carry_the_request_id_that_the_response_and_logs_carry() {
    let stack = Stack::start(Options {
        routes: vec!["{path: /closed/, deny: true}".to_owned()],
        ..Options::default()
    })
    .await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let reply = alice.get(&stack.url("/closed/x")).await;
    assert_eq!(reply.status, 403, "{reply}");
    let id = reply
        .header("x-request-id")
        .expect("x-request-id on the response");
    assert!(
        reply.body.contains(&id),
        "the 403 page does not quote {id}\n{reply}"
    );
    // The upstream gets the request id of forwarded requests.
    let ok = alice.get(&stack.url("/anything")).await;
    let upstream_id = stack.upstream.last().expect_header("x-request-id");
    assert_eq!(
        ok.header("x-request-id").as_deref(),
        Some(upstream_id.as_str())
    );
}
