//! The front door: `listen` (both forms), `limits` and `trusted_proxies`.

use std::net::SocketAddr;

use super::*;
use crate::forwarded::TrustedProxies;
use crate::server::Limits;

/// MINIMAL with its top-level `listen` set to `listen` (YAML, after `listen:`).
fn with_listen(listen: &str) -> String {
    format!("{MINIMAL}listen: {listen}\n")
}

/// A certificate and key pair in the temp dir. The loader only checks that they are readable,
/// non-empty files, so the content need not be real PEM.
fn pem_files() -> (PathBuf, PathBuf) {
    (
        temp_file("server.crt", "-----BEGIN CERTIFICATE-----\n"),
        temp_file("server.key", "-----BEGIN PRIVATE KEY-----\n"),
    )
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn the_string_form_of_listen_still_means_plain_http() {
    let config = load_str(&with_listen("0.0.0.0:8080"), &no_env).unwrap();
    assert_eq!(config.listen, addr("0.0.0.0:8080"));
    assert_eq!(config.tls, None);
    assert_eq!(config.redirect_http, None);
}

#[test]
fn the_map_form_of_listen_loads_tls_files_relative_to_the_config() {
    let (cert, key) = pem_files();
    let text = with_listen(&format!(
        "\n  address: 0.0.0.0:8443\n  tls:\n    cert_file: {}\n    key_file: {}\n  \
         redirect_http: 0.0.0.0:8080",
        file_name(&cert),
        key.display()
    ));
    let loaded = load_str_in(&text, &no_env, &std::env::temp_dir());
    std::fs::remove_file(&cert).unwrap();
    std::fs::remove_file(&key).unwrap();
    let config = loaded.unwrap();
    assert_eq!(config.listen, addr("0.0.0.0:8443"));
    let tls = config.tls.unwrap();
    assert_eq!(tls.cert_file, std::env::temp_dir().join(file_name(&cert)));
    assert_eq!(tls.key_file, key);
    assert_eq!(config.redirect_http, Some(addr("0.0.0.0:8080")));

    // The map form without tls: plain http, default address.
    let config = load_str(&with_listen("{}"), &no_env).unwrap();
    assert_eq!(config.listen, addr("127.0.0.1:4180"));
    assert_eq!(config.tls, None);
}

#[test]
fn tls_files_must_be_readable_non_empty_files() {
    let missing = temp_path("missing.crt");
    let empty = temp_file("empty.key", "");
    let text = with_listen(&format!(
        "\n  address: 0.0.0.0:8443\n  tls: {{cert_file: {}, key_file: {}}}",
        missing.display(),
        empty.display()
    ));
    let found = problems(&text, &no_env);
    std::fs::remove_file(&empty).unwrap();
    let cert_problem = format!("listen.tls.cert_file: cannot read {}: ", missing.display());
    assert!(has(&found, &cert_problem), "{found:?}");
    let key_problem = format!("listen.tls.key_file: {} is empty", empty.display());
    assert!(found.contains(&key_problem), "{found:?}");

    let dir = std::env::temp_dir();
    let text = with_listen(&format!("\n  tls: {{cert_file: {}}}", dir.display()));
    let found = problems(&text, &no_env);
    assert!(
        has(
            &found,
            &format!("listen.tls.cert_file: {} is not a file", dir.display())
        ),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "listen.tls.key_file: required; a certificate needs both"
        ),
        "{found:?}"
    );
}

#[test]
fn redirect_http_needs_tls_and_a_port_of_its_own() {
    let found = problems(
        &with_listen("\n  address: 0.0.0.0:8443\n  redirect_http: 0.0.0.0:8080"),
        &no_env,
    );
    assert!(
        has(&found, "listen.redirect_http: only with listen.tls"),
        "{found:?}"
    );

    let (cert, key) = pem_files();
    let tls = format!(
        "tls: {{cert_file: {}, key_file: {}}}",
        cert.display(),
        key.display()
    );
    let same_port = problems(
        &with_listen(&format!(
            "\n  address: 0.0.0.0:8443\n  {tls}\n  redirect_http: 127.0.0.1:8443"
        )),
        &no_env,
    );
    let admin_clash = problems(
        &format!(
            "{}admin:\n  listen: 127.0.0.1:8080\n",
            with_listen(&format!(
                "\n  address: 0.0.0.0:8443\n  {tls}\n  redirect_http: 0.0.0.0:8080"
            ))
        ),
        &no_env,
    );
    std::fs::remove_file(&cert).unwrap();
    std::fs::remove_file(&key).unwrap();
    assert!(
        has(
            &same_port,
            "listen.redirect_http: must differ from listen.address"
        ),
        "{same_port:?}"
    );
    assert!(
        has(
            &admin_clash,
            "admin.listen: must differ from listen.redirect_http"
        ),
        "{admin_clash:?}"
    );
}

#[test]
fn with_tls_the_public_url_must_be_https() {
    let (cert, key) = pem_files();
    let text = with_listen(&format!(
        "\n  tls: {{cert_file: {}, key_file: {}}}",
        cert.display(),
        key.display()
    ))
    .replace("https://app.example.com", "http://app.example.com");
    let found = problems(&text, &no_env);
    std::fs::remove_file(&cert).unwrap();
    std::fs::remove_file(&key).unwrap();
    assert_eq!(
        found,
        [
            "public_url: must be https:// because listen.tls is set: browsers reach entrance over \
          https"
        ]
    );
}

