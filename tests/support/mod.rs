//! Shared test support: a whole stack (the Microsoft emulator, a recording upstream and entrance)
//! on ephemeral loopback ports, and a browser-like client that keeps its own cookie jar and does
//! not follow redirects unless asked.
//!
//! Every helper panics with the status, `Location`, headers and body of the response it did not
//! expect, so a failing behaviour test says what entrance actually answered.

// Each test file uses a different part of this module.
#![allow(dead_code)]

pub mod nginx;
pub mod process;
pub mod redis;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::BodyExt as _;
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use url::Url;

use entrance::body::Body;
use entrance::emulator::{defaults, Emulator, EmulatorConfig};
use entrance::server::Running;

/// Test users of the emulator's built-in directory, by the username `login_hint` takes.
#[allow(unused_imports)]
pub use entrance::emulator::defaults::{ALICE, BOB, CAROL, DAVE};

/// Every header entrance sets for the upstream, lower-case. A client must never be able to send
/// any of them (in any spelling) through entrance.
pub const IDENTITY_HEADERS: &[&str] = &[
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-preferred-username",
    "x-auth-request-groups",
    "x-auth-request-roles",
    "x-auth-request-oid",
    "x-auth-request-tid",
    "x-auth-request-client-id",
    "x-forwarded-user",
    "x-forwarded-email",
];

/// Size of the first chunk of the streaming bodies; the other side waits for it.
pub const FIRST_CHUNK: usize = 64 * 1024;
/// Size of every later chunk of the streaming bodies.
pub const CHUNK: usize = 1024 * 1024;
/// Total size of the streaming bodies: 50 MB.
pub const STREAM_TOTAL: usize = 50 * 1024 * 1024;
/// How long a streaming side waits for the other side to see its first chunk. Only reached when
/// entrance holds a whole body back; then the body fails and so does the test.
pub const GATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the upstream's `/slow` takes to answer.
pub const SLOW: Duration = Duration::from_secs(2);
/// Turns a hang into a failure; never a statement about speed.
pub const HANG_TIMEOUT: Duration = Duration::from_secs(120);

/// Name of the variable the YAML takes the client secret from, through the injected lookup.
const SECRET_VAR: &str = "TEST_CLIENT_SECRET";

// ---------------------------------------------------------------------------------------------
// The stack
// ---------------------------------------------------------------------------------------------

/// What a test may change about the stack. `Options::default()` is the YAML of the brief:
/// tenant `organizations`, any tenant, any email domain, 8 h sessions, a random session secret.
#[derive(Debug, Clone)]
pub struct Options {
    pub tenant: String,
    /// Rendered as a YAML list; `["*"]` means any tenant.
    pub allowed_tenants: Vec<String>,
    pub allowed_email_domains: Vec<String>,
    /// `session.lifetime`, as written in YAML (`8h`, `2s`).
    pub lifetime: String,
    /// `session.secret` (base64); random when None.
    pub session_secret: Option<String>,
    /// Replaces the test upstream's URL (for example a closed port).
    pub upstream: Option<String>,
    /// Top-level `upstream_timeout`, as written in YAML.
    pub upstream_timeout: Option<String>,
    /// Replaces the emulator's client id.
    pub client_id: Option<String>,
    /// Replaces the emulator's client secret.
    pub client_secret: Option<String>,
    /// Appended to the YAML at the top level, verbatim.
    pub extra_yaml: String,
    /// The emulator's directory; `EmulatorConfig::default()` when None.
    pub emulator: Option<EmulatorConfig>,
    /// Replaces the `client_secret: ${TEST_CLIENT_SECRET}` line of `provider` (each line is
    /// indented under `provider`), e.g. `client_certificate: {cert_file: .., key_file: ..}`.
    pub credential_yaml: Option<String>,
    /// More keys of the `authorization` section, one `key: value` line each.
    pub authorization_yaml: Vec<String>,
    /// More `routes` entries after `/public/`, each a YAML flow mapping such as
    /// `{path: /admin/, allowed_roles: [Admin]}`.
    pub routes: Vec<String>,
    /// More keys of the `session` section, one `key: value` line each (`store: redis`).
    pub session_yaml: Vec<String>,
    /// Replaces the `upstream: URL` line, verbatim (e.g. an `upstreams:` list); `{upstream}` in
    /// it is the test upstream's URL.
    pub upstream_yaml: Option<String>,
    /// The port of `public_url` when browsers reach entrance through a proxy in front of it
    /// (the redirect URI then names the proxy); entrance's own port when None.
    pub public_port: Option<u16>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tenant: "organizations".to_string(),
            allowed_tenants: vec!["*".to_string()],
            allowed_email_domains: Vec::new(),
            lifetime: "8h".to_string(),
            session_secret: None,
            upstream: None,
            upstream_timeout: None,
            client_id: None,
            client_secret: None,
            extra_yaml: String::new(),
            emulator: None,
            credential_yaml: None,
            authorization_yaml: Vec::new(),
            routes: Vec::new(),
            session_yaml: Vec::new(),
            public_port: None,
            upstream_yaml: None,
        }
    }
}

