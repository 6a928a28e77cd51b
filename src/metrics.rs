//! Prometheus metrics: the process-wide recorder, one method per thing worth counting, and the
//! text rendering the admin listener serves. Also keeps the last sign-in failures for `/status`.
//!
//! Owns metric names and labels (Prometheus conventions: `entrance_` prefix, `_total` counters,
//! `_seconds` histograms). Must not: take attacker text as an unbounded label value (hosts are
//! capped, every other label is `&'static str` or a status code), or hold a lock across `.await`.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::Unit;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// How many sign-in failures `/status` can show.
const RECENT_FAILURES: usize = 100;
/// Distinct `host` label values before further hosts count as `other`: the Host header is the
/// client's to choose, and each new label value is a new time series held forever.
const MAX_HOSTS: usize = 32;
/// Longest host label kept (a DNS name is at most 253 characters).
const MAX_HOST_LEN: usize = 253;
/// Histogram buckets (seconds) for every `_seconds` metric: 1 ms to 60 s.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];
/// How often histogram samples are folded in when nobody scrapes (bounds their memory).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

const REQUESTS: &str = "entrance_requests_total";
const REQUEST_DURATION: &str = "entrance_request_duration_seconds";
const UPSTREAM_DURATION: &str = "entrance_upstream_duration_seconds";
const UPSTREAM_ERRORS: &str = "entrance_upstream_errors_total";
const SIGN_INS: &str = "entrance_sign_ins_total";
const BEARER: &str = "entrance_bearer_validations_total";
const IDP_REQUESTS: &str = "entrance_idp_requests_total";
const IDP_DURATION: &str = "entrance_idp_request_duration_seconds";
const OPEN_CONNECTIONS: &str = "entrance_open_connections";
const BUILD_INFO: &str = "entrance_build_info";

/// The one per-process instance (the recorder is global; tests start many gateways).
static INSTALLED: OnceLock<Arc<Metrics>> = OnceLock::new();

/// The metrics of this process. Cheap to share; every method is safe on the request path.
pub struct Metrics {
    handle: PrometheusHandle,
    /// Non-success sign-ins, oldest first, at most [`RECENT_FAILURES`]: (unix time, reason).
    recent_failures: Mutex<VecDeque<(i64, &'static str)>>,
    /// Host label values seen so far, at most [`MAX_HOSTS`].
    hosts: Mutex<HashSet<String>>,
}

impl Metrics {
    /// Install the global recorder once per process; later calls return the same instance.
    pub fn install() -> Arc<Metrics> {
        INSTALLED.get_or_init(Self::install_once).clone()
    }

