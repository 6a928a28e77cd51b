//! The identity provider as entrance uses it: cached discovery and keys (v2, and v1 when API
//! tokens are accepted), sign-in URLs, code redemption with the configured client credential,
//! bearer-token validation, and Microsoft Graph for groups overage.
//!
//! Shared by all requests; no lock is held across an `.await`.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope};
use url::Url;

use super::discovery::{self, Metadata};
use super::token::{self, AuthParams, OAuthClient, Tokens};
use super::{id_token, Attempt, Claims, KeySet, OidcError, TokenError};
use crate::bearer::{self, BearerError};
use crate::config::ProviderConfig;
use crate::identity::Identity;
use crate::metrics::Metrics;
use crate::microsoft::{ClientCredential, Graph};

/// Unknown `kid`s trigger a key refetch at most this often (Microsoft's guidance, B.5).
const FORCED_REFETCH_INTERVAL: Duration = Duration::from_secs(300);
/// When no keys were ever loaded, a retry may come sooner.
const EMPTY_REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// Discovery and keys are refreshed in the background this often.
const REFRESH_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// One JWKS endpoint's keys: the last good set, and single-flight, rate-limited refetches.
struct KeyCache {
    keys: RwLock<Arc<KeySet>>,
    /// When the current keys were fetched (for the status page).
    fetched_at: RwLock<Option<std::time::SystemTime>>,
    forced_refetch: tokio::sync::Mutex<Option<Instant>>,
}

impl KeyCache {
    fn new() -> Self {
        KeyCache {
            keys: RwLock::new(Arc::new(KeySet::default())),
            fetched_at: RwLock::new(None),
            forced_refetch: tokio::sync::Mutex::new(None),
        }
    }

    fn snapshot(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn store(&self, keys: KeySet) {
        if let Ok(mut slot) = self.keys.write() {
            *slot = Arc::new(keys);
        }
        if let Ok(mut at) = self.fetched_at.write() {
            *at = Some(std::time::SystemTime::now());
        }
    }
}

/// A loaded discovery document and what is built from it.
struct Loaded {
    metadata: Arc<Metadata>,
    client: OAuthClient,
    graph: Option<Graph>,
}

/// The v1 metadata, for v1 access tokens.
struct V1 {
    issuer: String,
    jwks_uri: Url,
}

/// What a completed sign-in yields: validated claims and the tokens that came with them.
pub struct SignedIn {
    pub claims: Claims,
    pub tokens: Tokens,
}

pub struct Provider {
    authority: Url,
    discovery_url: Url,
    /// Set when API tokens are accepted: v1 tokens need v1 metadata.
    v1_discovery_url: Option<Url>,
    client_id: String,
    credential: ClientCredential,
    scopes: Vec<String>,
    redirect_uri: RedirectUrl,
    http: reqwest::Client,
    loaded: RwLock<Option<Arc<Loaded>>>,
    v1: RwLock<Option<Arc<V1>>>,
    keys: KeyCache,
    keys_v1: KeyCache,
    bearer_cache: bearer::Cache,
}

impl Provider {
    /// Build the provider (no I/O yet). `redirect_uri` is public_url + `/oauth2/callback`.
    pub fn new(
        config: &ProviderConfig,
        redirect_uri: &Url,
        api_enabled: bool,
    ) -> Result<Self, OidcError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // Following redirects from an identity provider is an SSRF hazard.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("entrance/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OidcError::Discovery(format!("cannot build the HTTP client: {e}")))?;
        Ok(Provider {
            authority: config.authority.clone(),
            discovery_url: discovery::document_url(&config.authority, &config.tenant)?,
            v1_discovery_url: if api_enabled {
                Some(discovery::v1_document_url(
                    &config.authority,
                    &config.tenant,
                )?)
            } else {
                None
            },
            client_id: config.client_id.clone(),
            credential: config.credential.clone(),
            scopes: config.scopes.clone(),
            redirect_uri: RedirectUrl::from_url(redirect_uri.clone()),
            http,
            loaded: RwLock::new(None),
            v1: RwLock::new(None),
            keys: KeyCache::new(),
            keys_v1: KeyCache::new(),
            bearer_cache: bearer::Cache::default(),
        })
    }

