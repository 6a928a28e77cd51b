//! `session`: secret lists, idle timeout, refresh, and the Redis store.

use super::*;
use crate::config::{RedisConnection, SessionConfig, SessionStoreConfig};

/// base64 of 32 bytes 32..64; a second valid secret.
const OTHER_32: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
/// A Redis password that must never appear in a message.
const PASSWORD: &str = "hunter2-REDIS-PASSWORD";

/// MINIMAL with `lines` (indented two spaces) added to the session section.
fn with_session(lines: &str) -> String {
    MINIMAL.replace("session:\n", &format!("session:\n{lines}"))
}

/// MINIMAL with the session secret line replaced by `lines`.
fn with_secret(lines: &str) -> String {
    MINIMAL.replace(&format!("  secret: {SECRET_32}\n"), lines)
}

fn session(text: &str) -> SessionConfig {
    load_str(text, &no_env).unwrap().session
}

fn redis(text: &str) -> crate::config::RedisConfig {
    match session(text).store {
        SessionStoreConfig::Redis(redis) => redis,
        SessionStoreConfig::Cookie => panic!("expected the redis store"),
    }
}

/// A URL of a connection, exposed for assertions.
fn shown(url: &crate::secret::Secret<url::Url>) -> &str {
    url.expose().as_str()
}

#[test]
fn a_single_secret_still_loads_as_a_list_of_one() {
    let secrets = session(MINIMAL).secrets;
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].expose(), &(0u8..32).collect::<Vec<u8>>());
}

#[test]
fn a_secret_list_keeps_its_order_so_the_first_seals() {
    let text = with_secret(&format!("  secret: [{OTHER_32}, {SECRET_32}]\n"));
    let secrets = session(&text).secrets;
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets[0].expose(), &(32u8..64).collect::<Vec<u8>>());
    assert_eq!(secrets[1].expose(), &(0u8..32).collect::<Vec<u8>>());
}

#[test]
fn each_listed_secret_is_checked_at_its_index() {
    let text = with_secret(&format!(
        "  secret: [{SECRET_32}, {SECRET_16}, 'not base64!']\n"
    ));
    assert_eq!(
        problems(&text, &no_env),
        [
            "session.secret[1]: must decode to at least 32 bytes; run 'entrance secret' to make one",
            "session.secret[2]: is not base64; run 'entrance secret' to make one",
        ]
    );
    let text = with_secret("  secret: []\n");
    let found = problems(&text, &no_env);
    assert!(has(&found, "session.secret: lists no secret;"), "{found:?}");
}

#[test]
fn the_same_secret_twice_is_refused_even_in_another_base64_flavour() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let same = URL_SAFE_NO_PAD.encode((0u8..32).collect::<Vec<u8>>());
    let text = with_secret(&format!("  secret: [{SECRET_32}, {OTHER_32}, {same}]\n"));
    assert_eq!(
        problems(&text, &no_env),
        ["session.secret[2]: is the same secret as session.secret[0]; list each secret once"]
    );
}

#[test]
fn a_secret_file_list_reads_every_file_relative_to_the_config() {
    let first = temp_file("secret-new", &format!("{OTHER_32}\n"));
    let second = temp_file("secret-old", SECRET_32);
    let text = with_secret(&format!(
        "  secret_file: [{}, {}]\n",
        file_name(&first),
        second.display()
    ));
    let loaded = load_str_in(&text, &no_env, &std::env::temp_dir());
    std::fs::remove_file(&first).unwrap();
    std::fs::remove_file(&second).unwrap();
    let secrets = loaded.unwrap().session.secrets;
    assert_eq!(secrets[0].expose(), &(32u8..64).collect::<Vec<u8>>());
    assert_eq!(secrets[1].expose(), &(0u8..32).collect::<Vec<u8>>());

    let missing = temp_path("missing-secret");
    let text = with_secret(&format!("  secret_file: [{}]\n", missing.display()));
    let found = problems(&text, &no_env);
    let expected = format!(
        "session.secret_file[0]: cannot read {}: ",
        missing.display()
    );
    assert!(has(&found, &expected), "{found:?}");
}