impl Options {
    /// The gateway YAML, exactly as a user would write it.
    pub fn yaml(&self, public_port: u16, upstream: &str, authority: &str, secret: &str) -> String {
        let client_id = self.client_id.as_deref().unwrap_or(defaults::CLIENT_ID);
        let list = |items: &Vec<String>| serde_json::to_string(items).unwrap();
        let credential = match &self.credential_yaml {
            Some(lines) => lines
                .lines()
                .map(|line| format!("  {line}\n"))
                .collect::<String>(),
            None => format!("  client_secret: ${{{SECRET_VAR}}}\n"),
        };
        let authorization: String = self
            .authorization_yaml
            .iter()
            .map(|line| format!("  {line}\n"))
            .collect();
        let routes: String = self
            .routes
            .iter()
            .map(|route| format!("  - {route}\n"))
            .collect();
        let session: String = self
            .session_yaml
            .iter()
            .map(|line| format!("  {line}\n"))
            .collect();
        // A YAML list (`["new", "old"]`) is written as it is: a secret rotation.
        let secret = if secret.starts_with('[') {
            secret.to_string()
        } else {
            format!("\"{secret}\"")
        };
        let upstream = match &self.upstream_yaml {
            Some(lines) => lines.replace("{upstream}", upstream),
            None => format!("upstream: {upstream}"),
        };
        let mut yaml = format!(
            "listen: 127.0.0.1:0\n\
             public_url: http://127.0.0.1:{public_port}\n\
             {upstream}\n\
             provider:\n  \
               authority: {authority}\n  \
               tenant: {tenant}\n  \
               client_id: {client_id}\n\
             {credential}\
             session:\n  \
               secret: {secret}\n  \
               lifetime: {lifetime}\n\
             {session}\
             authorization:\n  \
               allowed_tenants: {tenants}\n  \
               allowed_email_domains: {domains}\n\
             {authorization}\
             routes:\n  \
               - path: /public/\n    \
                 public: true\n\
             {routes}",
            tenant = self.tenant,
            lifetime = self.lifetime,
            tenants = list(&self.allowed_tenants),
            domains = list(&self.allowed_email_domains),
        );
        if let Some(timeout) = &self.upstream_timeout {
            yaml.push_str(&format!("upstream_timeout: {timeout}\n"));
        }
        if !self.extra_yaml.is_empty() {
            yaml.push_str(&self.extra_yaml);
            if !self.extra_yaml.ends_with('\n') {
                yaml.push('\n');
            }
        }
        yaml
    }

    /// The client secret the YAML's `${TEST_CLIENT_SECRET}` resolves to.
    pub fn resolved_client_secret(&self) -> String {
        self.client_secret
            .clone()
            .unwrap_or_else(|| defaults::CLIENT_SECRET.to_string())
    }
}

/// A new session secret: base64 of 32 random bytes.
pub fn random_session_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Loads `yaml` as entrance would, with `client_secret` behind the injected variable lookup.
pub fn load_config(yaml: &str, client_secret: &str) -> entrance::config::Config {
    let secret = client_secret.to_string();
    let env = move |name: &str| (name == SECRET_VAR).then(|| secret.clone());
    match entrance::config::load_str(yaml, &env) {
        Ok(config) => config,
        Err(error) => panic!("test config did not load: {error}\n--- yaml ---\n{yaml}"),
    }
}

/// A port on loopback that nothing listens on (bound, then released).
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

/// The Microsoft emulator, the recording upstream and entrance, all on 127.0.0.1 port 0.
pub struct Stack {
    pub emulator: Emulator,
    pub upstream: Upstream,
    pub gateway: Running,
    /// The admin listener (`/metrics`, `/status`) on its own port.
    pub admin: Option<Running>,
    pub options: Options,
    /// The session secret actually in use (base64).
    pub session_secret: String,
    /// The YAML entrance was started with.
    pub yaml: String,
}

impl Stack {
    /// Starts everything and returns once entrance's `/readyz` answers 200.
    pub async fn start(options: Options) -> Stack {
        let emulator = start_emulator_with(options.emulator.clone().unwrap_or_default()).await;
        let upstream = Upstream::start().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = options
            .public_port
            .unwrap_or_else(|| listener.local_addr().unwrap().port());
        let upstream_url = options
            .upstream
            .clone()
            .unwrap_or_else(|| format!("http://{}", upstream.addr));
        let session_secret = options
            .session_secret
            .clone()
            .unwrap_or_else(random_session_secret);
        let yaml = options.yaml(port, &upstream_url, &emulator.authority(), &session_secret);
        let config = load_config(&yaml, &options.resolved_client_secret());
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (gateway, admin) = match tokio::time::timeout(
            Duration::from_secs(30),
            entrance::gateway::start_with_admin(config, listener, Some(admin_listener)),
        )
        .await
        {
            Ok(Ok((running, admin))) => (running, admin),
            Ok(Err(error)) => panic!("entrance did not start: {error}\n--- yaml ---\n{yaml}"),
            Err(_) => panic!("entrance::gateway::start did not return within 30s"),
        };
        let stack = Stack {
            emulator,
            upstream,
            gateway,
            admin,
            options,
            session_secret,
            yaml,
        };
        wait_ready(&stack.url("/readyz")).await;
        stack
    }

