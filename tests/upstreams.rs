//! Many upstreams through the proxy: chosen by path prefix, reached over a unix socket or https
//! with a private CA and a client certificate, with the client's Host kept on request, and a
//! silent network turned into a clean error.
#![allow(clippy::unwrap_used)]
#[path = "upstreams/pki.rs"]
mod pki;
mod support;
mod tls_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use url::Url;

use entrance::body::{self, Body};
use entrance::proxy::{ForwardContext, Proxy, ProxyError};
use entrance::upstream::{Target, UpstreamConfig, UpstreamTls};
use pki::{certs, key, pki, provider};
use support::{TempDir, Upstream};

const PUBLIC_HOST: &str = "app.example.com";

fn ctx(path_and_query: &str) -> ForwardContext<'_> {
    ForwardContext {
        forwarded_for: "203.0.113.7",
        proto: "https",
        host: PUBLIC_HOST,
        path_and_query,
    }
}

fn upstream_at(prefix: &str, target: Target) -> UpstreamConfig {
    let mut config = UpstreamConfig::single(
        Url::parse("http://replaced.invalid").unwrap(),
        Duration::from_secs(30),
    );
    config.prefix = prefix.to_owned();
    config.target = target;
    config
}

fn http(addr: SocketAddr) -> Target {
    Target::Url(Url::parse(&format!("http://{addr}")).unwrap())
}

fn https(addr: SocketAddr) -> Target {
    Target::Url(Url::parse(&format!("https://{addr}")).unwrap())
}

/// What the gateway does for an allowed request: choose the upstream by path, then forward.
/// The client sent `Host: app.example.com`.
async fn send(proxy: &Proxy, method: &str, path: &str, body: &str) -> Response<Body> {
    try_send(proxy, method, path, body).await.unwrap()
}

async fn try_send(
    proxy: &Proxy,
    method: &str,
    path: &str,
    body: &str,
) -> Result<Response<Body>, ProxyError> {
    let selected = proxy
        .select(path)
        .unwrap_or_else(|| panic!("no upstream serves {path}"));
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", PUBLIC_HOST)
        .body(body::full(body.to_owned()))
        .unwrap();
    proxy.forward_to(&selected, req, None, &ctx(path)).await
}

async fn json(response: Response<Body>) -> serde_json::Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Path prefixes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_longest_prefix_wins_and_strip_prefix_rewrites_the_path() {
    let app = Upstream::start().await;
    let api = Upstream::start().await;
    let mut api_config = upstream_at("/api/", http(api.addr));
    api_config.strip_prefix = true;
    let proxy = Proxy::from_upstreams(&[upstream_at("/", http(app.addr)), api_config]).unwrap();

    send(&proxy, "GET", "/api/users?page=2", "").await;
    assert_eq!(api.last().target, "/users?page=2");
    send(&proxy, "GET", "/api", "").await;
    assert_eq!(api.last().target, "/");
    send(&proxy, "GET", "/apiary/bees", "").await;
    assert_eq!(app.last().target, "/apiary/bees");
    send(&proxy, "GET", "/", "").await;
    assert_eq!(app.last().target, "/");

    assert_eq!(api.count(), 2, "the API got only its own requests");
    assert_eq!(app.count(), 2, "the app got only its own requests");
}

#[tokio::test]
async fn a_path_outside_every_prefix_has_no_upstream() {
    let api = Upstream::start().await;
    let docs = Upstream::start().await;
    let proxy = Proxy::from_upstreams(&[
        upstream_at("/api/", http(api.addr)),
        upstream_at("/docs/", http(docs.addr)),
    ])
    .unwrap();

    assert!(proxy.select("/other").is_none());
    assert!(proxy.select("/").is_none());
    let req = Request::new(body::empty());
    let error = proxy.forward(req, None, &ctx("/other")).await.unwrap_err();
    assert!(matches!(error, ProxyError::BadRequest(_)), "{error:?}");
    assert_eq!(api.count() + docs.count(), 0, "nothing was forwarded");
}

#[tokio::test]
async fn preserve_host_sends_the_clients_host_otherwise_the_upstreams() {
    let upstream = Upstream::start().await;
    let mut preserving = upstream_at("/kept/", http(upstream.addr));
    preserving.preserve_host = true;
    let proxy =
        Proxy::from_upstreams(&[upstream_at("/", http(upstream.addr)), preserving]).unwrap();

    send(&proxy, "GET", "/kept/x", "").await;
    assert_eq!(upstream.last().header("host").as_deref(), Some(PUBLIC_HOST));
    send(&proxy, "GET", "/x", "").await;
    assert_eq!(
        upstream.last().header("host"),
        Some(upstream.addr.to_string())
    );
    // Either way the upstream learns the public host from X-Forwarded-Host.
    assert_eq!(
        upstream.last().header("x-forwarded-host").as_deref(),
        Some(PUBLIC_HOST)
    );
}

