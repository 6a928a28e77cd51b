//! The `session` section: secrets (one or a rotation list), cookie name, lifetime, idle timeout,
//! refresh margin, and where sessions live (`store: cookie | redis` with `redis` connection
//! settings), checked and turned into [`SessionConfig`].
//!
//! The `redis` subsection is read by [`super::redis`]. Must not quote a secret in any message.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::redis::{redis, RawRedis};
use super::secrets::session_secrets;
use super::validate::duration;
use super::{OneOrList, Problems, Text};
use crate::config::{SessionConfig, SessionStoreConfig};

const DEFAULT_COOKIE_NAME: &str = "_entrance";
const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Browsers cap cookie lifetimes at 400 days; longer would also risk overflowing expiry maths.
const MAX_LIFETIME: Duration = Duration::from_secs(400 * 24 * 3600);
/// Shorter idle limits sign people out while they read a page.
const MIN_IDLE: Duration = Duration::from_secs(60);
const REFRESH: Duration = Duration::from_secs(5 * 60);
/// Closer to expiry, a request may reach the upstream with a token that expires in flight.
const MIN_REFRESH: Duration = Duration::from_secs(30);
/// Microsoft access tokens live 60-90 minutes: a larger margin would renew on every request.
const MAX_REFRESH: Duration = Duration::from_secs(3600);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of session keys")]
pub(super) struct RawSession {
    secret: Option<OneOrList>,
    secret_file: Option<OneOrList>,
    cookie_name: Option<Text>,
    lifetime: Option<Text>,
    idle_timeout: Option<Text>,
    refresh: Option<Text>,
    store: Option<Text>,
    redis: Option<RawRedis>,
}

pub(super) fn session(
    raw: RawSession,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<SessionConfig> {
    let secrets = session_secrets(raw.secret, raw.secret_file, base_dir, problems);
    let cookie_name = cookie_name(raw.cookie_name, problems);
    let lifetime = lifetime(raw.lifetime, problems);
    let idle_timeout = idle_timeout(raw.idle_timeout, lifetime, problems);
    let refresh = refresh(raw.refresh, problems);
    let store = store(raw.store, raw.redis, base_dir, problems);
    Some(SessionConfig {
        secrets: secrets?,
        cookie_name: cookie_name?,
        lifetime: lifetime?,
        idle_timeout: idle_timeout?,
        refresh: refresh?,
        store: store?,
    })
}

fn cookie_name(raw: Option<Text>, problems: &mut Problems) -> Option<String> {
    let key = "session.cookie_name";
    let name = raw.map_or_else(|| DEFAULT_COOKIE_NAME.to_owned(), |t| t.0);
    let lower = name.to_ascii_lowercase();
    // Browsers match these prefixes case-insensitively.
    if lower.starts_with("__host-") || lower.starts_with("__secure-") {
        problems.push(
            key,
            "must not start with __Host- or __Secure-; entrance adds the prefix itself when \
             public_url is https",
        );
        return None;
    }
    if name.is_empty() || !name.chars().all(is_token_char) {
        let shown = problems.quote(key, &name);
        problems.push(
            key,
            format!(
                "{shown} is not a valid cookie name; use letters, digits and \
                 ! # $ % & ' * + - . ^ _ ` | ~"
            ),
        );
        return None;
    }
    Some(name)
}

/// RFC 9110 `tchar`: what a cookie name may contain.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn lifetime(raw: Option<Text>, problems: &mut Problems) -> Option<Duration> {
    let key = "session.lifetime";
    let value = duration(key, raw, SESSION_LIFETIME, problems)?;
    if value < Duration::from_secs(1) {
        problems.push(key, "must be at least 1s");
        None
    } else if value > MAX_LIFETIME {
        problems.push(
            key,
            "must be at most 400d (browsers cap cookies at 400 days)",
        );
        None
    } else {
        Some(value)
    }
}

/// `session.idle_timeout`: absent is no idle limit (`Some(None)`). `lifetime` is `None` when
/// that key was refused (then the two are not compared).
fn idle_timeout(
    raw: Option<Text>,
    lifetime: Option<Duration>,
    problems: &mut Problems,
) -> Option<Option<Duration>> {
    let key = "session.idle_timeout";
    if raw.is_none() {
        return Some(None);
    }
    let value = duration(key, raw, Duration::ZERO, problems)?;
    if value < MIN_IDLE {
        problems.push(
            key,
            "must be at least 1m; a shorter idle limit signs people out while they read a page",
        );
        return None;
    }
    if let Some(lifetime) = lifetime.filter(|lifetime| value >= *lifetime) {
        problems.push(
            key,
            format!(
                "must be shorter than session.lifetime ({}): sessions end at the lifetime \
                 anyway; shorten it, or remove it for no idle limit",
                humantime::format_duration(lifetime)
            ),
        );
        return None;
    }
    Some(Some(value))
}

fn refresh(raw: Option<Text>, problems: &mut Problems) -> Option<Duration> {
    let key = "session.refresh";
    let value = duration(key, raw, REFRESH, problems)?;
    if value < MIN_REFRESH {
        problems.push(
            key,
            "must be at least 30s: renewing closer to expiry lets requests reach the app with \
             a token that expires on the way",
        );
        None
    } else if value > MAX_REFRESH {
        problems.push(
            key,
            "must be at most 1h: Microsoft access tokens live 60 to 90 minutes, so a longer \
             margin would renew the token on every request",
        );
        None
    } else {
        Some(value)
    }
}

/// `session.store` with `session.redis`: each needs the other.
fn store(
    raw: Option<Text>,
    redis_raw: Option<RawRedis>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<SessionStoreConfig> {
    let key = "session.store";
    let is_redis = match raw.as_ref().map(|t| t.0.trim()) {
        None | Some("cookie") => false,
        Some("redis") => true,
        Some(other) => {
            let shown = problems.quote(key, other);
            problems.push(
                key,
                format!(
                    "{shown} is not a session store; use cookie (sessions in sealed cookies, the \
                     default) or redis (sessions in Redis, set session.redis)"
                ),
            );
            return None;
        }
    };
    match (is_redis, redis_raw) {
        (false, None) => Some(SessionStoreConfig::Cookie),
        (false, Some(_)) if raw.is_some() => {
            problems.push(
                "session.redis",
                "is set but session.store is cookie; write store: redis to keep sessions in \
                 Redis, or remove session.redis",
            );
            None
        }
        (false, Some(_)) => {
            problems.push(
                "session.redis",
                "is set but sessions are kept in cookies (the default store); add store: redis \
                 to the session section, or remove session.redis",
            );
            None
        }
        (true, None) => {
            problems.push(
                "session.redis",
                "required with store: redis; give url: redis://host:6379 (or sentinel, or \
                 cluster_urls)",
            );
            None
        }
        (true, Some(redis_raw)) => {
            redis(redis_raw, base_dir, problems).map(SessionStoreConfig::Redis)
        }
    }
}
