#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::server::{self, Running};

fn ctx(path_and_query: &str) -> ForwardContext<'_> {
    ForwardContext {
        forwarded_for: "203.0.113.7",
        proto: "https",
        host: "app.example.com",
        path_and_query,
    }
}

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// An upstream that answers with the URI and headers it received as JSON, and a few hop-by-hop
/// headers of its own that must not reach the client.
async fn echo_upstream() -> Running {
    server::spawn(
        listener().await,
        |req: Request<Incoming>, _peer| async move {
            let mut headers = BTreeMap::<String, Vec<String>>::new();
            for (name, value) in req.headers() {
                headers
                    .entry(name.as_str().to_owned())
                    .or_default()
                    .push(value.to_str().unwrap_or("<non-ascii>").to_owned());
            }
            let json = serde_json::json!({ "uri": req.uri().to_string(), "headers": headers });
            let mut response = Response::new(body::full(json.to_string()));
            let headers = response.headers_mut();
            headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
            headers.insert("x-upstream-private", HeaderValue::from_static("1"));
            headers.insert("x-upstream-public", HeaderValue::from_static("1"));
            headers.insert(
                header::CONNECTION,
                HeaderValue::from_static("x-upstream-private"),
            );
            response
        },
    )
    .unwrap()
}

/// A proxy to the single upstream `url`, waiting `timeout` for response headers.
fn single(url: &url::Url, timeout: Duration) -> Proxy {
    Proxy::from_upstreams(&[UpstreamConfig::single(url.clone(), timeout)]).unwrap()
}

fn url(addr: SocketAddr, path: &str) -> url::Url {
    url::Url::parse(&format!("http://{addr}{path}")).unwrap()
}

async fn json_body(response: Response<Body>) -> serde_json::Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn strips_hop_by_hop_and_sets_forwarded_headers_both_ways() {
    let upstream = echo_upstream().await;
    let proxy = single(&url(upstream.addr(), ""), Duration::from_secs(5));
    let req = Request::builder()
        .uri("/hello?x=1")
        .header(
            "connection",
            "keep-alive, x-client-hop, x-auth-request-groups",
        )
        .header("keep-alive", "timeout=5")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .header("te", "trailers")
        .header("upgrade", "h2c")
        .header("x-client-hop", "1")
        .header("x-auth-request-groups", "admins")
        .header("x-forwarded-for", "198.51.100.1")
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", "evil.example")
        .header("host", "app.example.com")
        .body(body::empty())
        .unwrap();

    let response = proxy.forward(req, None, &ctx("/hello?x=1")).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    for hop in ["connection", "keep-alive", "x-upstream-private"] {
        assert!(
            !response.headers().contains_key(hop),
            "{hop} reached the client"
        );
    }
    assert!(response.headers().contains_key("x-upstream-public"));
    let echoed = json_body(response).await;
    assert_eq!(echoed["uri"], "/hello?x=1");
    let headers = &echoed["headers"];
    for hop in [
        "connection",
        "keep-alive",
        "proxy-authorization",
        "te",
        "upgrade",
        "x-client-hop",
    ] {
        assert!(headers.get(hop).is_none(), "{hop} reached the upstream");
    }
    // Named in Connection by the client, but set by entrance: kept.
    assert_eq!(headers["x-auth-request-groups"][0], "admins");
    assert_eq!(headers["x-forwarded-for"][0], "203.0.113.7");
    assert_eq!(headers["x-forwarded-proto"][0], "https");
    assert_eq!(headers["x-forwarded-host"][0], "app.example.com");
    assert_eq!(headers["host"][0], upstream.addr().to_string());
    upstream.shutdown().await;
}

#[tokio::test]
async fn sets_forwarded_for_when_the_client_sent_none() {
    let upstream = echo_upstream().await;
    let proxy = single(&url(upstream.addr(), "/"), Duration::from_secs(5));
    let response = proxy
        .forward(Request::new(body::empty()), None, &ctx("/"))
        .await
        .unwrap();
    let echoed = json_body(response).await;
    assert_eq!(echoed["headers"]["x-forwarded-for"][0], "203.0.113.7");
    assert_eq!(echoed["uri"], "/");
    upstream.shutdown().await;
}