// ---------------------------------------------------------------------------------------------
// Unix socket
// ---------------------------------------------------------------------------------------------

/// An HTTP/1.1 server on a unix socket that answers 201 with what it received as JSON.
fn unix_upstream(path: &std::path::Path) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
                let method = req.method().to_string();
                let target = req.uri().to_string();
                let host = req
                    .headers()
                    .get("host")
                    .map(|h| h.to_str().unwrap().to_owned());
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let reply = serde_json::json!({
                    "method": method,
                    "target": target,
                    "host": host,
                    "body": String::from_utf8_lossy(&body),
                });
                let mut response = Response::new(body::full(reply.to_string()));
                *response.status_mut() = StatusCode::CREATED;
                Ok::<_, Infallible>(response)
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    })
}

#[tokio::test]
async fn a_unix_socket_upstream_receives_the_body_and_answers() {
    let dir = TempDir::new();
    let socket = dir.path.join("app.sock");
    let server = unix_upstream(&socket);
    let mut config = upstream_at("/sock/", Target::Unix(socket.clone()));
    config.strip_prefix = true;
    let proxy = Proxy::from_upstreams(&[config]).unwrap();

    for round in 0..2 {
        // The second round goes over the pooled connection (or a new one): same answer.
        let response = send(&proxy, "POST", "/sock/upload?x=1", "hello over a socket").await;
        assert_eq!(response.status(), StatusCode::CREATED, "round {round}");
        let seen = json(response).await;
        assert_eq!(seen["method"], "POST");
        assert_eq!(seen["target"], "/upload?x=1");
        assert_eq!(seen["host"], "localhost");
        assert_eq!(seen["body"], "hello over a socket");
    }
    server.abort();
}

