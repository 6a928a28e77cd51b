//! entrance as the front door: HTTPS with HTTP/2 (by ALPN) in front of two apps on two host
//! names, each with its own upstream (spoken to in HTTP/1.1), routes, sign-in and, when given,
//! certificate (chosen by the name the client asks for); and HTTP redirected to HTTPS.
#![allow(clippy::unwrap_used)]
mod support;
mod tls_support;

use std::net::SocketAddr;

use http::Version;
use tokio::net::TcpListener;

use entrance::emulator::EmulatorConfig;
use support::*;
use tls_support::{Leaf, TestCa};

/// Two sites on one HTTPS listener: `a.test` (everything public, upstream A) and `b.test`
/// (sign-in needed except `/public/`, upstream B).
struct FrontDoor {
    port: u16,
    addr: SocketAddr,
    emulator: entrance::emulator::Emulator,
    upstream_a: Upstream,
    upstream_b: Upstream,
    ca: TestCa,
    /// The `listen.tls` certificate.
    default_leaf: Leaf,
    /// b.test's own certificate (`hosts[0].tls`), with [`Certificates::PerHost`].
    b_leaf: Option<Leaf>,
    _serving: entrance::gateway::Serving,
    _certificates: tls_support::TempDir,
}

/// The certificates the listener serves.
enum Certificates {
    /// One certificate (`listen.tls`) naming both sites.
    Shared,
    /// `listen.tls` names a.test only; b.test has its own (`hosts[0].tls`).
    PerHost,
}

impl FrontDoor {
    async fn start() -> FrontDoor {
        FrontDoor::start_with(Certificates::Shared).await
    }

    async fn start_with(certificates: Certificates) -> FrontDoor {
        let ca = TestCa::new();
        let (default_leaf, b_leaf) = match certificates {
            Certificates::Shared => (ca.leaf_for(&["a.test", "b.test"]), None),
            Certificates::PerHost => (ca.leaf_for(&["a.test"]), Some(ca.leaf_for(&["b.test"]))),
        };
        let certificates = tls_support::TempDir::new();
        let files = certificates.write(&default_leaf);
        let b_tls = b_leaf.as_ref().map_or_else(String::new, |leaf| {
            let files = certificates.write_named("b", leaf);
            format!(
                "    tls: {{cert_file: {}, key_file: {}}}\n",
                files.cert_file.display(),
                files.key_file.display()
            )
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let port = addr.port();
        let redirect = TcpListener::bind("127.0.0.1:0").await.unwrap();

        let mut directory = EmulatorConfig::default();
        for site in ["a.test", "b.test"] {
            directory.apps[0]
                .redirect_uris
                .push(format!("https://{site}:{port}/oauth2/callback"));
        }
        let emulator = start_emulator_with(directory).await;
        let upstream_a = Upstream::start().await;
        let upstream_b = Upstream::start().await;
        let yaml = format!(
            "listen:\n  address: 127.0.0.1:0\n  tls: {{cert_file: {cert}, key_file: {key}}}\n  \
             redirect_http: 127.0.0.1:0\n\
             public_url: https://a.test:{port}\n\
             upstream: http://{a}\n\
             routes:\n  - {{path: /, public: true}}\n\
             provider:\n  authority: {authority}\n  tenant: organizations\n  \
             client_id: {client_id}\n  client_secret: ${{TEST_CLIENT_SECRET}}\n\
             session:\n  secret: \"{secret}\"\n\
             authorization:\n  allowed_tenants: [\"*\"]\n\
             hosts:\n  - public_url: https://b.test:{port}\n    upstream: http://{b}\n    \
             routes:\n      - {{path: /public/, public: true}}\n{b_tls}",
            cert = files.cert_file.display(),
            key = files.key_file.display(),
            a = upstream_a.addr,
            b = upstream_b.addr,
            authority = emulator.authority(),
            client_id = entrance::emulator::defaults::CLIENT_ID,
            secret = random_session_secret(),
        );
        let config = load_config(&yaml, entrance::emulator::defaults::CLIENT_SECRET);
        let serving = entrance::gateway::serve(
            config,
            entrance::gateway::Listeners {
                gateway: listener,
                admin: None,
                redirect_http: Some(redirect),
            },
        )
        .await
        .unwrap();
        let door = FrontDoor {
            port,
            addr,
            emulator,
            upstream_a,
            upstream_b,
            ca,
            default_leaf,
            b_leaf,
            _serving: serving,
            _certificates: certificates,
        };
        let client = door.client();
        for _ in 0..300 {
            let ready = client.get(door.url("a.test", "/readyz")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return door;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("entrance did not become ready over HTTPS");
    }

    fn url(&self, site: &str, path: &str) -> String {
        format!("https://{site}:{}{path}", self.port)
    }

    /// A browser-like client: trusts only the test CA, resolves both names to entrance, keeps
    /// cookies, follows no redirects, speaks HTTP/2 when the server offers it, and keeps the
    /// certificate each response came over ([`served_leaf`]).
    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca.cert_pem.as_bytes()).unwrap(),
            )
            .resolve("a.test", self.addr)
            .resolve("b.test", self.addr)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .tls_info(true)
            .build()
            .unwrap()
    }
}

/// The leaf certificate (DER) the server presented on the connection `response` came over.
fn served_leaf(response: &reqwest::Response) -> Vec<u8> {
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .unwrap();
    info.peer_certificate().unwrap().to_vec()
}

fn html(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.header("accept", "text/html")
}

#[tokio::test]
async fn two_apps_on_two_host_names_over_https_and_http2() {
    let door = FrontDoor::start().await;
    let browser = door.client();

    // a.test: public, upstream A, over HTTP/2.
    let response = browser
        .get(door.url("a.test", "/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.version(),
        Version::HTTP_2,
        "ALPN did not pick HTTP/2"
    );
    assert_eq!(door.upstream_a.count(), 1);
    assert_eq!(
        door.upstream_b.count(),
        0,
        "a.test reached b.test's upstream"
    );
    assert_eq!(door.upstream_a.last().target, "/hello");

    // b.test: its own routes: public under /public/, sign-in elsewhere, with its own redirect URI.
    let public = browser
        .get(door.url("b.test", "/public/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200);
    assert_eq!(door.upstream_b.count(), 1);
    let sign_in = html(browser.get(door.url("b.test", "/app?x=1")))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), 302);
    let authorize = url::Url::parse(sign_in.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        authorize.as_str().starts_with(&door.emulator.authority()),
        "{authorize}"
    );
    let redirect_uri = authorize
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned());
    assert_eq!(
        redirect_uri,
        Some(door.url("b.test", "/oauth2/callback")),
        "b.test must sign in with its own redirect URI"
    );
    let attempt = sign_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        attempt.starts_with("__Host-") && attempt.contains("Secure"),
        "{attempt}"
    );

