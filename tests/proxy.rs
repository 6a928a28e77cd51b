#![allow(clippy::unwrap_used)]
mod support;

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use sha2::{Digest as _, Sha256};
use support::*;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn fifty_megabyte_response_streams_to_the_client() {
    let stack = Stack::default().await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let (expected_size, expected_sha) = pattern_digest();
    let gate = stack.upstream.state.clone();

    let outcome = tokio::time::timeout(HANG_TIMEOUT, async {
        let response = browser
            .send_raw(browser.request(reqwest::Method::GET, &stack.url("/stream")))
            .await;
        if response.status() != 200 {
            panic!(
                "expected 200 from /stream (a 502 after about {GATE_TIMEOUT:?} means the \
                 upstream's first chunk never reached the client: entrance held the response \
                 body back)\n{}",
                Reply::read(response).await
            );
        }
        let mut body = response.bytes_stream();
        let mut hasher = Sha256::new();
        let mut size = 0usize;
        let mut released = false;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => panic!("response body failed after {size} bytes: {error:?}"),
            };
            size += chunk.len();
            hasher.update(&chunk);
            if !released && size >= FIRST_CHUNK {
                // The upstream sends the rest only now: a gateway that buffers whole bodies
                // never gets here.
                released = true;
                gate.stream_first_chunk_received.notify_one();
            }
        }
        (size, hex(&hasher.finalize()))
    })
    .await;
    let (size, sha) = outcome.expect("the streamed response hung");
    assert_eq!(size, expected_size, "response size");
    assert_eq!(sha, expected_sha, "response SHA-256");
}

#[tokio::test]
async fn fifty_megabyte_request_body_streams_to_the_upstream() {
    let stack = Stack::default().await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let (expected_size, expected_sha) = pattern_digest();

    let (tx, mut rx) = mpsc::channel(2);
    let state = stack.upstream.state.clone();
    // The client sends the rest only once the upstream has the first chunk: a gateway that
    // buffers whole request bodies deadlocks here (and the gate times out).
    spawn_gated_producer(
        tx,
        async move { state.upload_first_chunk_received.notified().await },
        "client upload",
    );
    let body =
        reqwest::Body::wrap_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));

    let reply = tokio::time::timeout(
        HANG_TIMEOUT,
        browser.send(
            browser
                .request(reqwest::Method::POST, &stack.url("/upload"))
                .header("content-type", "application/octet-stream")
                .body(body),
        ),
    )
    .await
    .expect("the streamed upload hung");
    assert_eq!(
        reply.status, 200,
        "upload failed (an error after about {GATE_TIMEOUT:?} means the client's first chunk \
         never reached the upstream: entrance held the request body back)\n{reply}"
    );
    let json = reply.json();
    assert_eq!(json["size"], expected_size, "{reply}");
    assert_eq!(json["sha256"], expected_sha, "{reply}");
    assert_eq!(
        stack.upstream.last().expect_header("x-auth-request-user"),
        ALICE
    );
}

#[tokio::test]
async fn websocket_echo_works_through_entrance() {
    let stack = Stack::default().await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let mut request = format!("ws://{}/ws", stack.addr())
        .into_client_request()
        .unwrap();
    let cookies = browser.cookie_header(&stack.url("/ws")).unwrap();
    request
        .headers_mut()
        .insert("cookie", cookies.parse().unwrap());

    let (mut socket, response) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("the WebSocket handshake hung")
    .unwrap_or_else(|error| panic!("WebSocket handshake through entrance failed: {error:?}"));
    assert_eq!(response.status(), 101);
    assert_eq!(
        stack.upstream.last().expect_header("x-auth-request-user"),
        ALICE
    );

    let binary: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let messages = vec![
        Message::text("hello through entrance"),
        Message::binary(binary),
        Message::text("second"),
    ];
    tokio::time::timeout(Duration::from_secs(30), async {
        for message in messages {
            socket.send(message.clone()).await.unwrap();
            let echoed = loop {
                match socket.next().await {
                    Some(Ok(m)) if m.is_text() || m.is_binary() => break m,
                    Some(Ok(_)) => continue,
                    other => panic!("no echo: {other:?}"),
                }
            };
            assert_eq!(echoed, message);
        }
        socket.close(None).await.unwrap();
    })
    .await
    .expect("the WebSocket echo hung");
}

#[tokio::test]
async fn websocket_without_a_session_is_refused() {
    let stack = Stack::default().await;
    let request = format!("ws://{}/ws", stack.addr())
        .into_client_request()
        .unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("the WebSocket handshake hung");
    assert!(result.is_err(), "WebSocket upgraded without a session");
    assert_eq!(stack.upstream.count(), 0);
}

