//! ID-token validation: pure, given the key set, what to expect, and `now`.
//!
//! Order matters: the header is checked before any key is used, the signature before any claim
//! is trusted, and the issuer rule follows Microsoft's multi-tenant recipe (MICROSOFT.md B.3).

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::discovery::TENANT_PLACEHOLDER;
use super::keys::KeySet;
pub use crate::names::is_guid;

/// Allowed clock difference between entrance and the provider.
pub const MAX_SKEW_SECS: i64 = 300;

/// What a valid ID token must say.
pub struct Expected<'a> {
    pub client_id: &'a str,
    /// Exact issuer, or a `{tenantid}` template.
    pub issuer: &'a str,
    /// The attempt's nonce at sign-in; `None` for a refreshed ID token (it has none).
    pub nonce: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

/// The claims entrance reads from a validated ID token.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub tid: Option<String>,
    #[serde(default)]
    pub oid: Option<String>,
    pub sub: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub sid: Option<String>,
    /// Optional claim: the value `logout_hint` takes at sign-out (skips the account picker).
    #[serde(default)]
    pub login_hint: Option<String>,
    /// Distributed claims: `{"groups": "src1"}` when the groups did not fit (overage).
    #[serde(default, rename = "_claim_names")]
    pub claim_names: Option<serde_json::Value>,
    /// Implicit-flow overage marker.
    #[serde(default)]
    pub hasgroups: Option<bool>,
}

impl Claims {
    /// The token says the user's groups did not fit: they must be read from Microsoft Graph.
    pub fn groups_overage(&self) -> bool {
        self.hasgroups == Some(true)
            || self
                .claim_names
                .as_ref()
                .is_some_and(|names| names.get("groups").is_some())
    }
}

/// Why an ID token was refused. Each names one check, for logs and metrics.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the ID token is not a well-formed JWT")]
    Malformed,
    #[error("the ID token uses algorithm {0}; only RS256 is accepted")]
    Algorithm(String),
    #[error("the ID token has no key id (kid)")]
    NoKeyId,
    #[error("the ID token is signed with key {0}, which the provider does not publish")]
    UnknownKey(String),
    #[error("the ID token signature is invalid")]
    Signature,
    #[error("the ID token is for another application (aud)")]
    Audience,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the ID token lacks the {0} claim")]
    MissingClaim(&'static str),
    #[error("the ID token's tenant id (tid) is not a GUID")]
    TenantId,
    #[error("the ID token's issuer does not match the provider")]
    Issuer,
    #[error("the signing key may not sign for this issuer")]
    KeyIssuer,
    #[error("the ID token's nonce does not match this sign-in attempt")]
    Nonce,
}

/// Validate `token` fully and return its claims.
pub fn validate(token: &str, keys: &KeySet, expected: &Expected<'_>) -> Result<Claims, TokenError> {
    // The algorithm is read first, as text, so `none` and HMAC tokens are refused by name
    // before any key is touched (jsonwebtoken cannot even parse `none`).
    match declared_alg(token) {
        Some(alg) if alg == "RS256" => {}
        Some(alg) => return Err(TokenError::Algorithm(alg)),
        None => return Err(TokenError::Malformed),
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != Algorithm::RS256 {
        return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
    }
    let kid = header.kid.ok_or(TokenError::NoKeyId)?;
    let key = keys
        .get(&kid)
        .ok_or_else(|| TokenError::UnknownKey(kid.clone()))?;

    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[expected.client_id]);
    // Time is checked below against the injected `now`, so tests need no real clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::InvalidSignature => TokenError::Signature,
            K::InvalidAudience => TokenError::Audience,
            K::MissingRequiredClaim(c) if c == "aud" => TokenError::Audience,
            K::MissingRequiredClaim(c) if c == "iss" => TokenError::MissingClaim("iss"),
            K::MissingRequiredClaim(c) if c == "exp" => TokenError::MissingClaim("exp"),
            K::MissingRequiredClaim(_) => TokenError::MissingClaim("sub"),
            _ => TokenError::Malformed,
        }
    })?;
    let claims = data.claims;

    if expected.now > claims.exp + MAX_SKEW_SECS {
        return Err(TokenError::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > expected.now + MAX_SKEW_SECS)
    {
        return Err(TokenError::NotYetValid);
    }

    let tid = claims
        .tid
        .as_deref()
        .ok_or(TokenError::MissingClaim("tid"))?;
    if !is_guid(tid) {
        return Err(TokenError::TenantId);
    }
    let issuer = expected_issuer(expected.issuer, tid);
    if claims.iss != issuer {
        return Err(TokenError::Issuer);
    }
    if let Some(key_issuer) = &key.issuer {
        if expected_issuer(key_issuer, tid) != claims.iss {
            return Err(TokenError::KeyIssuer);
        }
    }

    // Sign-in: the nonce must be there and match the attempt. Refresh: Microsoft's refreshed
    // ID tokens carry no nonce, and there is no attempt to match.
    if let Some(want) = expected.nonce {
        let nonce = claims
            .nonce
            .as_deref()
            .ok_or(TokenError::MissingClaim("nonce"))?;
        if !constant_time_eq(nonce.as_bytes(), want.as_bytes()) {
            return Err(TokenError::Nonce);
        }
    }
    if claims.oid.is_none() {
        return Err(TokenError::MissingClaim("oid"));
    }
    Ok(claims)
}

/// The `alg` a JWT's header declares, if the header decodes.
pub(crate) fn declared_alg(token: &str) -> Option<String> {
    use base64::Engine;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    // Bound what reaches logs: an attacker chooses this string.
    Some(value.get("alg")?.as_str()?.chars().take(16).collect())
}

/// The issuer a token of tenant `tid` must carry: the template with `{tenantid}` replaced, or
/// the exact issuer when it is not a template.
pub fn expected_issuer(issuer: &str, tid: &str) -> String {
    issuer.replace(TENANT_PLACEHOLDER, tid)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
#[path = "id_token_tests.rs"]
mod tests;