#[tokio::test]
async fn a_missing_unix_socket_is_a_connect_error_naming_it() {
    let dir = TempDir::new();
    let socket = dir.path.join("nobody-listens.sock");
    let proxy = Proxy::from_upstreams(&[upstream_at("/", Target::Unix(socket.clone()))]).unwrap();
    match try_send(&proxy, "GET", "/", "").await {
        Err(ProxyError::Connect(why)) => {
            let why = why.to_string();
            assert!(why.contains(&socket.display().to_string()), "{why}");
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// HTTPS: private CA, client certificates
// ---------------------------------------------------------------------------------------------

/// What an https upstream saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    client_certificate: bool,
}

/// An https upstream presenting `identity`; when `client_ca` is given it requires a client
/// certificate issued by it.
async fn tls_upstream(
    identity: &(String, String),
    client_ca: Option<&str>,
) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs(ca) {
                roots.add(cert).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots.into(),
                provider(),
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(certs(&identity.0), key(&identity.1))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let record = record.clone();
            tokio::spawn(async move {
                // A refused handshake is what some tests want; nothing to serve then.
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let client_certificate = tls.get_ref().1.peer_certificates().is_some();
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let record = record.clone();
                    async move {
                        record.lock().unwrap().push(Seen {
                            target: req.uri().to_string(),
                            client_certificate,
                        });
                        Ok::<_, Infallible>(Response::new(body::full("secure hello")))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn https_upstream(addr: SocketAddr, tls: UpstreamTls) -> UpstreamConfig {
    let mut config = upstream_at("/", https(addr));
    config.tls = tls;
    config
}

fn connect_error(result: Result<Response<Body>, ProxyError>) -> String {
    match result {
        Err(ProxyError::Connect(why)) => why.to_string(),
        other => panic!("expected a connect error (502), got {other:?}"),
    }
}

#[tokio::test]
async fn an_https_upstream_with_a_private_ca_is_trusted_through_ca_file() {
    let pki = pki();
    let files = TempDir::new();
    let ca_file = files.write("ca.pem", &pki.ca);
    let (addr, seen) = tls_upstream(&pki.server, None).await;
    let tls = UpstreamTls {
        ca_file: Some(ca_file),
        client_certificate: None,
    };
    let proxy = Proxy::from_upstreams(&[https_upstream(addr, tls)]).unwrap();

    let response = send(&proxy, "GET", "/hello?x=1", "").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "secure hello");
    assert_eq!(seen.lock().unwrap()[0].target, "/hello?x=1");
}

#[tokio::test]
async fn an_https_upstream_with_a_private_ca_is_refused_without_ca_file() {
    let pki = pki();
    let (addr, seen) = tls_upstream(&pki.server, None).await;
    let proxy = Proxy::from_upstreams(&[https_upstream(addr, UpstreamTls::default())]).unwrap();

    let why = connect_error(try_send(&proxy, "GET", "/", "").await);
    assert!(why.contains("UnknownIssuer"), "{why}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "no request may cross an untrusted connection"
    );
}

#[tokio::test]
async fn an_https_upstream_with_a_certificate_from_another_ca_is_refused() {
    let pki = pki();
    let files = TempDir::new();
    let ca_file = files.write("ca.pem", &pki.ca);
    let (addr, seen) = tls_upstream(&pki.stranger, None).await;
    let tls = UpstreamTls {
        ca_file: Some(ca_file),
        client_certificate: None,
    };
    let proxy = Proxy::from_upstreams(&[https_upstream(addr, tls)]).unwrap();

    let why = connect_error(try_send(&proxy, "GET", "/", "").await);
    // Both test CAs share a name, so rustls may say the signature is wrong rather than that
    // the issuer is unknown: refused either way.
    assert!(why.contains("invalid peer certificate"), "{why}");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_client_certificate_is_presented_to_an_upstream_that_requires_one() {
    let pki = pki();
    let files = TempDir::new();
    let tls = UpstreamTls {
        ca_file: Some(files.write("ca.pem", &pki.ca)),
        client_certificate: Some((
            files.write("client.pem", &pki.client.0),
            files.write("client.key", &pki.client.1),
        )),
    };
    let (addr, seen) = tls_upstream(&pki.server, Some(&pki.ca)).await;
    let proxy = Proxy::from_upstreams(&[https_upstream(addr, tls)]).unwrap();

    let response = send(&proxy, "POST", "/mtls", "body").await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].client_certificate, "{seen:?}");
}

#[tokio::test]
async fn without_a_client_certificate_an_upstream_that_requires_one_is_not_reached() {
    let pki = pki();
    let files = TempDir::new();
    let tls = UpstreamTls {
        ca_file: Some(files.write("ca.pem", &pki.ca)),
        client_certificate: None,
    };
    let (addr, seen) = tls_upstream(&pki.server, Some(&pki.ca)).await;
    let proxy = Proxy::from_upstreams(&[https_upstream(addr, tls)]).unwrap();

    // TLS 1.3 clients learn of the refusal only after their handshake: either error is a 502.
    let error = try_send(&proxy, "GET", "/", "").await.unwrap_err();
    assert!(
        matches!(error, ProxyError::Connect(_) | ProxyError::Upstream(_)),
        "{error:?}"
    );
    assert!(seen.lock().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Connect timeout
// ---------------------------------------------------------------------------------------------

/// A loopback port whose connects hang, as behind a firewall that drops packets: a listener with
/// the smallest backlog, never accepting, filled up until a connect no longer completes. Returns
/// the address, and the listener and connections to keep open meanwhile.
async fn blackhole() -> (SocketAddr, tokio::net::TcpListener, Vec<TcpStream>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..64 {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(stream) => held.push(stream.unwrap()),
            // The backlog is full: from now on the kernel drops our SYNs.
            Err(_still_connecting) => return (addr, listener, held),
        }
    }
    panic!("the listen backlog never filled; cannot simulate a silent network");
}

#[tokio::test]
async fn a_connect_to_a_silent_network_gives_up_after_the_connect_timeout() {
    let (addr, _listener, _held) = blackhole().await;
    let mut config = upstream_at("/", http(addr));
    config.timeouts.connect = Duration::from_millis(200);
    // Hang guard only: the connect timeout must answer first.
    config.timeouts.response_header = Duration::from_secs(60);
    let proxy = Proxy::from_upstreams(&[config]).unwrap();

    let why = connect_error(try_send(&proxy, "GET", "/", "").await);
    assert!(why.contains("connect timeout"), "{why}");
    assert!(why.contains(&addr.to_string()), "names the upstream: {why}");
}

#[test]
fn unreadable_tls_files_stop_the_proxy_from_starting() {
    let mut config = https_upstream(
        SocketAddr::from(([127, 0, 0, 1], 443)),
        UpstreamTls {
            ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
            client_certificate: None,
        },
    );
    config.prefix = "/secure/".to_owned();
    let error = Proxy::from_upstreams(&[config]).unwrap_err().to_string();
    assert!(
        error.starts_with("upstream /secure/: tls.ca_file /nonexistent/ca.pem: cannot be read"),
        "{error}"
    );
}
