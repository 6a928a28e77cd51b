//! Checking raw values and turning them into the typed config: one function per key or
//! section, each pushing its problems under the key path and returning `None` on failure.
//!
//! Sections with more than a few keys have a file of their own (serving, upstreams, hosts,
//! session, redis, provider, authorization, ui, log, admin); this file runs them in order, checks the
//! top-level keys and holds the helpers they share (URLs, durations).
//!
//! Must not: read files other than through [`super::secrets`] and [`super::files`], or quote a
//! secret.

use std::path::Path;
use std::time::Duration;

use url::{Host, Url};

use super::authorization::{api, authorization, routes};
use super::provider::{provider, tenant};
use super::ui::ui;
use super::{Problems, RawConfig, Text};
use crate::config::Config;

const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Turn raw values into the typed config, pushing every problem. One call per section, in
/// order; a section that depends on another gets that one's checked value (or `None`).
pub(super) fn validate(raw: RawConfig, base_dir: &Path, problems: &mut Problems) -> Option<Config> {
    let listen = super::serving::listen(raw.listen, base_dir, problems);
    let limits = super::serving::limits(raw.limits.unwrap_or_default(), problems);
    let trusted_proxies = super::serving::trusted_proxies(raw.trusted_proxies, problems);
    let public_url = public_url(
        "public_url",
        raw.public_url,
        "required; the URL browsers use to reach entrance, e.g. https://app.example.com",
        problems,
    )
    .and_then(|url| super::serving::scheme_fits_tls("public_url", url, listen.tls_given, problems));
    let upstream_timeout = duration(
        "upstream_timeout",
        raw.upstream_timeout,
        UPSTREAM_TIMEOUT,
        problems,
    );
    // A refused upstream_timeout is reported; the upstreams are still checked, with the default.
    let response_header = upstream_timeout.unwrap_or(UPSTREAM_TIMEOUT);
    let upstreams = super::upstreams::upstreams(
        "",
        raw.upstream,
        raw.upstreams,
        response_header,
        base_dir,
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
    let hosts = super::hosts::hosts(
        raw.hosts.unwrap_or_default(),
        &super::hosts::Context {
            top_host: public_url
                .as_ref()
                .and_then(Url::host_str)
                .map(str::to_owned),
            tls_given: listen.tls_given,
            provider_tenant: tenant.as_deref(),
            response_header,
        },
        base_dir,
        problems,
    );
    let provider = provider(raw_provider, tenant, base_dir, problems);
    let session = super::session::session(raw.session.unwrap_or_default(), base_dir, problems);
    let routes = routes("routes", raw.routes.unwrap_or_default(), problems);
    let api = api(raw.api.unwrap_or_default(), problems);
    let admin = super::admin::admin(raw.admin.unwrap_or_default(), &listen.addresses(), problems);
    let log = super::log::log(raw.log.unwrap_or_default(), problems);
    let ui = ui(raw.ui.unwrap_or_default(), base_dir, problems);
    let upstreams = upstreams?;
    Some(Config {
        listen: listen.address?,
        tls: listen.tls?,
        redirect_http: listen.redirect_http?,
        limits: limits?,
        trusted_proxies: trusted_proxies?,
        upstreams,
        hosts: hosts?,
        public_url: public_url?,
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

/// A public URL at `key` (`public_url`, `hosts[0].public_url`): http or https, no path.
pub(super) fn public_url(
    key: &str,
    raw: Option<Text>,
    required: &str,
    problems: &mut Problems,
) -> Option<Url> {
    let Some(Text(text)) = raw else {
        problems.push(key, required);
        return None;
    };
    let url = url(key, &text, problems)?;
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
    checked(key, url, problem, problems)
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
    problems.verdict(key, problem, url)
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
