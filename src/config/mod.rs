//! Typed configuration: what the YAML file says, parsed once into values that cannot be invalid.
//!
//! Loading (YAML, `${VAR}` substitution, `*_file` secrets, collecting every error with its key
//! path) lives in [`load`]. Nothing on the request path reads config text.

mod load;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::microsoft::{ClientCredential, Cloud};
use crate::secret::Secret;

pub use load::{load_file, load_str, load_str_in, ConfigError, Problem};

/// The whole gateway configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the gateway listens on (`listen`, or `listen.address` in the map form).
    pub listen: SocketAddr,
    /// `listen.tls`: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with these PEM files, reloaded
    /// from disk when they change. `None`: plain HTTP.
    pub tls: Option<crate::tls::CertificateFiles>,
    /// `listen.redirect_http`: a plain-HTTP listener that only redirects to https. Only with tls.
    pub redirect_http: Option<SocketAddr>,
    /// `limits`: header size, connections, header read timeout, h2c, body size.
    pub limits: crate::server::Limits,
    /// `trusted_proxies`: peers whose `Forwarded`/`X-Forwarded-*`/`X-Original-*` headers are
    /// believed. Empty by default: nobody's are.
    pub trusted_proxies: crate::forwarded::TrustedProxies,
    /// Where allowed requests go, by path prefix (longest wins). The single `upstream` form is
    /// one entry with prefix `/`. Never empty.
    pub upstreams: Vec<crate::upstream::UpstreamConfig>,
    /// `hosts`: more sites by `Host`/SNI, each with its own public_url, upstreams and routes.
    /// Requests for any other host are served by the top-level site.
    pub hosts: Vec<HostConfig>,
    /// How browsers reach entrance: scheme, host and port, no path (validated: path is `/`).
    /// The redirect URI is `public_url` + `/oauth2/callback`.
    pub public_url: Url,
    pub provider: ProviderConfig,
    pub session: SessionConfig,
    pub authorization: AuthorizationConfig,
    /// In file order; the first matching route wins.
    pub routes: Vec<RouteConfig>,
    /// Bearer access tokens for this app's own API.
    pub api: ApiConfig,
    /// The admin listener (`/metrics`, `/status`).
    pub admin: AdminConfig,
    /// Branding and behaviour of the pages people see.
    pub ui: UiConfig,
    /// Log format and level (the `log` section).
    pub log: LogConfig,
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Scheme and host (and optional port) of the identity provider, no trailing slash in use.
    /// https is required unless the host is loopback. A Microsoft cloud host, an External ID
    /// (`*.ciamlogin.com`) host, a custom domain or a local emulator; never a retired cloud.
    pub authority: Url,
    /// The sovereign cloud the authority is in (given as `provider.cloud`, or known from the
    /// authority's host); `None` for External ID, custom domains and emulators.
    pub cloud: Option<Cloud>,
    /// `common`, `organizations`, `consumers`, a tenant GUID or a verified domain.
    pub tenant: String,
    pub client_id: String,
    /// Exactly one credential (secret, certificate or federated token file), checked at load.
    pub credential: ClientCredential,
    /// Always contains `openid`.
    pub scopes: Vec<String>,
    /// After local sign-out, also send the browser to Microsoft's end_session endpoint.
    pub sign_out_at_microsoft: bool,
    /// Timeout for every call to the identity provider (discovery, keys, token).
    pub timeout: Duration,
}

