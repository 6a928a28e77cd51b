//! The `entrance` binary's own logs, at `RUST_LOG=trace` in JSON, over a whole sign-in, a
//! signed-in request, a sign-out and a forged callback: no secret, code, state or cookie value
//! appears in them, and the access log has one line per request.
//!
//! The binary runs as a child process (so `main`'s logging set-up is what is tested) against the
//! emulator and the recording upstream in this process.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use base64::Engine as _;
use entrance::emulator::defaults;
use support::*;

/// A value the test saw that must never be logged, with what it is (for the failure message).
struct Sensitive {
    what: String,
    value: String,
}

/// What one run of the scenario produced.
struct Run {
    logs: String,
    sensitive: Vec<Sensitive>,
    /// Requests sent to entrance (not to the emulator), in order.
    requests_to_entrance: usize,
    /// The path (with a query that must not be logged) of the signed-in request.
    signed_in_path: String,
}

/// Start everything, drive the scenario, stop the gateway and return its logs.
async fn run_scenario() -> Run {
    let emulator = start_emulator().await;
    let upstream = Upstream::start().await;
    let port = closed_port().await;
    let session_secret = random_session_secret();
    let options = Options {
        extra_yaml: "log:\n  format: json\nadmin:\n  listen: \"off\"\n".to_string(),
        ..Options::default()
    };
    let yaml = options
        .yaml(
            port,
            &format!("http://{}", upstream.addr),
            &emulator.authority(),
            &session_secret,
        )
        .replace(
            "listen: 127.0.0.1:0\n",
            &format!("listen: 127.0.0.1:{port}\n"),
        );
    let dir = TempDir::new();
    let config = dir.write("entrance.yaml", &yaml);
    let gateway = support::process::EntranceProcess::run(&config, "trace");
    let origin = format!("http://127.0.0.1:{port}");
    let cookie_origin = format!("127.0.0.1:{port}");
    wait_ready(&format!("{origin}/readyz")).await;
    // wait_ready's polls are requests too, but how many it needed is unknown: the access-log
    // count starts after the first line for /readyz that answered 200 (see below).

    let mut sensitive = vec![
        Sensitive {
            what: "client secret".into(),
            value: defaults::CLIENT_SECRET.into(),
        },
        Sensitive {
            what: "session secret (base64)".into(),
            value: session_secret.clone(),
        },
    ];
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&session_secret)
        .unwrap();
    sensitive.push(Sensitive {
        what: "session secret (url-safe base64)".into(),
        value: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw),
    });
    sensitive.push(Sensitive {
        what: "session secret (hex)".into(),
        value: hex(&raw),
    });
    // Every cookie value entrance ever set (attempt, session), by value.
    let mut cookie_values = std::collections::BTreeMap::new();
    let mut remember_cookies = |browser: &Browser| {
        for (name, value) in browser.cookies(&cookie_origin) {
            if !value.is_empty() {
                cookie_values.entry(value).or_insert(name);
            }
        }
    };

    let browser = Browser::new();
    let mut requests_to_entrance = 0;
    // 1. A protected page without a session: 302 to Microsoft, with an attempt cookie.
    let reply = browser.get(&format!("{origin}/anything")).await;
    requests_to_entrance += 1;
    assert_eq!(reply.status, 302, "{reply}");
    remember_cookies(&browser);
    let authorize = url::Url::parse(&reply.expect_redirect()).unwrap();
    // 2. Sign in at the emulator; it sends the browser back with a code and the state.
    let callback = browser.authorize(&authorize, ALICE).await;
    let callback_url = url::Url::parse(&callback).unwrap();
    for name in ["code", "state"] {
        let value = query_param(&callback_url, name).unwrap();
        assert!(value.len() >= 16, "{name} too short to grep for: {value}");
        sensitive.push(Sensitive {
            what: format!("authorization response {name}"),
            value,
        });
    }
    // 3. The callback: a session cookie, back to /anything.
    let reply = browser.get(&callback).await;
    requests_to_entrance += 1;
    assert_eq!(reply.status, 302, "{reply}");
    remember_cookies(&browser);
    assert!(
        !browser.session_cookies(&cookie_origin).is_empty(),
        "no session after the callback\n{reply}"
    );
    // 4. Signed in, with a query that must not reach the access log.
    let signed_in_path = "/anything?access_token=query-value-never-logged-7f3a9c".to_string();
    sensitive.push(Sensitive {
        what: "query string value".into(),
        value: "query-value-never-logged-7f3a9c".into(),
    });
    let reply = browser.get(&format!("{origin}{signed_in_path}")).await;
    requests_to_entrance += 1;
    assert_eq!(reply.status, 200, "{reply}");
    // 5. Sign out.
    let reply = browser.get(&format!("{origin}/oauth2/sign_out")).await;
    requests_to_entrance += 1;
    assert_eq!(reply.status, 302, "{reply}");
    // 6. A forged callback, with values of its own that must not be echoed into the logs.
    let forged_code = "forged-code-never-logged-91b2c3";
    let forged_state = "forged-state-never-logged-4d5e6f";
    sensitive.push(Sensitive {
        what: "forged code".into(),
        value: forged_code.into(),
    });
    sensitive.push(Sensitive {
        what: "forged state".into(),
        value: forged_state.into(),
    });
    let reply = browser
        .get(&format!(
            "{origin}/oauth2/callback?code={forged_code}&state={forged_state}"
        ))
        .await;
    requests_to_entrance += 1;
    assert!(
        (400..500).contains(&reply.status),
        "a forged callback is a client error\n{reply}"
    );

    for (value, name) in cookie_values {
        sensitive.push(Sensitive {
            what: format!("cookie {name}"),
            value,
        });
    }

    // Let the last lines reach the pipe before the process is stopped.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logs = gateway.stop();
    drop(upstream);
    drop(emulator);
    Run {
        logs,
        sensitive,
        requests_to_entrance,
        signed_in_path,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_code_state_or_cookie_appears_in_the_logs_at_trace() {
    let run = run_scenario().await;
    assert!(
        run.logs.lines().count() > 5,
        "the gateway logged almost nothing; is RUST_LOG honoured?\n{}",
        run.logs
    );
    for line in run.logs.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "log.format: json, yet a line is not JSON: {line}"
        );
    }
    let mut leaks = Vec::new();
    for Sensitive { what, value } in &run.sensitive {
        if let Some(line) = run.logs.lines().find(|line| line.contains(value.as_str())) {
            leaks.push(format!("{what} in: {line}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "leaked into the logs:\n{}",
        leaks.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_log_has_one_json_line_per_request_with_the_user() {
    let run = run_scenario().await;
    let access: Vec<serde_json::Value> = run
        .logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["target"] == "entrance::access")
        .collect();
    // Readiness polls come first; count from the first request that is not one.
    let scenario: Vec<&serde_json::Value> = access
        .iter()
        .skip_while(|line| line["path"] == "/readyz")
        .collect();
    assert_eq!(
        scenario.len(),
        run.requests_to_entrance,
        "one access line per request\n{scenario:#?}"
    );
    let mut ids = BTreeSet::new();
    for line in &access {
        let id = line["request_id"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "access line without request_id: {line}");
        assert!(ids.insert(id.to_string()), "request id reused: {line}");
        for field in ["client_ip", "host", "method", "path", "status", "decision"] {
            assert!(line.get(field).is_some(), "no {field}: {line}");
        }
    }
    let path_only = run.signed_in_path.split('?').next().unwrap();
    let signed_in = scenario
        .iter()
        .find(|line| line["path"] == path_only && line["status"] == 200)
        .unwrap_or_else(|| panic!("no access line for the signed-in request\n{scenario:#?}"));
    assert_eq!(signed_in["oid"], defaults::ALICE_OID, "{signed_in}");
    assert_eq!(signed_in["tid"], defaults::CONTOSO_TID, "{signed_in}");
    assert_eq!(signed_in["decision"], "allow", "{signed_in}");
    assert_eq!(signed_in["method"], "GET", "{signed_in}");
}