#[tokio::test]
async fn prefixes_the_upstream_base_path() {
    let upstream = echo_upstream().await;
    let proxy = single(&url(upstream.addr(), "/base/"), Duration::from_secs(5));
    let req = Request::new(body::empty());
    let response = proxy.forward(req, None, &ctx("/a/b?q=%20")).await.unwrap();
    assert_eq!(json_body(response).await["uri"], "/base/a/b?q=%20");
    upstream.shutdown().await;
}

#[tokio::test]
async fn rejects_a_path_that_is_not_origin_form() {
    let proxy = single(&url(([127, 0, 0, 1], 9).into(), ""), Duration::from_secs(5));
    let req = Request::new(body::empty());
    let error = proxy.forward(req, None, &ctx("*")).await.unwrap_err();
    assert!(matches!(error, ProxyError::BadRequest(_)), "{error:?}");
}

#[tokio::test]
async fn silent_upstream_is_a_timeout() {
    let silent = listener().await;
    let addr = silent.local_addr().unwrap();
    // Accept and hold connections open without ever answering.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let proxy = single(&url(addr, ""), Duration::from_millis(200));
    let req = Request::new(body::empty());
    let error = proxy.forward(req, None, &ctx("/")).await.unwrap_err();
    assert!(matches!(error, ProxyError::Timeout), "{error:?}");
    holder.abort();
}

#[test]
fn recognises_upgrade_requests() {
    let mut headers = HeaderMap::new();
    headers.insert("upgrade", HeaderValue::from_static("websocket"));
    assert!(!is_upgrade_request(&headers));
    headers.insert(
        "connection",
        HeaderValue::from_static("keep-alive, Upgrade"),
    );
    assert!(is_upgrade_request(&headers));
    headers.remove("upgrade");
    assert!(!is_upgrade_request(&headers));
    headers.insert("upgrade", HeaderValue::from_static("websocket"));
    headers.insert("connection", HeaderValue::from_static("upgrades"));
    assert!(!is_upgrade_request(&headers));
}

/// An upstream that accepts `Upgrade: echo` and echoes bytes on the upgraded connection.
async fn upgrade_upstream() -> Running {
    server::spawn(
        listener().await,
        |mut req: Request<Incoming>, _peer| async move {
            let upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let mut io = TokioIo::new(upgrade.await.unwrap());
                let mut buf = [0u8; 64];
                loop {
                    let n = io.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    io.write_all(&buf[..n]).await.unwrap();
                }
            });
            let mut response = Response::new(body::empty());
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            response
                .headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("echo"));
            response
        },
    )
    .unwrap()
}

#[tokio::test]
async fn tunnels_an_upgraded_connection() {
    let upstream = upgrade_upstream().await;
    let proxy = single(&url(upstream.addr(), ""), Duration::from_secs(5));
    let front = server::spawn(
        listener().await,
        move |mut req: Request<Incoming>, _peer| {
            let proxy = proxy.clone();
            async move {
                let upgrade =
                    is_upgrade_request(req.headers()).then(|| hyper::upgrade::on(&mut req));
                let req = req.map(body::stream);
                proxy.forward(req, upgrade, &ctx("/ws")).await.unwrap()
            }
        },
    )
    .unwrap();

    let mut client = TcpStream::connect(front.addr()).await.unwrap();
    client
        .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        client.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo"), "{head}");
    client.write_all(b"ping").await.unwrap();
    let mut echoed = [0u8; 4];
    client.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"ping");
}

#[test]
fn an_unusable_upstream_is_refused_at_start_saying_why() {
    let url = url::Url::parse("ftp://files.example").unwrap();
    let single = UpstreamConfig::single(url, Duration::from_secs(5));
    let Err(why) = Proxy::from_upstreams(&[single]) else {
        panic!("an ftp upstream was accepted");
    };
    assert!(why.to_string().contains("use http://, https://"), "{why}");
}

#[tokio::test]
async fn a_connect_error_names_the_upstream_and_the_cause() {
    let closed = listener().await;
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let proxy = single(&url(addr, ""), Duration::from_secs(5));
    let req = Request::new(body::empty());
    let error = proxy.forward(req, None, &ctx("/")).await.unwrap_err();
    let why = match error {
        ProxyError::Connect(why) => why.to_string(),
        other => panic!("expected a connect error, got {other:?}"),
    };
    assert!(
        why.starts_with(&format!("upstream / (http://{addr}/): ")),
        "{why}"
    );
    assert!(why.contains("refused"), "the OS's reason is kept: {why}");
}
