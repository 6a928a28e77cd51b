//! API callers: `Authorization: Bearer <access token>` for this app's own API.
//!
//! Only tokens whose audience is this app are validated; tokens for other resources (Microsoft
//! Graph above all, whose signatures cannot be checked by design) are refused without trying.
//! v1 tokens (`ver: 1.0`, `https://sts.windows.net/{tid}/`) are checked against the v1 metadata,
//! v2 tokens against v2; both become the same [`Identity`]. Validation is pure; the cache and
//! the key refetch live in the gateway's provider.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::header::AUTHORIZATION;
use http::HeaderMap;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::identity::{ApiCaller, Identity};
use crate::oidc::id_token::{declared_alg, expected_issuer, is_guid, MAX_SKEW_SECS};
use crate::oidc::keys::KeySet;

/// How many validated tokens the cache keeps before it starts evicting.
const CACHE_CAPACITY: usize = 10_000;

/// Token versions Microsoft issues; they differ in issuer, metadata and claim names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// What a valid access token for this API must say.
pub struct Expected<'a> {
    /// Accepted `aud` values: the client id, `api://{client id}`, and `api.audiences`.
    pub audiences: &'a [String],
    /// v2 issuer (exact or `{tenantid}` template) from the v2 discovery document.
    pub issuer_v2: &'a str,
    /// v1 issuer from the v1 discovery document, when loaded.
    pub issuer_v1: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

/// Why a bearer token was refused; the message goes into `WWW-Authenticate` (no token text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("the access token is not a well-formed JWT")]
    Malformed,
    #[error("the access token is for another resource")]
    Audience,
    #[error("the access token uses an unsupported algorithm")]
    Algorithm,
    #[error("the access token is signed with an unknown key")]
    UnknownKey(Version),
    #[error("the access token signature is invalid")]
    Signature,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid yet")]
    NotYetValid,
    #[error("the access token lacks the {0} claim")]
    MissingClaim(&'static str),
    #[error("the access token's issuer is not the configured provider")]
    Issuer,
    #[error("v1 access tokens are not accepted until the v1 metadata is loaded")]
    NoV1Metadata,
}

#[derive(Deserialize)]
struct Peek {
    #[serde(default)]
    ver: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    upn: Option<String>,
    #[serde(default)]
    unique_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    scp: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    idtyp: Option<String>,
}

/// The bearer token in `Authorization`, if the header holds one.
pub fn token_from(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The token's version, read from its (unverified) payload to pick the metadata to check it
/// against; `ver` missing means v1, as in Microsoft's oldest tokens.
pub fn version(token: &str) -> Result<Version, BearerError> {
    let peek = peek(token)?;
    Ok(match peek.ver.as_deref() {
        Some("2.0") => Version::V2,
        _ => Version::V1,
    })
}

fn peek(token: &str) -> Result<Peek, BearerError> {
    let payload = token.split('.').nth(1).ok_or(BearerError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| BearerError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| BearerError::Malformed)
}

/// Validate an access token with the key set of its version; returns the caller's identity and
/// the token's expiry.
pub fn validate(
    token: &str,
    keys: &KeySet,
    expected: &Expected<'_>,
) -> Result<(Identity, i64), BearerError> {
    let peek = peek(token)?;
    // Refuse other resources' tokens before touching signatures: a Graph token cannot be
    // verified by anyone but Graph, and must never be "validated" here.
    let aud_ok = match &peek.aud {
        Some(serde_json::Value::String(aud)) => expected.audiences.iter().any(|a| a == aud),
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|v| {
            v.as_str()
                .is_some_and(|aud| expected.audiences.iter().any(|a| a == aud))
        }),
        _ => false,
    };
    if !aud_ok {
        return Err(BearerError::Audience);
    }
    let version = match peek.ver.as_deref() {
        Some("2.0") => Version::V2,
        _ => Version::V1,
    };
    let issuer_template = match version {
        Version::V2 => expected.issuer_v2,
        Version::V1 => expected.issuer_v1.ok_or(BearerError::NoV1Metadata)?,
    };
    if declared_alg(token).as_deref() != Some("RS256") {
        return Err(BearerError::Algorithm);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| BearerError::Malformed)?;
    let kid = header.kid.ok_or(BearerError::MissingClaim("kid"))?;
    let key = keys.get(&kid).ok_or(BearerError::UnknownKey(version))?;

    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(expected.audiences);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => BearerError::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAudience => BearerError::Audience,
            _ => BearerError::Malformed,
        })?
        .claims;

    if expected.now > claims.exp + MAX_SKEW_SECS {
        return Err(BearerError::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > expected.now + MAX_SKEW_SECS)
    {
        return Err(BearerError::NotYetValid);
    }
    let tid = claims.tid.clone().ok_or(BearerError::MissingClaim("tid"))?;
    if !is_guid(&tid) {
        return Err(BearerError::Issuer);
    }
    if claims.iss != expected_issuer(issuer_template, &tid) {
        return Err(BearerError::Issuer);
    }
    if let Some(key_issuer) = &key.issuer {
        if expected_issuer(key_issuer, &tid) != claims.iss {
            return Err(BearerError::Issuer);
        }
    }
    let exp = claims.exp;
    Ok((identity(claims, tid)?, exp))
}

fn identity(claims: Claims, tid: String) -> Result<Identity, BearerError> {
    let client_id = claims
        .azp
        .or(claims.appid)
        .ok_or(BearerError::MissingClaim("azp"))?;
    let scopes: Vec<String> = claims
        .scp
        .as_deref()
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    // Microsoft marks app-only tokens with idtyp=app when asked to; without it, a token with no
    // delegated scopes is an application acting as itself.
    let app_only = claims.idtyp.as_deref() == Some("app") || claims.scp.is_none();
    let oid = claims.oid.ok_or(BearerError::MissingClaim("oid"))?;
    let sub = claims.sub.unwrap_or_else(|| oid.clone());
    let preferred_username = claims
        .preferred_username
        .or(claims.upn)
        .or(claims.unique_name);
    Ok(Identity {
        oid,
        tid,
        sub,
        name: claims.name,
        preferred_username: if app_only { None } else { preferred_username },
        email: if app_only { None } else { claims.email },
        groups: claims.groups,
        roles: claims.roles,
        caller: Some(ApiCaller {
            client_id,
            scopes,
            app_only,
        }),
    })
}

/// Validated tokens by SHA-256 of the token, until they expire, so a busy API pays the
/// signature check once per token. Bounded; only successes are cached.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<[u8; 32], (Identity, i64)>>,
}

impl Cache {
    pub fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    pub fn get(&self, key: &[u8; 32], now: i64) -> Option<Identity> {
        let entries = self.entries.lock().ok()?;
        let (identity, exp) = entries.get(key)?;
        (now <= exp + MAX_SKEW_SECS).then(|| identity.clone())
    }

    pub fn put(&self, key: [u8; 32], identity: Identity, exp: i64, now: i64) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= CACHE_CAPACITY {
            entries.retain(|_, (_, e)| now <= *e + MAX_SKEW_SECS);
            if entries.len() >= CACHE_CAPACITY {
                // Still full of live tokens: start over rather than grow without bound.
                entries.clear();
            }
        }
        entries.insert(key, (identity, exp));
    }
}

#[cfg(test)]
#[path = "bearer_tests.rs"]
mod tests;
