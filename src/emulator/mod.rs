//! A local imitation of the Microsoft identity platform (Entra ID and personal accounts) and of
//! the slice of Microsoft Graph a gateway needs, for development and tests: discovery (v2 and
//! v1), JWKS, /authorize with a user picker, /token (code, refresh and client-credentials
//! grants; secrets, certificate and federated client assertions), /logout with front-channel
//! logout, and Graph group membership.
//!
//! It owns its own tokens, keys and checks and must share no validation code with the gateway
//! (nothing from `crate::oidc`, `crate::bearer`, `crate::session`, `crate::policy` or
//! `crate::microsoft`), so a bug in one cannot hide the same bug in the other. It signs anyone
//! in who clicks a button: never expose it.
//!
//! Endpoints (`{tenant}` = `common`, `organizations`, `consumers`, a tenant GUID or domain):
//! - `GET /{tenant}/v2.0/.well-known/openid-configuration`, `GET /{tenant}/discovery/v2.0/keys`
//! - `GET /{tenant}/.well-known/openid-configuration`, `GET /{tenant}/discovery/keys` (v1
//!   metadata; the v1 authorize and token endpoints it names are not implemented: 404)
//! - `GET|POST /{tenant}/oauth2/v2.0/authorize`, `POST /{tenant}/oauth2/v2.0/token`
//! - `GET|POST /{tenant}/oauth2/v2.0/logout` (loads the front-channel logout URLs of the apps
//!   the browser signed into, known by the emulator's `ESTSAUTH` cookie, in hidden iframes),
//!   `GET /` (directory), `GET /error?code=n`
//! - Microsoft Graph (discovery's `msgraph_host` is this emulator):
//!   `GET /v1.0/{me|users/{id}}/transitiveMemberOf[/microsoft.graph.group]`,
//!   `POST /v1.0/{me|users/{id}}/getMemberObjects`

mod access_token;
mod assertion;
mod authorize;
mod builtin;
mod certificate;
mod client_auth;
mod client_credentials;
mod config;
pub mod defaults;
mod discovery;
mod grants;
mod graph;
mod groups;
mod http;
mod id_token;
mod keys;
mod logout;
mod pages;
mod protocol;
mod router;
mod sha1;
mod sso;
mod tenancy;
pub mod testing;
mod token;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_credentials;
#[cfg(test)]
mod tests_graph;
#[cfg(test)]
mod tests_logout;
#[cfg(test)]
mod tests_tokens;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub use config::{
    AppConfig, EmulatorConfig, FederatedCredential, SignInAudience, TenantConfig, UserConfig,
};

use assertion::SeenAssertions;
use grants::Grants;
use graph::GraphService;
use keys::{KeyRing, SigningKey};
use logout::FrontChannelUrls;
use sso::SignIns;

/// Why the emulator could not load its config or start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot read emulator config {path}: {source}")]
    ReadConfig {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("emulator config: at {path}: {message}")]
    ParseConfig { path: String, message: String },
    #[error("invalid emulator config: {}", .0.join("; "))]
    InvalidConfig(Vec<String>),
    #[error("cannot generate an RSA signing key: {0}")]
    KeyGeneration(String),
    #[error("emulator listener: {0}")]
    Io(#[from] std::io::Error),
}

/// Deliberate damage to the next ID token, for testing a relying party's validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// `aud` is a random GUID.
    WrongAudience,
    /// `iss` names the real cloud's host instead of this emulator.
    WrongIssuer,
    /// `iss` uses another tenant's GUID than the `tid` claim.
    IssuerTenantMismatch,
    /// `exp` an hour in the past, `nbf` and `iat` two hours.
    Expired,
    /// `nbf` an hour ahead.
    NotYetValid,
    /// Signed by a key that is not in JWKS, with its own `kid`.
    UnknownKey,
    /// Header `alg: none` and an empty signature.
    AlgNone,
    /// `nonce` differs from the one sent to /authorize.
    WrongNonce,
    /// No `tid` claim.
    MissingTid,
}

/// An API access token to mint directly, for tests of a resource server (see
/// [`Emulator::mint_access_token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenSpec {
    /// The user's sign-in name; `None` for an app-only token. A name the directory does not know
    /// gets a made-up user (deterministic oid, no groups) in `tenant` or Contoso.
    pub user: Option<String>,
    /// Overrides `tid` (and the issuer's tenant); default: the user's tenant, for app-only tokens
    /// the app's home tenant, else Contoso.
    pub tenant: Option<String>,
    /// 1 or 2 (anything but 1 means 2).
    pub version: u8,
    /// `aud`; default `client_id` (v2) or `api://{client_id}` (v1).
    pub audience: Option<String>,
    /// `scp` entries (user tokens only); a resource prefix (`api://…/`) is stripped.
    pub scopes: Vec<String>,
    pub roles: Vec<String>,
    /// The API's client id (default audience) and the caller's (`azp` / `appid`).
    pub client_id: String,
    /// Issued two hours ago, expired one hour ago.
    pub expired: bool,
}

