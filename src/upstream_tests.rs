#![allow(clippy::unwrap_used)]

use super::*;

fn upstream(prefix: &str, target: &str, strip_prefix: bool) -> UpstreamConfig {
    let mut config = UpstreamConfig::single(Url::parse(target).unwrap(), Duration::from_secs(30));
    config.prefix = prefix.to_owned();
    config.strip_prefix = strip_prefix;
    config
}

/// `/` to the app, `/api/` (stripped) to the API, `/api/admin/` (kept) to the admin service.
fn three() -> Upstreams {
    Upstreams::new(&[
        upstream("/", "http://app:8080", false),
        upstream("/api/", "http://api:9000", true),
        upstream("/api/admin/", "http://admin:7000", false),
    ])
    .unwrap()
}

/// (configured index, path to send) for `path`.
fn chosen(upstreams: &Upstreams, path: &str) -> Option<(usize, String)> {
    upstreams
        .select(path)
        .map(|selected| (selected.index, selected.path_and_query.into_owned()))
}

#[test]
fn the_longest_matching_prefix_wins_whatever_the_order() {
    let upstreams = three();
    assert_eq!(chosen(&upstreams, "/"), Some((0, "/".into())));
    assert_eq!(
        chosen(&upstreams, "/index.html"),
        Some((0, "/index.html".into()))
    );
    assert_eq!(chosen(&upstreams, "/api/users"), Some((1, "/users".into())));
    assert_eq!(
        chosen(&upstreams, "/api/admin/users"),
        Some((2, "/api/admin/users".into()))
    );

    let reversed = Upstreams::new(&[
        upstream("/api/admin/", "http://admin:7000", false),
        upstream("/api/", "http://api:9000", true),
        upstream("/", "http://app:8080", false),
    ])
    .unwrap();
    assert_eq!(
        chosen(&reversed, "/api/admin/x"),
        Some((0, "/api/admin/x".into()))
    );
    assert_eq!(chosen(&reversed, "/api/x"), Some((1, "/x".into())));
    assert_eq!(chosen(&reversed, "/x"), Some((2, "/x".into())));
}

#[test]
fn a_prefix_matches_its_bare_path_but_not_a_longer_segment() {
    let upstreams = three();
    // `/api` (no slash) is the API's root; `/apix` and `/api-docs` are the app's.
    assert_eq!(chosen(&upstreams, "/api"), Some((1, "/".into())));
    assert_eq!(chosen(&upstreams, "/api/"), Some((1, "/".into())));
    assert_eq!(chosen(&upstreams, "/apix"), Some((0, "/apix".into())));
    assert_eq!(
        chosen(&upstreams, "/api-docs/x"),
        Some((0, "/api-docs/x".into()))
    );
    assert_eq!(
        chosen(&upstreams, "/api/admin"),
        Some((2, "/api/admin".into()))
    );
    assert_eq!(
        chosen(&upstreams, "/api/adminx"),
        Some((1, "/adminx".into()))
    );
}

#[test]
fn strip_prefix_keeps_the_query_and_a_leading_slash() {
    let upstreams = three();
    assert_eq!(chosen(&upstreams, "/api/x?q=1"), Some((1, "/x?q=1".into())));
    assert_eq!(chosen(&upstreams, "/api?q=1"), Some((1, "/?q=1".into())));
    assert_eq!(chosen(&upstreams, "/api/?q=1"), Some((1, "/?q=1".into())));
    assert_eq!(chosen(&upstreams, "/api/a/b/"), Some((1, "/a/b/".into())));
    // A `?` in the query is not a second path.
    assert_eq!(
        chosen(&upstreams, "/x?next=/api/y"),
        Some((0, "/x?next=/api/y".into()))
    );
    assert_eq!(
        chosen(&upstreams, "/api?next=/api/"),
        Some((1, "/?next=/api/".into()))
    );
}

#[test]
fn only_the_path_is_compared_and_case_matters() {
    let upstreams = three();
    assert_eq!(chosen(&upstreams, "/API/x"), Some((0, "/API/x".into())));
    assert_eq!(chosen(&upstreams, "/x?/api/"), Some((0, "/x?/api/".into())));
}

