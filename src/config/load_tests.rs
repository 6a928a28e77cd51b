#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::config::{
    DomainRule, GroupsSource, PathMatcher, RouteAction, RouteConfig, RulesMode, TenantRule,
};
use crate::microsoft::{ClientCredential, Cloud};

/// base64 of 32 bytes 0..32; valid for `session.secret`.
const SECRET_32: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// base64 of 16 bytes; too short.
const SECRET_16: &str = "AAECAwQFBgcICQoLDA0ODw==";

const MINIMAL: &str = "
public_url: https://app.example.com
upstream: http://127.0.0.1:8080
provider:
  tenant: 11111111-2222-3333-4444-555555555555
  client_id: my-client
  client_secret: s3cr3t-client-value
session:
  secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
";

fn no_env(_: &str) -> Option<String> {
    None
}

fn env_with(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// Every problem as `path: message`, for assertions.
fn problems(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    match load_str(text, env) {
        Ok(_) => panic!("expected problems, the config loaded"),
        Err(error) => error.problems().iter().map(Problem::to_string).collect(),
    }
}

fn has(problems: &[String], prefix: &str) -> bool {
    problems.iter().any(|p| p.starts_with(prefix))
}

/// A temp file path no other test (or test run) uses.
fn temp_path(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("entrance-{}-{nanos}-{name}", std::process::id()))
}

#[test]
fn minimal_config_loads_with_defaults() {
    let config = load_str(MINIMAL, &no_env).unwrap();
    assert_eq!(config.listen, "127.0.0.1:4180".parse().unwrap());
    assert_eq!(config.public_url.as_str(), "https://app.example.com/");
    assert_eq!(
        config.upstreams[0].target,
        crate::upstream::Target::Url("http://127.0.0.1:8080/".parse().unwrap())
    );
    assert_eq!(
        config.upstreams[0].timeouts.response_header,
        Duration::from_secs(30)
    );
    let p = &config.provider;
    assert_eq!(p.authority.as_str(), "https://login.microsoftonline.com/");
    assert_eq!(p.tenant, "11111111-2222-3333-4444-555555555555");
    assert_eq!(p.client_id, "my-client");
    assert_eq!(client_secret(&p.credential), "s3cr3t-client-value");
    assert_eq!(p.cloud, Some(Cloud::Global));
    assert_eq!(p.scopes, ["openid", "profile", "email", "offline_access"]);
    assert!(!p.sign_out_at_microsoft);
    assert_eq!(p.timeout, Duration::from_secs(10));
    let s = &config.session;
    assert_eq!(s.secrets[0].expose(), &(0u8..32).collect::<Vec<u8>>());
    assert_eq!(s.cookie_name, "_entrance");
    assert_eq!(s.lifetime, Duration::from_secs(8 * 3600));
    let rules = &config.authorization.rules;
    assert_eq!(rules.allowed_tenants, TenantRule::Unrestricted);
    assert!(rules.allowed_email_domains.is_empty());
    assert!(rules.allowed_emails.is_empty() && rules.allowed_users.is_empty());
    assert!(rules.allowed_groups.is_empty() && rules.allowed_roles.is_empty());
    assert_eq!(config.authorization.groups_source, GroupsSource::Claim);
    assert!(config.routes.is_empty());
    assert!(!config.api.enabled);
    assert!(config.api.audiences.is_empty());
}

#[test]
fn variables_are_substituted_from_the_injected_env() {
    let text = MINIMAL
        .replace("s3cr3t-client-value", "${CLIENT_SECRET}")
        .replace(SECRET_32, "${SESSION_SECRET}")
        .replace("my-client", "id-${SUFFIX}-$${LITERAL}");
    let env = env_with(&[
        ("CLIENT_SECRET", "from-env"),
        ("SESSION_SECRET", SECRET_32),
        ("SUFFIX", "x"),
    ]);
    let config = load_str(&text, &env).unwrap();
    assert_eq!(client_secret(&config.provider.credential), "from-env");
    assert_eq!(config.provider.client_id, "id-x-${LITERAL}");
    assert_eq!(config.session.secrets[0].expose().len(), 32);
}

#[test]
fn a_missing_variable_is_named_with_its_key_and_the_file_alternative() {
    let text = MINIMAL.replace("s3cr3t-client-value", "${ENTRANCE_CLIENT_SECRET}");
    assert_eq!(
        problems(&text, &no_env),
        [
            "provider.client_secret: environment variable ENTRANCE_CLIENT_SECRET is not set; \
          export it or use provider.client_secret_file"
        ]
    );
    let text = MINIMAL.replace("my-client", "${ID}");
    assert_eq!(
        problems(&text, &no_env),
        [
            "provider.client_id: environment variable ID is not set; export it or write the value \
          in the config"
        ]
    );
}

#[test]
fn a_malformed_variable_reference_is_a_problem() {
    for bad in ["${", "${NO_END", "${}", "${1X}", "${A-B}"] {
        let text = MINIMAL.replace("my-client", &format!("'{bad}'"));
        let found = problems(&text, &no_env);
        assert!(
            has(&found, "provider.client_id: '${' must be followed"),
            "{bad}: {found:?}"
        );
    }
}

#[test]
fn unknown_keys_are_named_with_their_path() {
    let found = problems(&format!("{MINIMAL}lisen: 0.0.0.0:80\n"), &no_env);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("lisen: unknown key; expected one of listen, public_url"),
        "{found:?}"
    );

    let text = MINIMAL.replace("session:\n", "session:\n  lifetme: 1h\n");
    assert_eq!(
        problems(&text, &no_env),
        [
            "session.lifetme: unknown key; expected one of secret, secret_file, cookie_name, \
          lifetime, idle_timeout, refresh, store, redis"
        ]
    );
    let text = MINIMAL.replace("provider:\n", "provider:\n  tenantt: x\n");
    assert!(has(
        &problems(&text, &no_env),
        "provider.tenantt: unknown key; expected one of cloud, authority, tenant,"
    ));
}

#[test]
fn unknown_keys_in_several_sections_are_all_reported() {
    let text = format!("{MINIMAL}routes:\n  - path: /a\n    pubic: true\nextra: 1\n")
        .replace("session:\n", "session:\n  lifetme: 1h\n");
    let found = problems(&text, &no_env);
    assert!(has(&found, "routes[0].pubic: unknown key"), "{found:?}");
    assert!(has(&found, "extra: unknown key"), "{found:?}");
    assert!(has(&found, "session.lifetme: unknown key"), "{found:?}");
    assert_eq!(found.len(), 3, "{found:?}");
}

