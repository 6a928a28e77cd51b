//! Checking raw values and turning them into the typed config: one function per key or
//! section, each pushing its problems under the key path and returning `None` on failure.
//!
//! Must not: read files other than through [`super::secrets`], or quote a secret.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use url::{Host, Url};

use super::secrets::{non_empty, session_secret, sourced};
use super::{Problems, RawAuthorization, RawConfig, RawProvider, RawRoute, RawSession, Text};
use crate::config::{
    AuthorizationConfig, Config, ProviderConfig, RouteConfig, SessionConfig, TenantRule,
};
use crate::secret::Secret;

const DEFAULT_LISTEN: &str = "127.0.0.1:4180";
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
const DEFAULT_TENANT: &str = "organizations";
const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
const DEFAULT_COOKIE_NAME: &str = "_entrance";
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
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
    Some(Config {
        listen: listen?,
        public_url: public_url?,
        upstream: upstream?,
        upstream_timeout: upstream_timeout?,
        provider: provider?,
        session: session?,
        authorization: authorization?,
        routes: routes?,
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

fn authority(raw: Option<Text>, problems: &mut Problems) -> Option<Url> {
    let text = raw.map_or_else(|| DEFAULT_AUTHORITY.to_owned(), |t| t.0);
    let key = "provider.authority";
    let url = url(key, &text, problems)?;
    let problem = match url.scheme() {
        "https" => None,
        "http" if is_loopback(&url) => None,
        "http" => Some(
            "must use https (http is allowed only for a loopback host such as 127.0.0.1 or \
             localhost, e.g. a local emulator)"
                .to_owned(),
        ),
        _ => Some("must be an https:// URL, e.g. https://login.microsoftonline.com".to_owned()),
    };
    let problem = problem.or_else(|| {
        (url.path() != "/").then(|| "must have no path; the tenant goes in provider.tenant".into())
    });
    checked(key, url, problem, problems)
}

/// Parse an absolute URL. The value is not quoted back: it could carry a password.
fn url(key: &str, text: &str, problems: &mut Problems) -> Option<Url> {
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
fn checked(key: &str, url: Url, problem: Option<String>, problems: &mut Problems) -> Option<Url> {
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

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn duration(
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

/// The provider keys other than `tenant`, which the caller has checked.
fn provider(
    raw: RawProvider,
    tenant: Option<String>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<ProviderConfig> {
    let authority = authority(raw.authority, problems);
    let client_id = client_id(raw.client_id, problems);
    let client_secret = sourced(
        "provider.client_secret",
        raw.client_secret,
        raw.client_secret_file,
        base_dir,
        "required (or provider.client_secret_file); a client secret of your app registration \
         (Certificates & secrets)",
        problems,
    )
    .and_then(|s| non_empty(s, problems))
    .map(|s| Secret::new(s.value));
    let scopes = scopes(raw.scopes, problems);
    let timeout = duration("provider.timeout", raw.timeout, PROVIDER_TIMEOUT, problems);
    Some(ProviderConfig {
        authority: authority?,
        tenant: tenant?,
        client_id: client_id?,
        client_secret: client_secret?,
        scopes: scopes?,
        sign_out_at_microsoft: raw.sign_out_at_microsoft.is_some_and(|f| f.0),
        timeout: timeout?,
    })
}

fn tenant(raw: Option<Text>, problems: &mut Problems) -> Option<String> {
    // Tenant names and GUIDs are case-insensitive at Microsoft; tokens carry lower-case GUIDs.
    let tenant = raw.map_or_else(|| DEFAULT_TENANT.to_owned(), |t| t.0.trim().to_lowercase());
    if matches!(tenant.as_str(), "common" | "organizations" | "consumers")
        || is_guid(&tenant)
        || is_domain(&tenant)
    {
        return Some(tenant);
    }
    let shown = problems.quote("provider.tenant", &tenant);
    problems.push(
        "provider.tenant",
        format!(
            "{shown} is not a tenant; use common, organizations, consumers, your tenant GUID \
             or a domain like contoso.onmicrosoft.com"
        ),
    );
    None
}

fn client_id(raw: Option<Text>, problems: &mut Problems) -> Option<String> {
    let key = "provider.client_id";
    match raw {
        Some(Text(id)) if id.chars().any(char::is_whitespace) => {
            problems.push(key, "must not contain spaces or line breaks");
            None
        }
        Some(Text(id)) if !id.is_empty() => Some(id),
        _ => {
            problems.push(
                key,
                "required; the Application (client) ID of your app registration",
            );
            None
        }
    }
}

fn scopes(raw: Option<Vec<Text>>, problems: &mut Problems) -> Option<Vec<String>> {
    let key = "provider.scopes";
    let Some(raw) = raw else {
        return Some(DEFAULT_SCOPES.map(str::to_owned).to_vec());
    };
    let mut scopes: Vec<String> = Vec::new();
    let mut ok = true;
    for (index, Text(scope)) in raw.into_iter().enumerate() {
        if scope.is_empty() || scope.chars().any(char::is_whitespace) {
            let path = format!("{key}[{index}]");
            let message = format!(
                "{} is not a scope; list each scope as its own item",
                problems.quote(&path, &scope)
            );
            problems.push(path, message);
            ok = false;
        } else if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if ok && !scopes.iter().any(|s| s == "openid") {
        problems.push(
            key,
            "must contain openid; entrance signs users in with OpenID Connect",
        );
        ok = false;
    }
    ok.then_some(scopes)
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
        secret: secret?,
        cookie_name: cookie_name?,
        lifetime: lifetime?,
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

fn authorization(
    raw: RawAuthorization,
    provider_tenant: Option<&str>,
    problems: &mut Problems,
) -> Option<AuthorizationConfig> {
    let allowed_tenants = allowed_tenants(
        raw.allowed_tenants.unwrap_or_default(),
        provider_tenant,
        problems,
    );
    let allowed_email_domains =
        email_domains(raw.allowed_email_domains.unwrap_or_default(), problems);
    Some(AuthorizationConfig {
        allowed_tenants: allowed_tenants?,
        allowed_email_domains: allowed_email_domains?,
    })
}

fn allowed_tenants(
    raw: Vec<Text>,
    provider_tenant: Option<&str>,
    problems: &mut Problems,
) -> Option<TenantRule> {
    let key = "authorization.allowed_tenants";
    let listed = !raw.is_empty();
    let (mut any, mut guids, mut ok) = (false, Vec::new(), true);
    for (index, Text(entry)) in raw.into_iter().enumerate() {
        let entry = entry.trim().to_ascii_lowercase();
        if entry == "*" {
            any = true;
        } else if is_guid(&entry) {
            if !guids.contains(&entry) {
                guids.push(entry);
            }
        } else {
            let path = format!("{key}[{index}]");
            let message = format!(
                "{} is not a tenant GUID (tokens carry the GUID, not a name); copy the Tenant ID \
                 from the Entra admin center, or use \"*\"",
                problems.quote(&path, &entry)
            );
            problems.push(path, message);
            ok = false;
        }
    }
    if any && !guids.is_empty() {
        problems.push(
            key,
            "\"*\" allows every tenant, so it must be the only entry",
        );
        ok = false;
    }
    let multi_tenant = matches!(provider_tenant, Some("common" | "organizations"));
    if !listed && multi_tenant {
        problems.push(
            key,
            "required when provider.tenant is common/organizations (any Microsoft tenant could \
             sign in); list your tenant GUIDs, or [\"*\"] to allow every tenant",
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(if any {
        TenantRule::Any
    } else if guids.is_empty() {
        TenantRule::Unrestricted
    } else {
        TenantRule::Only(guids)
    })
}

fn email_domains(raw: Vec<Text>, problems: &mut Problems) -> Option<Vec<String>> {
    let mut domains: Vec<String> = Vec::new();
    let mut ok = true;
    for (index, Text(entry)) in raw.into_iter().enumerate() {
        let path = format!("authorization.allowed_email_domains[{index}]");
        let domain = entry.trim().to_ascii_lowercase();
        let message = if domain.contains('@') {
            "write the domain only, e.g. example.com (not user@example.com or @example.com)"
                .to_owned()
        } else if !is_domain(&domain) {
            let shown = problems.quote(&path, &domain);
            format!("{shown} is not a domain name, e.g. example.com")
        } else {
            if !domains.contains(&domain) {
                domains.push(domain);
            }
            continue;
        };
        problems.push(path, message);
        ok = false;
    }
    ok.then_some(domains)
}

fn routes(raw: Vec<RawRoute>, problems: &mut Problems) -> Option<Vec<RouteConfig>> {
    let mut routes = Vec::new();
    let mut ok = true;
    for (index, route) in raw.into_iter().enumerate() {
        let key = format!("routes[{index}].path");
        let message = match route.path {
            None => "required; an exact path like /healthz, or a prefix ending in / like /static/",
            Some(Text(path)) if !path.starts_with('/') => "must start with /",
            Some(Text(path)) if path.contains(['?', '#']) => {
                "must be a path only; routes never match a query (?…) or fragment (#…)"
            }
            Some(Text(path)) => {
                routes.push(RouteConfig {
                    path,
                    public: route.public.is_some_and(|f| f.0),
                });
                continue;
            }
        };
        problems.push(key, message);
        ok = false;
    }
    ok.then_some(routes)
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits.
fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A dotted host name: at least two labels of letters, digits and inner hyphens. Requiring a dot
/// catches typos such as `organisations`, which would otherwise pass as a name.
fn is_domain(text: &str) -> bool {
    let labels: Vec<&str> = text.split('.').collect();
    text.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}