/// One `hosts` entry: a site of its own on a host name of its own.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Lower-case host names this site answers (its public_url's host first, then `aliases`).
    pub names: Vec<String>,
    /// Like the top-level public_url; the redirect URI is this + `/oauth2/callback`.
    pub public_url: Url,
    /// Never empty; longest prefix wins.
    pub upstreams: Vec<crate::upstream::UpstreamConfig>,
    /// This site's routes, in file order (the top-level `routes` do not apply here).
    pub routes: Vec<RouteConfig>,
    /// This site's default rules; `None`: the top-level `authorization` rules.
    pub authorization: Option<Rules>,
    /// `hosts[].tls`: the certificate served when a handshake names one of `names` (SNI).
    /// `None`: the `listen.tls` certificate. Only with `listen.tls` (checked at load).
    pub tls: Option<crate::tls::CertificateFiles>,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Decoded secrets (>= 32 bytes each), never empty: the first seals, every one opens. To
    /// rotate: add the new secret first, deploy, remove the old one after the longest lifetime.
    pub secrets: Vec<Secret<Vec<u8>>>,
    /// Base name of the session cookie; `__Host-` is prefixed when public_url is https.
    pub cookie_name: String,
    /// Absolute session lifetime from sign-in.
    pub lifetime: Duration,
    /// Sliding: a session unused this long ends. `None`: no idle limit.
    pub idle_timeout: Option<Duration>,
    /// With a refresh token (`offline_access` in scopes), renew this long before the access
    /// token expires. Default 5m.
    pub refresh: Duration,
    /// Where sessions live.
    pub store: SessionStoreConfig,
}

/// `session.store`.
#[derive(Debug, Clone, Default)]
pub enum SessionStoreConfig {
    /// Everything in sealed cookies; nothing server-side.
    #[default]
    Cookie,
    /// In Redis; the cookie carries only a sealed id.
    Redis(RedisConfig),
}

/// `session.redis`.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub connection: RedisConnection,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    /// Default 5s.
    pub connect_timeout: Duration,
    /// Every command; default 2s.
    pub command_timeout: Duration,
    /// Prefix of every key entrance writes; default `entrance:`.
    pub key_prefix: String,
}

/// How to reach Redis. URLs are `redis://` or `rediss://` (TLS) with host and optional port and
/// db; they may carry a password, so they are never logged whole.
#[derive(Debug, Clone)]
pub enum RedisConnection {
    /// `redis.url`
    Single(Secret<Url>),
    /// `redis.sentinel: {master_name, urls}`
    Sentinel {
        master_name: String,
        nodes: Vec<Secret<Url>>,
    },
    /// `redis.cluster_urls`
    Cluster { nodes: Vec<Secret<Url>> },
}

/// The tenant of every personal Microsoft account (outlook.com, hotmail.com, live.com, ...).
pub const PERSONAL_ACCOUNTS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The `authorization` section: the default rules and where groups come from.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationConfig {
    /// Applied to every protected route (routes with `mode: replace` swap them for their own).
    pub rules: Rules,
    pub groups_source: GroupsSource,
}

/// Who may pass: any-of within a list, all-of across lists; an empty list is no constraint.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub allowed_tenants: TenantRule,
    pub allowed_email_domains: Vec<DomainRule>,
    /// Lower-case addresses with exactly one `@`.
    pub allowed_emails: Vec<String>,
    /// Lower-case user object ids (`oid`).
    pub allowed_users: Vec<String>,
    /// Lower-case group object ids.
    pub allowed_groups: Vec<String>,
    /// App role values, case-sensitive like the `roles` claim.
    pub allowed_roles: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TenantRule {
    /// No tenant rule configured (allowed only for single-tenant / consumers authorities; in
    /// route and query rules: no constraint).
    #[default]
    Unrestricted,
    /// `["*"]`: any work or school tenant, said explicitly. `personal`: the personal-account
    /// tenant ([`PERSONAL_ACCOUNTS_TENANT`]) was listed next to `"*"`, so personal accounts pass
    /// too.
    Any { personal: bool },
    /// Only these tenant GUIDs (lower-case).
    Only(Vec<String>),
}

/// One `allowed_email_domains` entry, lower-case, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainRule {
    /// `contoso.com`: exactly that domain.
    Exact(String),
    /// `*.contoso.com`: any subdomain (`eu.contoso.com`, `a.b.contoso.com`), not `contoso.com`.
    AnySubdomainOf(String),
}