    /// Another entrance with this stack's emulator and upstream and `options` (same session
    /// secret unless `options` says otherwise), on its own port: a second replica, or the same
    /// deployment after a config change.
    pub async fn replica(&self, options: Options) -> Replica {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream_url = options
            .upstream
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.upstream.addr));
        let secret = options
            .session_secret
            .clone()
            .unwrap_or_else(|| self.session_secret.clone());
        let yaml = options.yaml(port, &upstream_url, &self.emulator.authority(), &secret);
        let config = load_config(&yaml, &options.resolved_client_secret());
        let gateway = match tokio::time::timeout(
            Duration::from_secs(30),
            entrance::gateway::start(config, listener),
        )
        .await
        {
            Ok(Ok(running)) => running,
            Ok(Err(error)) => panic!("replica did not start: {error}\n--- yaml ---\n{yaml}"),
            Err(_) => panic!("replica did not start within 30s"),
        };
        let replica = Replica { gateway, yaml };
        wait_ready(&replica.url("/readyz")).await;
        replica
    }

    /// Absolute URL of `path` on the admin listener.
    #[allow(dead_code)]
    pub fn admin_url(&self, path: &str) -> String {
        let admin = self
            .admin
            .as_ref()
            .expect("the stack starts an admin listener");
        format!("http://{}{}", admin.addr(), path)
    }

    /// Starts with the default options.
    pub async fn default() -> Stack {
        Stack::start(Options::default()).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.gateway.addr()
    }

    /// `http://127.0.0.1:PORT` of entrance.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Absolute URL of `path` (path and query) at entrance.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin(), path)
    }

    /// The redirect URI entrance must register with Microsoft.
    pub fn redirect_uri(&self) -> String {
        self.url("/oauth2/callback")
    }

    /// The key the browser's jar files entrance's cookies under.
    pub fn cookie_origin(&self) -> String {
        self.addr().to_string()
    }
}

/// A second entrance next to a [`Stack`] (see [`Stack::replica`]).
pub struct Replica {
    pub gateway: Running,
    pub yaml: String,
}

impl Replica {
    pub fn origin(&self) -> String {
        format!("http://{}", self.gateway.addr())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin(), path)
    }

    /// The key of this replica's cookies in a [`Browser`]'s jar.
    pub fn cookie_origin(&self) -> String {
        self.gateway.addr().to_string()
    }
}

/// Starts the emulator with its built-in directory on a port-0 listener.
pub async fn start_emulator() -> Emulator {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_emulator_on(listener).await
}

/// Starts the emulator on a listener the test bound earlier.
pub async fn start_emulator_on(listener: TcpListener) -> Emulator {
    match entrance::emulator::start(EmulatorConfig::default(), listener).await {
        Ok(emulator) => emulator,
        Err(error) => panic!("emulator did not start: {error}"),
    }
}

/// Starts the emulator with its directory `config` on a port-0 listener.
pub async fn start_emulator_with(config: EmulatorConfig) -> Emulator {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    match entrance::emulator::start(config, listener).await {
        Ok(emulator) => emulator,
        Err(error) => panic!("emulator did not start: {error}"),
    }
}

/// Polls `url` until it answers 200; panics with the last answer after 30 s.
pub async fn wait_ready(url: &str) {
    let client = reqwest::Client::new();
    let mut last = String::from("no answer yet");
    for _ in 0..600 {
        match client.get(url).send().await {
            Ok(response) if response.status() == 200 => return,
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                last = format!("{status}: {body}");
            }
            Err(error) => last = format!("{error}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered 200; last answer: {last}");
}

// ---------------------------------------------------------------------------------------------
// The upstream
// ---------------------------------------------------------------------------------------------

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query as received.
    pub target: String,
    /// Every header, in order, names lower-case, values lossily decoded.
    pub headers: Vec<(String, String)>,
}

impl Recorded {
    /// Assert the upstream saw exactly Alice's identity headers (the built-in emulator user).
    pub fn assert_alice_identity(&self) {
        use entrance::emulator::defaults::{
            ALICE_OID, ALL_STAFF_GROUP, CONTOSO_TID, ENGINEERING_GROUP,
        };
        for (name, want) in [
            ("x-auth-request-user", ALICE),
            ("x-auth-request-email", ALICE),
            ("x-auth-request-preferred-username", ALICE),
            ("x-auth-request-oid", ALICE_OID),
            ("x-auth-request-tid", CONTOSO_TID),
            ("x-auth-request-roles", "Admin"),
            ("x-forwarded-user", ALICE),
            ("x-forwarded-email", ALICE),
        ] {
            assert_eq!(self.expect_header(name), want, "{name}\n{self}");
        }
        let groups = self.expect_header("x-auth-request-groups");
        let groups: Vec<&str> = groups.split(',').map(str::trim).collect();
        assert!(groups.contains(&ENGINEERING_GROUP), "{self}");
        assert!(groups.contains(&ALL_STAFF_GROUP), "{self}");
    }