#[test]
fn wrong_types_are_named_with_their_path() {
    let text = MINIMAL.replace("session:\n", "session:\n  lifetime: [1, 2]\n");
    assert_eq!(
        problems(&text, &no_env),
        ["session.lifetime: invalid type: sequence, expected a string"]
    );
    let found = problems(
        &format!("{MINIMAL}routes:\n  - path: /a\n    public: maybe\n"),
        &no_env,
    );
    assert_eq!(found, ["routes[0].public: expected true or false"]);
    let found = problems(&format!("{MINIMAL}routes: /a\n"), &no_env);
    assert_eq!(
        found,
        ["routes: invalid type: a string, expected a sequence"]
    );
    assert_eq!(
        problems("- a\n- b\n", &no_env),
        ["invalid type: sequence, expected a mapping of config keys"]
    );
}

#[test]
fn numbers_and_env_booleans_are_read_as_text() {
    let text = format!("{MINIMAL}upstream_timeout: 10\n");
    assert!(has(
        &problems(&text, &no_env),
        "upstream_timeout: \"10\" is not a duration; write it like 90s"
    ));
    let text = format!("{MINIMAL}routes:\n  - path: /a\n    public: ${{PUBLIC}}\n");
    let config = load_str(&text, &env_with(&[("PUBLIC", "true")])).unwrap();
    assert!(matches!(config.routes[0].action, RouteAction::Public));
}

#[test]
fn a_short_or_non_base64_session_secret_is_refused() {
    let text = MINIMAL.replace(SECRET_32, SECRET_16);
    assert_eq!(
        problems(&text, &no_env),
        ["session.secret: must decode to at least 32 bytes; run 'entrance secret' to make one"]
    );
    let text = MINIMAL.replace(SECRET_32, "not base64 at all!");
    assert_eq!(
        problems(&text, &no_env),
        ["session.secret: is not base64; run 'entrance secret' to make one"]
    );
}

#[test]
fn session_secrets_decode_from_every_base64_flavour() {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    let bytes: Vec<u8> = (200u8..240).collect(); // includes bytes that encode to + / - _
    for encoded in [
        STANDARD.encode(&bytes),
        STANDARD_NO_PAD.encode(&bytes),
        URL_SAFE.encode(&bytes),
        URL_SAFE_NO_PAD.encode(&bytes),
    ] {
        let text = MINIMAL.replace(SECRET_32, &encoded);
        let config = load_str(&text, &no_env).unwrap();
        assert_eq!(config.session.secrets[0].expose(), &bytes, "{encoded}");
    }
}

#[test]
fn a_value_and_its_file_together_are_refused() {
    let text = MINIMAL.replace("session:\n", "session:\n  secret_file: /nowhere\n");
    assert_eq!(
        problems(&text, &no_env),
        ["session.secret: set only one of session.secret and session.secret_file"]
    );
}

#[test]
fn secrets_are_read_from_files_trimmed_and_relative_to_the_base_dir() {
    let client = temp_path("client-secret");
    let session = temp_path("session-secret");
    std::fs::write(&client, "from-file\n").unwrap();
    std::fs::write(&session, format!("{SECRET_32}\r\n")).unwrap();
    let text = MINIMAL
        .replace(
            "client_secret: s3cr3t-client-value",
            &format!("client_secret_file: {}", client.display()),
        )
        .replace(
            &format!("secret: {SECRET_32}"),
            // Relative: resolved against the base dir, like a path next to the config file.
            &format!(
                "secret_file: {}",
                session.file_name().unwrap().to_str().unwrap()
            ),
        );
    let config = load_str_in(&text, &no_env, &std::env::temp_dir());
    std::fs::remove_file(&client).unwrap();
    std::fs::remove_file(&session).unwrap();
    let config = config.unwrap();
    assert_eq!(client_secret(&config.provider.credential), "from-file");
    assert_eq!(config.session.secrets[0].expose().len(), 32);
}

#[test]
fn an_unreadable_secret_file_names_the_key_the_path_and_the_os_error() {
    let missing = temp_path("missing");
    let text = MINIMAL.replace(
        "client_secret: s3cr3t-client-value",
        &format!("client_secret_file: {}", missing.display()),
    );
    let found = problems(&text, &no_env);
    assert_eq!(found.len(), 1, "{found:?}");
    let expected = format!(
        "provider.client_secret_file: cannot read {}: ",
        missing.display()
    );
    assert!(found[0].starts_with(&expected), "{found:?}");
    assert!(found[0].contains("os error"), "{found:?}");
}

#[test]
fn bad_durations_say_how_to_write_one() {
    let text = MINIMAL.replace("session:\n", "session:\n  lifetime: 8 hrs please\n");
    assert_eq!(
        problems(&text, &no_env),
        ["session.lifetime: \"8 hrs please\" is not a duration; write it like 90s, 15m or 8h"]
    );
    let text = MINIMAL.replace("session:\n", "session:\n  lifetime: 500ms\n");
    assert_eq!(
        problems(&text, &no_env),
        ["session.lifetime: must be at least 1s"]
    );
    let text = format!("{MINIMAL}upstream_timeout: 0s\n");
    assert_eq!(
        problems(&text, &no_env),
        ["upstream_timeout: must be more than 0s"]
    );
    let text = MINIMAL.replace("provider:\n", "provider:\n  timeout: 90s\n");
    assert_eq!(
        load_str(&text, &no_env).unwrap().provider.timeout,
        Duration::from_secs(90)
    );
}

#[test]
fn an_http_authority_is_accepted_only_on_loopback() {
    let with = |authority: &str| {
        MINIMAL.replace(
            "provider:\n",
            &format!("provider:\n  authority: {authority}\n"),
        )
    };
    let found = problems(&with("http://login.example.com"), &no_env);
    assert!(
        has(&found, "provider.authority: must use https"),
        "{found:?}"
    );
    for loopback in [
        "http://127.0.0.1:9000",
        "http://127.8.9.10",
        "http://[::1]:9000",
        "http://localhost:9000",
    ] {
        let config = load_str(&with(loopback), &no_env).unwrap();
        assert_eq!(config.provider.authority.scheme(), "http", "{loopback}");
    }
    let found = problems(&with("https://login.microsoftonline.com/contoso"), &no_env);
    assert!(
        has(&found, "provider.authority: must have no path"),
        "{found:?}"
    );
}