    pub fn discovery_url(&self) -> &Url {
        &self.discovery_url
    }

    pub fn credential_kind(&self) -> &'static str {
        self.credential.kind()
    }

    /// Discovery and keys are loaded: entrance can sign users in.
    pub fn is_ready(&self) -> bool {
        self.current().is_some() && !self.keys.snapshot().is_empty()
    }

    /// The discovery document in use, if loaded.
    pub fn metadata(&self) -> Option<Arc<Metadata>> {
        self.current().map(|l| l.metadata.clone())
    }

    /// How many signing keys are cached (v2).
    pub fn key_count(&self) -> usize {
        self.keys.snapshot().len()
    }

    /// The cached signing key ids (v2), sorted.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.snapshot().kids()
    }

    /// How long ago the signing keys were fetched, if they ever were.
    pub fn keys_age(&self) -> Option<Duration> {
        let at = (*self.keys.fetched_at.read().ok()?)?;
        at.elapsed().ok()
    }

    fn current(&self) -> Option<Arc<Loaded>> {
        self.loaded.read().ok().and_then(|g| g.clone())
    }

    /// Fetch discovery, then the keys it points to (and the v1 pair when API tokens are
    /// accepted). On failure the previous (last good) metadata and keys stay in use.
    pub async fn refresh(&self) -> Result<(), OidcError> {
        let metadata = self.fetch_discovery(&self.discovery_url).await?;
        let keys = self.fetch_keys(&metadata.jwks_uri).await?;
        let client = token::oauth_client(&metadata, &self.client_id, &self.redirect_uri);
        let graph = match metadata.msgraph_host.as_deref() {
            Some(host) => match Graph::new(self.http.clone(), host) {
                Ok(graph) => Some(graph),
                Err(error) => {
                    tracing::warn!(%error, "the discovery document's msgraph_host is unusable; groups overage cannot be resolved");
                    None
                }
            },
            None => None,
        };
        self.keys.store(keys);
        if let Ok(mut slot) = self.loaded.write() {
            *slot = Some(Arc::new(Loaded {
                metadata: Arc::new(metadata),
                client,
                graph,
            }));
        }
        if let Some(url) = &self.v1_discovery_url {
            // v1 problems must not stop browser sign-in: log, keep the last good v1 keys.
            match self.refresh_v1(url).await {
                Ok(()) => {}
                Err(error) => {
                    tracing::warn!(%error, "cannot load the v1 metadata; v1 access tokens are refused until it loads")
                }
            }
        }
        Ok(())
    }

    async fn refresh_v1(&self, url: &Url) -> Result<(), OidcError> {
        let metadata = self.fetch_discovery(url).await?;
        let keys = self.fetch_keys(&metadata.jwks_uri).await?;
        self.keys_v1.store(keys);
        if let Ok(mut slot) = self.v1.write() {
            *slot = Some(Arc::new(V1 {
                issuer: metadata.issuer,
                jwks_uri: metadata.jwks_uri,
            }));
        }
        Ok(())
    }

    /// Keep discovery and keys loaded: retry with backoff until the first load succeeds, then
    /// refresh daily. Ends when the provider is dropped.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let provider = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                let Some(p) = provider.upgrade() else { return };
                let wait = match p.refresh().await {
                    Ok(()) => {
                        tracing::info!(discovery = %p.discovery_url, keys = p.key_count(), "identity provider metadata and keys loaded");
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

    async fn fetch_discovery(&self, url: &Url) -> Result<Metadata, OidcError> {
        let body = self
            .get("discovery", url)
            .await
            .map_err(OidcError::Discovery)?;
        let metadata: Metadata = serde_json::from_slice(&body).map_err(|e| {
            OidcError::Discovery(format!("{url} is not an OpenID discovery document: {e}"))
        })?;
        metadata.check(&self.authority)?;
        Ok(metadata)
    }

    async fn fetch_keys(&self, jwks_uri: &Url) -> Result<KeySet, OidcError> {
        let body = self.get("keys", jwks_uri).await.map_err(OidcError::Keys)?;
        KeySet::from_jwks(&body)
    }

    /// GET `url` for `call` (discovery or keys), counted in the identity-provider metrics.
    async fn get(&self, call: &'static str, url: &Url) -> Result<bytes::Bytes, String> {
        let started = Instant::now();
        let result = self.get_once(url).await;
        Metrics::install().idp_call(call, started.elapsed().as_secs_f64(), result.is_ok());
        result
    }

    async fn get_once(&self, url: &Url) -> Result<bytes::Bytes, String> {
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("GET {url} failed: {}", super::describe_reqwest(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url} answered {status}"));
        }
        response.bytes().await.map_err(|e| {
            format!(
                "GET {url}: reading the body failed: {}",
                super::describe_reqwest(&e)
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

    /// The client authentication for one token call to `token_endpoint`.
    fn auth_params(&self, token_endpoint: &Url, now: i64) -> Result<AuthParams, OidcError> {
        self.credential
            .token_params(&self.client_id, token_endpoint.as_str(), now)
            .map_err(|e| OidcError::Credential(e.to_string()))
    }

    /// Redeem `code` for tokens and validate the ID token against `attempt`.
    pub async fn finish(
        &self,
        code: &str,
        attempt: &Attempt,
        now: i64,
    ) -> Result<SignedIn, OidcError> {
        let loaded = self.current().ok_or(OidcError::NotReady)?;
        let auth = self.auth_params(&loaded.metadata.token_endpoint, now)?;
        let started = Instant::now();
        let tokens = token::redeem_code(
            &loaded.client,
            &self.http,
            code,
            attempt.verifier.expose(),
            auth,
        )
        .await;
        Metrics::install().idp_call("token", started.elapsed().as_secs_f64(), tokens.is_ok());
        let tokens = tokens?;
        let id_token = tokens.id_token.as_deref().ok_or(OidcError::NoIdToken)?;
        let claims = self
            .validate_id_token(id_token, &loaded.metadata, Some(&attempt.nonce), now)
            .await?;
        Ok(SignedIn { claims, tokens })
    }

    /// Redeem a refresh token: new tokens and a validated (nonce-less) ID token. The caller
    /// checks that the ID token is the same user's.
    pub async fn renew(&self, refresh_token: &str, now: i64) -> Result<SignedIn, OidcError> {
        let loaded = self.current().ok_or(OidcError::NotReady)?;
        let auth = self.auth_params(&loaded.metadata.token_endpoint, now)?;
        let started = Instant::now();
        let tokens = token::refresh(
            &loaded.client,
            &self.http,
            refresh_token,
            &self.scopes,
            auth,
        )
        .await;
        Metrics::install().idp_call("refresh", started.elapsed().as_secs_f64(), tokens.is_ok());
        let tokens = tokens?;
        let id_token = tokens.id_token.as_deref().ok_or(OidcError::NoIdToken)?;
        let claims = self
            .validate_id_token(id_token, &loaded.metadata, None, now)
            .await?;
        Ok(SignedIn { claims, tokens })
    }

    /// Whether sign-in asks for a refresh token (`offline_access` among the scopes).
    pub fn keeps_refresh_tokens(&self) -> bool {
        self.scopes.iter().any(|s| s == "offline_access")
    }

    /// Ask the authorize endpoint whether it accepts this app's client id and redirect URI, the
    /// way a browser would arrive there (no redirect followed). Microsoft answers an unknown
    /// client or an unregistered redirect URI with its own error page naming the AADSTS code
    /// instead of a sign-in page: that code is returned.
    pub async fn probe_authorize(&self, now: i64) -> Result<Option<u32>, OidcError> {
        let (url, _) = self.begin("/".into(), now)?;
        let response = self
            .http
            .get(url)
            .header(http::header::ACCEPT, "text/html")
            .send()
            .await
            .map_err(|e| {
                OidcError::Discovery(format!(
                    "authorize endpoint: {}",
                    super::describe_reqwest(&e)
                ))
            })?;
        let text = response.text().await.unwrap_or_default();
        Ok(crate::microsoft::aadsts_code(&text))
    }

    /// The client-credentials grant for `scope`: proves the credential (for `entrance check`).
    pub async fn client_credentials(&self, scope: &str, now: i64) -> Result<Tokens, OidcError> {
        let loaded = self.current().ok_or(OidcError::NotReady)?;
        let auth = self.auth_params(&loaded.metadata.token_endpoint, now)?;
        token::client_credentials(&loaded.client, &self.http, scope, auth).await
    }

    /// Microsoft Graph of this provider's cloud, when discovery named one.
    pub fn graph(&self) -> Option<Graph> {
        self.current().and_then(|l| l.graph.clone())
    }

    /// Validate an ID token; an unknown `kid` triggers one (rate-limited) key refetch.
    async fn validate_id_token(
        &self,
        token: &str,
        metadata: &Metadata,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<Claims, OidcError> {
        let expected = id_token::Expected {
            client_id: &self.client_id,
            issuer: &metadata.issuer,
            nonce,
            now,
        };
        match id_token::validate(token, &self.keys.snapshot(), &expected) {
            Err(TokenError::UnknownKey(kid)) => {
                self.refetch_for_unknown_kid(&self.keys, &metadata.jwks_uri)
                    .await;
                match id_token::validate(token, &self.keys.snapshot(), &expected) {
                    Err(TokenError::UnknownKey(_)) => Err(TokenError::UnknownKey(kid).into()),
                    other => Ok(other?),
                }
            }
            other => Ok(other?),
        }
    }

    /// Validate a bearer access token for this app's API (`audiences`), cached by token hash.
    pub async fn validate_bearer(
        &self,
        token: &str,
        audiences: &[String],
        now: i64,
    ) -> Result<Identity, BearerError> {
        let key = bearer::Cache::key(token);
        if let Some(identity) = self.bearer_cache.get(&key, now) {
            return Ok(identity);
        }
        let metadata = self.metadata().ok_or(BearerError::NoV1Metadata)?;
        let v1 = self.v1.read().ok().and_then(|g| g.clone());
        let version = bearer::version(token)?;
        let (cache, jwks_uri) = match (version, &v1) {
            (bearer::Version::V2, _) => (&self.keys, metadata.jwks_uri.clone()),
            (bearer::Version::V1, Some(v1)) => (&self.keys_v1, v1.jwks_uri.clone()),
            (bearer::Version::V1, None) => return Err(BearerError::NoV1Metadata),
        };
        let expected = bearer::Expected {
            audiences,
            issuer_v2: &metadata.issuer,
            issuer_v1: v1.as_ref().map(|v| v.issuer.as_str()),
            now,
        };
        let result = match bearer::validate(token, &cache.snapshot(), &expected) {
            Err(BearerError::UnknownKey(_)) => {
                self.refetch_for_unknown_kid(cache, &jwks_uri).await;
                bearer::validate(token, &cache.snapshot(), &expected)
            }
            other => other,
        };
        let (identity, exp) = result?;
        self.bearer_cache.put(key, identity.clone(), exp, now);
        Ok(identity)
    }

    /// Refetch a JWKS because a token named a key we do not know: keys may have rolled.
    /// Single-flight and rate-limited; on failure the last good keys stay.
    async fn refetch_for_unknown_kid(&self, cache: &KeyCache, jwks_uri: &Url) {
        let mut last = cache.forced_refetch.lock().await;
        let interval = if cache.snapshot().is_empty() {
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
                cache.store(keys);
            }
            Err(error) => {
                tracing::warn!(%error, "signing key refetch failed; keeping the last good keys")
            }
        }
    }

    /// Where to send the browser to sign out at the provider, if it has such an endpoint.
    pub fn end_session_url(
        &self,
        post_logout_redirect_uri: &str,
        logout_hint: Option<&str>,
    ) -> Option<Url> {
        let metadata = self.metadata()?;
        let mut url = metadata.end_session_endpoint.clone()?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
                .append_pair("client_id", &self.client_id);
            if let Some(hint) = logout_hint {
                query.append_pair("logout_hint", hint);
            }
        }
        Some(url)
    }

    /// `scheme://host[:port]` of the authority: who may frame the front-channel logout page.
    pub fn authority_origin(&self) -> String {
        self.discovery_url.origin().ascii_serialization()
    }
}