    fn install_once() -> Arc<Metrics> {
        let builder = PrometheusBuilder::new();
        // `set_buckets` only fails on an empty list; without buckets histograms are summaries.
        let builder = match builder.set_buckets(&BUCKETS) {
            Ok(builder) => builder,
            Err(error) => {
                tracing::warn!(%error, "histogram buckets refused; latencies render as summaries");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(error) = metrics::set_global_recorder(recorder) {
            // Only when something else in the process installed a recorder first.
            tracing::warn!(%error, "a metrics recorder was already installed; /metrics stays empty");
        }
        spawn_upkeep(handle.clone());
        describe();
        metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        Arc::new(Metrics::with_handle(handle))
    }

    /// An instance with a registry of its own that nothing global records into: for unit tests
    /// that check the failure list or host labels without seeing other tests' calls.
    #[cfg(test)]
    pub(crate) fn detached() -> Metrics {
        Metrics::with_handle(PrometheusBuilder::new().build_recorder().handle())
    }

    fn with_handle(handle: PrometheusHandle) -> Metrics {
        Metrics {
            handle,
            recent_failures: Mutex::new(VecDeque::with_capacity(RECENT_FAILURES)),
            hosts: Mutex::new(HashSet::new()),
        }
    }

    /// Everything in the Prometheus text exposition format (0.0.4).
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// One finished request. `route` must come from config (bounded), not from the path.
    pub fn request(
        &self,
        host: &str,
        route: &str,
        method: &http::Method,
        status: u16,
        seconds: f64,
    ) {
        let route = route.to_owned();
        metrics::counter!(
            REQUESTS,
            "host" => self.host_label(host),
            "route" => route.clone(),
            "method_class" => method_class(method),
            "status" => status.to_string(),
        )
        .increment(1);
        metrics::histogram!(REQUEST_DURATION, "route" => route).record(seconds);
    }

    /// One upstream exchange; `outcome` is `ok`, `unreachable` or `timeout`.
    pub fn upstream(&self, seconds: f64, outcome: &'static str) {
        metrics::histogram!(UPSTREAM_DURATION).record(seconds);
        if outcome != "ok" {
            metrics::counter!(UPSTREAM_ERRORS, "kind" => outcome).increment(1);
        }
    }

    /// One sign-in: `outcome` is `success`, `denied` or `error`; `reason` a fixed code (a deny
    /// reason, `AADSTS50105`, `state_mismatch`, `invalid_token`…). Failures are kept for `/status`.
    pub fn sign_in(&self, outcome: &'static str, reason: &'static str, now: i64) {
        metrics::counter!(SIGN_INS, "outcome" => outcome, "reason" => reason).increment(1);
        if outcome == "success" {
            return;
        }
        let mut recent = match self.recent_failures.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if recent.len() == RECENT_FAILURES {
            recent.pop_front();
        }
        recent.push_back((now, reason));
    }

    /// One bearer token check: `valid`, `invalid` or `cached`.
    pub fn bearer(&self, outcome: &'static str) {
        metrics::counter!(BEARER, "outcome" => outcome).increment(1);
    }

    /// One call to the identity provider: `discovery`, `keys`, `token` or `graph`.
    pub fn idp_call(&self, call: &'static str, seconds: f64, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        metrics::counter!(IDP_REQUESTS, "call" => call, "outcome" => outcome).increment(1);
        metrics::histogram!(IDP_DURATION, "call" => call).record(seconds);
    }

    /// A session renewal with its refresh token: `renewed`, `refused` (the session ended) or
    /// `failed` (kept, retried later).
    pub fn session_renewal(&self, outcome: &'static str) {
        metrics::counter!(SESSION_RENEWALS, "outcome" => outcome).increment(1);
    }

    /// A session ended other than by its lifetime: `signed_out`, `idle`, `renewal_refused`,
    /// `frontchannel_logout`, `revoked`.
    pub fn session_ended(&self, reason: &'static str) {
        metrics::counter!(SESSIONS_ENDED, "reason" => reason).increment(1);
    }

    /// A request the session store (Redis) could not serve.
    pub fn session_store_error(&self) {
        metrics::counter!(SESSION_STORE_ERRORS).increment(1);
    }

    pub fn connection_opened(&self) {
        metrics::gauge!(OPEN_CONNECTIONS).increment(1.0);
    }

    pub fn connection_closed(&self) {
        metrics::gauge!(OPEN_CONNECTIONS).decrement(1.0);
    }

    /// A WebSocket (or other upgraded connection) tunnelled to the upstream opened or closed.
    pub fn websocket(&self, open: bool) {
        let gauge = metrics::gauge!("entrance_open_websockets");
        if open {
            gauge.increment(1.0);
        } else {
            gauge.decrement(1.0);
        }
    }

    /// The last sign-in failures, oldest first: (unix time, reason).
    pub fn recent_failures(&self) -> Vec<(i64, &'static str)> {
        let recent = match self.recent_failures.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        recent.iter().copied().collect()
    }

    /// `host` lower-cased, or `other` once [`MAX_HOSTS`] distinct hosts were seen.
    fn host_label(&self, host: &str) -> String {
        let host = host.to_ascii_lowercase();
        if host.len() > MAX_HOST_LEN {
            return "other".to_owned();
        }
        let mut seen = match self.hosts.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if seen.contains(&host) {
            return host;
        }
        if seen.len() < MAX_HOSTS {
            seen.insert(host.clone());
            return host;
        }
        "other".to_owned()
    }
}

/// `read` (GET, HEAD, OPTIONS), `write` (POST, PUT, PATCH, DELETE) or `other`.
fn method_class(method: &http::Method) -> &'static str {
    use http::Method;
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        "read"
    } else if method == Method::POST
        || method == Method::PUT
        || method == Method::PATCH
        || method == Method::DELETE
    {
        "write"
    } else {
        "other"
    }
}

/// HELP lines and units for every metric.
const SESSION_RENEWALS: &str = "entrance_session_renewals_total";
const SESSIONS_ENDED: &str = "entrance_sessions_ended_total";
const SESSION_STORE_ERRORS: &str = "entrance_session_store_errors_total";

fn describe() {
    metrics::describe_counter!(
        SESSION_RENEWALS,
        "Session renewals with the refresh token, by outcome"
    );
    metrics::describe_counter!(SESSIONS_ENDED, "Sessions ended early, by reason");
    metrics::describe_counter!(
        SESSION_STORE_ERRORS,
        "Requests the session store (Redis) could not serve"
    );
    metrics::describe_counter!(
        REQUESTS,
        "Requests answered, by host, route, method class and status"
    );
    metrics::describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Whole-request latency, by route"
    );
    metrics::describe_histogram!(UPSTREAM_DURATION, Unit::Seconds, "Upstream latency alone");
    metrics::describe_counter!(
        UPSTREAM_ERRORS,
        "Upstream failures, by kind (unreachable, timeout)"
    );
    metrics::describe_counter!(SIGN_INS, "Sign-ins, by outcome and reason");
    metrics::describe_counter!(BEARER, "Bearer token validations, by outcome");
    metrics::describe_counter!(IDP_REQUESTS, "Identity provider calls, by call and outcome");
    metrics::describe_histogram!(
        IDP_DURATION,
        Unit::Seconds,
        "Identity provider call latency, by call"
    );
    metrics::describe_gauge!(OPEN_CONNECTIONS, "Client connections open now");
    metrics::describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which build runs"
    );
}