#[test]
fn urls_are_checked() {
    let found = problems(
        &MINIMAL.replace("https://app.example.com", "https://app.example.com/app"),
        &no_env,
    );
    assert!(has(&found, "public_url: must have no path"), "{found:?}");
    let found = problems(
        &MINIMAL.replace("https://app.example.com", "https://app.example.com/?a=1"),
        &no_env,
    );
    assert!(has(&found, "public_url: must have no query"), "{found:?}");
    let found = problems(
        &MINIMAL.replace("http://127.0.0.1:8080", "ftp://app.internal"),
        &no_env,
    );
    assert_eq!(
        found,
        [
            "upstream: must be an http:// or https:// URL or a unix: socket path, e.g. \
          http://127.0.0.1:8080 or unix:/run/app.sock"
        ]
    );
    let found = problems(
        &MINIMAL.replace("http://127.0.0.1:8080", "127.0.0.1:8080"),
        &no_env,
    );
    assert!(has(&found, "upstream: "), "{found:?}");
    let config = load_str(
        &MINIMAL.replace("https://app.example.com", "http://localhost:4180/"),
        &no_env,
    )
    .unwrap();
    assert_eq!(config.public_url.as_str(), "http://localhost:4180/");
}

#[test]
fn required_keys_are_named() {
    let found = problems("", &no_env);
    for key in [
        "public_url: required; the URL browsers use",
        "upstream: required",
        "provider.client_id: required",
        "provider: give exactly one of client_secret, client_secret_file, client_certificate, \
         federated_token_file; none is set",
        "session.secret: required",
        "authorization.allowed_tenants: required",
    ] {
        assert!(has(&found, key), "{key} missing from {found:?}");
    }
}

#[test]
fn a_multi_tenant_authority_needs_allowed_tenants() {
    let common = MINIMAL.replace("11111111-2222-3333-4444-555555555555", "common");
    assert_eq!(
        problems(&common, &no_env),
        ["authorization.allowed_tenants: required when provider.tenant is common/organizations \
          (any Microsoft tenant could sign in); list your tenant GUIDs, or [\"*\"] to allow every tenant"]
    );
    let star = format!("{common}authorization:\n  allowed_tenants: ['*']\n");
    assert_eq!(
        load_str(&star, &no_env)
            .unwrap()
            .authorization
            .rules
            .allowed_tenants,
        TenantRule::Any { personal: false }
    );
    let listed = format!(
        "{common}authorization:\n  allowed_tenants: [AAAAAAAA-2222-3333-4444-555555555555]\n"
    );
    assert_eq!(
        load_str(&listed, &no_env)
            .unwrap()
            .authorization
            .rules
            .allowed_tenants,
        TenantRule::Only(vec!["aaaaaaaa-2222-3333-4444-555555555555".into()])
    );
}

#[test]
fn allowed_tenants_and_domains_are_checked() {
    let text = format!(
        "{MINIMAL}authorization:\n  allowed_tenants: ['*', contoso.com, 11111111-2222-3333-4444-555555555555]\n  allowed_email_domains: ['@example.com', 'bad domain', Example.COM]\n"
    );
    let found = problems(&text, &no_env);
    assert!(
        has(
            &found,
            "authorization.allowed_tenants[1]: \"contoso.com\" is not a tenant GUID"
        ),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "authorization.allowed_tenants: \"*\" allows every tenant"
        ),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "authorization.allowed_email_domains[0]: write the domain only"
        ),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "authorization.allowed_email_domains[1]: \"bad domain\" is not a domain"
        ),
        "{found:?}"
    );
    assert_eq!(found.len(), 4, "{found:?}");
    let text = format!("{MINIMAL}authorization:\n  allowed_email_domains: [Example.COM]\n");
    assert_eq!(
        load_str(&text, &no_env)
            .unwrap()
            .authorization
            .rules
            .allowed_email_domains,
        [DomainRule::Exact("example.com".into())]
    );
}

#[test]
fn tenants_cookie_names_scopes_and_routes_are_checked() {
    let found = problems(
        &MINIMAL.replace("11111111-2222-3333-4444-555555555555", "organisations"),
        &no_env,
    );
    assert!(
        has(&found, "provider.tenant: \"organisations\" is not a tenant"),
        "{found:?}"
    );
    let text = MINIMAL.replace(
        "11111111-2222-3333-4444-555555555555",
        "Contoso.onmicrosoft.com",
    );
    assert_eq!(
        load_str(&text, &no_env).unwrap().provider.tenant,
        "contoso.onmicrosoft.com"
    );

    let text = MINIMAL.replace("session:\n", "session:\n  cookie_name: __Host-x\n");
    assert!(has(
        &problems(&text, &no_env),
        "session.cookie_name: must not start with __Host-"
    ));
    let text = MINIMAL.replace("session:\n", "session:\n  cookie_name: 'a;b'\n");
    assert!(has(
        &problems(&text, &no_env),
        "session.cookie_name: \"a;b\" is not a valid cookie name"
    ));

    let text = MINIMAL.replace("provider:\n", "provider:\n  scopes: [profile, email]\n");
    assert_eq!(
        problems(&text, &no_env),
        ["provider.scopes: must contain openid; entrance signs users in with OpenID Connect"]
    );

    let text = format!("{MINIMAL}routes:\n  - path: healthz\n  - public: true\n  - path: /static/\n    public: true\n");
    let found = problems(&text, &no_env);
    assert!(
        has(&found, "routes[0].path: must start with /"),
        "{found:?}"
    );
    assert!(
        has(&found, "routes[1]: give exactly one of path"),
        "{found:?}"
    );
    let text =
        format!("{MINIMAL}routes:\n  - path: /healthz\n    public: true\n  - path: /static/\n");
    let routes = load_str(&text, &no_env).unwrap().routes;
    assert!(matches!(
        &routes[..],
        [
            RouteConfig {
                matcher: PathMatcher::Exact(exact),
                action: RouteAction::Public,
                ..
            },
            RouteConfig {
                matcher: PathMatcher::Prefix(prefix),
                action: RouteAction::Protect {
                    mode: RulesMode::Add,
                    ..
                },
                ..
            }
        ] if exact == "/healthz" && prefix == "/static/"
    ));
}

#[test]
fn several_problems_are_reported_at_once_one_per_line() {
    let text = "
upstream: ftp://app.internal
provider:
  client_id: x
  client_secret: y
session:
  secret: AAECAwQFBgcICQoLDA0ODw==
  lifetime: forever
";
    let error = load_str(text, &no_env).unwrap_err();
    let rendered = error.to_string();
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines.len(), 5, "{rendered}");
    for key in [
        "public_url:",
        "upstream:",
        "session.secret:",
        "session.lifetime:",
        "authorization.allowed_tenants:",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(key)),
            "{key} missing from\n{rendered}"
        );
    }
}

