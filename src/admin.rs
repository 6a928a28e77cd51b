//! The admin listener: `/metrics` for Prometheus, `/status` for the operator a user calls when
//! they cannot sign in, and `/healthz`. Bound apart from the public port (default loopback).
//!
//! Reads shared state only; must not change it, and must not show a secret (the config summary
//! arrives already redacted) or an unescaped value in HTML.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::header::{ACCEPT, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::body::{self, Body};
use crate::metrics::Metrics;
use crate::oidc::Provider;
use crate::pages::escape;
use crate::respond;
use crate::server::{self, Running};

/// What the Prometheus text format is served as.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything `/status` shows, handed over by whoever starts entrance.
pub struct StatusSource {
    pub version: &'static str,
    /// The config in service (every secret already redacted, shown as given) and its identity
    /// provider, asked for at every request: a reload replaces both.
    pub current: Box<dyn Fn() -> (Value, Arc<Provider>) + Send + Sync>,
    pub metrics: Arc<Metrics>,
}

/// Serve the admin endpoints on `listener` in a background task.
pub fn spawn(listener: tokio::net::TcpListener, source: StatusSource) -> std::io::Result<Running> {
    let source = Arc::new(source);
    server::spawn(listener, move |req: Request<_>, _peer| {
        let source = source.clone();
        async move { handle(&req, &source) }
    })
}

/// Answer one admin request (the body is never read).
fn handle<B>(req: &Request<B>, source: &StatusSource) -> Response<Body> {
    let path = req.uri().path();
    if !matches!(path, "/metrics" | "/status" | "/healthz") {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/metrics" => {
            let mut response = plain(StatusCode::OK, source.metrics.render());
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            response
        }
        "/status" if wants_json(req) => respond::json(StatusCode::OK, &status_json(source)),
        "/status" => respond::html(StatusCode::OK, status_html(&status_json(source))),
        _ => plain(StatusCode::OK, "ok\n"),
    }
}

fn wants_json<B>(req: &Request<B>) -> bool {
    req.headers()
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"))
}

fn plain(status: StatusCode, text: impl Into<bytes::Bytes>) -> Response<Body> {
    let mut response = Response::new(body::full(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The status as JSON; the HTML page is rendered from this, so both always agree.
pub fn status_json(source: &StatusSource) -> Value {
    let (config_summary, provider) = (source.current)();
    let metadata = provider.metadata();
    let key_count = provider.key_count();
    let reachable = provider.is_ready();
    let state = if metadata.is_none() {
        "not reachable: discovery not loaded"
    } else if key_count == 0 {
        "not reachable: no signing keys loaded"
    } else {
        "reachable"
    };
    json!({
        "version": source.version,
        "config": config_summary,
        "identity_provider": {
            "reachable": reachable,
            "state": state,
            "discovery_url": provider.discovery_url().as_str(),
            "issuer": metadata.as_ref().map(|m| m.issuer.as_str()),
            "key_count": key_count,
            "key_ids": provider.key_ids(),
            "keys_age_secs": provider.keys_age().map(|a| a.as_secs()),
        },
        "recent_sign_in_failures": failures_by_reason(&source.metrics.recent_failures()),
    })
}

/// Failures grouped by reason, most frequent first: reason, count, last seen (unix time).
fn failures_by_reason(failures: &[(i64, &'static str)]) -> Value {
    let mut groups: BTreeMap<&str, (u64, i64)> = BTreeMap::new();
    for (at, reason) in failures {
        let group = groups.entry(reason).or_insert((0, *at));
        group.0 += 1;
        group.1 = group.1.max(*at);
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    groups
        .into_iter()
        .map(|(reason, (count, last_seen))| {
            json!({ "reason": reason, "count": count, "last_seen": last_seen })
        })
        .collect()
}

/// The status page. Every value goes through [`escape`].
fn status_html(status: &Value) -> String {
    let idp = &status["identity_provider"];
    let reachable = idp["reachable"].as_bool().unwrap_or(false);
    let state = text(&idp["state"]);
    let state_html = if reachable {
        format!("<strong class=\"ok\">{}</strong>", escape(&state))
    } else {
        format!(
            "<strong class=\"broken\">BROKEN — {}</strong>",
            escape(&state)
        )
    };
    let mut failures = String::new();
    for group in status["recent_sign_in_failures"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        failures.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&text(&group["reason"])),
            escape(&text(&group["count"])),
            escape(&text(&group["last_seen"])),
        ));
    }
    if failures.is_empty() {
        failures.push_str("<tr><td colspan=\"3\">none</td></tr>");
    }
    let config = serde_json::to_string_pretty(&status["config"]).unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>entrance status</title><style>{STYLE}</style></head><body><main>\
<h1>entrance status</h1><p>Version {version}</p>\
<h2>Identity provider</h2><dl>\
<dt>State</dt><dd>{state_html}</dd>\
<dt>Discovery URL</dt><dd>{discovery}</dd>\
<dt>Issuer</dt><dd>{issuer}</dd>\
<dt>Signing keys</dt><dd>{keys} ({kids}), fetched {age} seconds ago</dd></dl>\
<h2>Recent sign-in failures</h2>\
<table><thead><tr><th scope=\"col\">Reason</th><th scope=\"col\">Count</th>\
<th scope=\"col\">Last seen (unix time)</th></tr></thead><tbody>{failures}</tbody></table>\
<h2>Configuration</h2><pre>{config}</pre>\
</main></body></html>",
        version = escape(&text(&status["version"])),
        discovery = escape(&text(&idp["discovery_url"])),
        issuer = escape(&text(&idp["issuer"])),
        keys = escape(&text(&idp["key_count"])),
        kids = escape(
            &idp["key_ids"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        ),
        age = escape(&text(&idp["keys_age_secs"])),
        config = escape(&config),
    )
}

/// A JSON value as display text: strings unquoted, null as "none".
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "none".to_owned(),
        other => other.to_string(),
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b}\
main{max-width:60rem}dt{font-weight:bold}dd{margin:0 0 .5rem 1rem}\
.ok{color:#0b6b0b}.broken{color:#b00020}table{border-collapse:collapse}\
td,th{border:1px solid #999;padding:.25rem .5rem;text-align:left}\
pre{background:#f4f4f4;padding:1rem;overflow:auto}";

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
