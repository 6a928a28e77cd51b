#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use tokio::net::TcpListener;

use super::*;
use crate::body::{full, Body};
use crate::server::{self, Running};

const TOKEN: &str = "graph-access-token";

/// How the fake Graph answers.
#[derive(Clone, Copy)]
enum Mode {
    /// 250 groups over three pages (100, 100, 50).
    Pages,
    /// 503 with Graph's error body.
    Down,
    /// A next link to another host.
    ForeignLink,
    /// A next link back to the first page, forever.
    Loop,
    /// 200 with a body that is not a page.
    Junk,
}

fn group(n: usize) -> String {
    format!("00000000-0000-0000-0000-{n:012}")
}

fn respond(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response
}

/// A fake Graph on 127.0.0.1:0; `hits` counts requests.
async fn fake_graph(mode: Mode) -> (Running, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let handler = move |req: Request<Incoming>, _peer: SocketAddr| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { answer(mode, addr, &req) }
    };
    (server::spawn(listener, handler).unwrap(), hits)
}

fn answer(mode: Mode, addr: SocketAddr, req: &Request<Incoming>) -> Response<Body> {
    let authorized = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v == format!("Bearer {TOKEN}").as_str());
    if !authorized {
        return respond(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": "InvalidAuthenticationToken", "message": "no"}}),
        );
    }
    let path = req.uri().path();
    assert_eq!(path, "/v1.0/me/transitiveMemberOf/microsoft.graph.group");
    let query = req.uri().query().unwrap_or_default().to_owned();
    let link = |token: &str| {
        format!(
            "http://{addr}/v1.0/me/transitiveMemberOf/microsoft.graph.group?$select=id&$top=999&$skiptoken={token}"
        )
    };
    match mode {
        Mode::Down => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": {"code": "serviceNotAvailable", "message": "try later"}}),
        ),
        Mode::Junk => respond(StatusCode::OK, json!({"values": []})),
        Mode::Loop => respond(
            StatusCode::OK,
            json!({"value": [{"id": group(1)}], "@odata.nextLink": link("again")}),
        ),
        Mode::ForeignLink => respond(
            StatusCode::OK,
            json!({"value": [{"id": group(1)}],
                   "@odata.nextLink": "https://evil.example/v1.0/me/transitiveMemberOf?$skiptoken=2"}),
        ),
        Mode::Pages => {
            let (range, next) = if query.contains("skiptoken=p3") {
                (200..250, None)
            } else if query.contains("skiptoken=p2") {
                (100..200, Some(link("p3")))
            } else {
                assert_eq!(query, "$select=id&$top=999");
                (0..100, Some(link("p2")))
            };
            let value: Vec<_> = range
                .map(|n| json!({"@odata.type": "#microsoft.graph.group", "id": group(n)}))
                .collect();
            let mut body = json!({"@odata.context": "x", "value": value});
            if let Some(next) = next {
                body["@odata.nextLink"] = json!(next);
            }
            respond(StatusCode::OK, body)
        }
    }
}

fn graph_at(running: &Running) -> Graph {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Graph::new(http, &running.addr().to_string()).unwrap()
}

#[tokio::test]
async fn every_page_is_followed_for_250_groups() {
    let (running, hits) = fake_graph(Mode::Pages).await;
    let ids = graph_at(&running)
        .transitive_group_ids(TOKEN)
        .await
        .unwrap();
    assert_eq!(ids.len(), 250);
    assert_eq!(ids, (0..250).map(group).collect::<Vec<_>>());
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    running.shutdown().await;
}

#[tokio::test]
async fn graph_down_is_an_error_naming_the_call_and_status() {
    let (running, _) = fake_graph(Mode::Down).await;
    let error = graph_at(&running)
        .transitive_group_ids(TOKEN)
        .await
        .unwrap_err();
    assert!(matches!(
        &error,
        GraphError::Status { page: 1, status, code: Some(code) }
            if *status == StatusCode::SERVICE_UNAVAILABLE && code == "serviceNotAvailable"
    ));
    let message = error.to_string();
    assert!(message.contains("transitiveMemberOf"), "{message}");
    assert!(message.contains("503"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");

    let unauthorized = graph_at(&running)
        .transitive_group_ids("wrong")
        .await
        .unwrap_err();
    assert!(unauthorized.to_string().contains("401"), "{unauthorized}");
    running.shutdown().await;
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused() {
    let (running, hits) = fake_graph(Mode::ForeignLink).await;
    let error = graph_at(&running)
        .transitive_group_ids(TOKEN)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, GraphError::ForeignLink { link_host, .. } if link_host == "evil.example"),
        "{error}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    running.shutdown().await;
}

#[tokio::test]
async fn endless_paging_and_junk_are_errors_not_partial_lists() {
    let (running, hits) = fake_graph(Mode::Loop).await;
    let error = graph_at(&running)
        .transitive_group_ids(TOKEN)
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::TooManyPages), "{error}");
    assert_eq!(hits.load(Ordering::SeqCst), MAX_PAGES);
    running.shutdown().await;

    let (running, _) = fake_graph(Mode::Junk).await;
    let error = graph_at(&running)
        .transitive_group_ids(TOKEN)
        .await
        .unwrap_err();
    assert!(
        matches!(error, GraphError::Unreadable { page: 1, .. }),
        "{error}"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_graph_is_an_error() {
    // Bind and drop: nothing listens on this port any more.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let graph = Graph::new(reqwest::Client::new(), &addr.to_string()).unwrap();
    let error = graph.transitive_group_ids(TOKEN).await.unwrap_err();
    assert!(
        matches!(error, GraphError::Unreachable { page: 1, .. }),
        "{error}"
    );
}

#[test]
fn hosts_are_https_except_loopback_and_never_azure_ad_graph() {
    let http = reqwest::Client::new;
    let base = |host: &str| Graph::new(http(), host).unwrap().base().to_string();
    assert_eq!(base("graph.microsoft.com"), "https://graph.microsoft.com/");
    assert_eq!(base("graph.microsoft.us"), "https://graph.microsoft.us/");
    assert_eq!(base("127.0.0.1:8443"), "http://127.0.0.1:8443/");
    assert_eq!(base("localhost:9"), "http://localhost:9/");
    assert_eq!(base("[::1]:9"), "http://[::1]:9/");
    for bad in [
        "graph.windows.net",
        "GRAPH.windows.net.",
        "graph.windows.net:443",
        "",
        "https://graph.microsoft.com",
        "graph.microsoft.com/v1.0",
        "user@graph.microsoft.com",
        "graph.microsoft.com?x",
        "graph microsoft com",
    ] {
        assert!(Graph::new(http(), bad).is_err(), "{bad:?} accepted");
    }
    let message = Graph::new(http(), "graph.windows.net")
        .unwrap_err()
        .to_string();
    assert!(message.contains("retired"), "{message}");
}
