//! `upstream` (one URL) and `upstreams` (a list by path prefix).

use super::*;
use crate::upstream::{Target, Timeouts, UpstreamConfig, UpstreamTls};

/// MINIMAL with its `upstream` line replaced by `lines`.
fn with_upstreams(lines: &str) -> String {
    MINIMAL.replace("upstream: http://127.0.0.1:8080\n", lines)
}

fn upstreams(text: &str) -> Vec<UpstreamConfig> {
    load_str(text, &no_env).unwrap().upstreams
}

fn url_target(text: &str) -> Target {
    Target::Url(text.parse().unwrap())
}

#[test]
fn the_single_upstream_form_is_one_entry_for_every_path() {
    let config = load_str(MINIMAL, &no_env).unwrap();
    assert_eq!(config.upstreams.len(), 1);
    let only = &config.upstreams[0];
    assert_eq!(only.prefix, "/");
    assert_eq!(only.target, url_target("http://127.0.0.1:8080/"));
    assert!(!only.strip_prefix && !only.preserve_host);
    assert_eq!(only.timeouts, Timeouts::default());
    assert_eq!(only.tls, UpstreamTls::default());
    assert_eq!(only.timeouts.response_header, Duration::from_secs(30));

    let config = load_str(&format!("{MINIMAL}upstream_timeout: 45s\n"), &no_env).unwrap();
    assert_eq!(
        config.upstreams[0].timeouts.response_header,
        Duration::from_secs(45)
    );
}

#[test]
fn the_single_form_also_takes_https_and_unix_sockets() {
    let text = with_upstreams("upstream: https://app.internal/base/\n");
    assert_eq!(
        upstreams(&text)[0].target,
        url_target("https://app.internal/base/")
    );
    let text = with_upstreams("upstream: unix:/run/app.sock\n");
    assert_eq!(
        upstreams(&text)[0].target,
        Target::Unix("/run/app.sock".into())
    );
    let text = with_upstreams("upstream: unix:///run/app.sock\n");
    assert_eq!(
        upstreams(&text)[0].target,
        Target::Unix("/run/app.sock".into())
    );
    let text = with_upstreams("upstream: unix:app.sock\n");
    let config = load_str_in(&text, &no_env, std::path::Path::new("/etc/entrance")).unwrap();
    assert_eq!(
        config.upstreams[0].target,
        Target::Unix("/etc/entrance/app.sock".into())
    );
}

#[test]
fn the_list_form_normalises_prefixes_and_reads_every_key() {
    let text = with_upstreams(
        "upstreams:
  - prefix: /api
    url: http://127.0.0.1:9000
    strip_prefix: true
    preserve_host: true
    timeouts: {connect: 1s, response_header: 2m, idle: 30s}
  - prefix: /
    url: unix:/run/app.sock
upstream_timeout: 20s
",
    );
    let config = load_str(&text, &no_env).unwrap();
    let [api, rest] = &config.upstreams[..] else {
        panic!("expected two upstreams: {:?}", config.upstreams);
    };
    assert_eq!(api.prefix, "/api/");
    assert_eq!(api.target, url_target("http://127.0.0.1:9000/"));
    assert!(api.strip_prefix && api.preserve_host);
    assert_eq!(
        api.timeouts,
        Timeouts {
            connect: Duration::from_secs(1),
            response_header: Duration::from_secs(120),
            idle: Duration::from_secs(30),
        }
    );
    assert_eq!(rest.prefix, "/");
    assert_eq!(rest.target, Target::Unix("/run/app.sock".into()));
    assert!(!rest.strip_prefix && !rest.preserve_host);
    // upstream_timeout is the default response-header timeout of every entry.
    assert_eq!(rest.timeouts.response_header, Duration::from_secs(20));
}

#[test]
fn a_list_without_a_root_prefix_loads() {
    let text = with_upstreams(
        "upstreams:\n  - {prefix: /api/, url: 'http://10.0.0.1:9000'}\n  \
         - {prefix: /static/, url: 'http://10.0.0.2'}\n",
    );
    let config = load_str(&text, &no_env).unwrap();
    let prefixes: Vec<&str> = config.upstreams.iter().map(|u| u.prefix.as_str()).collect();
    assert_eq!(prefixes, ["/api/", "/static/"]);
    assert_eq!(
        config.upstreams[0].target,
        url_target("http://10.0.0.1:9000/")
    );
}

#[test]
fn exactly_one_of_upstream_and_upstreams() {
    let both = format!("{MINIMAL}upstreams:\n  - {{prefix: /, url: 'http://a'}}\n");
    assert_eq!(
        problems(&both, &no_env),
        [
            "upstreams: give upstream (one app for every path) or upstreams (a list by path \
          prefix), not both"
        ]
    );
    let neither = with_upstreams("");
    assert!(has(
        &problems(&neither, &no_env),
        "upstream: required; the URL of the app behind entrance"
    ));
    let empty = with_upstreams("upstreams: []\n");
    assert!(has(
        &problems(&empty, &no_env),
        "upstreams: lists no upstream"
    ));
}

