//! The listener as clients meet it: HTTPS with a certificate that is replaced on disk without a
//! restart (and not replaced by a broken one), HTTP/2 by ALPN beside HTTP/1.1, h2c when allowed,
//! the limits that keep one client from holding the server (slow heads, huge heads, too many
//! connections), the redirect-to-https listener, and draining on SIGTERM.
#![allow(clippy::unwrap_used)]

mod tls_support;

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

use entrance::body::{self, Body};
use entrance::server::{self, Limits, Running, ServeOptions};
use entrance::tls;
use tls_support::*;

/// Lets a test hold `/slow` requests in flight: each announces itself, then waits for a permit.
#[derive(Clone)]
struct Gate {
    entered: mpsc::UnboundedSender<()>,
    release: Arc<Semaphore>,
}

/// Answers with the request's HTTP version (`HTTP/1.1`, `HTTP/2.0`); `/slow` waits at the gate;
/// `/upgrade` switches to an echo protocol.
async fn handle(req: Request<Incoming>, gate: Gate) -> Response<Body> {
    let version = format!("{:?}", req.version());
    match req.uri().path() {
        "/slow" => {
            let _ = gate.entered.send(());
            let _permit = gate.release.acquire().await.unwrap();
            Response::new(body::full(format!("slow {version}")))
        }
        "/upgrade" => {
            tokio::spawn(async move {
                let upgraded = hyper::upgrade::on(req).await.unwrap();
                let mut io = hyper_util::rt::TokioIo::new(upgraded);
                let mut buf = [0u8; 64];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(http::header::CONNECTION, "upgrade")
                .header(http::header::UPGRADE, "echo")
                .body(body::empty())
                .unwrap()
        }
        _ => Response::new(body::full(version)),
    }
}

/// A listener serving [`handle`] as `options` say, and the gate of its `/slow` requests.
async fn start(options: ServeOptions) -> (Running, Gate, mpsc::UnboundedReceiver<()>) {
    let (entered, entered_rx) = mpsc::unbounded_channel();
    let gate = Gate {
        entered,
        release: Arc::new(Semaphore::new(0)),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handler_gate = gate.clone();
    let running = server::spawn_with(
        listener,
        options,
        move |req, _peer| handle(req, handler_gate.clone()),
        None,
    )
    .unwrap();
    (running, gate, entered_rx)
}

fn plain(limits: Limits) -> ServeOptions {
    ServeOptions { tls: None, limits }
}

/// An HTTPS listener for a fresh leaf of `ca`, written to `dir`.
async fn start_https(ca: &TestCa, dir: &TempDir) -> (Running, tls::CertReloader, Leaf) {
    let leaf = ca.leaf();
    let (config, reloader) = tls::server_config(&dir.write(&leaf)).unwrap();
    let options = ServeOptions {
        tls: Some(config),
        limits: Limits::default(),
    };
    (start(options).await.0, reloader, leaf)
}

async fn get_text(client: &reqwest::Client, url: &str) -> (StatusCode, Version, String) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status();
    let version = response.version();
    (status, version, response.text().await.unwrap())
}

// ---------------------------------------------------------------------------------------------
// HTTPS
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn https_is_served_with_the_configured_certificate_and_survives_a_failed_handshake() {
    let ca = TestCa::new();
    let dir = TempDir::new();
    let (running, _reloader, leaf) = start_https(&ca, &dir).await;
    let url = format!("https://127.0.0.1:{}/", running.addr().port());

    // Someone speaks plain HTTP to the HTTPS port, and someone hangs up mid-handshake.
    let mut stray = TcpStream::connect(running.addr()).await.unwrap();
    stray
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    within(
        "the stray connection to close",
        read_until_closed(&mut stray),
    )
    .await;
    drop(TcpStream::connect(running.addr()).await.unwrap());

    let client = https_client(&ca);
    let (status, version, body) = within("an HTTPS request", get_text(&client, &url)).await;
    assert_eq!(status, StatusCode::OK);
    // reqwest offers h2 and http/1.1 by ALPN: the server picks HTTP/2.
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(body, "HTTP/2.0");
    assert_eq!(
        within("a handshake", served_certificate(running.addr(), &ca)).await,
        leaf.der()
    );
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn_and_http11_still_works() {
    let ca = TestCa::new();
    let dir = TempDir::new();
    let (running, _reloader, _) = start_https(&ca, &dir).await;
    let uri = format!("https://localhost:{}/", running.addr().port());

    let tls = tls_connect(running.addr(), &ca, &[b"h2", b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(b"h2".as_slice()));
    let (version, body) = within("an HTTP/2 request", h2_get(tls, &uri))
        .await
        .unwrap();
    assert_eq!((version, body.as_str()), (Version::HTTP_2, "HTTP/2.0"));

    let tls = tls_connect(running.addr(), &ca, &[b"http/1.1"])
        .await
        .unwrap();
    let (version, body) = within("an HTTP/1.1 request", h1_get(tls, "/"))
        .await
        .unwrap();
    assert_eq!((version, body.as_str()), (Version::HTTP_11, "HTTP/1.1"));

    // A client that offers no ALPN at all gets HTTP/1.1.
    let tls = tls_connect(running.addr(), &ca, &[]).await.unwrap();
    let (_, body) = within("a request without ALPN", h1_get(tls, "/"))
        .await
        .unwrap();
    assert_eq!(body, "HTTP/1.1");
}

#[tokio::test]
async fn a_rewritten_certificate_is_served_without_a_restart() {
    let ca = TestCa::new();
    let dir = TempDir::new();
    let (running, reloader, first) = start_https(&ca, &dir).await;
    let _watch = reloader.watch(Duration::from_millis(50));
    assert_eq!(served_certificate(running.addr(), &ca).await, first.der());

    // cert-manager writes the certificate, then the key.
    let second = ca.leaf();
    let files = dir.files();
    std::fs::write(&files.cert_file, &second.cert_pem).unwrap();
    std::fs::write(&files.key_file, &second.key_pem).unwrap();

    within("the new certificate to be served", async {
        while served_certificate(running.addr(), &ca).await != second.der() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let (status, _, _) = get_text(
        &https_client(&ca),
        &format!("https://127.0.0.1:{}/", running.addr().port()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_broken_rewrite_keeps_the_old_certificate_serving() {
    let ca = TestCa::new();
    let dir = TempDir::new();
    let (running, reloader, first) = start_https(&ca, &dir).await;
    let files = dir.files();

    // A new certificate whose key has not arrived yet.
    std::fs::write(&files.cert_file, ca.leaf().cert_pem).unwrap();
    let error = reloader.reload_now().await.unwrap_err();
    assert!(error.to_string().contains("does not match"), "{error}");
    assert_eq!(served_certificate(running.addr(), &ca).await, first.der());

    // A certificate file cut off halfway.
    let half = &first.cert_pem[..first.cert_pem.len() / 2];
    std::fs::write(&files.cert_file, half).unwrap();
    let error = reloader.reload_now().await.unwrap_err();
    assert!(error.to_string().contains("tls.crt"), "{error}");
    assert_eq!(served_certificate(running.addr(), &ca).await, first.der());

    // Then a good pair arrives.
    let second = ca.leaf();
    dir.write(&second);
    assert_eq!(reloader.reload_now().await.unwrap(), tls::Reload::Replaced);
    assert_eq!(served_certificate(running.addr(), &ca).await, second.der());
}

// ---------------------------------------------------------------------------------------------
// h2c
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn h2c_with_prior_knowledge_is_served_when_allowed() {
    let limits = Limits {
        h2c: true,
        ..Limits::default()
    };
    let (running, _, _) = start(plain(limits)).await;
    let uri = format!("http://127.0.0.1:{}/", running.addr().port());

    let tcp = TcpStream::connect(running.addr()).await.unwrap();
    let (version, body) = within("an h2c request", h2_get(tcp, &uri)).await.unwrap();
    assert_eq!((version, body.as_str()), (Version::HTTP_2, "HTTP/2.0"));

    let tcp = TcpStream::connect(running.addr()).await.unwrap();
    let (_, body) = within("an HTTP/1.1 request", h1_get(tcp, "/"))
        .await
        .unwrap();
    assert_eq!(body, "HTTP/1.1");
}

#[tokio::test]
async fn h2c_is_refused_when_switched_off() {
    let limits = Limits {
        h2c: false,
        ..Limits::default()
    };
    let (running, _, _) = start(plain(limits)).await;
    let uri = format!("http://127.0.0.1:{}/", running.addr().port());

    let tcp = TcpStream::connect(running.addr()).await.unwrap();
    assert!(within("an h2c request", h2_get(tcp, &uri)).await.is_err());

    let tcp = TcpStream::connect(running.addr()).await.unwrap();
    let (_, body) = within("an HTTP/1.1 request", h1_get(tcp, "/"))
        .await
        .unwrap();
    assert_eq!(body, "HTTP/1.1");
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_client_that_sends_its_head_too_slowly_is_cut_off() {
    for h2c in [true, false] {
        let limits = Limits {
            header_read_timeout: Duration::from_secs(1),
            h2c,
            ..Limits::default()
        };
        let (running, _, _) = start(plain(limits)).await;

        let mut slow = TcpStream::connect(running.addr()).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: loc")
            .await
            .unwrap();
        let answer = within(
            "the half-sent head to be cut off",
            read_until_closed(&mut slow),
        )
        .await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "h2c {h2c}: {answer}"
        );

        // A client that never says anything is cut off too.
        let mut silent = TcpStream::connect(running.addr()).await.unwrap();
        within(
            "the silent client to be cut off",
            read_until_closed(&mut silent),
        )
        .await;
    }
}

#[tokio::test]
async fn an_oversize_request_head_gets_431() {
    let limits = Limits {
        max_header_bytes: 16 * 1024,
        ..Limits::default()
    };
    let (running, _, _) = start(plain(limits)).await;

    let mut stream = TcpStream::connect(running.addr()).await.unwrap();
    let big = "a".repeat(20 * 1024);
    let request = format!("GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\n\r\n");
    // The server may stop reading once the limit is passed; a failed write is fine.
    let _ = stream.write_all(request.as_bytes()).await;
    let answer = within(
        "an answer to the oversize head",
        read_until_closed(&mut stream),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // A head within the limit is served.
    let mut stream = TcpStream::connect(running.addr()).await.unwrap();
    let fits = "a".repeat(8 * 1024);
    let request = format!("GET / HTTP/1.1\r\nHost: localhost\r\nX-Fits: {fits}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let head = within("an answer", read_head(&mut stream)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn beyond_max_connections_a_client_waits_until_another_leaves() {
    let limits = Limits {
        max_connections: 1,
        ..Limits::default()
    };
    let (running, _, _) = start(plain(limits)).await;
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

    let mut first = TcpStream::connect(running.addr()).await.unwrap();
    first.write_all(request).await.unwrap();
    let head = within("the first answer", read_head(&mut first)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // The second connection is only queued: its request gets no answer while the first is open.
    let mut second = TcpStream::connect(running.addr()).await.unwrap();
    second.write_all(request).await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), second.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "the second connection was served: {early:?}"
    );

    drop(first);
    let head = within("the second answer", read_head(&mut second)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

// ---------------------------------------------------------------------------------------------
// Redirect to https
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_redirect_listener_sends_every_request_to_https() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = server::spawn_redirect_to_https(listener, 8443).unwrap();
    let base = format!("http://localhost:{}", running.addr().port());
    let client = http_client();

    let response = client.get(format!("{base}/a/b?c=d")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        response.headers()["location"],
        "https://localhost:8443/a/b?c=d"
    );

    let response = client.post(format!("{base}/form")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        response.headers()["location"],
        "https://localhost:8443/form"
    );

    // No Host at all: nothing to redirect to.
    let mut stream = TcpStream::connect(running.addr()).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let head = within("an answer without Host", read_head(&mut stream)).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}

// ---------------------------------------------------------------------------------------------
// Drain
// ---------------------------------------------------------------------------------------------

/// Connect until the listener refuses (it stops accepting once the drain has begun).
async fn until_refused(addr: std::net::SocketAddr) {
    while TcpStream::connect(addr).await.is_ok() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn drain_finishes_in_flight_requests_and_refuses_new_connections() {
    let (running, gate, mut entered) = start(plain(Limits::default())).await;
    let addr = running.addr();
    let url = format!("http://127.0.0.1:{}/slow", addr.port());

    let slow = tokio::spawn(async move { get_text(&http_client(), &url).await });
    within("the slow request to arrive", entered.recv()).await;

    let drained = tokio::spawn(running.drain(Duration::from_secs(60)));
    within("new connections to be refused", until_refused(addr)).await;

    gate.release.add_permits(1);
    let (status, _, body) = within("the slow response", slow).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "slow HTTP/1.1");
    within("the drain to end", drained).await.unwrap();
}

#[tokio::test]
async fn drain_keeps_upgraded_connections_until_the_deadline_then_closes_them() {
    let (running, _, _) = start(plain(Limits::default())).await;
    let addr = running.addr();

    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /upgrade HTTP/1.1\r\nHost: localhost\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let head = within("the upgrade", read_head(&mut socket)).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");

    let drained = tokio::spawn(running.drain(Duration::from_secs(1)));
    within("new connections to be refused", until_refused(addr)).await;

    // Draining has begun; the upgraded connection still works.
    socket.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    within("the echo", socket.read_exact(&mut echo))
        .await
        .unwrap();
    assert_eq!(&echo, b"ping");

    // At the deadline it is closed, and the drain ends.
    within(
        "the upgraded connection to be closed",
        read_until_closed(&mut socket),
    )
    .await;
    within("the drain to end", drained).await.unwrap();
}
