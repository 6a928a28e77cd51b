#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::HeaderValue;

use super::*;

/// A writer that keeps every line, for reading back what a subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for Captured {
    type Writer = Captured;
    fn make_writer(&'w self) -> Captured {
        self.clone()
    }
}

/// The JSON lines `emit` writes under the production JSON subscriber.
fn json_lines(filter: &str, emit: impl FnOnce()) -> Vec<serde_json::Value> {
    let captured = Captured::default();
    let subscriber = subscriber(
        LogFormat::Json,
        EnvFilter::new(filter),
        captured.clone(),
        false,
    );
    tracing::subscriber::with_default(subscriber, emit);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn headers_with_id(id: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(X_REQUEST_ID, HeaderValue::from_bytes(id).unwrap());
    headers
}

fn is_generated(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn a_trusted_well_formed_request_id_is_kept() {
    for id in ["abc", "A-b_c.9", &"x".repeat(128)] {
        assert_eq!(request_id(&headers_with_id(id.as_bytes()), true), id);
    }
}

#[test]
fn an_untrusted_request_id_is_replaced() {
    let id = request_id(&headers_with_id(b"client-chosen"), false);
    assert!(is_generated(&id), "{id}");
}

#[test]
fn a_malformed_request_id_is_replaced_even_when_trusted() {
    let long = "x".repeat(129);
    for bad in [
        &b""[..],
        b"has space",
        b"new\tline",
        b"a/b",
        b"<script>",
        b"caf\xc3\xa9",
        b"\xff",
        long.as_bytes(),
    ] {
        let id = request_id(&headers_with_id(bad), true);
        assert!(is_generated(&id), "{bad:?} gave {id}");
    }
    assert!(is_generated(&request_id(&HeaderMap::new(), true)));
}

#[test]
fn generated_request_ids_differ() {
    let a = request_id(&HeaderMap::new(), false);
    let b = request_id(&HeaderMap::new(), false);
    assert_ne!(a, b);
}

#[test]
fn the_access_line_is_one_flat_json_object_without_the_query() {
    let method = Method::GET;
    let lines = json_lines("info", || {
        AccessLog {
            request_id: "r1",
            client_ip: "192.0.2.7".parse().unwrap(),
            host: "app.example.com",
            method: &method,
            path: "/report?code=SECRET&state=S",
            status: 200,
            bytes: 1234,
            duration_ms: 12.5,
            upstream_ms: Some(10.25),
            oid: Some("oid-1"),
            tid: Some("tid-1"),
            decision: "allow",
        }
        .emit();
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["target"], "entrance::access");
    assert_eq!(line["level"], "INFO");
    assert!(line["timestamp"].is_string(), "{line}");
    assert_eq!(line["request_id"], "r1");
    assert_eq!(line["client_ip"], "192.0.2.7");
    assert_eq!(line["host"], "app.example.com");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/report");
    assert_eq!(line["status"], 200);
    assert_eq!(line["bytes"], 1234);
    assert_eq!(line["duration_ms"], 12.5);
    assert_eq!(line["upstream_ms"], 10.25);
    assert_eq!(line["oid"], "oid-1");
    assert_eq!(line["tid"], "tid-1");
    assert_eq!(line["decision"], "allow");
    assert!(!line.to_string().contains("SECRET"), "{line}");
}

#[test]
fn absent_optional_access_fields_are_left_out() {
    let method = Method::POST;
    let lines = json_lines("info", || {
        AccessLog {
            request_id: "r2",
            client_ip: "::1".parse().unwrap(),
            host: "h",
            method: &method,
            path: "/",
            status: 302,
            bytes: 0,
            duration_ms: 0.1,
            upstream_ms: None,
            oid: None,
            tid: None,
            decision: "sign_in",
        }
        .emit();
    });
    let line = &lines[0];
    for absent in ["upstream_ms", "oid", "tid"] {
        assert!(line.get(absent).is_none(), "{absent} in {line}");
    }
    assert_eq!(line["client_ip"], "::1");
}

#[test]
fn audit_events_have_their_own_target_and_fields() {
    let lines = json_lines("info", || {
        audit::sign_in("o", "t", "r");
        audit::sign_out(None, "r");
        audit::denied("o", "t", "not_in_group", "/admin/", "r");
        audit::refresh_failed("o", "t", "invalid_grant", "r");
        audit::revoked("o", "operator", "r");
    });
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        ["sign_in", "sign_out", "denied", "refresh_failed", "revoked"]
    );
    for line in &lines {
        assert_eq!(line["target"], "entrance::audit", "{line}");
        assert_eq!(line["request_id"], "r", "{line}");
    }
    assert_eq!(lines[2]["reason"], "not_in_group");
    assert_eq!(lines[2]["route"], "/admin/");
    assert!(lines[1].get("oid").is_none());
}

#[test]
fn audit_can_be_filtered_apart_from_the_access_log() {
    let method = Method::GET;
    let lines = json_lines("warn,entrance::audit=info", || {
        audit::sign_in("o", "t", "r");
        AccessLog {
            request_id: "r",
            client_ip: "127.0.0.1".parse().unwrap(),
            host: "h",
            method: &method,
            path: "/",
            status: 200,
            bytes: 0,
            duration_ms: 1.0,
            upstream_ms: None,
            oid: None,
            tid: None,
            decision: "public",
        }
        .emit();
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["target"], "entrance::audit");
}

#[test]
fn rust_log_wins_over_log_level_and_info_is_the_default() {
    let level = |filter: EnvFilter| filter.max_level_hint();
    use tracing::level_filters::LevelFilter;
    assert_eq!(
        level(filter(Some("trace".into()), Some("warn")).unwrap()),
        Some(LevelFilter::TRACE)
    );
    assert_eq!(
        level(filter(Some("  ".into()), Some("warn")).unwrap()),
        Some(LevelFilter::WARN)
    );
    assert_eq!(level(filter(None, None).unwrap()), Some(LevelFilter::INFO));
    assert!(filter(Some("=[".into()), None)
        .unwrap_err()
        .contains("RUST_LOG"));
}