#[test]
fn an_unset_variable_in_a_secret_list_points_at_the_file_form() {
    let text = with_secret(&format!("  secret: [{SECRET_32}, '${{OLD_SECRET}}']\n"));
    assert_eq!(
        problems(&text, &no_env),
        [
            "session.secret[1]: environment variable OLD_SECRET is not set; export it or use \
             session.secret_file"
        ]
    );
}

#[test]
fn idle_timeout_is_optional_and_between_a_minute_and_the_lifetime() {
    assert_eq!(session(MINIMAL).idle_timeout, None);
    let text = with_session("  idle_timeout: 30m\n");
    assert_eq!(
        session(&text).idle_timeout,
        Some(Duration::from_secs(30 * 60))
    );
    let found = problems(&with_session("  idle_timeout: 30s\n"), &no_env);
    assert!(
        has(&found, "session.idle_timeout: must be at least 1m"),
        "{found:?}"
    );
    let found = problems(
        &with_session("  lifetime: 1h\n  idle_timeout: 1h\n"),
        &no_env,
    );
    assert!(
        has(
            &found,
            "session.idle_timeout: must be shorter than session.lifetime (1h)"
        ),
        "{found:?}"
    );
}

#[test]
fn refresh_defaults_to_five_minutes_and_is_bounded_with_a_reason() {
    assert_eq!(session(MINIMAL).refresh, Duration::from_secs(300));
    let text = with_session("  refresh: 10m\n");
    assert_eq!(session(&text).refresh, Duration::from_secs(600));
    let found = problems(&with_session("  refresh: 10s\n"), &no_env);
    assert!(
        has(
            &found,
            "session.refresh: must be at least 30s: renewing closer"
        ),
        "{found:?}"
    );
    let found = problems(&with_session("  refresh: 2h\n"), &no_env);
    assert!(
        has(
            &found,
            "session.refresh: must be at most 1h: Microsoft access tokens"
        ),
        "{found:?}"
    );
}

#[test]
fn the_store_defaults_to_cookies_and_names_its_choices() {
    assert!(matches!(session(MINIMAL).store, SessionStoreConfig::Cookie));
    let text = with_session("  store: cookie\n");
    assert!(matches!(session(&text).store, SessionStoreConfig::Cookie));
    let found = problems(&with_session("  store: memcached\n"), &no_env);
    assert!(
        has(
            &found,
            "session.store: \"memcached\" is not a session store; use cookie"
        ),
        "{found:?}"
    );
}

#[test]
fn a_redis_url_loads_with_the_documented_defaults() {
    let text = with_session("  store: redis\n  redis:\n    url: rediss://cache.internal:6380/2\n");
    let redis = redis(&text);
    match &redis.connection {
        RedisConnection::Single(url) => assert_eq!(shown(url), "rediss://cache.internal:6380/2"),
        other => panic!("expected one server, got {other:?}"),
    }
    assert_eq!(redis.username, None);
    assert!(redis.password.is_none());
    assert_eq!(redis.connect_timeout, Duration::from_secs(5));
    assert_eq!(redis.command_timeout, Duration::from_secs(2));
    assert_eq!(redis.key_prefix, "entrance:");
}

#[test]
fn every_redis_key_loads() {
    let password = temp_file("redis-password", "from-a-file\n");
    let text = with_session(&format!(
        "  store: redis\n  redis:\n    url: redis://10.0.0.5\n    username: entrance\n    \
         password_file: {}\n    connect_timeout: 1s\n    command_timeout: 500ms\n    \
         key_prefix: 'myapp:sessions:'\n",
        file_name(&password)
    ));
    let loaded = load_str_in(&text, &no_env, &std::env::temp_dir());
    std::fs::remove_file(&password).unwrap();
    let SessionStoreConfig::Redis(store) = loaded.unwrap().session.store else {
        panic!("expected the redis store");
    };
    assert_eq!(store.username.as_deref(), Some("entrance"));
    assert_eq!(store.password.unwrap().expose(), "from-a-file");
    assert_eq!(store.connect_timeout, Duration::from_millis(1000));
    assert_eq!(store.command_timeout, Duration::from_millis(500));
    assert_eq!(store.key_prefix, "myapp:sessions:");

    let text = with_session("  store: redis\n  redis:\n    url: redis://r\n    password: pw\n");
    assert_eq!(redis(&text).password.unwrap().expose(), "pw");
}

