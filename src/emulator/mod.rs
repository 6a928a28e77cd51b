//! A local imitation of the Microsoft identity platform v2.0 (Entra ID and personal accounts) for
//! development and tests: discovery, JWKS, /authorize with a user picker, /token, /logout.
//!
//! It owns its own tokens, keys and checks and must share no validation code with the gateway
//! (nothing from `crate::oidc`, `crate::session` or `crate::policy`), so a bug in one cannot hide
//! the same bug in the other. It signs anyone in who clicks a button: never expose it.
//!
//! Endpoints (`{tenant}` = `common`, `organizations`, `consumers`, a tenant GUID or domain):
//! - `GET /{tenant}/v2.0/.well-known/openid-configuration`, `GET /{tenant}/discovery/v2.0/keys`
//! - `GET|POST /{tenant}/oauth2/v2.0/authorize`, `POST /{tenant}/oauth2/v2.0/token`
//! - `GET|POST /{tenant}/oauth2/v2.0/logout`, `GET /` (directory), `GET /error?code=n`

mod authorize;
mod config;
pub mod defaults;
mod discovery;
mod grants;
mod http;
mod id_token;
mod keys;
mod pages;
mod protocol;
mod router;
mod tenancy;
mod token;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub use config::{AppConfig, EmulatorConfig, SignInAudience, TenantConfig, UserConfig};

use grants::Grants;
use keys::{KeyRing, SigningKey};

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
    /// Applied to exactly one ID token, then cleared.
    pub tamper: Mutex<Option<Tamper>>,
    pub token_requests: AtomicUsize,
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
    let state = Arc::new(State {
        config,
        authority: authority.clone(),
        keys: KeyRing::new(key),
        grants: Grants::default(),
        tamper: Mutex::new(None),
        token_requests: AtomicUsize::new(0),
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
