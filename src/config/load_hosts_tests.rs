//! `hosts`: more sites by host name.

use super::*;
use crate::config::HostConfig;
use crate::upstream::Target;

/// MINIMAL with `hosts:` followed by `entries` (list items indented two spaces).
fn with_hosts(entries: &str) -> String {
    format!("{MINIMAL}hosts:\n{entries}")
}

fn hosts(text: &str) -> Vec<HostConfig> {
    load_str(text, &no_env).unwrap().hosts
}

const GROUP: &str = "aaaaaaaa-0000-4000-8000-000000000001";

#[test]
fn no_hosts_by_default() {
    assert!(load_str(MINIMAL, &no_env).unwrap().hosts.is_empty());
}

#[test]
fn a_host_loads_with_its_names_upstreams_routes_and_rules() {
    let text = with_hosts(&format!(
        "  - public_url: https://Docs.Example.com
    aliases: [WWW.docs.example.com, docs.internal]
    upstream: http://10.0.0.9:3000
    routes:
      - path: /public/
        public: true
    authorization:
      allowed_groups: [{GROUP}]
  - public_url: https://wiki.example.com:8443
    upstreams:
      - {{prefix: /api/, url: 'http://10.0.0.10'}}
upstream_timeout: 12s
"
    ));
    let [docs, wiki] = &hosts(&text)[..] else {
        panic!("expected two hosts");
    };
    assert_eq!(
        docs.names,
        ["docs.example.com", "www.docs.example.com", "docs.internal"]
    );
    assert_eq!(docs.public_url.as_str(), "https://docs.example.com/");
    assert_eq!(docs.upstreams.len(), 1);
    assert_eq!(docs.upstreams[0].prefix, "/");
    assert_eq!(
        docs.upstreams[0].target,
        Target::Url("http://10.0.0.9:3000".parse().unwrap())
    );
    assert_eq!(
        docs.upstreams[0].timeouts.response_header,
        Duration::from_secs(12)
    );
    assert!(matches!(
        &docs.routes[..],
        [RouteConfig {
            matcher: PathMatcher::Prefix(prefix),
            action: RouteAction::Public,
            ..
        }] if prefix == "/public/"
    ));
    let rules = docs.authorization.as_ref().unwrap();
    assert_eq!(rules.allowed_groups, [GROUP]);
    assert_eq!(rules.allowed_tenants, TenantRule::Unrestricted);

    assert_eq!(wiki.names, ["wiki.example.com"]);
    assert_eq!(wiki.upstreams[0].prefix, "/api/");
    assert!(wiki.routes.is_empty());
    assert!(wiki.authorization.is_none());
}

#[test]
fn a_host_name_belongs_to_one_site() {
    let text =
        with_hosts("  - {public_url: 'https://app.example.com:8443', upstream: 'http://a'}\n");
    assert_eq!(
        problems(&text, &no_env),
        [
            "hosts[0].public_url: \"app.example.com\" is already the host of public_url; each \
          host name may belong to one site"
        ]
    );
    let text = with_hosts(
        "  - {public_url: 'https://docs.example.com', upstream: 'http://a'}\n  \
         - {public_url: 'https://wiki.example.com', aliases: [Docs.Example.COM], upstream: 'http://b'}\n",
    );
    assert_eq!(
        problems(&text, &no_env),
        ["hosts[1].aliases[0]: \"docs.example.com\" is already the host of hosts[0].public_url; \
          each host name may belong to one site"]
    );
    let text = with_hosts(
        "  - {public_url: 'https://docs.example.com', aliases: [d.example.com, d.example.com], \
         upstream: 'http://a'}\n",
    );
    assert!(has(
        &problems(&text, &no_env),
        "hosts[0].aliases[1]: \"d.example.com\" is already the host of hosts[0].aliases[0]"
    ));
}

#[test]
fn aliases_are_host_names_only() {
    for (alias, expected) in [
        (
            "'docs.example.com:8443'",
            "is not a host name; write the name only",
        ),
        ("'https://docs.example.com'", "is not a host name"),
        ("'*.example.com'", "is a wildcard; list each host name"),
    ] {
        let text = with_hosts(&format!(
            "  - {{public_url: 'https://d.example.com', aliases: [{alias}], upstream: 'http://a'}}\n"
        ));
        let found = problems(&text, &no_env);
        assert!(
            has(
                &found,
                &format!(
                    "hosts[0].aliases[0]: \"{}\" {expected}",
                    alias.trim_matches('\'')
                )
            ),
            "{alias}: {found:?}"
        );
    }
}