/// A v2 user token for the built-in app's API, unexpired, with no scopes or roles: set the
/// fields a test cares about with `AccessTokenSpec { .., ..AccessTokenSpec::default() }`.
impl Default for AccessTokenSpec {
    fn default() -> Self {
        AccessTokenSpec {
            user: Some(defaults::ALICE.to_string()),
            tenant: None,
            version: 2,
            audience: None,
            scopes: Vec::new(),
            roles: Vec::new(),
            client_id: defaults::CLIENT_ID.to_string(),
            expired: false,
        }
    }
}

/// How the token endpoint refuses a user's refresh tokens (see
/// [`Emulator::refuse_refresh_tokens`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRefusal {
    /// `invalid_grant` AADSTS50173: the grant was revoked (password reset, admin revoke).
    Revoked,
    /// `interaction_required` AADSTS50076: Conditional Access now requires MFA.
    MfaRequired,
}

/// One user as the demo banner lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub username: String,
    pub name: String,
    /// The tenant's display name.
    pub tenant: String,
}

/// Shared by every request.
pub(crate) struct State {
    pub config: EmulatorConfig,
    /// `http://host:port`, no trailing slash.
    pub authority: String,
    pub keys: KeyRing,
    pub grants: Grants,
    /// Every sign-in, by browser (the emulator's cookie), for sign-out.
    pub sign_ins: SignIns,
    /// The apps' front-channel logout URLs, changeable at run time.
    pub frontchannel: FrontChannelUrls,
    /// Applied to exactly one ID token, then cleared.
    pub tamper: Mutex<Option<Tamper>>,
    pub token_requests: AtomicUsize,
    /// `grant_type=refresh_token` requests so far, answered or not.
    pub refresh_requests: AtomicUsize,
    /// `expires_in` of user access tokens, seconds (Microsoft: 60–90 minutes).
    pub access_token_secs: std::sync::atomic::AtomicI64,
    /// Users whose refresh tokens now fail, and how (the admin revoked their sessions, or
    /// Conditional Access now wants MFA).
    pub refresh_refusals: Mutex<std::collections::HashMap<String, RefreshRefusal>>,
    /// Certificate-assertion `jti`s already used.
    pub assertions: SeenAssertions,
    /// Microsoft Graph's tokens, outage switch and request count.
    pub graph: GraphService,
}

