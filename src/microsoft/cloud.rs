//! The Microsoft sovereign clouds and their hosts (MICROSOFT.md A.1): which login hosts belong to
//! which cloud, each cloud's authority and Microsoft Graph host, and the check that discovery
//! never sends entrance to another cloud than its authority (as MSAL does).
//!
//! This table is the only place in the crate where a Microsoft host is written down. Pure: no
//! I/O, no DNS.

use url::Url;

/// A Microsoft sovereign cloud. Apps are registered separately in each one; a tenant lives in
/// exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// The public (global) cloud.
    Global,
    /// Azure US Government (GCC High / DoD sign-in).
    UsGov,
    /// Azure China, operated by 21Vianet.
    China,
}

/// Every cloud, for lookups.
const CLOUDS: [Cloud; 3] = [Cloud::Global, Cloud::UsGov, Cloud::China];

/// Microsoft Cloud Germany's login host; the cloud closed on 29 October 2021.
const GERMANY_HOST: &str = "login.microsoftonline.de";

impl Cloud {
    /// The config spelling (`provider.cloud`): `global`, `usgov` or `china` (lower-case only).
    pub fn from_name(name: &str) -> Option<Cloud> {
        CLOUDS.into_iter().find(|cloud| cloud.name() == name)
    }

    /// The config spelling of this cloud.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGov => "usgov",
            Cloud::China => "china",
        }
    }

    /// The authority to configure for this cloud: scheme and host, no path, no trailing slash.
    pub fn authority(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov => "https://login.microsoftonline.us",
            Cloud::China => "https://login.partner.microsoftonline.cn",
        }
    }

    /// The cloud's login hosts, the preferred one first, then its aliases (lower-case).
    pub fn hosts(self) -> &'static [&'static str] {
        match self {
            // sts.windows.net is the issuer host of v1 tokens.
            Cloud::Global => &[
                "login.microsoftonline.com",
                "login.microsoft.com",
                "login.windows.net",
                "sts.windows.net",
            ],
            // login-us.microsoftonline.com is MSAL's separate "US_ALT" entry, same cloud.
            Cloud::UsGov => &[
                "login.microsoftonline.us",
                "login.usgovcloudapi.net",
                "login-us.microsoftonline.com",
            ],
            // login.chinacloudapi.cn is the older host, still used by the Azure SDKs.
            Cloud::China => &["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
        }
    }

    /// The Microsoft Graph host of this cloud (discovery's `msgraph_host` is preferred at run
    /// time; this is for messages and defaults).
    pub fn graph_host(self) -> &'static str {
        match self {
            Cloud::Global => "graph.microsoft.com",
            Cloud::UsGov => "graph.microsoft.us",
            Cloud::China => "microsoftgraph.chinacloudapi.cn",
        }
    }
}

/// The cloud `host` is a login host of (case-insensitive, a trailing dot ignored); `None` for
/// every other host (External ID, B2C, custom domains, emulators).
pub fn cloud_of_host(host: &str) -> Option<Cloud> {
    let host = normalise(host);
    CLOUDS
        .into_iter()
        .find(|cloud| cloud.hosts().iter().any(|known| *known == host))
}

/// `*.ciamlogin.com`: an Entra External ID (CIAM) authority host.
pub fn is_ciam_host(host: &str) -> bool {
    normalise(host)
        .strip_suffix(".ciamlogin.com")
        .is_some_and(|tenant| !tenant.is_empty() && !tenant.ends_with('.'))
}

/// Refuse a discovery endpoint in another sovereign cloud than the authority (MSAL's
/// `_ensure_endpoint_same_cloud_as_authority`). When the authority is a known cloud host, the
/// endpoint must be a host of the same cloud. When it is not (External ID, custom domain,
/// loopback emulator), the endpoint must not be a known cloud host either, unless it is the
/// authority's host itself. The error names both hosts.
pub fn check_same_cloud(authority: &Url, endpoint: &Url) -> Result<(), String> {
    let Some(authority_host) = authority.host_str() else {
        return Err("the authority has no host".to_owned());
    };
    let Some(endpoint_host) = endpoint.host_str() else {
        return Err(format!("the endpoint {endpoint} has no host"));
    };
    let same_host = normalise(authority_host) == normalise(endpoint_host);
    match (cloud_of_host(authority_host), cloud_of_host(endpoint_host)) {
        (Some(mine), Some(theirs)) if mine == theirs => Ok(()),
        (Some(mine), Some(theirs)) => Err(format!(
            "the endpoint host {endpoint_host} is in the {} cloud, but the authority host \
             {authority_host} is in the {} cloud",
            theirs.name(),
            mine.name()
        )),
        (Some(mine), None) => Err(format!(
            "the endpoint host {endpoint_host} is not a login host of the {} cloud of the \
             authority host {authority_host}",
            mine.name()
        )),
        (None, Some(_)) if same_host => Ok(()),
        (None, Some(theirs)) => Err(format!(
            "the endpoint host {endpoint_host} is in the {} cloud, but the authority host \
             {authority_host} is not a Microsoft cloud host",
            theirs.name()
        )),
        (None, None) => Ok(()),
    }
}

/// Why `host` cannot be an authority any more, for config validation; `None` when it can.
pub fn retired_host(host: &str) -> Option<&'static str> {
    (normalise(host) == GERMANY_HOST).then_some(
        "login.microsoftonline.de belongs to Microsoft Cloud Germany, which closed on 29 October \
         2021 and whose tenants moved to the global cloud; use provider.cloud: global \
         (https://login.microsoftonline.com)",
    )
}

/// `graph.windows.net`: the retired Azure AD Graph, which overage claims still point to (C.3).
/// entrance never calls it; Microsoft Graph's host comes from discovery's `msgraph_host`.
pub fn is_azure_ad_graph_host(host: &str) -> bool {
    normalise(host) == "graph.windows.net"
}

/// Lower-case without a trailing dot: how hosts are compared.
fn normalise(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

#[cfg(test)]
#[path = "cloud_tests.rs"]
mod tests;
