//! The `hosts` list: more sites on host names of their own, each with its public_url, aliases,
//! upstreams, routes, optional rules and optional certificate, checked and turned into
//! [`HostConfig`]s.
//!
//! Route and rule values are read by [`super::authorization`], upstreams by [`super::upstreams`];
//! this file adds host names (lower-case, each belonging to one site), the certificate files
//! (checked like `listen.tls`, parsed by the tls module at start) and the per-host key paths.
//! Must not quote a value that came from the environment.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use url::{Host, Url};

use super::authorization::{host_rules, routes};
use super::files::certificate_pair;
use super::serving::scheme_fits_tls;
use super::upstreams::{upstreams, RawUpstream};
use super::validate::public_url;
use super::{Problems, RawCertificate, RawHostAuthorization, RawRoute, Text};
use crate::config::HostConfig;
use crate::tls::CertificateFiles;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a host: a mapping with public_url, aliases, upstream or upstreams, routes, \
                 authorization and tls"
)]
pub(super) struct RawHost {
    public_url: Option<Text>,
    aliases: Option<Vec<Text>>,
    upstream: Option<Text>,
    upstreams: Option<Vec<RawUpstream>>,
    routes: Option<Vec<RawRoute>>,
    authorization: Option<RawHostAuthorization>,
    tls: Option<RawCertificate>,
}

/// What the `hosts` checks need from the rest of the config.
pub(super) struct Context<'a> {
    /// The top-level public_url's host, when that key is valid; no site may claim it.
    pub(super) top_host: Option<String>,
    /// Whether `listen.tls` is set (then every public_url must be https, and only then may a
    /// host have a certificate of its own).
    pub(super) tls_given: bool,
    /// `provider.tenant`, when valid (multi-tenant providers need tenant rules).
    pub(super) provider_tenant: Option<&'a str>,
    /// The default upstream response-header timeout (`upstream_timeout`).
    pub(super) response_header: Duration,
}

pub(super) fn hosts(
    raw: Vec<RawHost>,
    context: &Context<'_>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Vec<HostConfig>> {
    // Every name claimed so far, with the key that claimed it.
    let mut claimed: Vec<(String, String)> = Vec::new();
    if let Some(top) = &context.top_host {
        claimed.push((top.clone(), "public_url".to_owned()));
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (index, raw) in raw.into_iter().enumerate() {
        match host(
            &format!("hosts[{index}]"),
            raw,
            context,
            &mut claimed,
            base_dir,
            problems,
        ) {
            Some(host) => out.push(host),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn host(
    key: &str,
    raw: RawHost,
    context: &Context<'_>,
    claimed: &mut Vec<(String, String)>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<HostConfig> {
    let url_key = format!("{key}.public_url");
    let url = public_url(
        &url_key,
        raw.public_url,
        "required; the URL browsers use to reach this site, e.g. https://docs.example.com",
        problems,
    )
    .and_then(|url| scheme_fits_tls(&url_key, url, context.tls_given, problems));
    let names = names(key, url.as_ref(), raw.aliases, claimed, problems);
    let upstreams = upstreams(
        key,
        raw.upstream,
        raw.upstreams,
        context.response_header,
        base_dir,
        problems,
    );
    let routes = routes(
        &format!("{key}.routes"),
        raw.routes.unwrap_or_default(),
        problems,
    );
    let authorization = match raw.authorization {
        None => Some(None),
        Some(rules) => host_rules(
            &format!("{key}.authorization"),
            rules,
            context.provider_tenant,
            problems,
        )
        .map(Some),
    };
    let tls = match raw.tls {
        None => Some(None),
        Some(raw) => certificate(&format!("{key}.tls"), raw, context, base_dir, problems).map(Some),
    };
    Some(HostConfig {
        names: names?,
        public_url: url?,
        upstreams: upstreams?,
        routes: routes?,
        authorization: authorization?,
        tls: tls?,
    })
}

/// `hosts[i].tls`: checked like `listen.tls`, which must be set too: it stays the certificate of
/// every other name, and of clients that send no name (SNI).
fn certificate(
    key: &str,
    raw: RawCertificate,
    context: &Context<'_>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<CertificateFiles> {
    if !context.tls_given {
        problems.push(
            key,
            "only with listen.tls: set listen.tls (the default certificate, for every other name \
             and for clients that send none), then this site's own certificate is served to \
             clients asking for its names",
        );
        return None;
    }
    let (cert_file, key_file) =
        certificate_pair(key, raw.cert_file, raw.key_file, base_dir, problems)?;
    Some(CertificateFiles {
        cert_file,
        key_file,
    })
}

/// The site's names: its public_url's host (when that key is valid), then its aliases.
fn names(
    key: &str,
    url: Option<&Url>,
    aliases: Option<Vec<Text>>,
    claimed: &mut Vec<(String, String)>,
    problems: &mut Problems,
) -> Option<Vec<String>> {
    let mut names = Vec::new();
    let mut ok = true;
    if let Some(name) = url.and_then(Url::host_str) {
        let url_key = format!("{key}.public_url");
        ok &= claim(&url_key, name.to_owned(), claimed, &mut names, problems);
    }
    for (index, Text(alias)) in aliases.unwrap_or_default().into_iter().enumerate() {
        let alias_key = format!("{key}.aliases[{index}]");
        ok &= match host_name(&alias) {
            Ok(name) => claim(&alias_key, name, claimed, &mut names, problems),
            Err(why) => {
                let shown = problems.quote(&alias_key, alias.trim());
                problems.push(alias_key, format!("{shown} {why}"));
                false
            }
        };
    }
    ok.then_some(names)
}

/// Add `name` (found at `key`) to this site's `names`, unless another key claimed it already.
fn claim(
    key: &str,
    name: String,
    claimed: &mut Vec<(String, String)>,
    names: &mut Vec<String>,
    problems: &mut Problems,
) -> bool {
    if let Some((_, owner)) = claimed.iter().find(|(known, _)| *known == name) {
        let shown = problems.quote(key, &name);
        let message = format!(
            "{shown} is already the host of {owner}; each host name may belong to one site"
        );
        problems.push(key, message);
        return false;
    }
    claimed.push((name.clone(), key.to_owned()));
    names.push(name);
    true
}

/// An alias: a host name (or IP address) as the `Host` header carries it, lower-cased; no
/// scheme, port, path or wildcard.
fn host_name(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    if text.contains('*') {
        return Err("is a wildcard; list each host name the site answers");
    }
    match Host::parse(text) {
        Ok(Host::Domain(name)) if !name.is_empty() => Ok(name.to_ascii_lowercase()),
        Ok(Host::Ipv4(ip)) => Ok(ip.to_string()),
        Ok(Host::Ipv6(ip)) => Ok(format!("[{ip}]")),
        _ => Err(
            "is not a host name; write the name only, without scheme or port, like \
                  www.example.com",
        ),
    }
}