    /// The single value of `name`; panics when it is sent more than once.
    pub fn header(&self, name: &str) -> Option<String> {
        let all = self.all(name);
        assert!(
            all.len() <= 1,
            "upstream received {name} {} times: {all:?}\n{self}",
            all.len()
        );
        all.into_iter().next()
    }

    /// Every value of `name` (case-insensitive).
    pub fn all(&self, name: &str) -> Vec<String> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The value of `name`, which must be present.
    pub fn expect_header(&self, name: &str) -> String {
        match self.header(name) {
            Some(value) => value,
            None => panic!("upstream did not receive {name}\n{self}"),
        }
    }

    /// Cookie names and values the upstream received, over all `Cookie` headers.
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.all("cookie")
            .iter()
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| {
                let pair = pair.trim();
                if pair.is_empty() {
                    return None;
                }
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                Some((name.to_string(), value.to_string()))
            })
            .collect()
    }
}

impl fmt::Display for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "upstream received {} {}", self.method, self.target)?;
        for (name, value) in &self.headers {
            writeln!(f, "  {name}: {value}")?;
        }
        Ok(())
    }
}

/// The header name an upstream framework (CGI, PHP, Rails, ...) would see: lower-case, `_` read
/// as `-`.
pub fn canonical_header_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// State shared between the upstream's handler and the tests.
pub struct UpstreamState {
    requests: Mutex<Vec<Recorded>>,
    /// The test notifies this once `/stream`'s first chunk reached it through entrance.
    pub stream_first_chunk_received: Notify,
    /// The upstream notifies this once `/upload`'s first chunk reached it through entrance.
    pub upload_first_chunk_received: Notify,
}

/// A test upstream: records every request and answers
/// - `/stream`: a 50 MB streamed body that waits for the test to see its first chunk;
/// - `/upload`: reads the body as a stream, tells the test when the first chunk arrived, answers
///   `{"size": N, "sha256": "hex"}`;
/// - `/ws`: WebSocket echo;
/// - `/hang`: answers only after two minutes;
/// - `/slow`: answers after [`SLOW`];
/// - anything else (`/anything`, ...): 200 JSON `{method, target, headers: {name: [values]}}`.
pub struct Upstream {
    pub addr: SocketAddr,
    pub state: Arc<UpstreamState>,
    pub server: Running,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpstreamState {
            requests: Mutex::new(Vec::new()),
            stream_first_chunk_received: Notify::new(),
            upload_first_chunk_received: Notify::new(),
        });
        let shared = state.clone();
        let handler = move |req: Request<Incoming>, _peer: SocketAddr| {
            let state = shared.clone();
            async move { upstream_handle(state, req).await }
        };
        let server = entrance::server::spawn(listener, handler).unwrap();
        Upstream {
            addr,
            state,
            server,
        }
    }

    /// How many requests reached the upstream.
    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The last request; panics when there was none.
    pub fn last(&self) -> Recorded {
        match self.state.requests.lock().unwrap().last() {
            Some(recorded) => recorded.clone(),
            None => panic!("the upstream received no request"),
        }
    }
}

async fn upstream_handle(state: Arc<UpstreamState>, mut req: Request<Incoming>) -> Response<Body> {
    let recorded = Recorded {
        method: req.method().to_string(),
        target: req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| req.uri().path().to_string()),
        headers: req
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    state.requests.lock().unwrap().push(recorded.clone());
    match req.uri().path() {
        "/stream" => stream_response(state),
        "/upload" => upload_response(state, req).await,
        "/ws" => websocket_echo(&mut req),
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            text_response(StatusCode::OK, "too late")
        }
        "/slow" => {
            tokio::time::sleep(SLOW).await;
            text_response(StatusCode::OK, "slow answer")
        }
        _ => echo_response(&recorded),
    }
}

fn text_response(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(entrance::body::full(text.to_string()));
    *response.status_mut() = status;
    response
}

fn json_response(value: serde_json::Value) -> Response<Body> {
    let mut response = Response::new(entrance::body::full(value.to_string()));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn echo_response(recorded: &Recorded) -> Response<Body> {
    let mut headers = serde_json::Map::new();
    for (name, value) in &recorded.headers {
        let entry = headers
            .entry(name.clone())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let serde_json::Value::Array(values) = entry {
            values.push(serde_json::Value::String(value.clone()));
        }
    }
    json_response(serde_json::json!({
        "method": recorded.method,
        "target": recorded.target,
        "headers": headers,
    }))
}

/// A body fed by a channel: nothing is produced until the producer sends it.
pub struct ChannelBody(pub mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|item| item.map(|chunk| chunk.map(Frame::data)))
    }
}