#[test]
fn host_mistakes_are_named_with_their_key_path() {
    let cases = [
        ("- {upstream: 'http://a'}", "hosts[0].public_url: required; the URL browsers use to reach this site"),
        ("- {public_url: 'https://d.example.com'}", "hosts[0].upstream: required; the URL of this site's app"),
        ("- {public_url: 'https://d.example.com/docs', upstream: 'http://a'}", "hosts[0].public_url: must have no path"),
        (
            "- {public_url: 'https://d.example.com', upstream: 'http://a', upstreams: []}",
            "hosts[0].upstreams: give upstream (one app for every path) or upstreams",
        ),
        (
            "- {public_url: 'https://d.example.com', upstreams: [{prefix: /x/}]}",
            "hosts[0].upstreams[0].url: required",
        ),
        (
            "- {public_url: 'https://d.example.com', upstream: 'http://a', routes: [{path: x, public: true}]}",
            "hosts[0].routes[0].path: must start with /",
        ),
        (
            "- {public_url: 'https://d.example.com', upstream: 'http://a', authorization: {allowed_groups: [admins]}}",
            "hosts[0].authorization.allowed_groups[0]: \"admins\" is not a group object id",
        ),
        (
            "- {public_url: 'https://d.example.com', upstream: 'http://a', authorization: {groups_source: graph}}",
            "hosts[0].authorization.groups_source: unknown key; expected one of allowed_tenants",
        ),
        (
            "- {public_url: 'https://d.example.com', upstream: 'http://a', route: []}",
            "hosts[0].route: unknown key; expected one of public_url, aliases, upstream",
        ),
    ];
    for (entry, expected) in cases {
        let found = problems(&with_hosts(&format!("  {entry}\n")), &no_env);
        assert!(has(&found, expected), "{entry}: {found:?}");
    }
}

#[test]
fn a_host_with_its_own_rules_needs_a_tenant_rule_on_a_multi_tenant_provider() {
    let common = MINIMAL.replace("11111111-2222-3333-4444-555555555555", "common");
    let text = format!(
        "{common}authorization:\n  allowed_tenants: ['*']\nhosts:\n  \
         - {{public_url: 'https://d.example.com', upstream: 'http://a', \
         authorization: {{allowed_groups: [{GROUP}]}}}}\n"
    );
    assert_eq!(
        problems(&text, &no_env),
        [
            "hosts[0].authorization.allowed_tenants: required when provider.tenant is \
          common/organizations (any Microsoft tenant could sign in) (this site's rules replace \
          the top-level authorization); list your tenant GUIDs, or [\"*\"] to allow every tenant"
        ]
    );
    // Without rules of its own the site uses the top-level ones, which have the tenant rule.
    let text = format!(
        "{common}authorization:\n  allowed_tenants: ['*']\nhosts:\n  \
         - {{public_url: 'https://d.example.com', upstream: 'http://a'}}\n"
    );
    assert!(hosts(&text)[0].authorization.is_none());
}

#[test]
fn with_tls_every_host_public_url_must_be_https() {
    let cert = temp_file("host.crt", "-----BEGIN CERTIFICATE-----\n");
    let key = temp_file("host.key", "-----BEGIN PRIVATE KEY-----\n");
    let text = format!(
        "{MINIMAL}listen:\n  tls: {{cert_file: {}, key_file: {}}}\nhosts:\n  \
         - {{public_url: 'http://d.example.com', upstream: 'http://a'}}\n",
        cert.display(),
        key.display()
    );
    let found = problems(&text, &no_env);
    std::fs::remove_file(&cert).unwrap();
    std::fs::remove_file(&key).unwrap();
    assert_eq!(
        found,
        [
            "hosts[0].public_url: must be https:// because listen.tls is set: browsers reach \
          entrance over https"
        ]
    );
    // Without tls, http and https both load (https may be terminated by a proxy in front).
    let text = with_hosts("  - {public_url: 'http://d.example.com', upstream: 'http://a'}\n");
    assert_eq!(hosts(&text)[0].public_url.scheme(), "http");
}

/// MINIMAL with `listen.tls` on `(cert, key)` and `hosts:` followed by `entries`.
fn with_tls_and_hosts(cert: &std::path::Path, key: &std::path::Path, entries: &str) -> String {
    format!(
        "{MINIMAL}listen:\n  tls: {{cert_file: {}, key_file: {}}}\nhosts:\n{entries}",
        cert.display(),
        key.display()
    )
}

/// A certificate and key pair in the temp dir (the loader only checks that they are readable,
/// non-empty files).
fn pem_files(name: &str) -> (PathBuf, PathBuf) {
    (
        temp_file(&format!("{name}.crt"), "-----BEGIN CERTIFICATE-----\n"),
        temp_file(&format!("{name}.key"), "-----BEGIN PRIVATE KEY-----\n"),
    )
}

