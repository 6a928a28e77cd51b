//! Typed configuration: what the YAML file says, parsed once into values that cannot be invalid.
//!
//! Loading (YAML, `${VAR}` substitution, `*_file` secrets, collecting every error with its key
//! path) lives in [`load`]. Nothing on the request path reads config text.

mod load;

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use crate::secret::Secret;

pub use load::{load_file, load_str, load_str_in, ConfigError, Problem};

/// The whole gateway configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the gateway listens on.
    pub listen: SocketAddr,
    /// How browsers reach entrance: scheme, host and port, no path (validated: path is `/`).
    /// The redirect URI is `public_url` + `/oauth2/callback`.
    pub public_url: Url,
    /// Where allowed requests go (http only in this version).
    pub upstream: Url,
    /// How long to wait for the upstream's response headers before answering 504.
    pub upstream_timeout: Duration,
    pub provider: ProviderConfig,
    pub session: SessionConfig,
    pub authorization: AuthorizationConfig,
    /// In file order; the first matching route wins.
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Scheme and host (and optional port) of the identity provider, no trailing slash in use.
    /// https is required unless the host is loopback.
    pub authority: Url,
    /// `common`, `organizations`, `consumers`, a tenant GUID or a verified domain.
    pub tenant: String,
    pub client_id: String,
    pub client_secret: Secret<String>,
    /// Always contains `openid`.
    pub scopes: Vec<String>,
    /// After local sign-out, also send the browser to Microsoft's end_session endpoint.
    pub sign_out_at_microsoft: bool,
    /// Timeout for every call to the identity provider (discovery, keys, token).
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Decoded secret bytes (>= 32). The cookie keys are derived from it.
    pub secret: Secret<Vec<u8>>,
    /// Base name of the session cookie; `__Host-` is prefixed when public_url is https.
    pub cookie_name: String,
    /// Absolute session lifetime from sign-in.
    pub lifetime: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct AuthorizationConfig {
    /// Lower-case tenant GUIDs; `AnyTenant` when the list was `["*"]`; empty = no tenant rule.
    pub allowed_tenants: TenantRule,
    /// Lower-case domains; empty = any domain.
    pub allowed_email_domains: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TenantRule {
    /// No tenant rule configured (allowed only for single-tenant / consumers authorities).
    #[default]
    Unrestricted,
    /// `["*"]`: any tenant, said explicitly.
    Any,
    /// Only these tenant GUIDs (lower-case).
    Only(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// Exact path, or a prefix when it ends with `/`.
    pub path: String,
    /// No sign-in needed; identity headers are still stripped.
    pub public: bool,
}