#[test]
fn no_upstream_for_a_path_outside_every_prefix() {
    let upstreams = Upstreams::new(&[
        upstream("/api/", "http://api:9000", true),
        upstream("/docs", "http://docs:9000", false),
    ])
    .unwrap();
    assert_eq!(chosen(&upstreams, "/"), None);
    assert_eq!(chosen(&upstreams, "/other"), None);
    assert_eq!(chosen(&upstreams, "/ap"), None);
    assert_eq!(chosen(&upstreams, "/docs2"), None);
    // `/docs` was normalised to `/docs/`.
    assert_eq!(chosen(&upstreams, "/docs/a"), Some((1, "/docs/a".into())));
    assert_eq!(chosen(&upstreams, "/docs?x"), Some((1, "/docs?x".into())));
}

#[test]
fn a_path_that_is_not_origin_form_matches_nothing() {
    let upstreams = three();
    for path in ["", "*", "api/x", "?q", "http://evil.example/"] {
        assert_eq!(chosen(&upstreams, path), None, "{path:?}");
    }
}

#[test]
fn the_root_prefix_sends_every_path_unchanged_even_when_stripping() {
    let upstreams = Upstreams::new(&[upstream("/", "http://app:8080", true)]).unwrap();
    for path in ["/", "/a", "/a/b?c=d", "//x", "/?"] {
        assert_eq!(
            chosen(&upstreams, path),
            Some((0, path.to_owned())),
            "{path:?}"
        );
    }
}

#[test]
fn selection_borrows_when_it_can() {
    let upstreams = three();
    let kept = upstreams.select("/x?y").unwrap();
    assert!(matches!(kept.path_and_query, Cow::Borrowed(_)));
    let stripped = upstreams.select("/api/x?y").unwrap();
    assert!(matches!(stripped.path_and_query, Cow::Borrowed("/x?y")));
}

#[test]
fn origins_keep_the_base_path_and_host() {
    let upstreams = Upstreams::new(&[
        upstream("/", "http://app:8080/base/", false),
        upstream("/s/", "https://secure.example", false),
    ])
    .unwrap();
    let app = upstreams.iter().next().unwrap();
    assert_eq!(app.origin.base_path, "/base");
    assert_eq!(app.origin.host, "app:8080");
    assert!(app.tls.is_none());
    let secure = upstreams.iter().nth(1).unwrap();
    assert_eq!(secure.origin.scheme, Scheme::HTTPS);
    assert_eq!(secure.origin.host, "secure.example");
    assert!(secure.tls.is_some(), "https needs a TLS client config");
}

#[test]
fn a_unix_socket_upstream_is_http_to_localhost() {
    let mut config = upstream("/", "http://unused", false);
    config.target = Target::Unix(PathBuf::from("/run/app.sock"));
    let upstreams = Upstreams::new(&[config]).unwrap();
    let unix = upstreams.iter().next().unwrap();
    assert_eq!(unix.origin.scheme, Scheme::HTTP);
    assert_eq!(unix.origin.host, "localhost");
    assert_eq!(unix.origin.base_path, "");
}

fn error(configs: &[UpstreamConfig]) -> String {
    Upstreams::new(configs).unwrap_err().to_string()
}

#[test]
fn bad_upstream_lists_are_refused_with_the_fix() {
    assert_eq!(
        error(&[]),
        "no upstream is configured; give `upstream` or at least one `upstreams` entry"
    );
    assert_eq!(
        error(&[upstream("api/", "http://a", false)]),
        "upstream prefix \"api/\": it must start with /; write it like /api/"
    );
    assert!(error(&[upstream("/a?b", "http://a", false)]).contains("cannot hold ? or #"));
    assert_eq!(
        error(&[
            upstream("/api", "http://a", false),
            upstream("/api/", "http://b", false)
        ]),
        "two upstreams have the prefix /api/; give each prefix to one upstream"
    );
    assert_eq!(
        error(&[upstream("/", "ftp://files", false)]),
        "upstream /: ftp://files/ cannot be used: use http://, https:// or unix:/path/to.sock"
    );
    assert_eq!(
        error(&[upstream("/", "http://user:pw@app:8080", false)]),
        "upstream /: http://app:8080/ cannot be used: it holds a user name or password, \
         which entrance does not send; remove them"
    );
}