#[test]
fn secret_values_never_appear_in_errors() {
    const CLIENT: &str = "client-secret-VALUE-1234";
    let env = env_with(&[("CLIENT", CLIENT), ("SESSION", SECRET_16)]);
    let cases = [
        // Short session secret, client secret misplaced under a map key, a secret where a map belongs.
        MINIMAL.replace(SECRET_32, "${SESSION}"),
        MINIMAL.replace("session:\n", "session:\n  lifetime: ${CLIENT}x\n"),
        format!("{MINIMAL}routes: ${{CLIENT}}\n"),
        MINIMAL.replace("provider:\n  tenant", "provider: ${CLIENT}\nx:\n  tenant"),
        MINIMAL.replace(SECRET_32, "${CLIENT}"),
        format!("{MINIMAL}authorization: ${{SESSION}}\n"),
    ];
    for text in cases {
        let error = load_str(&text, &env).unwrap_err();
        let shown = format!("{error} {error:?}");
        for secret in [CLIENT, SECRET_16, "AAECAwQFBgcICQoLDA0ODw"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
    }
}

#[test]
fn invalid_yaml_is_one_problem() {
    let found = problems("public_url: [\n", &no_env);
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("not valid YAML"), "{found:?}");
}

#[test]
fn load_file_reports_an_unreadable_file() {
    let missing = temp_path("config.yaml");
    let error = load_file(&missing).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(
        error.to_string().starts_with("cannot read config file"),
        "{error}"
    );
}

#[test]
fn the_example_config_loads() {
    let env = env_with(&[
        ("ENTRANCE_CLIENT_SECRET", "example-client-secret"),
        ("ENTRANCE_SESSION_SECRET", SECRET_32),
    ]);
    let config = load_str(include_str!("../../config.example.yaml"), &env).unwrap();
    assert_eq!(
        client_secret(&config.provider.credential),
        "example-client-secret"
    );
    // The values it shows for the newer sections are the defaults it documents.
    let defaults = crate::server::Limits::default();
    assert_eq!(config.limits.max_header_bytes, defaults.max_header_bytes);
    assert_eq!(config.limits.max_connections, defaults.max_connections);
    assert_eq!(
        config.limits.header_read_timeout,
        defaults.header_read_timeout
    );
    assert_eq!(config.limits.h2c, defaults.h2c);
    assert!(config.trusted_proxies.is_empty() && config.hosts.is_empty());
    assert_eq!(config.tls, None);
    assert_eq!(config.session.refresh, Duration::from_secs(300));
    assert!(matches!(
        config.session.store,
        crate::config::SessionStoreConfig::Cookie
    ));
}

