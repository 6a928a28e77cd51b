//! OpenTelemetry export (`--features otel`): with `log.otlp_endpoint` set, the `entrance`
//! binary sends the upstream a fresh W3C `traceparent` (never the client's) and, at shutdown,
//! posts its spans to the collector's `/v1/traces`.
//!
//! The binary runs as a child process so `main`'s logging set-up and exit flush are what is
//! tested; the fake collector, the emulator and the recording upstream run in this process.
#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use support::*;
use tokio::net::TcpListener;

/// A client's own trace context, which entrance must not pass on or continue.
const CLIENT_TRACEPARENT: &str = "00-11111111111111111111111111111111-2222222222222222-01";

/// Kills the child if the test fails before it is stopped.
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

/// A fake OTLP/HTTP collector: counts POSTs to `/v1/traces` and answers 200.
async fn start_collector() -> (SocketAddr, Arc<AtomicUsize>, entrance::server::Running) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let posts = Arc::new(AtomicUsize::new(0));
    let counter = posts.clone();
    let handler = move |req: Request<Incoming>, _peer: SocketAddr| {
        let counter = counter.clone();
        async move {
            if req.method() == http::Method::POST && req.uri().path() == "/v1/traces" {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            let _ = http_body_util::BodyExt::collect(req.into_body()).await;
            Response::builder()
                .header("content-type", "application/x-protobuf")
                .body(entrance::body::empty())
                .unwrap()
        }
    };
    let server = entrance::server::spawn(listener, handler).unwrap();
    (addr, posts, server)
}

fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1] != "0".repeat(32)
        && parts[2] != "0".repeat(16)
}

#[tokio::test]
async fn spans_are_exported_and_the_upstream_gets_a_fresh_traceparent() {
    let (collector, posts, _collector_server) = start_collector().await;
    let emulator = start_emulator().await;
    let upstream = Upstream::start().await;
    let port = closed_port().await;
    let options = Options {
        extra_yaml: format!(
            "log:\n  format: json\n  otlp_endpoint: http://{collector}\nadmin:\n  listen: \"off\"\n"
        ),
        ..Options::default()
    };
    let yaml = options
        .yaml(
            port,
            &format!("http://{}", upstream.addr),
            &emulator.authority(),
            &random_session_secret(),
        )
        .replace(
            "listen: 127.0.0.1:0\n",
            &format!("listen: 127.0.0.1:{port}\n"),
        );
    let dir = TempDir::new();
    let config = dir.write("entrance.yaml", &yaml);
    let mut gateway = Gateway(
        Command::new(env!("CARGO_BIN_EXE_entrance"))
            .args(["run", "--config"])
            .arg(&config)
            .env_remove("RUST_LOG")
            .env(
                "TEST_CLIENT_SECRET",
                entrance::emulator::defaults::CLIENT_SECRET,
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let origin = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{origin}/readyz")).await;

    let response = reqwest::Client::new()
        .get(format!("{origin}/public/hello"))
        .header("traceparent", CLIENT_TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let traceparent = upstream.last().expect_header("traceparent");
    assert!(
        is_traceparent(&traceparent),
        "not a W3C traceparent: {traceparent:?}"
    );
    assert_ne!(
        traceparent.split('-').nth(1),
        CLIENT_TRACEPARENT.split('-').nth(1),
        "the client's trace id was continued"
    );

    // SIGTERM: the graceful path, which flushes the exporter before exit.
    let pid = gateway.0.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while gateway.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "entrance did not exit on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The export normally lands before exit; allow a little for the collector's bookkeeping.
    let deadline = Instant::now() + Duration::from_secs(10);
    while posts.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the collector received no POST to /v1/traces"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
