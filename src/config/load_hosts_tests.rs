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