#[test]
fn upstream_entries_are_checked_at_their_key_path() {
    let cases = [
        (
            "- {prefix: /api, url: 'http://a'}\n  - {prefix: /api/, url: 'http://b'}",
            "upstreams[1].prefix: /api/ is also the prefix of upstreams[0]; each prefix may \
             appear once",
        ),
        (
            "- {prefix: api/, url: 'http://a'}",
            "upstreams[0].prefix: must start with /",
        ),
        (
            "- {prefix: '/a?b', url: 'http://a'}",
            "upstreams[0].prefix: must be a path only",
        ),
        (
            "- {prefix: '/a%2Fb/', url: 'http://a'}",
            "upstreams[0].prefix: is refused like a request",
        ),
        ("- {url: 'http://a'}", "upstreams[0].prefix: required"),
        ("- {prefix: /}", "upstreams[0].url: required"),
        (
            "- {prefix: /, url: 'ftp://a'}",
            "upstreams[0].url: must be an http:// or https://",
        ),
        (
            "- {prefix: /, url: 'unix:'}",
            "upstreams[0].url: names no socket",
        ),
        (
            "- {prefix: /, url: 'http://a?x=1'}",
            "upstreams[0].url: must have no query",
        ),
        (
            "- {prefix: /, url: 'http://a', timeouts: {connect: soon}}",
            "upstreams[0].timeouts.connect: \"soon\" is not a duration",
        ),
        (
            "- {prefix: /, url: 'http://a', timeout: 5s}",
            "upstreams[0].timeout: unknown key; expected one of prefix, url, strip_prefix",
        ),
        (
            "- {prefix: /, url: 'http://a', timeouts: {read: 5s}}",
            "upstreams[0].timeouts.read: unknown key; expected one of connect, response_header, \
             idle",
        ),
    ];
    for (entries, expected) in cases {
        let text = with_upstreams(&format!("upstreams:\n  {entries}\n"));
        let found = problems(&text, &no_env);
        assert!(has(&found, expected), "{entries}: {found:?}");
    }
}

#[test]
fn a_password_in_an_upstream_url_is_refused_without_being_quoted() {
    let text = with_upstreams("upstreams:\n  - {prefix: /, url: 'http://u:upstream-PASS@a'}\n");
    let found = problems(&text, &no_env);
    assert_eq!(
        found,
        ["upstreams[0].url: must not contain a user name or password"]
    );
}

#[test]
fn upstream_tls_is_only_for_https_and_its_files_must_be_readable() {
    let ca = temp_file("ca.pem", "-----BEGIN CERTIFICATE-----\n");
    let cert = temp_file("client.crt", "-----BEGIN CERTIFICATE-----\n");
    let key = temp_file("client.key", "-----BEGIN PRIVATE KEY-----\n");
    let text = with_upstreams(&format!(
        "upstreams:\n  - prefix: /\n    url: https://api.internal\n    tls:\n      ca_file: {}\n      \
         cert_file: {}\n      key_file: {}\n",
        file_name(&ca),
        cert.display(),
        key.display()
    ));
    let loaded = load_str_in(&text, &no_env, &std::env::temp_dir());
    let http = problems(
        &with_upstreams(&format!(
            "upstreams:\n  - {{prefix: /, url: 'http://a', tls: {{ca_file: {}}}}}\n",
            ca.display()
        )),
        &no_env,
    );
    let half = problems(
        &with_upstreams(&format!(
            "upstreams:\n  - {{prefix: /, url: 'https://a', tls: {{cert_file: {}}}}}\n",
            cert.display()
        )),
        &no_env,
    );
    for file in [&ca, &cert, &key] {
        std::fs::remove_file(file).unwrap();
    }
    let tls = &loaded.unwrap().upstreams[0].tls;
    assert_eq!(tls.ca_file, Some(std::env::temp_dir().join(file_name(&ca))));
    assert_eq!(tls.client_certificate, Some((cert.clone(), key.clone())));
    assert_eq!(
        http,
        ["upstreams[0].tls: only for https:// upstreams; use https:// in url, or remove tls"]
    );
    assert!(
        has(&half, "upstreams[0].tls.key_file: required"),
        "{half:?}"
    );

    let missing = temp_path("missing-ca.pem");
    let found = problems(
        &with_upstreams(&format!(
            "upstreams:\n  - {{prefix: /, url: 'https://a', tls: {{ca_file: {}}}}}\n",
            missing.display()
        )),
        &no_env,
    );
    let expected = format!(
        "upstreams[0].tls.ca_file: cannot read {}: ",
        missing.display()
    );
    assert!(has(&found, &expected), "{found:?}");
}
