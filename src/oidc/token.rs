//! The token endpoint: redeeming an authorization code, and the client-credentials grant used by
//! `entrance check`. Client authentication is added per request as form parameters (a secret,
//! or a client assertion), so every credential kind goes through the same code.

use std::fmt;
use std::time::Duration;

use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::{Metadata, OidcError};
use crate::secret::Secret;

/// Microsoft's token error body: OAuth's fields plus `error_codes` (AADSTS numbers).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MicrosoftError {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<u32>,
}

impl fmt::Display for MicrosoftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error)
    }
}

impl oauth2::ErrorResponse for MicrosoftError {}

/// Extra token-response field: the ID token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default)]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// The OAuth client for one discovery document: authorize and token endpoints set.
pub type OAuthClient = oauth2::Client<
    MicrosoftError,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    MicrosoftErrorRevocation,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;
type MicrosoftErrorRevocation = BasicRevocationErrorResponse;

/// What a token call returned, minus what entrance does not keep.
pub struct Tokens {
    pub id_token: Option<String>,
    /// For Microsoft Graph when only OpenID scopes were asked (groups overage).
    pub access_token: Secret<String>,
    pub expires_in: Option<Duration>,
    /// With `offline_access`. Microsoft rotates them: each refresh returns a new one.
    pub refresh_token: Option<Secret<String>>,
}

/// Build the OAuth client for `metadata`. No secret is set here: [`redeem_code`] and
/// [`client_credentials`] add the client's authentication parameters themselves.
pub fn oauth_client(
    metadata: &Metadata,
    client_id: &str,
    redirect_uri: &RedirectUrl,
) -> OAuthClient {
    oauth2::Client::new(ClientId::new(client_id.to_owned()))
        // Parameters in the body (client_secret_post / client assertions), as Microsoft documents.
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::from_url(metadata.authorization_endpoint.clone()))
        .set_token_uri(TokenUrl::from_url(metadata.token_endpoint.clone()))
        .set_redirect_uri(redirect_uri.clone())
}

/// Client authentication parameters for one token call (`client_secret`, or
/// `client_assertion_type` + `client_assertion`).
pub type AuthParams = Vec<(&'static str, String)>;

/// Redeem an authorization code (with its PKCE verifier).
pub async fn redeem_code(
    client: &OAuthClient,
    http: &reqwest::Client,
    code: &str,
    verifier: &str,
    auth: AuthParams,
) -> Result<Tokens, OidcError> {
    let mut request = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()));
    for (name, value) in auth {
        request = request.add_extra_param(name, value);
    }
    let response = request.request_async(http).await.map_err(token_error)?;
    Ok(tokens(response))
}

/// The refresh-token grant: new tokens for a signed-in user, without the browser.
pub async fn refresh(
    client: &OAuthClient,
    http: &reqwest::Client,
    refresh_token: &str,
    scopes: &[String],
    auth: AuthParams,
) -> Result<Tokens, OidcError> {
    let token = RefreshToken::new(refresh_token.to_owned());
    let mut request = client.exchange_refresh_token(&token);
    for scope in scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    for (name, value) in auth {
        request = request.add_extra_param(name, value);
    }
    let response = request.request_async(http).await.map_err(token_error)?;
    Ok(tokens(response))
}

/// The client-credentials grant for `scope` (e.g. `{client_id}/.default`): proves the
/// credential works without a user.
pub async fn client_credentials(
    client: &OAuthClient,
    http: &reqwest::Client,
    scope: &str,
    auth: AuthParams,
) -> Result<Tokens, OidcError> {
    let mut request = client
        .exchange_client_credentials()
        .add_scope(Scope::new(scope.to_owned()));
    for (name, value) in auth {
        request = request.add_extra_param(name, value);
    }
    let response = request.request_async(http).await.map_err(token_error)?;
    Ok(tokens(response))
}

fn tokens(response: TokenResponse) -> Tokens {
    Tokens {
        id_token: response.extra_fields().id_token.clone(),
        access_token: Secret::new(response.access_token().secret().clone()),
        expires_in: response.expires_in(),
        refresh_token: response
            .refresh_token()
            .map(|t| Secret::new(t.secret().clone())),
    }
}

fn token_error(
    error: RequestTokenError<oauth2::HttpClientError<reqwest::Error>, MicrosoftError>,
) -> OidcError {
    match error {
        RequestTokenError::ServerResponse(response) => OidcError::TokenRejected {
            error: response.error,
            codes: response.error_codes,
            description: response.error_description,
        },
        RequestTokenError::Request(e) => OidcError::TokenUnreachable(match &e {
            oauth2::HttpClientError::Reqwest(inner) => super::describe_reqwest(inner),
            other => other.to_string(),
        }),
        RequestTokenError::Parse(e, _) => OidcError::TokenUnreadable(e.to_string()),
        RequestTokenError::Other(e) => OidcError::TokenUnreadable(e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn microsoft_error_bodies_keep_their_codes() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215],"timestamp":"2026-01-01 00:00:00Z","trace_id":"t","correlation_id":"c","error_uri":"https://login.microsoftonline.com/error?code=7000215"}"#;
        let e: MicrosoftError = serde_json::from_str(body).unwrap();
        assert_eq!(e.error, "invalid_client");
        assert_eq!(e.error_codes, vec![7000215]);
        // A plain OAuth error body (no codes) parses too.
        let e: MicrosoftError = serde_json::from_str(r#"{"error":"invalid_grant"}"#).unwrap();
        assert!(e.error_codes.is_empty());
    }
}
