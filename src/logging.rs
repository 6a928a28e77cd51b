//! Logs: installing the `tracing` subscriber (JSON or text on stdout), request ids, the access-log
//! line and audit events.
//!
//! Owns the log targets and field names operators build dashboards on: `entrance::access` (one
//! line per request) and `entrance::audit` (sign-in, sign-out, denial, refresh failure,
//! revocation). Callers pass values, never formatted strings. Must not: take a token, code,
//! cookie, secret or query string — nothing here has a parameter that could carry one, and the
//! access path is cut at `?` in case a caller passes a whole target.

use std::io::IsTerminal as _;
use std::net::IpAddr;

use http::{HeaderMap, HeaderName, Method};
use rand::RngCore as _;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// The header carrying the request id, to the upstream and back to the client.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Target of the access log: one line per request.
pub const ACCESS_TARGET: &str = "entrance::access";
/// Target of the audit events, so they can be shipped and kept apart from the rest.
pub const AUDIT_TARGET: &str = "entrance::audit";

/// The filter when neither `RUST_LOG` nor `log.level` says otherwise.
const DEFAULT_LEVEL: &str = "info";
/// Longest client-supplied request id honoured; longer ones are replaced.
const MAX_REQUEST_ID: usize = 128;

/// One access-log line (target `entrance::access`, level info).
///
/// `upstream_ms`, `oid` and `tid` are left out of the line when `None`.
#[derive(Debug, Clone)]
pub struct AccessLog<'a> {
    pub request_id: &'a str,
    /// After trusted-proxy handling (today: the TCP peer).
    pub client_ip: IpAddr,
    pub host: &'a str,
    pub method: &'a Method,
    /// Path only; anything from `?` on is dropped before logging.
    pub path: &'a str,
    pub status: u16,
    /// Response `Content-Length` when known, else 0.
    pub bytes: u64,
    /// Whole request, from the first byte read to the response head.
    pub duration_ms: f64,
    /// Time the upstream took, when the request was proxied.
    pub upstream_ms: Option<f64>,
    pub oid: Option<&'a str>,
    pub tid: Option<&'a str>,
    /// `allow`, `public`, `sign_in`, `deny:<reason>`, `endpoint` or `error`.
    pub decision: &'a str,
}

/// Install the global subscriber on stdout: `RUST_LOG` (when set) wins over `log.level`, which
/// wins over `info`; JSON or text as `log.format` says, or by whether stdout is a terminal.
///
/// Errors only for a bad filter. A second call is a no-op: the first subscriber stays (tests and
/// embedders may have installed their own).
pub fn init(config: &LogConfig) -> Result<(), String> {
    let filter = filter(std::env::var("RUST_LOG").ok(), config.level.as_deref())?;
    let terminal = std::io::stdout().is_terminal();
    let format = config.format.unwrap_or(if terminal {
        LogFormat::Text
    } else {
        LogFormat::Json
    });
    // Before the subscriber, so its OpenTelemetry layer has a tracer to feed.
    #[cfg(feature = "otel")]
    if let Some(endpoint) = &config.otlp_endpoint {
        crate::telemetry::init(endpoint).map_err(|error| error.to_string())?;
    }
    // Fails only when a global subscriber (or `log` logger) is already set; see the doc above.
    let _ = subscriber(format, filter, std::io::stdout, terminal).try_init();
    Ok(())
}

/// The request id: the client's `X-Request-Id` only when `trusted` (it came through a trusted
/// proxy) and it is 1..=128 characters of `[A-Za-z0-9._-]`; otherwise a new random one (32 hex
/// digits). Never fails.
pub fn request_id(headers: &HeaderMap, trusted: bool) -> String {
    if trusted {
        let given = headers
            .get(&X_REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .filter(|id| is_valid_request_id(id));
        if let Some(id) = given {
            return id.to_owned();
        }
    }
    new_request_id()
}

impl AccessLog<'_> {
    /// Write the line.
    pub fn emit(&self) {
        let path = self
            .path
            .split_once('?')
            .map_or(self.path, |(path, _)| path);
        tracing::info!(
            target: ACCESS_TARGET,
            request_id = self.request_id,
            client_ip = %self.client_ip,
            host = self.host,
            method = self.method.as_str(),
            path,
            status = self.status,
            bytes = self.bytes,
            duration_ms = self.duration_ms,
            upstream_ms = self.upstream_ms,
            oid = self.oid,
            tid = self.tid,
            decision = self.decision,
            "request"
        );
    }
}