#[test]
fn tls_settings_on_a_plain_upstream_are_refused() {
    let mut config = upstream("/", "http://app:8080", false);
    config.tls.ca_file = Some(PathBuf::from("/etc/ca.pem"));
    assert_eq!(
        error(&[config]),
        "upstream /: tls is set but the target is not https; tls applies only to https:// \
         upstreams: remove it or use https://"
    );
}

/// A scratch directory for PEM files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("entrance-upstream-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn https_with(tls: UpstreamTls) -> UpstreamConfig {
    let mut config = upstream("/secure/", "https://app.internal", false);
    config.tls = tls;
    config
}

#[test]
fn a_missing_ca_file_is_named_with_the_fix() {
    let message = error(&[https_with(UpstreamTls {
        ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
        client_certificate: None,
    })]);
    assert!(
        message.starts_with("upstream /secure/: tls.ca_file /nonexistent/ca.pem: cannot be read ("),
        "{message}"
    );
    assert!(
        message.ends_with("check the path and its permissions"),
        "{message}"
    );
}

#[test]
fn a_ca_file_without_certificates_is_refused() {
    let scratch = Scratch::new("empty-ca");
    let path = scratch.write("ca.pem", "not a certificate\n");
    let message = error(&[https_with(UpstreamTls {
        ca_file: Some(path.clone()),
        client_certificate: None,
    })]);
    assert_eq!(
        message,
        format!(
            "upstream /secure/: tls.ca_file {}: holds no certificate; give PEM certificates \
             (-----BEGIN CERTIFICATE-----)",
            path.display()
        )
    );
}

#[test]
fn a_ca_file_with_a_broken_certificate_is_refused() {
    let scratch = Scratch::new("broken-ca");
    let path = scratch.write(
        "ca.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let message = error(&[https_with(UpstreamTls {
        ca_file: Some(path),
        client_certificate: None,
    })]);
    assert!(
        message.contains("certificate 1 cannot be a trust anchor"),
        "{message}"
    );
}

#[test]
fn a_client_key_file_without_a_key_is_refused() {
    let scratch = Scratch::new("no-key");
    let (cert, _key) = crate::emulator::testing::self_signed_certificate("client");
    let cert_file = scratch.write("client.pem", &cert);
    let key_file = scratch.write("client.key", &cert);
    let message = error(&[https_with(UpstreamTls {
        ca_file: None,
        client_certificate: Some((cert_file, key_file.clone())),
    })]);
    assert_eq!(
        message,
        format!(
            "upstream /secure/: tls.client_certificate.key_file {}: holds no private key; give \
             the client certificate's key, PEM (PKCS#8, PKCS#1 or SEC1)",
            key_file.display()
        )
    );
}

#[test]
fn a_client_key_that_does_not_fit_its_certificate_is_refused() {
    let scratch = Scratch::new("mismatch");
    let (cert, _key) = crate::emulator::testing::self_signed_certificate("client");
    let (_other_cert, other_key) = crate::emulator::testing::self_signed_certificate("other");
    let cert_file = scratch.write("client.pem", &cert);
    let key_file = scratch.write("client.key", &other_key);
    let message = error(&[https_with(UpstreamTls {
        ca_file: None,
        client_certificate: Some((cert_file, key_file)),
    })]);
    assert!(
        message.starts_with("upstream /secure/: tls.client_certificate cannot be used: "),
        "{message}"
    );
}

#[test]
fn a_matching_client_certificate_and_private_ca_load() {
    let scratch = Scratch::new("good");
    let (cert, key) = crate::emulator::testing::self_signed_certificate("client");
    let config = https_with(UpstreamTls {
        ca_file: Some(scratch.write("ca.pem", &cert)),
        client_certificate: Some((
            scratch.write("client.pem", &cert),
            scratch.write("client.key", &key),
        )),
    });
    let upstreams = Upstreams::new(&[config]).unwrap();
    let tls = upstreams.iter().next().unwrap().tls.clone().unwrap();
    assert!(tls.client_auth_cert_resolver.has_certs());
    assert!(
        tls.alpn_protocols.is_empty(),
        "hyper-rustls refuses a preset ALPN list"
    );
}
