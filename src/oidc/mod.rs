//! OpenID Connect against the Microsoft identity platform (or any provider laid out like it):
//! discovery and key caches, the sign-in attempt (state, nonce, PKCE), the token call, and
//! ID-token validation.
//!
//! I/O lives in [`Provider`]; the checks ([`id_token`], [`discovery::Metadata::check`]) are pure.

pub mod attempt;
pub mod discovery;
pub mod id_token;
pub mod keys;
#[cfg(test)]
pub(crate) mod test_keys;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::ProviderConfig;
use crate::secret::Secret;

pub use attempt::Attempt;
pub use discovery::Metadata;
pub use id_token::{Claims, TokenError};
pub use keys::KeySet;

/// Unknown `kid`s trigger a key refetch at most this often (Microsoft's guidance, B.5).
const FORCED_REFETCH_INTERVAL: Duration = Duration::from_secs(300);
/// When no keys were ever loaded, a retry may come sooner.
const EMPTY_REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// Discovery and keys are refreshed in the background this often.
const REFRESH_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Failures talking to the identity provider, each naming the call.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("discovery: {0}")]
    Discovery(String),
    #[error("signing keys: {0}")]
    Keys(String),
    #[error("the identity provider's metadata is not loaded yet")]
    NotReady,
    #[error("token endpoint unreachable: {0}")]
    TokenUnreachable(String),
    #[error("token endpoint answered {error}")]
    TokenRejected {
        error: String,
        /// Microsoft's description with its AADSTS code. Logged for operators, never shown.
        description: Option<String>,
    },
    #[error("token endpoint answered something that is not a token response: {0}")]
    TokenUnreadable(String),
    #[error("the token response has no id_token (is `openid` among the scopes?)")]
    NoIdToken,
    #[error(transparent)]
    IdToken(#[from] TokenError),
}

/// Extra token-response field: the ID token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default)]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Discovery plus the OAuth client built from it.
struct Loaded {
    metadata: Arc<Metadata>,
    client: OAuthClient,
}

/// The identity provider as entrance uses it: cached discovery and keys, sign-in URLs, the
/// code redemption. Shared by all requests; no lock is held across an `.await`.
pub struct Provider {
    discovery_url: Url,
    client_id: String,
    client_secret: Secret<String>,
    scopes: Vec<String>,
    redirect_uri: RedirectUrl,
    http: reqwest::Client,
    loaded: RwLock<Option<Arc<Loaded>>>,
    keys: RwLock<Arc<KeySet>>,
    /// When the last unknown-kid refetch happened; the async mutex makes it single-flight.
    forced_refetch: tokio::sync::Mutex<Option<Instant>>,
}