/// The deterministic bytes of chunk `index` of a streaming body.
pub fn pattern_chunk(index: usize, len: usize) -> Bytes {
    let seed = index.wrapping_mul(7919);
    (0..len)
        .map(|j| (seed.wrapping_add(j.wrapping_mul(31)) % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// The chunks of a 50 MB streaming body: a first chunk of [`FIRST_CHUNK`], then [`CHUNK`]s.
pub fn pattern_sizes() -> Vec<usize> {
    let mut sizes = vec![FIRST_CHUNK];
    let mut left = STREAM_TOTAL - FIRST_CHUNK;
    while left > 0 {
        let size = left.min(CHUNK);
        sizes.push(size);
        left -= size;
    }
    sizes
}

/// Size and lower-case hex SHA-256 of the whole 50 MB pattern.
pub fn pattern_digest() -> (usize, String) {
    let mut hasher = Sha256::new();
    let mut total = 0;
    for (index, size) in pattern_sizes().into_iter().enumerate() {
        let chunk = pattern_chunk(index, size);
        total += chunk.len();
        hasher.update(&chunk);
    }
    (total, hex(&hasher.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends the first chunk, waits for `gate` (the receiving side saw it), then sends the rest.
/// When the gate never opens the body fails with an error that says why.
pub fn spawn_gated_producer(
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    gate: impl std::future::Future<Output = ()> + Send + 'static,
    side: &'static str,
) {
    tokio::spawn(async move {
        let sizes = pattern_sizes();
        if tx.send(Ok(pattern_chunk(0, sizes[0]))).await.is_err() {
            return;
        }
        if tokio::time::timeout(GATE_TIMEOUT, gate).await.is_err() {
            let _ = tx
                .send(Err(std::io::Error::other(format!(
                    "{side}: the first chunk never reached the other side; entrance holds the body back"
                ))))
                .await;
            return;
        }
        for (index, size) in sizes.into_iter().enumerate().skip(1) {
            if tx.send(Ok(pattern_chunk(index, size))).await.is_err() {
                return;
            }
        }
    });
}

fn stream_response(state: Arc<UpstreamState>) -> Response<Body> {
    let (tx, rx) = mpsc::channel(2);
    spawn_gated_producer(
        tx,
        async move { state.stream_first_chunk_received.notified().await },
        "upstream /stream",
    );
    let mut response = Response::new(entrance::body::stream(ChannelBody(rx)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/octet-stream"),
    );
    response
}

async fn upload_response(state: Arc<UpstreamState>, req: Request<Incoming>) -> Response<Body> {
    let mut body = req.into_body();
    let mut hasher = Sha256::new();
    let mut size = 0usize;
    let mut signalled = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    size += data.len();
                    hasher.update(&data);
                    if !signalled && size >= FIRST_CHUNK {
                        signalled = true;
                        state.upload_first_chunk_received.notify_one();
                    }
                }
            }
            Err(error) => {
                return text_response(
                    StatusCode::BAD_REQUEST,
                    &format!("upload body failed after {size} bytes: {error}"),
                )
            }
        }
    }
    json_response(serde_json::json!({ "size": size, "sha256": hex(&hasher.finalize()) }))
}

fn websocket_echo(req: &mut Request<Incoming>) -> Response<Body> {
    let upgrade = req
        .headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return text_response(StatusCode::BAD_REQUEST, "no sec-websocket-key");
    };
    if !upgrade {
        return text_response(StatusCode::BAD_REQUEST, "not a websocket upgrade");
    }
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let (mut sink, mut stream) = ws.split();
        while let Some(Ok(message)) = stream.next().await {
            if message.is_text() || message.is_binary() {
                if sink.send(message).await.is_err() {
                    break;
                }
            } else if message.is_close() {
                let _ = sink.close().await;
                break;
            }
        }
    });
    let mut response = Response::new(entrance::body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::UPGRADE,
        hyper::header::HeaderValue::from_static("websocket"),
    );
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    headers.insert(
        "sec-websocket-accept",
        hyper::header::HeaderValue::from_str(&derive_accept_key(key.as_bytes())).unwrap(),
    );
    response
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// A response read in full, easy to assert on and to print.
pub struct Reply {
    pub url: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Reply {
        let url = response.url().to_string();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(error) => format!("<body failed: {error}>"),
        };
        Reply {
            url,
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn location(&self) -> Option<String> {
        self.header("location")
    }

    /// The `Location` of a redirect; panics unless this is one.
    pub fn expect_redirect(&self) -> String {
        assert!(
            (300..400).contains(&self.status),
            "expected a redirect\n{self}"
        );
        match self.location() {
            Some(location) => location,
            None => panic!("redirect without Location\n{self}"),
        }
    }

    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or_default()
    }

    pub fn is_html(&self) -> bool {
        self.content_type().starts_with("text/html")
    }

    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.body) {
            Ok(value) => value,
            Err(error) => panic!("body is not JSON ({error})\n{self}"),
        }
    }

    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| SetCookie::parse(&String::from_utf8_lossy(v.as_bytes())))
            .collect()
    }

    /// Set-Cookie lines that create or replace a session cookie (not deletions).
    pub fn session_cookies_set(&self) -> Vec<SetCookie> {
        self.set_cookies()
            .into_iter()
            .filter(|c| is_session_cookie(&c.name) && !c.deletes())
            .collect()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- response from {} ---", self.url)?;
        writeln!(f, "status: {}", self.status)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {}", String::from_utf8_lossy(value.as_bytes()))?;
        }
        let body: String = self.body.chars().take(3000).collect();
        writeln!(f, "\n{body}")?;
        if self.body.chars().count() > 3000 {
            writeln!(f, "... (body truncated)")?;
        }
        Ok(())
    }
}