#[test]
fn listen_map_mistakes_are_named_with_their_path() {
    let found = problems(&with_listen("\n  port: 80"), &no_env);
    assert_eq!(
        found,
        ["listen.port: unknown key; expected one of address, tls, redirect_http"]
    );
    let found = problems(&with_listen("\n  address: example.com:80"), &no_env);
    assert!(
        has(
            &found,
            "listen.address: \"example.com:80\" is not an address"
        ),
        "{found:?}"
    );
    let found = problems(&with_listen("[a]"), &no_env);
    assert_eq!(
        found,
        ["listen: invalid type: sequence, expected an address like 127.0.0.1:4180, or a mapping \
          with address, tls and redirect_http"]
    );
}

#[test]
fn limits_default_to_the_server_defaults() {
    let limits = load_str(MINIMAL, &no_env).unwrap().limits;
    let defaults = Limits::default();
    assert_eq!(limits.max_header_bytes, defaults.max_header_bytes);
    assert_eq!(limits.max_connections, defaults.max_connections);
    assert_eq!(limits.header_read_timeout, defaults.header_read_timeout);
    assert_eq!(limits.h2c, defaults.h2c);
    assert_eq!(limits.max_body_bytes, None);
}

#[test]
fn limits_take_bytes_or_binary_units() {
    let text = format!(
        "{MINIMAL}limits:\n  max_header_bytes: 32KiB\n  max_connections: 500\n  \
         header_read_timeout: 30s\n  h2c: false\n  max_body_bytes: 10 MiB\n"
    );
    let limits = load_str(&text, &no_env).unwrap().limits;
    assert_eq!(limits.max_header_bytes, 32 * 1024);
    assert_eq!(limits.max_connections, 500);
    assert_eq!(limits.header_read_timeout, Duration::from_secs(30));
    assert!(!limits.h2c);
    assert_eq!(limits.max_body_bytes, Some(10 * 1024 * 1024));

    let text = format!("{MINIMAL}limits:\n  max_header_bytes: 16384\n  max_body_bytes: 1gib\n");
    let limits = load_str(&text, &no_env).unwrap().limits;
    assert_eq!(limits.max_header_bytes, 16384);
    assert_eq!(limits.max_body_bytes, Some(1 << 30));
}

#[test]
fn limits_out_of_bounds_say_why() {
    let cases = [
        (
            "max_header_bytes: 64KB",
            "limits.max_header_bytes: \"64KB\" is not a size; write",
        ),
        (
            "max_header_bytes: 4096",
            "limits.max_header_bytes: must be at least 8KiB",
        ),
        (
            "max_header_bytes: 2MiB",
            "limits.max_header_bytes: must be at most 1MiB",
        ),
        (
            "max_connections: 0",
            "limits.max_connections: must be between 1 and 1000000",
        ),
        (
            "max_connections: lots",
            "limits.max_connections: \"lots\" is not a number",
        ),
        (
            "header_read_timeout: 500ms",
            "limits.header_read_timeout: must be at least 1s",
        ),
        (
            "header_read_timeout: 10m",
            "limits.header_read_timeout: must be at most 5m",
        ),
        (
            "max_body_bytes: 0",
            "limits.max_body_bytes: must be more than 0; remove the key",
        ),
        ("h2c: sometimes", "limits.h2c: expected true or false"),
        (
            "max_headers: 10",
            "limits.max_headers: unknown key; expected one of max_header_bytes",
        ),
    ];
    for (line, expected) in cases {
        let found = problems(&format!("{MINIMAL}limits:\n  {line}\n"), &no_env);
        assert!(has(&found, expected), "{line}: {found:?}");
    }
}

#[test]
fn trusted_proxies_take_addresses_and_networks() {
    let text = format!(
        "{MINIMAL}trusted_proxies: [10.0.0.0/8, 192.168.1.7, '::1/128', 'fd00::1', 10.0.0.0/8]\n"
    );
    let proxies = load_str(&text, &no_env).unwrap().trusted_proxies;
    let expected =
        ["10.0.0.0/8", "192.168.1.7/32", "::1/128", "fd00::1/128"].map(|net| net.parse().unwrap());
    assert_eq!(proxies, TrustedProxies::new(expected.to_vec()));
    assert!(load_str(MINIMAL, &no_env)
        .unwrap()
        .trusted_proxies
        .is_empty());
}

#[test]
fn a_trusted_network_with_host_bits_suggests_the_network() {
    let text =
        format!("{MINIMAL}trusted_proxies: [10.1.2.3/8, proxy.internal, 0.0.0.0/0, '::1/0']\n");
    let found = problems(&text, &no_env);
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(
        has(
            &found,
            "trusted_proxies[0]: \"10.1.2.3/8\" has host bits set, so it is not the network it \
             looks like; write 10.0.0.0/8"
        ),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "trusted_proxies[1]: \"proxy.internal\" is not an IP address"
        ),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "trusted_proxies[2]: \"0.0.0.0/0\" trusts every client"
        ),
        "{found:?}"
    );
    assert!(
        has(&found, "trusted_proxies[3]: \"::1/0\" trusts every client"),
        "{found:?}"
    );
}
