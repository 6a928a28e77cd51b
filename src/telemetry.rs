//! OpenTelemetry trace export (cargo feature `otel`): the OTLP/HTTP exporter behind
//! `log.otlp_endpoint`, the `tracing` layer that turns spans into OpenTelemetry spans, and the
//! W3C `traceparent` sent to the upstream.
//!
//! Must not: put anything in a span that the access log would not carry (no query string,
//! token, cookie or secret — the gateway's `request` span has method, path and request id), or
//! believe a client's `traceparent` (no proxy is trusted yet, so every trace starts here).
//!
//! The tracer provider is process-wide, like the subscriber it feeds: [`init`] sets it once at
//! start-up and [`shutdown`] flushes it at exit.

use std::sync::OnceLock;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Injector, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt as _};
use tracing_subscriber::registry::LookupSpan;
use url::Url;

/// The W3C trace context headers; both are replaced on the way to the upstream.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// The OTLP/HTTP path for traces, appended to `log.otlp_endpoint`.
const TRACES_PATH: &str = "v1/traces";
/// Bounds one export call, so a dead collector cannot hold the exit flush for long.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// The service name spans are reported under.
const SERVICE_NAME: &str = "entrance";

/// Set once by [`init`]; absent when the config has no `log.otlp_endpoint`.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Why trace export could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log.otlp_endpoint: cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("log.otlp_endpoint: {0} cannot take the path /v1/traces")]
    Endpoint(Url),
}

/// Start exporting spans to the OTLP/HTTP collector at `endpoint` (its `/v1/traces`), batched
/// on the SDK's own thread. Call before the tokio runtime starts (the blocking HTTP client must
/// not be built inside it); a second call keeps the first exporter.
pub fn init(endpoint: &Url) -> Result<(), TelemetryError> {
    if PROVIDER.get().is_some() {
        return Ok(());
    }
    let traces = traces_url(endpoint)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces.as_str())
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
        .build();
    // Lost only to a concurrent init; the loser's provider is dropped unused.
    let _ = PROVIDER.set(provider);
    Ok(())
}

/// The `tracing` layer feeding the exporter, or `None` (a no-op layer) when [`init`] did not
/// run.
pub fn layer<S>() -> Option<OpenTelemetryLayer<S, SdkTracer>>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let tracer = PROVIDER.get()?.tracer(SERVICE_NAME);
    Some(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Put the current span's context in `headers` as W3C `traceparent` (and `tracestate` when
/// there is one), replacing whatever the client sent. Without a recorded span (no exporter, or
/// the span filtered out) the headers are left as they are.
pub fn inject(headers: &mut HeaderMap) {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return;
    }
    headers.remove(TRACEPARENT);
    headers.remove(TRACESTATE);
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

/// Export the spans still queued and stop the exporter. Call once, at exit, outside the tokio
/// runtime; waits at most about [`EXPORT_TIMEOUT`] for the collector.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(error) = provider.shutdown() {
            tracing::warn!(%error, "could not flush the last spans to log.otlp_endpoint");
        }
    }
}

/// `endpoint` with `/v1/traces` after its path (OTLP/HTTP's per-signal path).
fn traces_url(endpoint: &Url) -> Result<Url, TelemetryError> {
    let mut base = endpoint.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(TRACES_PATH)
        .map_err(|_| TelemetryError::Endpoint(endpoint.clone()))
}

/// Writes propagation fields into an `http` header map; a field that is not a valid header is
/// skipped (the propagator only writes ASCII).
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn traces_path_is_appended_to_the_endpoint_path() {
        let cases = [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            ("http://c:4318/otlp", "http://c:4318/otlp/v1/traces"),
            ("https://c/otlp/", "https://c/otlp/v1/traces"),
        ];
        for (given, want) in cases {
            let url = Url::parse(given).unwrap();
            assert_eq!(traces_url(&url).unwrap().as_str(), want, "{given}");
        }
    }

    #[test]
    fn without_a_span_the_headers_are_left_alone() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static("client-value"));
        inject(&mut headers);
        assert_eq!(headers[TRACEPARENT], "client-value");
    }
}