/// Where a user's groups come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GroupsSource {
    /// The `groups` claim; Microsoft Graph only when the token says the list overflowed.
    #[default]
    Claim,
    /// Always Microsoft Graph at sign-in (tenants that cannot emit the claim).
    Graph,
}

/// One `routes` entry.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub matcher: PathMatcher,
    /// Empty = any method. Listing GET also covers HEAD (servers answer HEAD with the GET
    /// handler, so a GET-only rule must not be escaped by HEAD).
    pub methods: Vec<http::Method>,
    pub action: RouteAction,
    /// Bearer callers need every one of these delegated scopes (`scp`).
    pub required_scopes: Vec<String>,
    /// Callers (bearer or browser) need every one of these app roles.
    pub required_roles: Vec<String>,
}

/// How a route matches the normalised request path (no query). Case-sensitive.
#[derive(Debug, Clone)]
pub enum PathMatcher {
    /// Exactly this path (normalised at load).
    Exact(String),
    /// Every path starting with this one, which ends with `/` (normalised at load).
    Prefix(String),
    /// Anchored at the start (`^`), checked at load.
    Regex(regex::Regex),
}

/// What a matching route does.
#[derive(Debug, Clone)]
pub enum RouteAction {
    /// No sign-in; identity headers are still stripped.
    Public,
    /// Always 403, signed in or not.
    Deny,
    /// Sign-in needed, and these rules.
    Protect { mode: RulesMode, rules: Rules },
}

/// How a route's rules combine with the `authorization` defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RulesMode {
    /// Both the defaults and the route's rules must pass.
    #[default]
    Add,
    /// Only the route's rules (the default tenant rule still applies unless the route lists
    /// tenants itself).
    Replace,
}

/// The `api` section.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// Accept `Authorization: Bearer <access token>` issued for this app.
    pub enabled: bool,
    /// Accepted `aud` values besides the client id and `api://{client id}`.
    pub audiences: Vec<String>,
}

/// The `admin` section: where `/metrics` and `/status` are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// `None` when `admin.listen: off`. Never the gateway's own address (checked at load).
    pub listen: Option<SocketAddr>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9180))),
        }
    }
}

/// The `ui` section: branding of the pages people see (errors, 403, signed-out, sign-in).
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// Shown in every page's header and `<title>`; not empty. Default `entrance`.
    pub title: String,
    /// An `https://`/`http://` URL or an absolute path (`/…`); shown with `alt` = `title`.
    pub logo_url: Option<String>,
    /// `#rgb` or `#rrggbb`, lower-case, dark enough for white text (contrast at least 4.5:1).
    pub accent_color: String,
    /// One line of text at the foot of every page.
    pub footer: Option<String>,
    /// Show a "Sign in with Microsoft" page instead of redirecting straight to Microsoft.
    pub sign_in_page: bool,
    /// Directory with page overrides (`error.html`, `forbidden.html`, `signed_out.html`,
    /// `sign_in.html`), already resolved against the config file's directory.
    pub templates_dir: Option<PathBuf>,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            title: "entrance".to_owned(),
            logo_url: None,
            accent_color: crate::pages::DEFAULT_ACCENT.to_owned(),
            footer: None,
            sign_in_page: false,
            templates_dir: None,
        }
    }
}

/// The `log` section.
#[derive(Debug, Clone, Default)]
pub struct LogConfig {
    /// `None`: JSON when stdout is not a terminal, text when it is (decided at start-up, not at
    /// load, so one file works in a container and in a shell).
    pub format: Option<LogFormat>,
    /// A `tracing` filter such as `info` or `entrance=debug,info`, checked at load. `RUST_LOG`,
    /// when set, wins; `None` means `info`.
    pub level: Option<String>,
    /// OTLP/HTTP collector base URL (`http://collector:4318`; spans go to its `/v1/traces`).
    /// http or https with a host; only ever `Some` in a build with the `otel` feature.
    pub otlp_endpoint: Option<Url>,
}

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, event fields at the top level.
    Json,
    /// Human-readable lines.
    Text,
}
