//! `session.redis`: how to reach Redis (one server, Sentinel or Cluster), credentials,
//! timeouts and key prefix, checked and turned into [`RedisConfig`].
//!
//! Must not: connect to Redis (the session store does, at start), or put a URL or a password
//! into a message: URLs may carry a password, so they are never quoted.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::secrets::{non_empty, sourced};
use super::validate::duration;
use super::{Problems, Text};
use crate::config::{RedisConfig, RedisConnection};
use crate::secret::Secret;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// A request waits this long at most when Redis does not answer.
const MAX_REDIS_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_KEY_PREFIX: &str = "entrance:";
const MAX_KEY_PREFIX: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of redis keys")]
pub(super) struct RawRedis {
    url: Option<Text>,
    sentinel: Option<RawSentinel>,
    cluster_urls: Option<Vec<Text>>,
    username: Option<Text>,
    password: Option<Text>,
    password_file: Option<Text>,
    connect_timeout: Option<Text>,
    command_timeout: Option<Text>,
    key_prefix: Option<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with master_name and urls")]
struct RawSentinel {
    master_name: Option<Text>,
    urls: Option<Vec<Text>>,
}

/// What kind of Redis a URL points at; cluster nodes only have database 0.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Node {
    Single,
    Sentinel,
    Cluster,
}