/// Audit events (target `entrance::audit`, level info), one function per event; the `event`
/// field names it.
pub mod audit {
    use super::AUDIT_TARGET;

    /// A user signed in (a session was issued).
    pub fn sign_in(oid: &str, tid: &str, request_id: &str) {
        tracing::info!(target: AUDIT_TARGET, event = "sign_in", oid, tid, request_id, "signed in");
    }

    /// A session was ended by the user; `oid` when the session was still readable.
    pub fn sign_out(oid: Option<&str>, request_id: &str) {
        tracing::info!(target: AUDIT_TARGET, event = "sign_out", oid, request_id, "signed out");
    }

    /// Microsoft's front-channel logout ended the sessions of a sign-in session; `ended` is how
    /// many (Redis), or `None` when sessions live in cookies (they are refused from now on).
    pub fn frontchannel_logout(ended: Option<usize>, request_id: &str) {
        tracing::info!(
            target: AUDIT_TARGET,
            event = "frontchannel_logout",
            ended,
            request_id,
            "front-channel logout"
        );
    }

    /// A signed-in user was refused by the authorization rules.
    pub fn denied(oid: &str, tid: &str, reason: &str, route: &str, request_id: &str) {
        tracing::info!(
            target: AUDIT_TARGET,
            event = "denied",
            oid,
            tid,
            reason,
            route,
            request_id,
            "denied"
        );
    }

    /// A session could not be refreshed at the identity provider; `reason` is a code, never the
    /// provider's response body.
    pub fn refresh_failed(oid: &str, tid: &str, reason: &str, request_id: &str) {
        tracing::info!(
            target: AUDIT_TARGET,
            event = "refresh_failed",
            oid,
            tid,
            reason,
            request_id,
            "session refresh failed"
        );
    }

    /// A session was revoked (by an operator or the identity provider); `reason` is a code.
    pub fn revoked(oid: &str, reason: &str, request_id: &str) {
        tracing::info!(
            target: AUDIT_TARGET,
            event = "revoked",
            oid,
            reason,
            request_id,
            "session revoked"
        );
    }
}

/// `RUST_LOG` when set and not blank, else `level`, else `info`.
fn filter(rust_log: Option<String>, level: Option<&str>) -> Result<EnvFilter, String> {
    match rust_log.filter(|value| !value.trim().is_empty()) {
        Some(value) => {
            EnvFilter::try_new(&value).map_err(|error| format!("RUST_LOG is not valid: {error}"))
        }
        None => EnvFilter::try_new(level.unwrap_or(DEFAULT_LEVEL))
            .map_err(|error| format!("log.level is not valid: {error}")),
    }
}

/// The subscriber for `format`, writing to `writer`: JSON puts event fields at the top level
/// with the target and a timestamp, no span fields (spans could carry request data a caller
/// did not mean to log).
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(true);
    match format {
        LogFormat::Json => Box::new(traced(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        )),
        LogFormat::Text => Box::new(traced(builder.with_ansi(ansi).finish())),
    }
}

/// `subscriber` with the OpenTelemetry layer on top when `log.otlp_endpoint` started the
/// exporter; as it is otherwise.
#[cfg(feature = "otel")]
fn traced<S>(subscriber: S) -> Box<dyn Subscriber + Send + Sync>
where
    S: Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span> + Send + Sync,
{
    use tracing_subscriber::layer::SubscriberExt as _;
    match crate::telemetry::layer() {
        Some(layer) => Box::new(subscriber.with(layer)),
        None => Box::new(subscriber),
    }
}

/// Without the `otel` feature the subscriber is used as it is.
#[cfg(not(feature = "otel"))]
fn traced<S>(subscriber: S) -> S {
    subscriber
}

fn is_valid_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "logging_tests.rs"]
mod tests;