fn remove(files: &[&PathBuf]) {
    for file in files {
        std::fs::remove_file(file).unwrap();
    }
}

#[test]
fn a_host_may_bring_its_own_certificate_relative_to_the_config() {
    let (cert, key) = pem_files("default");
    let (host_cert, host_key) = pem_files("docs");
    let text = with_tls_and_hosts(
        &cert,
        &key,
        &format!(
            "  - public_url: https://docs.example.com
    upstream: http://a
    tls:
      cert_file: {}
      key_file: {}
  - {{public_url: 'https://wiki.example.com', upstream: 'http://b'}}
",
            file_name(&host_cert),
            host_key.display()
        ),
    );
    let loaded = load_str_in(&text, &no_env, &std::env::temp_dir());
    remove(&[&cert, &key, &host_cert, &host_key]);
    let config = loaded.unwrap();
    let [docs, wiki] = &config.hosts[..] else {
        panic!("expected two hosts");
    };
    assert_eq!(
        docs.tls,
        Some(crate::tls::CertificateFiles {
            cert_file: std::env::temp_dir().join(file_name(&host_cert)),
            key_file: host_key.clone(),
        })
    );
    // Without a certificate of its own, a site is served the listen.tls one.
    assert_eq!(wiki.tls, None);
    assert_eq!(
        config.tls.map(|tls| tls.cert_file),
        Some(cert.clone()),
        "listen.tls stays the default certificate"
    );
}

#[test]
fn a_host_certificate_needs_listen_tls() {
    let (cert, key) = pem_files("lonely");
    let text = with_hosts(&format!(
        "  - {{public_url: 'https://d.example.com', upstream: 'http://a', \
         tls: {{cert_file: {}, key_file: {}}}}}\n",
        cert.display(),
        key.display()
    ));
    let found = problems(&text, &no_env);
    remove(&[&cert, &key]);
    assert_eq!(
        found,
        [
            "hosts[0].tls: only with listen.tls: set listen.tls (the default certificate, for \
          every other name and for clients that send none), then this site's own certificate \
          is served to clients asking for its names"
        ]
    );
}

#[test]
fn host_certificate_mistakes_are_named_with_their_key_path() {
    let (cert, key) = pem_files("listener");
    let (host_cert, host_key) = pem_files("host");
    let empty = temp_file("host-empty.key", "");
    let missing = std::env::temp_dir().join("entrance-no-such-host.crt");
    let cases = [
        (
            format!("{{cert_file: {}}}", host_cert.display()),
            "hosts[1].tls.key_file: required; a certificate needs both cert_file".to_owned(),
        ),
        (
            format!("{{key_file: {}}}", host_key.display()),
            "hosts[1].tls.cert_file: required; a certificate needs both".to_owned(),
        ),
        (
            format!(
                "{{cert_file: {}, key_file: {}}}",
                missing.display(),
                host_key.display()
            ),
            format!(
                "hosts[1].tls.cert_file: cannot read {}: ",
                missing.display()
            ),
        ),
        (
            format!(
                "{{cert_file: {}, key_file: {}}}",
                host_cert.display(),
                empty.display()
            ),
            format!("hosts[1].tls.key_file: {} is empty", empty.display()),
        ),
        (
            "{cert_file: '  ', key_file: x}".to_owned(),
            "hosts[1].tls.cert_file: must not be empty".to_owned(),
        ),
        (
            format!(
                "{{cert_file: {}, key_file: {}, chain_file: x}}",
                host_cert.display(),
                host_key.display()
            ),
            "hosts[1].tls.chain_file: unknown key; expected cert_file or key_file".to_owned(),
        ),
    ];
    let mut seen = Vec::new();
    for (tls, expected) in &cases {
        // The first host is fine: only the second one's mistake is reported, at its path.
        let text = with_tls_and_hosts(
            &cert,
            &key,
            &format!(
                "  - {{public_url: 'https://a.example.com', upstream: 'http://a'}}\n  \
                 - {{public_url: 'https://d.example.com', upstream: 'http://a', tls: {tls}}}\n"
            ),
        );
        seen.push((problems(&text, &no_env), expected));
    }
    remove(&[&cert, &key, &host_cert, &host_key, &empty]);
    for (found, expected) in seen {
        assert!(has(&found, expected), "{expected}: {found:?}");
        assert!(
            found.iter().all(|p| p.starts_with("hosts[1].tls")),
            "{found:?}"
        );
    }
}
