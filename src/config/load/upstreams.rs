//! Where allowed requests go: the single `upstream` URL or the `upstreams` list by path prefix
//! (top level and per host), checked and turned into [`UpstreamConfig`]s.
//!
//! Must not: connect anywhere, parse the TLS files (only check they are readable), or quote an
//! upstream URL (it could carry a password).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::files::{certificate_pair, readable_file};
use super::validate::{checked, duration, url};
use super::{join, Flag, Problems, Text};
use crate::policy;
use crate::upstream::{Target, Timeouts, UpstreamConfig, UpstreamTls};

/// One `upstreams` entry.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an upstream: a mapping with prefix and url"
)]
pub(super) struct RawUpstream {
    prefix: Option<Text>,
    url: Option<Text>,
    strip_prefix: Option<Flag>,
    preserve_host: Option<Flag>,
    timeouts: Option<RawTimeouts>,
    tls: Option<RawUpstreamTls>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of upstream timeouts")]
struct RawTimeouts {
    connect: Option<Text>,
    response_header: Option<Text>,
    idle: Option<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of upstream tls keys")]
struct RawUpstreamTls {
    ca_file: Option<Text>,
    cert_file: Option<Text>,
    key_file: Option<Text>,
}

/// The `upstream` / `upstreams` pair under `section` (`""` for the top level, `hosts[0]`):
/// exactly one of them. `response_header` is the default response-header timeout (the
/// top-level `upstream_timeout`). Never returns an empty list.
pub(super) fn upstreams(
    section: &str,
    single: Option<Text>,
    list: Option<Vec<RawUpstream>>,
    response_header: Duration,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Vec<UpstreamConfig>> {
    let single_key = join(section, "upstream");
    let list_key = join(section, "upstreams");
    let timeouts = Timeouts {
        response_header,
        ..Timeouts::default()
    };
    match (single, list) {
        (Some(_), Some(_)) => {
            problems.push(
                list_key,
                "give upstream (one app for every path) or upstreams (a list by path prefix), \
                 not both",
            );
            None
        }
        (None, None) => {
            let what = if section.is_empty() {
                "the app behind entrance"
            } else {
                "this site's app"
            };
            problems.push(
                single_key,
                format!(
                    "required; the URL of {what}, e.g. http://127.0.0.1:8080 or \
                     unix:/run/app.sock (or upstreams: a list by path prefix)"
                ),
            );
            None
        }
        (Some(Text(text)), None) => {
            let target = target(&single_key, &text, base_dir, problems)?;
            Some(vec![UpstreamConfig {
                prefix: "/".to_owned(),
                target,
                strip_prefix: false,
                preserve_host: false,
                timeouts,
                tls: UpstreamTls::default(),
            }])
        }
        (None, Some(list)) if list.is_empty() => {
            problems.push(
                list_key,
                "lists no upstream; give at least one {prefix, url}, or use upstream: URL",
            );
            None
        }
        (None, Some(list)) => self::list(&list_key, list, timeouts, base_dir, problems),
    }
}

/// The entries of a non-empty `upstreams` list at `list_key`; each prefix once.
fn list(
    list_key: &str,
    list: Vec<RawUpstream>,
    timeouts: Timeouts,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Vec<UpstreamConfig>> {
    let mut out: Vec<UpstreamConfig> = Vec::new();
    let mut ok = true;
    for (index, raw) in list.into_iter().enumerate() {
        let key = format!("{list_key}[{index}]");
        let Some(upstream) = entry(&key, raw, timeouts, base_dir, problems) else {
            ok = false;
            continue;
        };
        if let Some(first) = out.iter().position(|u| u.prefix == upstream.prefix) {
            let message = format!(
                "{} is also the prefix of {list_key}[{first}]; each prefix may appear once",
                upstream.prefix
            );
            problems.push(format!("{key}.prefix"), message);
            ok = false;
        }
        out.push(upstream);
    }
    ok.then_some(out)
}

fn entry(
    key: &str,
    raw: RawUpstream,
    defaults: Timeouts,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<UpstreamConfig> {
    let prefix = match raw.prefix {
        Some(Text(text)) => prefix(&format!("{key}.prefix"), &text, problems),
        None => {
            problems.push(
                format!("{key}.prefix"),
                "required; the path prefix this upstream serves, like /api/ (or / for every \
                 other path)",
            );
            None
        }
    };
    let url_key = format!("{key}.url");
    let target = match raw.url {
        Some(Text(text)) => target(&url_key, &text, base_dir, problems),
        None => {
            problems.push(
                url_key,
                "required; e.g. http://127.0.0.1:8080, https://api.internal or unix:/run/app.sock",
            );
            None
        }
    };
    let timeouts = timeouts(key, raw.timeouts.unwrap_or_default(), defaults, problems);
    let tls = upstream_tls(key, raw.tls, target.as_ref(), base_dir, problems);
    Some(UpstreamConfig {
        prefix: prefix?,
        target: target?,
        strip_prefix: raw.strip_prefix.is_some_and(|Flag(on)| on),
        preserve_host: raw.preserve_host.is_some_and(|Flag(on)| on),
        timeouts: timeouts?,
        tls: tls?,
    })
}

/// A path prefix, normalised like request paths and ending in `/` (`/api` is `/api/`).
fn prefix(key: &str, text: &str, problems: &mut Problems) -> Option<String> {
    let text = text.trim();
    let problem = if !text.starts_with('/') {
        "must start with /, like /api/".to_owned()
    } else if text.contains(['?', '#']) {
        "must be a path only, without a query (?…) or fragment (#…)".to_owned()
    } else if text.contains(';') {
        "must not contain ';': path parameters are ignored when matching".to_owned()
    } else {
        match policy::normalize_path(text) {
            Ok(mut path) => {
                if !path.ends_with('/') {
                    path.push('/');
                }
                return Some(path);
            }
            Err(bad) => format!("is refused like a request path would be: {bad}"),
        }
    };
    problems.push(key, problem);
    None
}

/// `http://…`, `https://…` or `unix:/path/to.sock` (relative socket paths are resolved
/// against `base_dir`).
fn target(key: &str, text: &str, base_dir: &Path, problems: &mut Problems) -> Option<Target> {
    let text = text.trim();
    if let Some(path) = text.strip_prefix("unix:") {
        // `unix:///run/app.sock` is the URL spelling of `unix:/run/app.sock`.
        let path = path
            .strip_prefix("//")
            .filter(|p| p.starts_with('/'))
            .unwrap_or(path);
        if path.is_empty() {
            problems.push(
                key,
                "names no socket; write unix:/run/app.sock (the path of the app's unix socket)",
            );
            return None;
        }
        return Some(Target::Unix(base_dir.join(path)));
    }
    let url = url(key, text, problems)?;
    let problem = match url.scheme() {
        "http" | "https" => None,
        _ => Some(
            "must be an http:// or https:// URL or a unix: socket path, e.g. \
             http://127.0.0.1:8080 or unix:/run/app.sock"
                .to_owned(),
        ),
    };
    checked(key, url, problem, problems).map(Target::Url)
}

fn timeouts(
    key: &str,
    raw: RawTimeouts,
    defaults: Timeouts,
    problems: &mut Problems,
) -> Option<Timeouts> {
    let connect = duration(
        &format!("{key}.timeouts.connect"),
        raw.connect,
        defaults.connect,
        problems,
    );
    let response_header = duration(
        &format!("{key}.timeouts.response_header"),
        raw.response_header,
        defaults.response_header,
        problems,
    );
    let idle = duration(
        &format!("{key}.timeouts.idle"),
        raw.idle,
        defaults.idle,
        problems,
    );
    Some(Timeouts {
        connect: connect?,
        response_header: response_header?,
        idle: idle?,
    })
}

/// `tls` of an entry whose target is `target` (`None` when the url was refused).
fn upstream_tls(
    key: &str,
    raw: Option<RawUpstreamTls>,
    target: Option<&Target>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<UpstreamTls> {
    let tls_key = format!("{key}.tls");
    match (raw, target) {
        (None, _) => Some(UpstreamTls::default()),
        (Some(_), Some(Target::Url(url))) if url.scheme() != "https" => {
            problems.push(
                tls_key,
                "only for https:// upstreams; use https:// in url, or remove tls",
            );
            None
        }
        (Some(_), Some(Target::Unix(_))) => {
            problems.push(
                tls_key,
                "only for https:// upstreams, not unix sockets; remove tls",
            );
            None
        }
        (Some(raw), _) => tls(&tls_key, raw, base_dir, problems),
    }
}

fn tls(
    key: &str,
    raw: RawUpstreamTls,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<UpstreamTls> {
    let ca_file = match &raw.ca_file {
        None => Some(None),
        Some(text) => readable_file(&format!("{key}.ca_file"), text, base_dir, problems).map(Some),
    };
    let client_certificate = match (raw.cert_file, raw.key_file) {
        (None, None) => Some(None),
        (cert, key_file) => certificate_pair(key, cert, key_file, base_dir, problems).map(Some),
    };
    Some(UpstreamTls {
        ca_file: ca_file?,
        client_certificate: client_certificate?,
    })
}