    // Sign in at the emulator (plain HTTP), then the callback on b.test over HTTPS.
    let mut at_microsoft = authorize.clone();
    at_microsoft
        .query_pairs_mut()
        .append_pair("login_hint", ALICE);
    let emulator_reply = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(at_microsoft)
        .send()
        .await
        .unwrap();
    let callback = emulator_reply.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let back = browser.get(&callback).send().await.unwrap();
    assert_eq!(back.status(), 302, "{:?}", back.text().await);
    assert_eq!(back.headers()["location"], "/app?x=1");
    let app = html(browser.get(door.url("b.test", "/app?x=1")))
        .send()
        .await
        .unwrap();
    assert_eq!(app.status(), 200);
    assert_eq!(app.version(), Version::HTTP_2);
    let seen = door.upstream_b.last();
    seen.assert_alice_identity();
    assert_eq!(
        seen.header("x-forwarded-proto").as_deref(),
        Some("https"),
        "{seen}"
    );

    // The session is b.test's: a.test's upstream never sees an identity.
    browser
        .get(door.url("a.test", "/hello"))
        .send()
        .await
        .unwrap();
    assert!(door
        .upstream_a
        .last()
        .header("x-auth-request-email")
        .is_none());
}

#[tokio::test]
async fn plain_http_is_redirected_to_https() {
    let door = FrontDoor::start().await;
    let redirect = door._serving.redirect_http.as_ref().unwrap().addr();
    let reply = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("http://{redirect}/app?x=1"))
        .header("host", "b.test")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 301);
    assert_eq!(
        reply.headers()["location"],
        format!("https://b.test:{}/app?x=1", door.port).as_str()
    );
}

#[tokio::test]
async fn each_host_gets_its_own_certificate_by_the_name_the_client_asks_for() {
    let door = FrontDoor::start_with(Certificates::PerHost).await;
    let browser = door.client();

    // b.test's certificate names b.test only: the client would refuse a.test's.
    let b = browser
        .get(door.url("b.test", "/public/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(b.status(), 200);
    assert_eq!(
        served_leaf(&b),
        door.b_leaf.as_ref().unwrap().der().to_vec(),
        "b.test was not served its own certificate"
    );
    assert_eq!(door.upstream_b.count(), 1);
    assert_eq!(door.upstream_b.last().target, "/public/x");

    // a.test has no certificate of its own: it gets listen.tls.
    let a = browser
        .get(door.url("a.test", "/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);
    assert_eq!(served_leaf(&a), door.default_leaf.der().to_vec());
    assert_eq!(door.upstream_a.last().target, "/hello");
    assert_eq!(
        door.upstream_b.count(),
        1,
        "a.test reached b.test's upstream"
    );
}