/// The `session.redis` section (read only with `store: redis`).
pub(super) fn redis(
    raw: RawRedis,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<RedisConfig> {
    let connection = connection(raw.url, raw.sentinel, raw.cluster_urls, problems);
    let username = username(raw.username, connection.as_ref(), problems);
    let password = password(
        raw.password,
        raw.password_file,
        connection.as_ref(),
        base_dir,
        problems,
    );
    let connect_timeout = bounded(
        "session.redis.connect_timeout",
        raw.connect_timeout,
        CONNECT_TIMEOUT,
        problems,
    );
    let command_timeout = bounded(
        "session.redis.command_timeout",
        raw.command_timeout,
        COMMAND_TIMEOUT,
        problems,
    );
    let key_prefix = key_prefix(raw.key_prefix, problems);
    Some(RedisConfig {
        connection: connection?,
        username: username?,
        password: password?,
        connect_timeout: connect_timeout?,
        command_timeout: command_timeout?,
        key_prefix: key_prefix?,
    })
}

/// `session.redis.username`: one word, and not also in a URL (which would win is a guess).
fn username(
    raw: Option<Text>,
    connection: Option<&RedisConnection>,
    problems: &mut Problems,
) -> Option<Option<String>> {
    let key = "session.redis.username";
    let Some(Text(name)) = raw else {
        return Some(None);
    };
    if !is_word(&name) {
        problems.push(
            key,
            "must be one word; remove the key to use the default user",
        );
        return None;
    }
    if connection.is_some_and(|c| urls(c).any(|url| !url.expose().username().is_empty())) {
        problems.push(
            key,
            "a URL already carries a user name; give it in the URL or in username, not both",
        );
        return None;
    }
    Some(Some(name.trim().to_owned()))
}

/// `session.redis.password` or `password_file`: not empty, and not also in a URL.
fn password(
    value: Option<Text>,
    file: Option<Text>,
    connection: Option<&RedisConnection>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Option<Secret<String>>> {
    let key = "session.redis.password";
    if value.is_none() && file.is_none() {
        return Some(None);
    }
    // Never "required": one of the two is set.
    let source = sourced(key, value, file, base_dir, "", problems)
        .and_then(|source| non_empty(source, problems))?;
    if connection.is_some_and(|c| urls(c).any(|url| url.expose().password().is_some())) {
        problems.push(
            key,
            "a URL already carries a password; give it in the URL or in password/password_file, \
             not both",
        );
        return None;
    }
    Some(Some(Secret::new(source.value)))
}

/// Exactly one of `url`, `sentinel` and `cluster_urls`.
fn connection(
    url: Option<Text>,
    sentinel: Option<RawSentinel>,
    cluster_urls: Option<Vec<Text>>,
    problems: &mut Problems,
) -> Option<RedisConnection> {
    let key = "session.redis";
    match (url, sentinel, cluster_urls) {
        (Some(Text(url)), None, None) => {
            let url = redis_url("session.redis.url", &url, Node::Single, problems)?;
            Some(RedisConnection::Single(url))
        }
        (None, Some(raw), None) => self::sentinel(raw, problems),
        (None, None, Some(urls)) => {
            let nodes = redis_urls(
                "session.redis.cluster_urls",
                Some(urls),
                Node::Cluster,
                problems,
            )?;
            Some(RedisConnection::Cluster { nodes })
        }
        (None, None, None) => {
            problems.push(
                key,
                "give one of url (one server, e.g. redis://redis:6379), sentinel (master_name \
                 and urls) or cluster_urls",
            );
            None
        }
        _ => {
            problems.push(key, "give only one of url, sentinel and cluster_urls");
            None
        }
    }
}

/// `session.redis.sentinel`: the master's name and the sentinels' URLs.
fn sentinel(raw: RawSentinel, problems: &mut Problems) -> Option<RedisConnection> {
    let key = "session.redis.sentinel.master_name";
    let master_name = match raw.master_name {
        Some(Text(name)) if is_word(&name) => Some(name.trim().to_owned()),
        Some(_) => {
            problems.push(
                key,
                "must be the monitored master's name, one word (sentinel monitor \
                 <master_name> ...)",
            );
            None
        }
        None => {
            problems.push(
                key,
                "required; the name the sentinels monitor the master under",
            );
            None
        }
    };
    let nodes = redis_urls(
        "session.redis.sentinel.urls",
        raw.urls,
        Node::Sentinel,
        problems,
    );
    Some(RedisConnection::Sentinel {
        master_name: master_name?,
        nodes: nodes?,
    })
}

/// A non-empty list of node URLs under `key`.
fn redis_urls(
    key: &str,
    raw: Option<Vec<Text>>,
    node: Node,
    problems: &mut Problems,
) -> Option<Vec<Secret<Url>>> {
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        problems.push(
            key,
            "lists no URL; give at least one, like redis://10.0.0.1:26379",
        );
        return None;
    }
    let mut nodes = Vec::new();
    let mut ok = true;
    for (index, Text(text)) in raw.into_iter().enumerate() {
        match redis_url(&format!("{key}[{index}]"), &text, node, problems) {
            Some(url) => nodes.push(url),
            None => ok = false,
        }
    }
    ok.then_some(nodes)
}

/// One `redis://` or `rediss://` URL: host, optional port and database, nothing else. Never
/// quoted: it may carry a password.
fn redis_url(key: &str, text: &str, node: Node, problems: &mut Problems) -> Option<Secret<Url>> {
    let url = match Url::parse(text.trim()) {
        Ok(url) => url,
        Err(error) => {
            problems.push(
                key,
                format!("is not a URL ({error}); write it like redis://host:6379"),
            );
            return None;
        }
    };
    let database = url.path().trim_start_matches('/');
    let problem = if !matches!(url.scheme(), "redis" | "rediss") {
        Some("must start with redis:// or rediss:// (TLS)".to_owned())
    } else if url.host_str().is_none_or(str::is_empty) {
        Some("must name a host, like redis://redis:6379".to_owned())
    } else if url.query().is_some() || url.fragment().is_some() {
        Some("must have no query (?…) or fragment (#…); write redis://host:port/db".to_owned())
    } else if !database.is_empty() && database.parse::<u16>().is_err() {
        Some("the path must be a database number (redis://host:6379/2) or nothing".to_owned())
    } else if node == Node::Cluster && !matches!(database, "" | "0") {
        Some("Redis Cluster has only database 0; remove the database from the URL".to_owned())
    } else {
        None
    };
    problems.verdict(key, problem, Secret::new(url))
}

fn urls(connection: &RedisConnection) -> impl Iterator<Item = &Secret<Url>> {
    let list: &[Secret<Url>] = match connection {
        RedisConnection::Single(url) => std::slice::from_ref(url),
        RedisConnection::Sentinel { nodes, .. } | RedisConnection::Cluster { nodes } => nodes,
    };
    list.iter()
}

/// A Redis timeout: more than 0, at most [`MAX_REDIS_TIMEOUT`].
fn bounded(
    key: &str,
    raw: Option<Text>,
    default: Duration,
    problems: &mut Problems,
) -> Option<Duration> {
    let value = duration(key, raw, default, problems)?;
    if value > MAX_REDIS_TIMEOUT {
        problems.push(
            key,
            "must be at most 1m: a request waits this long when Redis does not answer",
        );
        return None;
    }
    Some(value)
}

fn key_prefix(raw: Option<Text>, problems: &mut Problems) -> Option<String> {
    let key = "session.redis.key_prefix";
    let Some(Text(prefix)) = raw else {
        return Some(DEFAULT_KEY_PREFIX.to_owned());
    };
    let prefix = prefix.trim();
    let problem = if prefix.is_empty() {
        Some("must not be empty: entrance's keys would mix with other data in the database")
    } else if prefix.len() > MAX_KEY_PREFIX || !is_word(prefix) {
        Some("must be one word of at most 64 characters, like entrance: or myapp:sessions:")
    } else {
        None
    };
    problems.verdict(key, problem, prefix.to_owned())
}

/// Not empty (once trimmed), no inner whitespace or control characters.
fn is_word(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty() && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}