#[test]
fn the_commented_out_examples_in_the_example_config_load_too() {
    // The files the examples name, relative to the config's directory.
    let dir = temp_path("example");
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    for name in [
        "fullchain.pem",
        "privkey.pem",
        "internal-ca.pem",
        "client.pem",
        "client.key",
        "docs.pem",
        "docs.key",
    ] {
        std::fs::write(dir.join("tls").join(name), "-----BEGIN PEM-----\n").unwrap();
    }
    let mut text = include_str!("../../config.example.yaml")
        .replace("listen: 127.0.0.1:4180\n", "")
        .replace("upstream: http://127.0.0.1:8080\n", "")
        .replace(
            "public_url: http://127.0.0.1:4180",
            "public_url: https://app.example.com",
        )
        .replace("  store: cookie\n", "  store: redis\n");
    for marker in [
        "# listen:",
        "# upstreams:",
        "# hosts:",
        "    # tls:",
        "  # max_body_bytes: 10MiB",
        "  # idle_timeout: 1h",
        "  # redis:",
    ] {
        text = uncomment(&text, marker);
    }
    let env = env_with(&[
        ("ENTRANCE_CLIENT_SECRET", "example-client-secret"),
        ("ENTRANCE_SESSION_SECRET", SECRET_32),
        ("REDIS_PASSWORD", "example-redis-password"),
    ]);
    let loaded = load_str_in(&text, &env, &dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let config = loaded.unwrap_or_else(|error| panic!("{error}\n\n{text}"));
    assert!(config.tls.is_some() && config.redirect_http.is_some());
    assert_eq!(config.upstreams.len(), 2);
    assert!(
        config.hosts[0].tls.is_some(),
        "the host certificate example did not load"
    );
    assert_eq!(config.hosts.len(), 1);
    assert!(config.limits.max_body_bytes.is_some());
    assert!(config.session.idle_timeout.is_some());
    assert!(matches!(
        config.session.store,
        crate::config::SessionStoreConfig::Redis(_)
    ));
}

/// Uncomment the block that starts at the line `marker` (`{indent}# key:`): that line and the
/// deeper-indented comment lines after it lose their `# `.
fn uncomment(text: &str, marker: &str) -> String {
    let indent = marker.len() - marker.trim_start().len();
    let deeper = format!("{}#   ", " ".repeat(indent));
    let mut out = Vec::new();
    let mut inside = false;
    let mut found = false;
    for line in text.lines() {
        if line == marker {
            inside = true;
            found = true;
        } else if inside && !line.starts_with(&deeper) {
            inside = false;
        }
        if inside {
            out.push(format!("{}{}", &line[..indent], &line[indent + 2..]));
        } else {
            out.push(line.to_owned());
        }
    }
    assert!(found, "{marker} is not in the example config");
    out.join("\n") + "\n"
}

// ---- provider: clouds, credentials, workload identity ----

/// The secret of a secret credential (panics on another kind).
fn client_secret(credential: &ClientCredential) -> &str {
    match credential {
        ClientCredential::Secret(secret) => secret.expose(),
        other => panic!("expected a client secret, got {other:?}"),
    }
}

/// MINIMAL with the `client_secret` line replaced by `credential` (YAML lines under provider).
fn with_credential(credential: &str) -> String {
    MINIMAL.replace("  client_secret: s3cr3t-client-value\n", credential)
}

/// MINIMAL with `lines` added at the top of the provider section.
fn with_provider(lines: &str) -> String {
    MINIMAL.replace("provider:\n", &format!("provider:\n{lines}"))
}

/// An env lookup over owned pairs (paths of temp files are not `'static`).
fn env_of(vars: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

/// A certificate and key written to temp files: `(cert path, key path)`.
fn certificate_files(name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = crate::emulator::testing::self_signed_certificate(name);
    let (cert_path, key_path) = (temp_path("tls.crt"), temp_path("tls.key"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    (cert_path, key_path)
}

#[test]
fn the_cloud_shorthand_sets_the_authority() {
    for (name, authority, cloud) in [
        (
            "global",
            "https://login.microsoftonline.com/",
            Cloud::Global,
        ),
        ("usgov", "https://login.microsoftonline.us/", Cloud::UsGov),
        (
            "china",
            "https://login.partner.microsoftonline.cn/",
            Cloud::China,
        ),
    ] {
        let config = load_str(&with_provider(&format!("  cloud: {name}\n")), &no_env).unwrap();
        assert_eq!(config.provider.authority.as_str(), authority);
        assert_eq!(config.provider.cloud, Some(cloud));
    }
    // An authority alone tells its cloud; a matching pair is fine.
    let us = with_provider("  authority: https://login.usgovcloudapi.net\n");
    assert_eq!(
        load_str(&us, &no_env).unwrap().provider.cloud,
        Some(Cloud::UsGov)
    );
    let both = with_provider("  cloud: china\n  authority: https://login.chinacloudapi.cn\n");
    let config = load_str(&both, &no_env).unwrap();
    assert_eq!(
        config.provider.authority.as_str(),
        "https://login.chinacloudapi.cn/"
    );
    assert_eq!(config.provider.cloud, Some(Cloud::China));
}

#[test]
fn a_cloud_that_disagrees_with_the_authority_or_does_not_exist_is_refused() {
    let text = with_provider("  cloud: usgov\n  authority: https://login.microsoftonline.com\n");
    assert_eq!(
        problems(&text, &no_env),
        [
            "provider.cloud: usgov does not match provider.authority (login.microsoftonline.com, \
          which is in the global cloud); give only one of them"
        ]
    );
    let text = with_provider("  cloud: global\n  authority: https://contoso.ciamlogin.com\n");
    assert!(has(
        &problems(&text, &no_env),
        "provider.cloud: global does not match"
    ));
    assert_eq!(
        problems(&with_provider("  cloud: germany\n"), &no_env),
        ["provider.cloud: \"germany\" is not a cloud; use global, usgov or china"]
    );
}

#[test]
fn the_retired_german_cloud_is_refused() {
    let text = with_provider("  authority: https://login.microsoftonline.de\n");
    let found = problems(&text, &no_env);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "provider.authority: login.microsoftonline.de belongs to Microsoft \
                              Cloud Germany, which closed on 29 October 2021"
        ),
        "{found:?}"
    );
}

#[test]
fn external_id_and_custom_domain_authorities_load_without_a_cloud() {
    for authority in ["https://contoso.ciamlogin.com", "https://login.contoso.com"] {
        let text = with_provider(&format!("  authority: {authority}\n")).replace(
            "11111111-2222-3333-4444-555555555555",
            "contoso.onmicrosoft.com",
        );
        let config = load_str(&text, &no_env).unwrap();
        assert_eq!(config.provider.authority.as_str(), format!("{authority}/"));
        assert_eq!(config.provider.cloud, None);
    }
    // External ID has no multi-tenant endpoints.
    let text = with_provider("  authority: https://contoso.ciamlogin.com\n")
        .replace("11111111-2222-3333-4444-555555555555", "organizations");
    assert!(has(
        &problems(&text, &no_env),
        "provider.tenant: organizations is not available with an External ID authority"
    ));
}

#[test]
fn exactly_one_credential_is_required() {
    assert_eq!(
        problems(&with_credential(""), &no_env),
        [
            "provider: give exactly one of client_secret, client_secret_file, client_certificate, \
          federated_token_file; none is set (a client secret, certificate or federated \
          credential of your app registration)"
        ]
    );
    let two = with_provider("  federated_token_file: /var/run/token\n");
    assert_eq!(
        problems(&two, &no_env),
        [
            "provider: give exactly one of client_secret, client_secret_file, client_certificate, \
          federated_token_file; found client_secret and federated_token_file"
        ]
    );
    let three = with_provider(
        "  client_secret_file: s\n  client_certificate: {cert_file: c, key_file: k}\n",
    );
    assert!(has(
        &problems(&three, &no_env),
        "provider: give exactly one of client_secret, client_secret_file, client_certificate, \
         federated_token_file; found client_secret and client_secret_file and client_certificate"
    ));
}

#[test]
fn a_client_certificate_loads_from_pem_files() {
    let (cert, key) = certificate_files("config-test");
    let text = with_credential(&format!(
        "  client_certificate:\n    cert_file: {}\n    key_file: {}\n",
        cert.display(),
        key.display()
    ));
    let config = load_str(&text, &no_env);
    let (_, other_key) = certificate_files("config-other");
    let mismatched = load_str(
        &text.replace(&key.display().to_string(), &other_key.display().to_string()),
        &no_env,
    );
    let swapped = text
        .replace("cert_file", "tmp_file")
        .replace("key_file", "cert_file");
    let swapped = load_str(&swapped.replace("tmp_file", "key_file"), &no_env);
    for path in [&cert, &key, &other_key] {
        std::fs::remove_file(path).unwrap();
    }
    let credential = config.unwrap().provider.credential;
    assert_eq!(credential.kind(), "client certificate");
    assert!(!format!("{credential:?}").contains("PRIVATE KEY"));

    let found: Vec<String> = mismatched
        .unwrap_err()
        .problems()
        .iter()
        .map(Problem::to_string)
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(&format!(
            "provider.client_certificate.key_file: {} does not belong",
            other_key.display()
        )),
        "{found:?}"
    );
    let found: Vec<String> = swapped
        .unwrap_err()
        .problems()
        .iter()
        .map(Problem::to_string)
        .collect();
    assert!(
        has(&found, "provider.client_certificate.cert_file:")
            && found[0].contains("has no -----BEGIN CERTIFICATE-----"),
        "{found:?}"
    );
}

#[test]
fn certificate_files_are_required_and_must_be_readable() {
    let missing = temp_path("missing.key");
    let text = with_credential(&format!(
        "  client_certificate: {{cert_file: {}, key_file: {}}}\n",
        missing.display(),
        missing.display()
    ));
    let found = problems(&text, &no_env);
    assert_eq!(found.len(), 2, "{found:?}");
    for (i, key) in ["cert_file", "key_file"].into_iter().enumerate() {
        let expected = format!(
            "provider.client_certificate.{key}: cannot read {}: No such file or directory",
            missing.display()
        );
        assert!(found[i].starts_with(&expected), "{found:?}");
    }
    let text = with_credential("  client_certificate: {cert_file: tls.crt}\n");
    assert!(has(
        &problems(&text, &no_env),
        "provider.client_certificate.key_file: required; the certificate's RSA private key, PEM \
         (e.g. tls.key)"
    ));
    let text = with_credential("  client_certificate: {cert: tls.crt, key_file: k}\n");
    assert!(has(
        &problems(&text, &no_env),
        "provider.client_certificate.cert: unknown key; expected cert_file or key_file"
    ));
}

#[test]
fn a_federated_token_file_must_exist_and_not_be_empty() {
    let token = temp_path("azure-identity-token");
    std::fs::write(&token, "eyJ.token.sig\n").unwrap();
    let text = with_credential(&format!("  federated_token_file: {}\n", token.display()));
    let config = load_str(&text, &no_env);
    std::fs::write(&token, "\n").unwrap();
    let empty = problems(&text, &no_env);
    std::fs::remove_file(&token).unwrap();
    let missing = problems(&text, &no_env);

    match config.unwrap().provider.credential {
        ClientCredential::FederatedTokenFile(path) => assert_eq!(path, token),
        other => panic!("expected a federated token file, got {other:?}"),
    }
    assert_eq!(
        empty,
        [format!(
            "provider.federated_token_file: {} is empty",
            token.display()
        )]
    );
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(
        missing[0].starts_with(&format!(
            "provider.federated_token_file: cannot read {}: ",
            token.display()
        )),
        "{missing:?}"
    );
}

/// A config with no client id, tenant, authority or credential: Workload Identity fills them.
const WORKLOAD: &str = "
public_url: https://app.example.com
upstream: http://127.0.0.1:8080
session:
  secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
";

#[test]
fn azure_workload_identity_variables_fill_the_provider() {
    let token = temp_path("wi-token");
    std::fs::write(&token, "eyJ.token.sig").unwrap();
    let env = env_of(vec![
        (
            "AZURE_CLIENT_ID",
            "22222222-0000-0000-0000-000000000000".to_owned(),
        ),
        (
            "AZURE_TENANT_ID",
            "33333333-0000-0000-0000-00000000000A".to_owned(),
        ),
        (
            "AZURE_AUTHORITY_HOST",
            "https://login.microsoftonline.us/".to_owned(),
        ),
        ("AZURE_FEDERATED_TOKEN_FILE", token.display().to_string()),
    ]);
    let config = load_str(WORKLOAD, &env);
    // Keys in the file win; a credential in the file keeps the token file out.
    let own = format!(
        "{WORKLOAD}provider:\n  client_id: mine\n  tenant: contoso.com\n  cloud: china\n  \
         client_secret: s\n"
    );
    let own = load_str(&own, &env);
    std::fs::remove_file(&token).unwrap();

    let p = config.unwrap().provider;
    assert_eq!(p.client_id, "22222222-0000-0000-0000-000000000000");
    assert_eq!(p.tenant, "33333333-0000-0000-0000-00000000000a");
    assert_eq!(p.authority.as_str(), "https://login.microsoftonline.us/");
    assert_eq!(p.cloud, Some(Cloud::UsGov));
    assert!(matches!(&p.credential, ClientCredential::FederatedTokenFile(path) if *path == token));

    let p = own.unwrap().provider;
    assert_eq!(p.client_id, "mine");
    assert_eq!(p.tenant, "contoso.com");
    assert_eq!(
        p.authority.as_str(),
        "https://login.partner.microsoftonline.cn/"
    );
    assert_eq!(client_secret(&p.credential), "s");
}

#[test]
fn workload_identity_problems_point_at_the_variable() {
    let missing = temp_path("wi-missing");
    let env = env_of(vec![
        ("AZURE_CLIENT_ID", "c".to_owned()),
        ("AZURE_TENANT_ID", "not a tenant!".to_owned()),
        ("AZURE_FEDERATED_TOKEN_FILE", missing.display().to_string()),
        ("AZURE_AUTHORITY_HOST", "  ".to_owned()),
    ]);
    let found = problems(WORKLOAD, &env);
    assert!(
        has(
            &found,
            "provider.tenant: the value from the environment is not a tenant"
        ),
        "{found:?}"
    );
    assert!(
        found.iter().any(
            |p| p.starts_with("provider.federated_token_file: cannot read")
                && p.ends_with("(the path comes from AZURE_FEDERATED_TOKEN_FILE)")
        ),
        "{found:?}"
    );
    // A blank AZURE_AUTHORITY_HOST is unset: the global default applies, no authority problem.
    assert!(!has(&found, "provider.authority"), "{found:?}");
    // Without the variables, the missing keys are named as usual.
    let found = problems(WORKLOAD, &no_env);
    assert!(has(&found, "provider.client_id: required"), "{found:?}");
    assert!(has(&found, "provider: give exactly one of"), "{found:?}");
}

// ---- authorization, routes and api ----

const MSA_TID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

#[test]
fn every_authorization_rule_loads() {
    let text = format!(
        "{MINIMAL}authorization:
  allowed_tenants: ['*', {MSA}]
  allowed_email_domains: [contoso.com, '*.Fabrikam.com']
  allowed_emails: [Alice@Contoso.com, alice@contoso.com]
  allowed_users: [AAAAAAAA-0000-0000-0000-000000000001]
  allowed_groups: [bbbbbbbb-0000-0000-0000-000000000002]
  allowed_roles: [Admin, Tasks.Write]
  groups_source: graph
",
        MSA = MSA_TID.to_uppercase()
    );
    let authorization = load_str(&text, &no_env).unwrap().authorization;
    let rules = &authorization.rules;
    assert_eq!(rules.allowed_tenants, TenantRule::Any { personal: true });
    assert_eq!(
        rules.allowed_email_domains,
        [
            DomainRule::Exact("contoso.com".into()),
            DomainRule::AnySubdomainOf("fabrikam.com".into())
        ]
    );
    assert_eq!(rules.allowed_emails, ["alice@contoso.com"]);
    assert_eq!(
        rules.allowed_users,
        ["aaaaaaaa-0000-0000-0000-000000000001"]
    );
    assert_eq!(
        rules.allowed_groups,
        ["bbbbbbbb-0000-0000-0000-000000000002"]
    );
    assert_eq!(rules.allowed_roles, ["Admin", "Tasks.Write"]);
    assert_eq!(authorization.groups_source, GroupsSource::Graph);
}

#[test]
fn star_combines_only_with_the_personal_account_tenant() {
    let common = MINIMAL.replace("11111111-2222-3333-4444-555555555555", "common");
    let text = format!(
        "{common}authorization:\n  allowed_tenants: ['*', {MSA_TID}, 11111111-2222-3333-4444-555555555555]\n"
    );
    let found = problems(&text, &no_env);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        has(&found, "authorization.allowed_tenants: \"*\" allows every tenant, so the only entry allowed next to it is the personal"),
        "{found:?}"
    );
    let text = format!("{common}authorization:\n  allowed_tenants: [{MSA_TID}]\n");
    assert_eq!(
        load_str(&text, &no_env)
            .unwrap()
            .authorization
            .rules
            .allowed_tenants,
        TenantRule::Only(vec![MSA_TID.into()])
    );
}

