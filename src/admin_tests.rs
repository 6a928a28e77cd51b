#![allow(clippy::unwrap_used)]

use super::*;

/// A provider whose authority is a closed loopback port: it never loads.
async fn broken_provider() -> Arc<Provider> {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let yaml = format!(
        "
public_url: https://app.example.com
upstream: http://127.0.0.1:8080
provider:
  authority: http://127.0.0.1:{port}
  tenant: 11111111-2222-3333-4444-555555555555
  client_id: my-client
  client_secret: s3cr3t-client-value
session:
  secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
"
    );
    let config = crate::config::load_str(&yaml, &|_| None).unwrap();
    let redirect = config.public_url.join("/oauth2/callback").unwrap();
    let provider = Provider::new(&config.provider, &redirect, false).unwrap();
    // Trying shows the closed port really is unreachable; the status must say so.
    assert!(provider.refresh().await.is_err());
    Arc::new(provider)
}

async fn source(config_summary: Value) -> StatusSource {
    let metrics = Arc::new(Metrics::detached());
    metrics.sign_in("denied", "tenant_not_allowed", 100);
    metrics.sign_in("error", "AADSTS50105", 200);
    metrics.sign_in("denied", "tenant_not_allowed", 300);
    metrics.sign_in("success", "ok", 400);
    let provider = broken_provider().await;
    StatusSource {
        version: "1.2.3",
        current: Box::new(move || (config_summary.clone(), provider.clone())),
        metrics,
    }
}

#[tokio::test]
async fn status_json_shows_a_broken_provider_and_failures_by_reason() {
    let source = source(json!({ "upstream": "http://127.0.0.1:8080" })).await;
    let status = status_json(&source);
    assert_eq!(status["version"], "1.2.3");
    assert_eq!(status["config"]["upstream"], "http://127.0.0.1:8080");
    let idp = &status["identity_provider"];
    assert_eq!(idp["reachable"], false);
    assert_eq!(idp["state"], "not reachable: discovery not loaded");
    assert!(idp["discovery_url"]
        .as_str()
        .unwrap()
        .ends_with("/v2.0/.well-known/openid-configuration"));
    assert_eq!(idp["issuer"], Value::Null);
    assert_eq!(idp["key_count"], 0);
    assert_eq!(
        status["recent_sign_in_failures"],
        json!([
            { "reason": "tenant_not_allowed", "count": 2, "last_seen": 300 },
            { "reason": "AADSTS50105", "count": 1, "last_seen": 200 },
        ])
    );
}

#[tokio::test]
async fn status_html_escapes_every_value_and_says_broken() {
    let source = source(json!({ "<script>alert(1)</script>": "a\"b&c" })).await;
    let page = status_html(&status_json(&source));
    assert!(page.contains("BROKEN — not reachable: discovery not loaded"));
    assert!(!page.contains("<script>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&amp;c"));
    assert!(page.contains("tenant_not_allowed"));
}

#[tokio::test]
async fn the_listener_serves_metrics_status_and_healthz_and_nothing_else() {
    let running = spawn(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        source(json!({})).await,
    )
    .unwrap();
    let base = format!("http://{}", running.addr());
    let client = reqwest::Client::new();

    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert_eq!(
        metrics.headers()[CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );

    let json = client
        .get(format!("{base}/status"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json.headers()[CONTENT_TYPE], "application/json");
    let json: Value = json.json().await.unwrap();
    assert_eq!(json["identity_provider"]["reachable"], false);

    let html = client.get(format!("{base}/status")).send().await.unwrap();
    assert!(html.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let other = client
        .get(format!("{base}/oauth2/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let post = client.post(format!("{base}/status")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    running.shutdown().await;
}