impl State {
    /// Take the pending tamper, if any (it applies once).
    pub fn take_tamper(&self) -> Option<Tamper> {
        match self.tamper.lock() {
            Ok(mut t) => t.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }
}

/// A running emulator. Stop it with [`Emulator::shutdown`]; dropping it leaves it running.
pub struct Emulator {
    state: Arc<State>,
    running: crate::server::Running,
}

/// Start the emulator on a listener the caller bound (any address: the caller decides whether
/// non-loopback is acceptable).
pub async fn start(
    config: EmulatorConfig,
    listener: tokio::net::TcpListener,
) -> Result<Emulator, EmulatorError> {
    config.validate()?;
    let addr = listener.local_addr()?;
    let authority = authority_for(addr);
    let key = tokio::task::spawn_blocking(SigningKey::generate)
        .await
        .map_err(|e| EmulatorError::KeyGeneration(e.to_string()))??;
    let frontchannel = FrontChannelUrls::from_config(&config);
    let state = Arc::new(State {
        config,
        authority: authority.clone(),
        keys: KeyRing::new(key),
        grants: Grants::default(),
        sign_ins: SignIns::default(),
        frontchannel,
        tamper: Mutex::new(None),
        token_requests: AtomicUsize::new(0),
        refresh_requests: AtomicUsize::new(0),
        access_token_secs: std::sync::atomic::AtomicI64::new(access_token::LIFETIME_SECS),
        refresh_refusals: Mutex::new(std::collections::HashMap::new()),
        assertions: SeenAssertions::default(),
        graph: GraphService::default(),
    });
    let shared = Arc::clone(&state);
    let running = crate::server::spawn(listener, move |req, _peer| {
        let state = Arc::clone(&shared);
        async move { router::handle(&state, req).await }
    })?;
    tracing::warn!(
        %authority,
        "Microsoft identity EMULATOR started: for development and tests only; it signs in anyone \
         who asks and its keys and secrets are not secret"
    );
    Ok(Emulator { state, running })
}

/// The authority URL for a bound address; an unspecified address is reached via loopback.
fn authority_for(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

impl Emulator {
    /// The address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// `http://127.0.0.1:PORT`, no trailing slash: the value for entrance's `provider.authority`.
    pub fn authority(&self) -> String {
        self.state.authority.clone()
    }

    /// Emergency rollover: a fresh key with a new kid replaces the current one in JWKS and for
    /// signing. Generates the key on the calling thread (tens of milliseconds).
    pub fn rotate_keys(&self) {
        match SigningKey::generate() {
            Ok(key) => {
                tracing::info!(kid = %key.kid, "emulator rotated its signing key");
                self.state.keys.replace(key);
            }
            Err(error) => tracing::error!(%error, "emulator could not rotate its signing key"),
        }
    }

    /// Damage the next ID token the token endpoint issues; the tamper is then cleared.
    pub fn tamper_next_id_token(&self, tamper: Tamper) {
        match self.state.tamper.lock() {
            Ok(mut t) => *t = Some(tamper),
            Err(poisoned) => *poisoned.into_inner() = Some(tamper),
        }
    }

    /// POSTs to any token endpoint so far, successful or not.
    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// `grant_type=refresh_token` requests so far, answered or not.
    pub fn refresh_requests(&self) -> usize {
        self.state.refresh_requests.load(Ordering::SeqCst)
    }

    /// How many times a refresh token was used after a newer one of the same sign-in had been
    /// issued (a client that does not keep the rotated token).
    pub fn stale_refresh_token_uses(&self) -> usize {
        self.state.grants.stale_refresh_uses.load(Ordering::SeqCst)
    }

    /// The sign-in sessions (`sid`, as in ID tokens and front-channel logout) of `username`,
    /// oldest first, signed out or not.
    pub fn sign_in_sessions(&self, username: &str) -> Vec<String> {
        self.state.sign_ins.sids_of(username)
    }

    /// Set (`Some`) or remove (`None`) an app registration's front-channel logout URL while the
    /// emulator runs, as an admin would in the portal: sign-outs from now on load it. Fails when
    /// no app has `client_id` or the URL is not an absolute http(s) URL without fragment.
    pub fn set_frontchannel_logout_url(
        &self,
        client_id: &str,
        url: Option<&str>,
    ) -> Result<(), EmulatorError> {
        if self.state.config.app(client_id).is_none() {
            return Err(EmulatorError::InvalidConfig(vec![format!(
                "no app registration has client_id {client_id:?}"
            )]));
        }
        self.state.frontchannel.set(client_id, url).map_err(|why| {
            EmulatorError::InvalidConfig(vec![format!("frontchannel_logout_url: {why}")])
        })
    }

    /// The `expires_in` of user access tokens issued from now on (default 3600 seconds).
    pub fn set_access_token_lifetime(&self, secs: i64) {
        self.state.access_token_secs.store(secs, Ordering::SeqCst);
    }

    /// From now on, refresh tokens of `username` fail with `refusal` (codes keep working).
    pub fn refuse_refresh_tokens(&self, username: &str, refusal: RefreshRefusal) {
        match self.state.refresh_refusals.lock() {
            Ok(mut r) => r.insert(username.to_ascii_lowercase(), refusal),
            Err(poisoned) => poisoned
                .into_inner()
                .insert(username.to_ascii_lowercase(), refusal),
        };
    }

    /// Switch Microsoft Graph on (the default) or off; while off every Graph request gets 503
    /// `serviceNotAvailable`.
    pub fn set_graph_available(&self, available: bool) {
        self.state.graph.down.store(!available, Ordering::SeqCst);
    }

    /// Make Graph page its collections server-side: at most `size` objects a page whatever
    /// `$top` asks (0 = honour `$top`), so clients must follow every `@odata.nextLink`.
    pub fn set_graph_page_size(&self, size: usize) {
        self.state.graph.page_cap.store(size, Ordering::SeqCst);
    }

    /// Requests to the Graph endpoints (`/v1.0/…`) so far, answered or not.
    pub fn graph_requests(&self) -> usize {
        self.state.graph.requests.load(Ordering::SeqCst)
    }

    /// A JWT access token for an app's API, signed with the current key, exactly as the token
    /// endpoint would issue it (delegated when `spec.user` is set, app-only otherwise). Returns an
    /// empty string only if signing fails, which a test then sees as an invalid token.
    pub fn mint_access_token(&self, spec: AccessTokenSpec) -> String {
        let claims = access_token::minted_claims(
            &self.state.config,
            &self.state.authority,
            &spec,
            SystemTime::now(),
        );
        match access_token::sign(&claims, &self.state.keys.current()) {
            Ok(jwt) => jwt,
            Err(error) => {
                tracing::error!(%error, "emulator could not sign a minted access token");
                String::new()
            }
        }
    }

    /// Every user, for a banner.
    pub fn users(&self) -> Vec<UserSummary> {
        let config = &self.state.config;
        config
            .users
            .iter()
            .map(|u| UserSummary {
                username: u.username.clone(),
                name: u.name.clone(),
                tenant: config
                    .tenant(&u.tenant)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Stop accepting and finish in-flight requests.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}