/// Fold histogram samples in periodically. A plain thread: `install` may run outside a runtime.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        });
    if let Err(error) = spawned {
        // Rendering also folds samples in, so a scraped process stays bounded without it.
        tracing::warn!(%error, "cannot start the metrics upkeep thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_twice_gives_the_same_registry() {
        assert!(Arc::ptr_eq(&Metrics::install(), &Metrics::install()));
    }

    #[test]
    fn render_contains_the_counters_after_calls() {
        let metrics = Metrics::install();
        metrics.request("App.Example.com", "/api/", &http::Method::POST, 200, 0.02);
        metrics.upstream(0.01, "timeout");
        metrics.sign_in("denied", "tenant_not_allowed", 1_700_000_000);
        metrics.bearer("cached");
        metrics.idp_call("keys", 0.2, false);
        metrics.connection_opened();
        let text = metrics.render();
        for expected in [
            r#"entrance_requests_total{host="app.example.com",route="/api/",method_class="write",status="200"}"#,
            r#"entrance_request_duration_seconds_bucket{route="/api/",le="0.025"}"#,
            "entrance_upstream_duration_seconds_count",
            r#"entrance_upstream_errors_total{kind="timeout"}"#,
            r#"entrance_sign_ins_total{outcome="denied",reason="tenant_not_allowed"}"#,
            r#"entrance_bearer_validations_total{outcome="cached"}"#,
            r#"entrance_idp_requests_total{call="keys",outcome="error"}"#,
            r#"entrance_idp_request_duration_seconds_count{call="keys"}"#,
            "entrance_open_connections",
            r#"entrance_build_info{version=""#,
            "# TYPE entrance_requests_total counter",
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
    }

    #[test]
    fn successes_are_not_failures_and_failures_are_capped() {
        let metrics = Metrics::detached();
        metrics.sign_in("success", "ok", 1);
        metrics.sign_in("denied", "tenant_not_allowed", 2);
        assert_eq!(metrics.recent_failures(), vec![(2, "tenant_not_allowed")]);
        for i in 0..(RECENT_FAILURES as i64 + 5) {
            metrics.sign_in("error", "state_mismatch", 10 + i);
        }
        let recent = metrics.recent_failures();
        assert_eq!(recent.len(), RECENT_FAILURES);
        assert_eq!(
            recent.last(),
            Some(&(RECENT_FAILURES as i64 + 14, "state_mismatch"))
        );
    }

    #[test]
    fn methods_are_classed_and_hosts_capped() {
        assert_eq!(method_class(&http::Method::HEAD), "read");
        assert_eq!(method_class(&http::Method::DELETE), "write");
        assert_eq!(method_class(&http::Method::CONNECT), "other");
        let metrics = Metrics::detached();
        for i in 0..(MAX_HOSTS + 3) {
            metrics.host_label(&format!("h{i}.test"));
        }
        assert_eq!(metrics.host_label("never-seen.test"), "other");
        assert_eq!(metrics.host_label(&"a".repeat(300)), "other");
    }
}
