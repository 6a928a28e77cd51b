#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::config::{RouteConfig, TenantRule};

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
    assert_eq!(config.upstream.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(config.upstream_timeout, Duration::from_secs(30));
    let p = &config.provider;
    assert_eq!(p.authority.as_str(), "https://login.microsoftonline.com/");
    assert_eq!(p.tenant, "11111111-2222-3333-4444-555555555555");
    assert_eq!(p.client_id, "my-client");
    assert_eq!(p.client_secret.expose(), "s3cr3t-client-value");
    assert_eq!(p.scopes, ["openid", "profile", "email", "offline_access"]);
    assert!(!p.sign_out_at_microsoft);
    assert_eq!(p.timeout, Duration::from_secs(10));
    let s = &config.session;
    assert_eq!(s.secret.expose(), &(0u8..32).collect::<Vec<u8>>());
    assert_eq!(s.cookie_name, "_entrance");
    assert_eq!(s.lifetime, Duration::from_secs(8 * 3600));
    assert_eq!(
        config.authorization.allowed_tenants,
        TenantRule::Unrestricted
    );
    assert!(config.authorization.allowed_email_domains.is_empty());
    assert!(config.routes.is_empty());
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
    assert_eq!(config.provider.client_secret.expose(), "from-env");
    assert_eq!(config.provider.client_id, "id-x-${LITERAL}");
    assert_eq!(config.session.secret.expose().len(), 32);
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
        ["session.lifetme: unknown key; expected one of secret, secret_file, cookie_name, lifetime"]
    );
    let text = MINIMAL.replace("provider:\n", "provider:\n  tenantt: x\n");
    assert!(has(
        &problems(&text, &no_env),
        "provider.tenantt: unknown key; expected one of authority, tenant,"
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
    assert!(config.routes[0].public);
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
        assert_eq!(config.session.secret.expose(), &bytes, "{encoded}");
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
    assert_eq!(config.provider.client_secret.expose(), "from-file");
    assert_eq!(config.session.secret.expose().len(), 32);
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
        &MINIMAL.replace("http://127.0.0.1:8080", "https://app.internal"),
        &no_env,
    );
    assert_eq!(found, ["upstream: https upstreams are not supported yet; use http:// to an app on the same host or a private network"]);
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
        "provider.client_secret: required",
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
            .allowed_tenants,
        TenantRule::Any
    );
    let listed = format!(
        "{common}authorization:\n  allowed_tenants: [AAAAAAAA-2222-3333-4444-555555555555]\n"
    );
    assert_eq!(
        load_str(&listed, &no_env)
            .unwrap()
            .authorization
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
            .allowed_email_domains,
        ["example.com"]
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
    assert!(has(&found, "routes[1].path: required"), "{found:?}");
    let text =
        format!("{MINIMAL}routes:\n  - path: /healthz\n    public: true\n  - path: /static/\n");
    let routes = load_str(&text, &no_env).unwrap().routes;
    assert_eq!(
        routes,
        [
            RouteConfig {
                path: "/healthz".into(),
                public: true
            },
            RouteConfig {
                path: "/static/".into(),
                public: false
            }
        ]
    );
}

#[test]
fn several_problems_are_reported_at_once_one_per_line() {
    let text = "
upstream: https://app.internal
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
        config.provider.client_secret.expose(),
        "example-client-secret"
    );
}