impl Provider {
    /// Build the provider (no I/O yet). `redirect_uri` is public_url + `/oauth2/callback`.
    pub fn new(config: &ProviderConfig, redirect_uri: &Url) -> Result<Self, OidcError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // Following redirects from an identity provider is an SSRF hazard.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("entrance/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OidcError::Discovery(format!("cannot build the HTTP client: {e}")))?;
        Ok(Provider {
            discovery_url: discovery::document_url(&config.authority, &config.tenant)?,
            client_id: config.client_id.clone(),
            // TODO(oidc owner): send `config.credential.token_params(..)` on every token call
            // (certificate and federated credentials); until then only a secret authenticates.
            client_secret: match &config.credential {
                crate::microsoft::ClientCredential::Secret(secret) => secret.clone(),
                _ => Secret::new(String::new()),
            },
            scopes: config.scopes.clone(),
            redirect_uri: RedirectUrl::from_url(redirect_uri.clone()),
            http,
            loaded: RwLock::new(None),
            keys: RwLock::new(Arc::new(KeySet::default())),
            forced_refetch: tokio::sync::Mutex::new(None),
        })
    }

    pub fn discovery_url(&self) -> &Url {
        &self.discovery_url
    }

    /// Discovery and keys are loaded: entrance can sign users in.
    pub fn is_ready(&self) -> bool {
        self.current().is_some() && !self.keys_snapshot().is_empty()
    }

    /// The discovery document in use, if loaded.
    pub fn metadata(&self) -> Option<Arc<Metadata>> {
        self.current().map(|l| l.metadata.clone())
    }

    fn current(&self) -> Option<Arc<Loaded>> {
        self.loaded.read().ok().and_then(|g| g.clone())
    }

    fn keys_snapshot(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Fetch discovery, then the keys it points to. On failure the previous (last good)
    /// metadata and keys stay in use.
    pub async fn refresh(&self) -> Result<(), OidcError> {
        let metadata = self.fetch_discovery().await?;
        let keys = self.fetch_keys(&metadata.jwks_uri).await?;
        let client = oauth_client(
            &metadata,
            &self.client_id,
            &self.client_secret,
            &self.redirect_uri,
        )?;
        if let Ok(mut slot) = self.keys.write() {
            *slot = Arc::new(keys);
        }
        if let Ok(mut slot) = self.loaded.write() {
            *slot = Some(Arc::new(Loaded {
                metadata: Arc::new(metadata),
                client,
            }));
        }
        Ok(())
    }

    /// Keep discovery and keys loaded: retry with backoff until the first load succeeds, then
    /// refresh daily. Runs until the runtime stops.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let provider = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                let Some(p) = provider.upgrade() else { return };
                let wait = match p.refresh().await {
                    Ok(()) => {
                        tracing::info!(discovery = %p.discovery_url, "identity provider metadata and keys loaded");
                        backoff = Duration::from_millis(200);
                        REFRESH_INTERVAL
                    }
                    Err(error) => {
                        tracing::warn!(%error, discovery = %p.discovery_url, retry_in = ?backoff, "cannot load identity provider metadata");
                        let wait = backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        wait
                    }
                };
                drop(p);
                tokio::time::sleep(wait).await;
            }
        })
    }

    async fn fetch_discovery(&self) -> Result<Metadata, OidcError> {
        let body = self
            .get(&self.discovery_url)
            .await
            .map_err(OidcError::Discovery)?;
        let metadata: Metadata = serde_json::from_slice(&body).map_err(|e| {
            OidcError::Discovery(format!(
                "{} is not an OpenID discovery document: {e}",
                self.discovery_url
            ))
        })?;
        metadata.check()?;
        Ok(metadata)
    }

    async fn fetch_keys(&self, jwks_uri: &Url) -> Result<KeySet, OidcError> {
        let body = self.get(jwks_uri).await.map_err(OidcError::Keys)?;
        KeySet::from_jwks(&body)
    }

    async fn get(&self, url: &Url) -> Result<bytes::Bytes, String> {
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("GET {url} failed: {}", describe_reqwest(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url} answered {status}"));
        }
        response.bytes().await.map_err(|e| {
            format!(
                "GET {url}: reading the body failed: {}",
                describe_reqwest(&e)
            )
        })
    }

    /// Start a sign-in: a fresh attempt (state, nonce, PKCE verifier) and the authorize URL.
    pub fn begin(&self, return_to: String, now: i64) -> Result<(Url, Attempt), OidcError> {
        let loaded = self.current().ok_or(OidcError::NotReady)?;
        let attempt = Attempt::new(return_to, now);
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            attempt.verifier.expose().clone(),
        ));
        let state = attempt.state.clone();
        let mut request = loaded
            .client
            .authorize_url(move || CsrfToken::new(state))
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", attempt.nonce.clone())
            .add_extra_param("response_mode", "query");
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _) = request.url();
        Ok((url, attempt))
    }

    /// Redeem `code` for tokens and validate the ID token against `attempt`.
    pub async fn finish(
        &self,
        code: &str,
        attempt: &Attempt,
        now: i64,
    ) -> Result<Claims, OidcError> {
        let loaded = self.current().ok_or(OidcError::NotReady)?;
        let response = loaded
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(attempt.verifier.expose().clone()))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let id_token = response
            .extra_fields()
            .id_token
            .as_deref()
            .ok_or(OidcError::NoIdToken)?;
        self.validate_id_token(id_token, &loaded.metadata, &attempt.nonce, now)
            .await
    }

    /// Validate an ID token; an unknown `kid` triggers one (rate-limited) key refetch.
    async fn validate_id_token(
        &self,
        token: &str,
        metadata: &Metadata,
        nonce: &str,
        now: i64,
    ) -> Result<Claims, OidcError> {
        let expected = id_token::Expected {
            client_id: &self.client_id,
            issuer: &metadata.issuer,
            nonce,
            now,
        };
        match id_token::validate(token, &self.keys_snapshot(), &expected) {
            Err(TokenError::UnknownKey(kid)) => {
                self.refetch_keys_for_unknown_kid(&metadata.jwks_uri).await;
                match id_token::validate(token, &self.keys_snapshot(), &expected) {
                    Err(TokenError::UnknownKey(_)) => Err(TokenError::UnknownKey(kid).into()),
                    other => Ok(other?),
                }
            }
            other => Ok(other?),
        }
    }

    /// Refetch the JWKS because a token named a key we do not know: keys may have rolled.
    /// Single-flight and rate-limited; on failure the last good keys stay.
    async fn refetch_keys_for_unknown_kid(&self, jwks_uri: &Url) {
        let mut last = self.forced_refetch.lock().await;
        let interval = if self.keys_snapshot().is_empty() {
            EMPTY_REFETCH_INTERVAL
        } else {
            FORCED_REFETCH_INTERVAL
        };
        if last.is_some_and(|at| at.elapsed() < interval) {
            tracing::debug!(
                "unknown signing key, but keys were refetched recently; not refetching"
            );
            return;
        }
        *last = Some(Instant::now());
        match self.fetch_keys(jwks_uri).await {
            Ok(keys) => {
                tracing::info!(
                    keys = keys.len(),
                    "signing keys refetched after an unknown key id"
                );
                if let Ok(mut slot) = self.keys.write() {
                    *slot = Arc::new(keys);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "signing key refetch failed; keeping the last good keys")
            }
        }
    }

    /// Where to send the browser to sign out at the provider, if it has such an endpoint.
    pub fn end_session_url(&self, post_logout_redirect_uri: &str) -> Option<Url> {
        let metadata = self.metadata()?;
        let mut url = metadata.end_session_endpoint.clone()?;
        url.query_pairs_mut()
            .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
            .append_pair("client_id", &self.client_id);
        Some(url)
    }
}