/// One `Set-Cookie` line.
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// Attributes as written, names lower-cased, e.g. ("max-age", "0"), ("httponly", "").
    pub attributes: Vec<(String, String)>,
    pub raw: String,
}

impl SetCookie {
    pub fn parse(raw: &str) -> SetCookie {
        let mut parts = raw.split(';');
        let pair = parts.next().unwrap_or("").trim();
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let attributes = parts
            .map(|attr| {
                let attr = attr.trim();
                let (n, v) = attr.split_once('=').unwrap_or((attr, ""));
                (n.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        SetCookie {
            name: name.trim().to_string(),
            value: value.trim().trim_matches('"').to_string(),
            attributes,
            raw: raw.to_string(),
        }
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// Whether a browser would delete the cookie on this line (Max-Age <= 0 or Expires past).
    pub fn deletes(&self) -> bool {
        if let Some(max_age) = self.attribute("max-age") {
            if let Ok(seconds) = max_age.parse::<i64>() {
                return seconds <= 0;
            }
        }
        if let Some(expires) = self.attribute("expires") {
            if let Some(at) = parse_http_date(expires) {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                return at <= now;
            }
        }
        false
    }
}

/// Whether `name` is one of entrance's session cookies: `_entrance` or a chunk `_entrance_N`
/// (with the `__Host-` prefix on https).
pub fn is_session_cookie(name: &str) -> bool {
    let name = name.strip_prefix("__Host-").unwrap_or(name);
    if name == "_entrance" {
        return true;
    }
    match name.strip_prefix("_entrance_") {
        Some(rest) => !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// Unix seconds of an IMF-fixdate (`Thu, 01 Jan 1970 00:00:00 GMT`).
fn parse_http_date(text: &str) -> Option<i64> {
    let text = text.trim();
    let (_, rest) = text.split_once(", ")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.len() < 4 {
        return None;
    }
    let day: i64 = fields[0].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m.eq_ignore_ascii_case(fields[1]))? as i64
        + 1;
    let year: i64 = fields[2].parse().ok()?;
    let hms: Vec<i64> = fields[3]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<_>>>()?;
    if hms.len() != 3 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

// ---------------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------------

/// A browser-like client: its own cookie jar (per `host:port`), `Accept: text/html`, and no
/// redirect is followed unless asked.
#[derive(Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    /// origin (`host:port`) -> cookie name -> value.
    jar: Arc<Mutex<BTreeMap<String, BTreeMap<String, String>>>>,
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static(
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            ),
        );
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .timeout(HANG_TIMEOUT)
            .build()
            .unwrap();
        Browser {
            client,
            jar: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    fn origin_of(url: &str) -> String {
        let parsed = match Url::parse(url) {
            Ok(parsed) => parsed,
            Err(error) => panic!("not an absolute URL: {url:?} ({error})"),
        };
        format!(
            "{}:{}",
            parsed.host_str().unwrap_or(""),
            parsed.port_or_known_default().unwrap_or(0)
        )
    }

    /// The `Cookie` header this browser sends to `url`, if any.
    pub fn cookie_header(&self, url: &str) -> Option<String> {
        let origin = Browser::origin_of(url);
        let jar = self.jar.lock().unwrap();
        let cookies = jar.get(&origin)?;
        if cookies.is_empty() {
            return None;
        }
        Some(
            cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// A request to `url` carrying this browser's cookies.
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let mut builder = self.client.request(method, url);
        if let Some(cookies) = self.cookie_header(url) {
            builder = builder.header(reqwest::header::COOKIE, cookies);
        }
        builder
    }

    /// Sends and stores any cookies set; the body is left unread.
    pub async fn send_raw(&self, builder: reqwest::RequestBuilder) -> reqwest::Response {
        let response = match builder.send().await {
            Ok(response) => response,
            Err(error) => panic!("request failed: {error:?}"),
        };
        self.store(response.url().as_str(), response.headers());
        response
    }

    /// Sends, stores cookies and reads the whole body.
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Reply {
        Reply::read(self.send_raw(builder).await).await
    }

    /// One GET, no redirect followed.
    pub async fn get(&self, url: &str) -> Reply {
        self.send(self.request(reqwest::Method::GET, url)).await
    }

    /// GET, following up to 10 redirects (relative Locations resolved); the final answer.
    pub async fn follow(&self, url: &str) -> Reply {
        let mut current = url.to_string();
        let mut hops = Vec::new();
        for _ in 0..=10 {
            let reply = self.get(&current).await;
            if !(300..400).contains(&reply.status) {
                return reply;
            }
            let location = reply.expect_redirect();
            hops.push(format!("{} -> {}", reply.status, location));
            current = resolve(&current, &location);
        }
        panic!("more than 10 redirects from {url}: {hops:#?}");
    }

    fn store(&self, url: &str, headers: &reqwest::header::HeaderMap) {
        let origin = Browser::origin_of(url);
        let mut jar = self.jar.lock().unwrap();
        let cookies = jar.entry(origin).or_default();
        for value in headers.get_all(reqwest::header::SET_COOKIE) {
            let cookie = SetCookie::parse(&String::from_utf8_lossy(value.as_bytes()));
            if cookie.deletes() {
                cookies.remove(&cookie.name);
            } else {
                cookies.insert(cookie.name, cookie.value);
            }
        }
    }

    /// Every cookie held for `origin` (`host:port`).
    pub fn cookies(&self, origin: &str) -> BTreeMap<String, String> {
        self.jar
            .lock()
            .unwrap()
            .get(origin)
            .cloned()
            .unwrap_or_default()
    }

    /// The session cookies (`_entrance`, `_entrance_N`) held for `origin`.
    pub fn session_cookies(&self, origin: &str) -> BTreeMap<String, String> {
        self.cookies(origin)
            .into_iter()
            .filter(|(name, _)| is_session_cookie(name))
            .collect()
    }

    pub fn set_cookie(&self, origin: &str, name: &str, value: &str) {
        self.jar
            .lock()
            .unwrap()
            .entry(origin.to_string())
            .or_default()
            .insert(name.to_string(), value.to_string());
    }

    pub fn remove_cookie(&self, origin: &str, name: &str) {
        if let Some(cookies) = self.jar.lock().unwrap().get_mut(origin) {
            cookies.remove(name);
        }
    }

    /// Replaces every cookie of `origin`.
    pub fn replace_cookies(&self, origin: &str, cookies: BTreeMap<String, String>) {
        self.jar.lock().unwrap().insert(origin.to_string(), cookies);
    }

    pub fn clear_cookies(&self) {
        self.jar.lock().unwrap().clear();
    }

    /// GET `path` at entrance and expect a 302 to the emulator's authorize endpoint; returns
    /// that authorize URL.
    pub async fn begin_sign_in(&self, stack: &Stack, path: &str) -> Url {
        let reply = self.get(&stack.url(path)).await;
        expect_authorize_redirect(stack, &reply)
    }

    /// At the emulator, sign `user` in via `login_hint` and return entrance's callback URL.
    pub async fn authorize(&self, authorize: &Url, user: &str) -> String {
        let mut url = authorize.clone();
        url.query_pairs_mut().append_pair("login_hint", user);
        let reply = self.get(url.as_str()).await;
        let location = match reply.location() {
            Some(location) if (300..400).contains(&reply.status) => location,
            _ => panic!("the emulator did not redirect back after signing {user} in\n{reply}"),
        };
        resolve(url.as_str(), &location)
    }

    /// The whole sign-in: `path` -> authorize (as `user`) -> callback -> back to `path`.
    /// Asserts every hop and returns the final answer (whatever its status).
    pub async fn sign_in(&self, stack: &Stack, user: &str, path: &str) -> Reply {
        let authorize = self.begin_sign_in(stack, path).await;
        let callback = self.authorize(&authorize, user).await;
        assert!(
            callback.starts_with(&stack.redirect_uri()),
            "the emulator sent the browser to {callback}, not to {}",
            stack.redirect_uri()
        );
        let reply = self.get(&callback).await;
        let location = reply.expect_redirect();
        assert_eq!(
            location, path,
            "after the callback entrance must send the browser back to the original URL\n{reply}"
        );
        assert!(
            !reply.session_cookies_set().is_empty(),
            "the callback set no session cookie\n{reply}"
        );
        self.get(&resolve(&callback, &location)).await
    }

    /// `sign_in`, then assert the landing page is the upstream's 200.
    pub async fn signed_in(stack: &Stack, user: &str) -> Browser {
        let browser = Browser::new();
        let reply = browser.sign_in(stack, user, "/anything").await;
        assert_eq!(reply.status, 200, "signed-in request not proxied\n{reply}");
        browser
    }
}

/// Resolves `location` against `base`.
pub fn resolve(base: &str, location: &str) -> String {
    match Url::parse(base).and_then(|b| b.join(location)) {
        Ok(url) => url.to_string(),
        Err(error) => panic!("cannot resolve Location {location:?} against {base}: {error}"),
    }
}

/// Asserts `reply` is a 302 to the emulator's authorize endpoint for this stack and returns it.
pub fn expect_authorize_redirect(stack: &Stack, reply: &Reply) -> Url {
    assert_eq!(
        reply.status, 302,
        "expected a 302 to Microsoft sign-in\n{reply}"
    );
    let location = reply.expect_redirect();
    let authority = stack.emulator.authority();
    assert!(
        location.starts_with(&format!("{authority}/")),
        "sign-in redirect does not go to the emulator at {authority}\n{reply}"
    );
    let url = match Url::parse(&location) {
        Ok(url) => url,
        Err(error) => panic!("Location is not a URL ({error})\n{reply}"),
    };
    assert!(
        url.path().ends_with("/authorize"),
        "sign-in redirect is not to an authorize endpoint\n{reply}"
    );
    url
}

/// The value of query parameter `name` of `url`.
pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// Asserts `reply` means "no session": a browser navigation is sent to sign-in.
pub fn assert_sends_to_sign_in(stack: &Stack, reply: &Reply) {
    assert_ne!(
        reply.status, 500,
        "a bad session must not be an error\n{reply}"
    );
    expect_authorize_redirect(stack, reply);
}

/// An API-style request (`Accept: application/json`) with this browser's cookies.
pub async fn api_get(browser: &Browser, url: &str) -> Reply {
    browser
        .send(
            browser
                .request(reqwest::Method::GET, url)
                .header(reqwest::header::ACCEPT, "application/json"),
        )
        .await
}

/// Asserts the 401 JSON answer entrance gives API calls without a session.
pub fn assert_api_unauthorized(reply: &Reply) {
    assert_eq!(
        reply.status, 401,
        "expected 401 for an API call without a session\n{reply}"
    );
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer"),
        "401 without `WWW-Authenticate: Bearer`\n{reply}"
    );
    assert!(
        reply.location().is_none(),
        "an API 401 must not redirect\n{reply}"
    );
    assert!(
        reply.content_type().starts_with("application/json"),
        "401 body is not JSON\n{reply}"
    );
    let _ = reply.json();
}

/// Open-redirect payloads from tests/data and, when present, ../shared/testdata (deduplicated,
/// in file order; the empty line counts as a payload).
pub fn open_redirect_payloads() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let own = root.join("tests/data/openredirects.txt");
    let mut payloads: Vec<String> = Vec::new();
    let text = std::fs::read_to_string(&own).unwrap();
    let mut push = |line: &str| {
        if !payloads.iter().any(|p| p == line) {
            payloads.push(line.to_string());
        }
    };
    for line in text.lines() {
        push(line);
    }
    let shared = root.join("../shared/testdata/openredirects.txt");
    match std::fs::read_to_string(&shared) {
        Ok(text) => {
            for line in text.lines() {
                push(line);
            }
        }
        Err(_) => println!(
            "note: {} not found; testing only tests/data/openredirects.txt",
            shared.display()
        ),
    }
    payloads
}

/// `payload` percent-encoded for a query value.
pub fn encode(payload: &str) -> String {
    url::form_urlencoded::byte_serialize(payload.as_bytes()).collect()
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir {
    pub path: PathBuf,
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl TempDir {
    pub fn new() -> TempDir {
        let mut bytes = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut bytes);
        let path = std::env::temp_dir().join(format!("entrance-test-{}", hex(&bytes)));
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    /// Writes (or replaces) `name` in the directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `path` as a double-quoted YAML scalar.
pub fn yaml_path(path: &std::path::Path) -> String {
    serde_json::to_string(&path.display().to_string()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Raw requests
// ---------------------------------------------------------------------------------------------

/// A response read off the wire by [`raw_request`].
pub struct RawReply {
    /// 0 when the server closed the connection without answering.
    pub status: u16,
    pub request: String,
    /// Status line and headers as received.
    pub head: String,
    pub body: String,
}

impl RawReply {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

impl fmt::Display for RawReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- raw request ---\n{}", self.request.trim_end())?;
        writeln!(f, "--- raw response (status {}) ---", self.status)?;
        writeln!(f, "{}", self.head.trim_end())?;
        let body: String = self.body.chars().take(1500).collect();
        writeln!(f, "\n{body}")
    }
}

/// Sends `method target HTTP/1.1` to `addr` with the request target written byte for byte as
/// given (no URL library in between normalises `..`, `.`, `//` or escapes), `Host: addr`, the
/// extra `headers` and `Connection: close`; reads the whole answer.
pub async fn raw_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> RawReply {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut bytes = Vec::new();
        // A reset after a complete answer still leaves the answer in `bytes`.
        let _ = stream.read_to_end(&mut bytes).await;
        bytes
    };
    let bytes = match tokio::time::timeout(HANG_TIMEOUT, exchange).await {
        Ok(bytes) => bytes,
        Err(_) => panic!("no answer within {HANG_TIMEOUT:?} to {request}"),
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .map(|(h, b)| (h.to_string(), b.to_string()))
        .unwrap_or_else(|| (text.clone(), String::new()));
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    RawReply {
        status,
        request,
        head,
        body,
    }
}

// ---------------------------------------------------------------------------------------------
// Bearer callers
// ---------------------------------------------------------------------------------------------

/// `method url` as an API client would send it: `Authorization: Bearer {token}`,
/// `Accept: application/json`, no cookies.
pub async fn bearer_request(method: reqwest::Method, url: &str, token: &str) -> Reply {
    let client = Browser::new();
    client
        .send(
            client
                .client
                .request(method, url)
                .header(reqwest::header::AUTHORIZATION, format!("Bearer {token}"))
                .header(reqwest::header::ACCEPT, "application/json"),
        )
        .await
}

/// GET `url` with a bearer token, as an API client.
pub async fn bearer_get(url: &str, token: &str) -> Reply {
    bearer_request(reqwest::Method::GET, url, token).await
}

/// Asserts the 401 entrance gives an invalid bearer token: `WWW-Authenticate: Bearer
/// error="invalid_token", ...`, never a redirect.
pub fn assert_invalid_token(reply: &Reply) {
    assert_eq!(
        reply.status, 401,
        "expected 401 for an invalid bearer token\n{reply}"
    );
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "401 without `WWW-Authenticate: Bearer error=\"invalid_token\"`\n{reply}"
    );
    assert!(
        reply.location().is_none(),
        "an invalid bearer token must not redirect\n{reply}"
    );
}