#[test]
fn sentinel_and_cluster_connections_load() {
    let text = with_session(
        "  store: redis\n  redis:\n    sentinel:\n      master_name: mymaster\n      \
         urls: [redis://10.0.0.1:26379, redis://10.0.0.2:26379]\n",
    );
    match redis(&text).connection {
        RedisConnection::Sentinel { master_name, nodes } => {
            assert_eq!(master_name, "mymaster");
            let nodes: Vec<&str> = nodes.iter().map(shown).collect();
            assert_eq!(nodes, ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"]);
        }
        other => panic!("expected sentinel, got {other:?}"),
    }
    let text = with_session(
        "  store: redis\n  redis:\n    cluster_urls: [rediss://n1:6379, rediss://n2:6379/0]\n",
    );
    match redis(&text).connection {
        RedisConnection::Cluster { nodes } => assert_eq!(nodes.len(), 2),
        other => panic!("expected cluster, got {other:?}"),
    }
}

#[test]
fn redis_and_store_need_each_other() {
    let found = problems(&with_session("  redis:\n    url: redis://r\n"), &no_env);
    assert_eq!(
        found,
        [
            "session.redis: is set but sessions are kept in cookies (the default store); add \
          store: redis to the session section, or remove session.redis"
        ]
    );
    let found = problems(
        &with_session("  store: cookie\n  redis:\n    url: redis://r\n"),
        &no_env,
    );
    assert!(
        has(
            &found,
            "session.redis: is set but session.store is cookie; write store: redis"
        ),
        "{found:?}"
    );
    let found = problems(&with_session("  store: redis\n"), &no_env);
    assert!(
        has(
            &found,
            "session.redis: required with store: redis; give url:"
        ),
        "{found:?}"
    );
}

#[test]
fn redis_needs_exactly_one_connection() {
    let found = problems(
        &with_session("  store: redis\n  redis:\n    key_prefix: x\n"),
        &no_env,
    );
    assert!(
        has(&found, "session.redis: give one of url (one server"),
        "{found:?}"
    );
    let found = problems(
        &with_session(
            "  store: redis\n  redis:\n    url: redis://a\n    cluster_urls: [redis://b]\n",
        ),
        &no_env,
    );
    assert_eq!(
        found,
        ["session.redis: give only one of url, sentinel and cluster_urls"]
    );
    let found = problems(
        &with_session("  store: redis\n  redis:\n    sentinel:\n      urls: []\n"),
        &no_env,
    );
    assert!(
        has(&found, "session.redis.sentinel.master_name: required"),
        "{found:?}"
    );
    assert!(
        has(&found, "session.redis.sentinel.urls: lists no URL"),
        "{found:?}"
    );
}

#[test]
fn redis_urls_are_checked_at_their_key_path() {
    let cases = [
        (
            "url: http://r:6379",
            "session.redis.url: must start with redis:// or rediss://",
        ),
        (
            "url: redis://r/cache",
            "session.redis.url: the path must be a database number",
        ),
        (
            "url: redis://r?protocol=resp3",
            "session.redis.url: must have no query",
        ),
        ("url: 'redis://'", "session.redis.url: "),
        ("url: not a url", "session.redis.url: is not a URL"),
        (
            "cluster_urls: [redis://a, redis://b/3]",
            "session.redis.cluster_urls[1]: Redis Cluster has only database 0",
        ),
        (
            "sentinel: {master_name: m, urls: [redis://a, 'rediss//b']}",
            "session.redis.sentinel.urls[1]: is not a URL",
        ),
    ];
    for (line, expected) in cases {
        let text = with_session(&format!("  store: redis\n  redis:\n    {line}\n"));
        let found = problems(&text, &no_env);
        assert!(has(&found, expected), "{line}: {found:?}");
    }
}

#[test]
fn redis_timeouts_prefix_and_credentials_are_checked() {
    let with = |line: &str| {
        with_session(&format!(
            "  store: redis\n  redis:\n    url: redis://r\n    {line}\n"
        ))
    };
    let cases = [
        (
            "command_timeout: 2m",
            "session.redis.command_timeout: must be at most 1m",
        ),
        (
            "connect_timeout: 0s",
            "session.redis.connect_timeout: must be more than 0s",
        ),
        (
            "key_prefix: ''",
            "session.redis.key_prefix: must not be empty",
        ),
        (
            "key_prefix: 'my app'",
            "session.redis.key_prefix: must be one word",
        ),
        ("username: ''", "session.redis.username: must be one word"),
        ("password: ''", "session.redis.password: is empty"),
        (
            "password: a\n    password_file: /x",
            "session.redis.password: set only one of session.redis.password and \
             session.redis.password_file",
        ),
        (
            "hostname: r",
            "session.redis.hostname: unknown key; expected one of url, sentinel",
        ),
    ];
    for (line, expected) in cases {
        let found = problems(&with(line), &no_env);
        assert!(has(&found, expected), "{line}: {found:?}");
    }
    let text = with_session(&format!(
        "  store: redis\n  redis:\n    url: redis://:{PASSWORD}@r\n    password: other\n"
    ));
    assert_eq!(
        problems(&text, &no_env),
        [
            "session.redis.password: a URL already carries a password; give it in the URL or in \
          password/password_file, not both"
        ]
    );
    let text =
        with_session("  store: redis\n  redis:\n    url: redis://app@r\n    username: other\n");
    assert!(has(
        &problems(&text, &no_env),
        "session.redis.username: a URL already carries a user name"
    ));
}

#[test]
fn a_password_in_a_redis_url_never_appears_in_a_message() {
    let url = format!("redis://user:{PASSWORD}@cache.internal:6379");
    let env = env_of(vec![("REDIS_URL", url.clone())]);
    let redis_lines = [
        format!(
            "store: redis\n  redis:\n    url: {}\n",
            url.replace("redis:", "http:")
        ),
        format!("store: redis\n  redis:\n    url: {url}/cache\n"),
        format!("store: redis\n  redis:\n    url: '{url}?x=1'\n"),
        format!("store: redis\n  redis:\n    url: '{url}'\n    password: p\n"),
        format!("store: redis\n  redis:\n    url: 'redis://:{PASSWORD}@[::1'\n"),
        format!("store: redis\n  redis:\n    cluster_urls: ['{url}/4']\n"),
        format!("store: redis\n  redis:\n    sentinel: '{url}'\n"),
        format!("store: redis\n  redis:\n    url: ['{url}']\n"),
        format!("redis:\n    url: '{url}'\n"),
        "store: ${REDIS_URL}\n".to_owned(),
        "cookie_name: ${REDIS_URL}\n".to_owned(),
        "store: redis\n  redis:\n    url: ${REDIS_URL}/x\n".to_owned(),
        "store: redis\n  redis:\n    key_prefix: '${REDIS_URL} x'\n    url: redis://r\n".to_owned(),
    ];
    for lines in redis_lines {
        let text = with_session(&format!("  {lines}"));
        let error = load_str(&text, &env).unwrap_err();
        let rendered = format!("{error} {error:?}");
        assert!(
            !rendered.contains(PASSWORD),
            "leaked by {lines}: {rendered}"
        );
    }
    // Loaded, the URL prints redacted too.
    let text = with_session(&format!("  store: redis\n  redis:\n    url: '{url}'\n"));
    let config = load_str(&text, &no_env).unwrap();
    assert!(!format!("{config:?}").contains(PASSWORD));
}