fn oauth_client(
    metadata: &Metadata,
    client_id: &str,
    client_secret: &Secret<String>,
    redirect_uri: &RedirectUrl,
) -> Result<OAuthClient, OidcError> {
    Ok(oauth2::Client::new(ClientId::new(client_id.to_owned()))
        .set_client_secret(ClientSecret::new(client_secret.expose().clone()))
        // client_secret_post, as Microsoft documents for web apps.
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::from_url(metadata.authorization_endpoint.clone()))
        .set_token_uri(TokenUrl::from_url(metadata.token_endpoint.clone()))
        .set_redirect_uri(redirect_uri.clone()))
}

fn token_error(
    error: RequestTokenError<oauth2::HttpClientError<reqwest::Error>, BasicErrorResponse>,
) -> OidcError {
    match error {
        RequestTokenError::ServerResponse(response) => OidcError::TokenRejected {
            error: response.error().as_ref().to_owned(),
            description: response.error_description().cloned(),
        },
        RequestTokenError::Request(e) => OidcError::TokenUnreachable(match &e {
            oauth2::HttpClientError::Reqwest(inner) => describe_reqwest(inner),
            other => other.to_string(),
        }),
        RequestTokenError::Parse(e, _) => OidcError::TokenUnreadable(e.to_string()),
        RequestTokenError::Other(e) => OidcError::TokenUnreadable(e),
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        // reqwest errors carry the URL but never request bodies, so this is safe to log.
        e.to_string()
    }
}