#[tokio::test]
async fn upstream_down_gives_a_502_page_not_a_hang() {
    let port = closed_port().await;
    let stack = Stack::start(Options {
        upstream: Some(format!("http://127.0.0.1:{port}")),
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let reply = tokio::time::timeout(
        Duration::from_secs(60),
        browser.sign_in(&stack, ALICE, "/anything"),
    )
    .await
    .expect("request to a down upstream hung");
    assert_eq!(reply.status, 502, "{reply}");
    assert!(reply.is_html(), "{reply}");
    assert!(
        !reply.body.contains(&port.to_string()),
        "the 502 page leaks the upstream address\n{reply}"
    );
}

#[tokio::test]
async fn upstream_that_never_answers_gives_504() {
    let stack = Stack::start(Options {
        upstream_timeout: Some("1s".to_string()),
        ..Options::default()
    })
    .await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let reply = tokio::time::timeout(Duration::from_secs(60), browser.get(&stack.url("/hang")))
        .await
        .expect("request to a hanging upstream hung");
    assert_eq!(reply.status, 504, "{reply}");
    assert!(reply.is_html(), "{reply}");
}

#[tokio::test]
async fn request_method_path_query_and_body_reach_the_upstream() {
    let stack = Stack::default().await;
    let browser = Browser::signed_in(&stack, ALICE).await;
    let reply = browser
        .send(
            browser
                .request(reqwest::Method::PUT, &stack.url("/anything/x?a=1&b=%2F"))
                .header("accept", "text/html")
                .header("x-app-header", "kept")
                .body("payload"),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = stack.upstream.last();
    assert_eq!(seen.method, "PUT", "{seen}");
    assert_eq!(seen.target, "/anything/x?a=1&b=%2F", "{seen}");
    assert_eq!(seen.expect_header("x-app-header"), "kept", "{seen}");
}

#[tokio::test]
async fn each_path_goes_to_the_upstream_with_the_longest_prefix() {
    let api = Upstream::start().await;
    let stack = Stack::start(Options {
        upstream_yaml: Some(format!(
            "upstreams:\n  - {{prefix: /, url: \"{{upstream}}\"}}\n  \
             - {{prefix: /api/, url: \"http://{}\", strip_prefix: true}}",
            api.addr
        )),
        ..Options::default()
    })
    .await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let app_requests = stack.upstream.count();

    let reply = alice.get(&stack.url("/api/v1/items?q=1")).await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = api.last();
    assert_eq!(
        seen.target, "/v1/items?q=1",
        "the prefix was not stripped\n{seen}"
    );
    seen.assert_alice_identity();
    let reply = alice.get(&stack.url("/apix")).await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(
        stack.upstream.last().target,
        "/apix",
        "/apix is not under /api/"
    );
    assert_eq!(api.count(), 1);
    assert_eq!(stack.upstream.count(), app_requests + 1);
}

#[tokio::test]
async fn a_path_no_upstream_serves_is_404_after_the_policy() {
    let stack = Stack::start(Options {
        upstream_yaml: Some("upstreams:\n  - {prefix: /app/, url: \"{upstream}\"}".into()),
        ..Options::default()
    })
    .await;
    // Signed out, the answer is sign-in: nothing about the upstreams leaks.
    let anonymous = Browser::new().get(&stack.url("/elsewhere")).await;
    assert_eq!(anonymous.status, 302, "{anonymous}");
    let browser = Browser::new();
    let reply = browser.sign_in(&stack, ALICE, "/app/x").await;
    assert_eq!(reply.status, 200, "{reply}");
    let reply = browser.get(&stack.url("/elsewhere")).await;
    assert_eq!(reply.status, 404, "{reply}");
    assert!(reply.is_html(), "{reply}");
}

#[tokio::test]
async fn a_body_over_limits_max_body_bytes_is_refused_with_413_before_the_upstream() {
    let stack = Stack::start(Options {
        extra_yaml: "limits:\n  max_body_bytes: 1KiB\n".into(),
        ..Options::default()
    })
    .await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let before = stack.upstream.count();
    let big = alice
        .send(
            alice
                .request(reqwest::Method::POST, &stack.url("/anything"))
                .body(vec![b'x'; 2048]),
        )
        .await;
    assert_eq!(big.status, 413, "{big}");
    assert_eq!(
        stack.upstream.count(),
        before,
        "the upstream received the refused body"
    );
    let small = alice
        .send(
            alice
                .request(reqwest::Method::POST, &stack.url("/anything"))
                .body(vec![b'x'; 512]),
        )
        .await;
    assert_eq!(small.status, 200, "{small}");
}
