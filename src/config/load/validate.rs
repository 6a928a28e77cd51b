//! Checking raw values and turning them into the typed config: one function per key or
//! section, each pushing its problems under the key path and returning `None` on failure.
//!
//! Must not: read files other than through [`super::secrets`], or quote a secret.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use url::{Host, Url};

use super::authorization::{api, authorization, routes};
use super::provider::{provider, tenant};
use super::secrets::{session_secret, sourced};
use super::ui::ui;
use super::{Problems, RawConfig, RawSession, Text};
use crate::config::{Config, SessionConfig};

const DEFAULT_LISTEN: &str = "127.0.0.1:4180";
const DEFAULT_COOKIE_NAME: &str = "_entrance";
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Browsers cap cookie lifetimes at 400 days; longer would also risk overflowing expiry maths.
const MAX_LIFETIME: Duration = Duration::from_secs(400 * 24 * 3600);

/// Turn raw values into the typed config, pushing every problem.
pub(super) fn validate(raw: RawConfig, base_dir: &Path, problems: &mut Problems) -> Option<Config> {
    let listen = listen(raw.listen, problems);
    let public_url = public_url(raw.public_url, problems);
    let upstream = upstream(raw.upstream, problems);
    let upstream_timeout = duration(
        "upstream_timeout",
        raw.upstream_timeout,
        UPSTREAM_TIMEOUT,
        problems,
    );
    let mut raw_provider = raw.provider.unwrap_or_default();
    // Checked apart from the other provider keys: the tenant rule depends on it even when
    // another provider key is wrong.
    let tenant = tenant(raw_provider.tenant.take(), problems);
    let authorization = authorization(
        raw.authorization.unwrap_or_default(),
        tenant.as_deref(),
        problems,
    );
    let provider = provider(raw_provider, tenant, base_dir, problems);
    let session = session(raw.session.unwrap_or_default(), base_dir, problems);
    let routes = routes(raw.routes.unwrap_or_default(), problems);
    let api = api(raw.api.unwrap_or_default(), problems);
    let admin = super::admin::admin(raw.admin.unwrap_or_default(), listen, problems);
    let log = super::log::log(raw.log.unwrap_or_default(), problems);
    let ui = ui(raw.ui.unwrap_or_default(), base_dir, problems);
    let upstream = upstream?;
    let upstream_timeout = upstream_timeout?;
    Some(Config {
        listen: listen?,
        tls: None,
        redirect_http: None,
        limits: crate::server::Limits::default(),
        trusted_proxies: crate::forwarded::TrustedProxies::default(),
        upstreams: vec![crate::upstream::UpstreamConfig::single(
            upstream.clone(),
            upstream_timeout,
        )],
        hosts: Vec::new(),
        public_url: public_url?,
        upstream,
        upstream_timeout,
        provider: provider?,
        session: session?,
        authorization: authorization?,
        routes: routes?,
        api: api?,
        admin: admin?,
        log: log?,
        ui: ui?,
    })
}

fn listen(raw: Option<Text>, problems: &mut Problems) -> Option<SocketAddr> {
    let text = raw.map_or_else(|| DEFAULT_LISTEN.to_owned(), |t| t.0);
    match text.trim().parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            let shown = problems.quote("listen", &text);
            problems.push(
                "listen",
                format!(
                    "{shown} is not an address; write an IP address and port like \
                     127.0.0.1:4180 or 0.0.0.0:4180 (host names are not accepted)"
                ),
            );
            None
        }
    }
}

fn public_url(raw: Option<Text>, problems: &mut Problems) -> Option<Url> {
    let Some(Text(text)) = raw else {
        problems.push(
            "public_url",
            "required; the URL browsers use to reach entrance, e.g. https://app.example.com",
        );
        return None;
    };
    let url = url("public_url", &text, problems)?;
    let problem = if !matches!(url.scheme(), "http" | "https") {
        Some("must start with http:// or https://".to_owned())
    } else if url.path() != "/" {
        Some(format!(
            "must have no path (found {:?}); entrance needs the whole origin, e.g. \
             https://app.example.com",
            url.path()
        ))
    } else {
        None
    };
    checked("public_url", url, problem, problems)
}