#[test]
fn bad_rule_values_are_named_with_their_key_path() {
    let text = format!(
        "{MINIMAL}authorization:
  allowed_users: [alice@contoso.com]
  allowed_groups: [Engineering, bbbbbbbb-0000-0000-0000-000000000002]
  allowed_emails: [alice]
  allowed_roles: ['Tasks Admin']
  allowed_email_domains: ['*.com']
  groups_source: ldap
"
    );
    let found = problems(&text, &no_env);
    for want in [
        "authorization.allowed_users[0]: \"alice@contoso.com\" is not a user object id (a GUID)",
        "authorization.allowed_groups[0]: \"Engineering\" is not a group object id (a GUID",
        "authorization.allowed_emails[0]: \"alice\" is not an email address",
        "authorization.allowed_roles[0]: \"Tasks Admin\" is not an app role value",
        "authorization.allowed_email_domains[0]: \"*.com\" is not a domain name",
        "authorization.groups_source: \"ldap\" is not a groups source; use claim",
    ] {
        assert!(has(&found, want), "{want} missing from {found:?}");
    }
    assert_eq!(found.len(), 6, "{found:?}");
}

#[test]
fn routes_load_with_their_matchers_methods_actions_and_requirements() {
    let text = format!(
        "{MINIMAL}routes:
  - path: /%7euser/
    public: true
  - regex: ^/api/v[0-9]+/admin(/|$)
    deny: true
  - path: /reports
    methods: [get, POST]
    mode: replace
    allowed_groups: [BBBBBBBB-0000-0000-0000-000000000002]
    allowed_tenants: ['*']
    required_scopes: [Reports.Read]
    required_roles: [Reader]
  - regex: '^(?i)/Admin(/|$)'
    deny: true
"
    );
    let routes = load_str(&text, &no_env).unwrap().routes;
    assert_eq!(routes.len(), 4);
    assert!(matches!(&routes[0].matcher, PathMatcher::Prefix(p) if p == "/~user/"));
    assert!(matches!(routes[0].action, RouteAction::Public));
    assert!(routes[0].methods.is_empty());
    match &routes[1].matcher {
        PathMatcher::Regex(re) => {
            assert!(re.is_match("/api/v2/admin/x") && !re.is_match("/x/api/v2/admin"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(routes[1].action, RouteAction::Deny));
    let reports = &routes[2];
    assert!(matches!(&reports.matcher, PathMatcher::Exact(p) if p == "/reports"));
    assert_eq!(reports.methods, [http::Method::GET, http::Method::POST]);
    match &reports.action {
        RouteAction::Protect {
            mode: RulesMode::Replace,
            rules,
        } => {
            assert_eq!(
                rules.allowed_groups,
                ["bbbbbbbb-0000-0000-0000-000000000002"]
            );
            assert_eq!(rules.allowed_tenants, TenantRule::Any { personal: false });
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(reports.required_scopes, ["Reports.Read"]);
    assert_eq!(reports.required_roles, ["Reader"]);
    match &routes[3].matcher {
        PathMatcher::Regex(re) => assert!(re.is_match("/ADMIN/x") && re.is_match("/admin")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn route_mistakes_are_named_with_their_key_path() {
    let text = format!(
        "{MINIMAL}routes:
  - path: /a
    regex: ^/a
  - path: /b
    public: true
    deny: true
  - path: /c
    public: true
    allowed_groups: [bbbbbbbb-0000-0000-0000-000000000002]
  - regex: '^/d('
  - regex: /e
    deny: true
  - path: /f
    methods: [GETT]
  - path: /g
    deny: true
    required_roles: [Admin]
  - path: /h
    mode: instead
  - path: /i
    methods: []
  - path: /j;x
  - path: /k%2f
  - path: /l
    allowed_users: [not-a-guid]
  - path: /m
    required_scopes: ['a b']
"
    );
    let found = problems(&text, &no_env);
    for want in [
        "routes[0]: give exactly one of path",
        "routes[1]: public and deny cannot both be set",
        "routes[2]: public routes cannot carry rules",
        "routes[3].regex: does not compile: ",
        "routes[4].regex: must start with ^: unanchored patterns match more than intended",
        "routes[5].methods[0]: \"GETT\" is not an HTTP method",
        "routes[6]: deny routes cannot carry rules",
        "routes[7].mode: \"instead\" is not a mode",
        "routes[8].methods: lists no method",
        "routes[9].path: must not contain ';'",
        "routes[10].path: is refused like a request path would be: the path contains an encoded",
        "routes[11].allowed_users[0]: \"not-a-guid\" is not a user object id",
        "routes[12].required_scopes[0]: \"a b\" is not a single word",
    ] {
        assert!(has(&found, want), "{want} missing from {found:?}");
    }
    assert_eq!(found.len(), 13, "{found:?}");
    assert!(
        found.iter().all(|p| !p.contains('\n')),
        "a problem spans lines: {found:?}"
    );
}

#[test]
fn unknown_route_and_api_keys_are_named() {
    let text =
        format!("{MINIMAL}routes:\n  - path: /a\n    allowed_group: [x]\napi:\n  enable: true\n");
    let found = problems(&text, &no_env);
    assert!(
        has(&found, "routes[0].allowed_group: unknown key"),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "api.enable: unknown key; expected enabled or audiences"
        ),
        "{found:?}"
    );
}

#[test]
fn the_admin_listener_defaults_to_loopback_can_be_off_and_never_shares_the_public_port() {
    let default = load_str(MINIMAL, &no_env).unwrap().admin;
    assert_eq!(default.listen, Some("127.0.0.1:9180".parse().unwrap()));
    let off = load_str(&format!("{MINIMAL}admin:\n  listen: off\n"), &no_env).unwrap();
    assert_eq!(off.admin.listen, None);
    let set = load_str(
        &format!("{MINIMAL}admin:\n  listen: 0.0.0.0:9999\n"),
        &no_env,
    )
    .unwrap();
    assert_eq!(set.admin.listen, Some("0.0.0.0:9999".parse().unwrap()));
    let found = problems(&format!("{MINIMAL}admin:\n  listen: localhost\n"), &no_env);
    assert!(
        has(&found, "admin.listen: \"localhost\" is not an address"),
        "{found:?}"
    );
    let text =
        format!("{MINIMAL}listen: 0.0.0.0:4180\nadmin:\n  listen: 127.0.0.1:4180\n  port: 1\n");
    let found = problems(&text, &no_env);
    assert!(
        has(&found, "admin.listen: must differ from listen"),
        "{found:?}"
    );
    assert!(has(&found, "admin.port: unknown key"), "{found:?}");
}

#[test]
fn the_api_section_loads_and_checks_audiences() {
    let text = format!("{MINIMAL}api:\n  enabled: true\n  audiences: [api://orders, ' https://orders.example.com ']\n");
    let api = load_str(&text, &no_env).unwrap().api;
    assert!(api.enabled);
    assert_eq!(
        api.audiences,
        ["api://orders", "https://orders.example.com"]
    );
    let text = format!("{MINIMAL}api:\n  enabled: maybe\n  audiences: ['two words']\n");
    let found = problems(&text, &no_env);
    assert!(
        has(&found, "api.enabled: expected true or false"),
        "{found:?}"
    );
    assert!(
        has(&found, "api.audiences[0]: \"two words\" is not an audience"),
        "{found:?}"
    );
}

#[test]
fn the_log_section_defaults_to_auto_and_checks_format_and_level() {
    use crate::config::LogFormat;
    let config = load_str(MINIMAL, &no_env).unwrap();
    assert_eq!(config.log.format, None, "absent format is auto");
    assert_eq!(config.log.level, None);
    let config = load_str(
        &format!("{MINIMAL}log:\n  format: JSON\n  level: entrance=debug,info\n"),
        &no_env,
    )
    .unwrap();
    assert_eq!(config.log.format, Some(LogFormat::Json));
    assert_eq!(config.log.level.as_deref(), Some("entrance=debug,info"));
    let config = load_str(&format!("{MINIMAL}log:\n  format: text\n"), &no_env).unwrap();
    assert_eq!(config.log.format, Some(LogFormat::Text));
    let config = load_str(&format!("{MINIMAL}log:\n  format: auto\n"), &no_env).unwrap();
    assert_eq!(config.log.format, None);

    let found = problems(
        &format!("{MINIMAL}log:\n  format: xml\n  level: verbose\n  colour: true\n"),
        &no_env,
    );
    assert!(
        has(&found, "log.format: \"xml\" is not a log format"),
        "{found:?}"
    );
    assert!(
        has(&found, "log.level: \"verbose\" is not a log filter"),
        "{found:?}"
    );
    assert!(has(&found, "log.colour: unknown key"), "{found:?}");
    let found = problems(&format!("{MINIMAL}log:\n  level: \"=[\"\n"), &no_env);
    assert!(has(&found, "log.level:"), "{found:?}");
    let found = problems(
        &format!("{MINIMAL}log:\n  level: ${{LOG_LEVEL}}\n"),
        &env_with(&[("LOG_LEVEL", "loud")]),
    );
    assert!(
        has(&found, "log.level: the value from the environment is not"),
        "{found:?}"
    );
}

#[test]
fn the_ui_section_has_defaults_and_checks_every_key() {
    let config = load_str(MINIMAL, &no_env).unwrap();
    assert_eq!(config.ui.title, "entrance");
    assert_eq!(config.ui.accent_color, "#0063b1");
    assert!(!config.ui.sign_in_page);
    assert!(config.ui.logo_url.is_none() && config.ui.footer.is_none());
    assert!(config.ui.templates_dir.is_none());

    let text = format!(
        "{MINIMAL}ui:\n  title: ' Contoso Intranet '\n  logo_url: https://cdn.example.com/logo.svg\n  \
         accent_color: '#1A2B3C'\n  footer: Run by IT\n  sign_in_page: true\n  templates_dir: pages\n"
    );
    let config = load_str_in(&text, &no_env, std::path::Path::new("/etc/entrance")).unwrap();
    assert_eq!(config.ui.title, "Contoso Intranet");
    assert_eq!(
        config.ui.logo_url.as_deref(),
        Some("https://cdn.example.com/logo.svg")
    );
    assert_eq!(config.ui.accent_color, "#1a2b3c");
    assert_eq!(config.ui.footer.as_deref(), Some("Run by IT"));
    assert!(config.ui.sign_in_page);
    assert_eq!(
        config.ui.templates_dir,
        Some(PathBuf::from("/etc/entrance/pages"))
    );

    let bad = format!(
        "{MINIMAL}ui:\n  title: ''\n  logo_url: javascript:alert(1)\n  accent_color: blue\n  \
         footer: \"a\\nb\"\n  templates_dir: ''\n  colour: x\n"
    );
    let found = problems(&bad, &no_env);
    assert!(has(&found, "ui.colour: unknown key"), "{found:?}");
    assert!(has(&found, "ui.title: must not be empty"), "{found:?}");
    assert!(
        has(&found, "ui.logo_url: must be an https:// URL"),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "ui.accent_color: \"blue\" must be a colour written #rgb or #rrggbb"
        ),
        "{found:?}"
    );
    assert!(has(&found, "ui.footer: must be one line"), "{found:?}");
    assert!(
        has(&found, "ui.templates_dir: must not be empty"),
        "{found:?}"
    );

    let light = problems(
        &format!("{MINIMAL}ui:\n  accent_color: '#ffeb3b'\n"),
        &no_env,
    );
    assert!(
        has(&light, "ui.accent_color: \"#ffeb3b\" is too light"),
        "{light:?}"
    );
}

// ---- sessions and the front door: one file per area ----

#[path = "load_session_tests.rs"]
mod session;

#[path = "load_serving_tests.rs"]
mod serving;

#[path = "load_upstreams_tests.rs"]
mod upstreams;

#[path = "load_hosts_tests.rs"]
mod hosts;

/// A temp file with `content`, for keys that name files.
fn temp_file(name: &str, content: &str) -> PathBuf {
    let path = temp_path(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// The file name of `path`, for relative paths resolved against the temp dir.
fn file_name(path: &std::path::Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}