fn upstream(raw: Option<Text>, problems: &mut Problems) -> Option<Url> {
    let Some(Text(text)) = raw else {
        problems.push(
            "upstream",
            "required; the URL of the app behind entrance, e.g. http://127.0.0.1:8080",
        );
        return None;
    };
    let url = url("upstream", &text, problems)?;
    let problem = match url.scheme() {
        "http" => None,
        "https" => Some(
            "https upstreams are not supported yet; use http:// to an app on the same host or \
             a private network"
                .to_owned(),
        ),
        _ => Some("must be an http:// URL, e.g. http://127.0.0.1:8080".to_owned()),
    };
    checked("upstream", url, problem, problems)
}

/// Parse an absolute URL. The value is not quoted back: it could carry a password.
pub(super) fn url(key: &str, text: &str, problems: &mut Problems) -> Option<Url> {
    match Url::parse(text.trim()) {
        Ok(url) => Some(url),
        Err(error) => {
            problems.push(
                key,
                format!("is not a URL ({error}); write it like http://host:port"),
            );
            None
        }
    }
}

/// Push `problem`, or the checks every configured URL shares; return the URL when all passed.
pub(super) fn checked(
    key: &str,
    url: Url,
    problem: Option<String>,
    problems: &mut Problems,
) -> Option<Url> {
    let problem = problem.or_else(|| {
        if url.host().is_none() {
            Some("must name a host".to_owned())
        } else if !url.username().is_empty() || url.password().is_some() {
            Some("must not contain a user name or password".to_owned())
        } else if url.query().is_some() || url.fragment().is_some() {
            Some("must have no query (?…) or fragment (#…)".to_owned())
        } else {
            None
        }
    });
    match problem {
        Some(message) => {
            problems.push(key, message);
            None
        }
        None => Some(url),
    }
}

pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

pub(super) fn duration(
    key: &str,
    raw: Option<Text>,
    default: Duration,
    problems: &mut Problems,
) -> Option<Duration> {
    let Some(Text(text)) = raw else {
        return Some(default);
    };
    match humantime::parse_duration(text.trim()) {
        Ok(value) if value.is_zero() => {
            problems.push(key, "must be more than 0s");
            None
        }
        Ok(value) => Some(value),
        Err(_) => {
            let shown = problems.quote(key, &text);
            let message = format!("{shown} is not a duration; write it like 90s, 15m or 8h");
            problems.push(key, message);
            None
        }
    }
}

fn session(raw: RawSession, base_dir: &Path, problems: &mut Problems) -> Option<SessionConfig> {
    let secret = sourced(
        "session.secret",
        raw.secret,
        raw.secret_file,
        base_dir,
        "required (or session.secret_file); base64 of at least 32 random bytes; \
         run 'entrance secret' to make one",
        problems,
    )
    .and_then(|s| session_secret(s, problems));
    let cookie_name = cookie_name(raw.cookie_name, problems);
    let lifetime = duration("session.lifetime", raw.lifetime, SESSION_LIFETIME, problems);
    let lifetime = lifetime.and_then(|value| {
        if value < Duration::from_secs(1) {
            problems.push("session.lifetime", "must be at least 1s");
            None
        } else if value > MAX_LIFETIME {
            problems.push(
                "session.lifetime",
                "must be at most 400d (browsers cap cookies at 400 days)",
            );
            None
        } else {
            Some(value)
        }
    });
    Some(SessionConfig {
        secrets: vec![secret?],
        cookie_name: cookie_name?,
        lifetime: lifetime?,
        idle_timeout: None,
        refresh: Duration::from_secs(5 * 60),
        store: crate::config::SessionStoreConfig::Cookie,
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
