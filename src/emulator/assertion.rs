//! Client assertions (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`):
//! JWTs signed with a registered certificate's key (`iss` = `sub` = client id), and tokens of a
//! trusted external issuer (workload identity federation), checked as Microsoft does.
//!
//! Codes: AADSTS50027 malformed or wrong `aud`, AADSTS700021 `sub` is not the client,
//! AADSTS700027 unknown key or bad signature, AADSTS700024 outside its time range,
//! AADSTS70021 no matching federated credential, and AADSTS7000274 (the emulator's choice) for
//! a certificate assertion whose `jti` was already used. All are `invalid_client`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::certificate::ClientCertificate;
use super::config::{AppConfig, FederatedCredential};
use super::protocol::AadError;

/// The only `client_assertion_type` Microsoft accepts.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew allowed on `exp` and `nbf` (Microsoft's validators default to five minutes).
const SKEW_SECS: i64 = 300;

/// Which kind of assertion authenticated the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssertionKind {
    Certificate,
    Federated,
}

/// Parse an inline JWKS; every key must be usable for verification.
pub(crate) fn jwk_set(value: &Value) -> Result<JwkSet, String> {
    let set: JwkSet =
        serde_json::from_value(value.clone()).map_err(|e| format!("not a JWKS ({e})"))?;
    if set.keys.is_empty() {
        return Err("has no keys".to_string());
    }
    for (i, key) in set.keys.iter().enumerate() {
        DecodingKey::from_jwk(key).map_err(|e| format!("keys[{i}] is not usable ({e})"))?;
    }
    Ok(set)
}

/// Certificate-assertion `jti`s already used, with their `exp`, so a replay is refused while
/// the original could still be valid. Federated tokens are not tracked: a workload presents the
/// same projected token many times until the kubelet rotates it, and Microsoft accepts that.
#[derive(Default)]
pub(crate) struct SeenAssertions {
    jtis: Mutex<HashMap<String, i64>>,
}

impl SeenAssertions {
    /// Record a use; `false` if this key was already used.
    pub fn first_use(&self, key: String, exp: i64, now: i64) -> bool {
        let mut jtis = match self.jtis.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        jtis.retain(|_, e| *e + SKEW_SECS >= now);
        jtis.insert(key, exp).is_none()
    }
}

/// What an assertion is checked against.
pub(crate) struct AssertionCheck<'a> {
    pub app: &'a AppConfig,
    /// Is this `aud` the token endpoint the request came to?
    pub audience_ok: &'a dyn Fn(&str) -> bool,
    /// Unix seconds.
    pub now: i64,
    pub seen: &'a SeenAssertions,
}

fn invalid(code: u32, message: impl Into<String>) -> AadError {
    AadError::new("invalid_client", code, message)
}

fn malformed(detail: &str) -> AadError {
    invalid(
        50027,
        format!("JWT token is invalid or malformed. ({detail})"),
    )
}

fn bad_signature(reason: &str) -> AadError {
    invalid(
        700027,
        format!("Client assertion contains an invalid signature. [Reason - {reason}]"),
    )
}

/// Verify an assertion for `check.app`. An `iss` equal to the client id is a certificate
/// assertion; any other `iss` must be a federated credential's issuer.
pub(crate) fn verify(
    check: &AssertionCheck<'_>,
    assertion: &str,
) -> Result<AssertionKind, AadError> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|e| malformed(&format!("the assertion header cannot be read: {e}")))?;
    let claims = unverified_claims(assertion)?;
    let iss = string_claim(&claims, "iss").ok_or_else(|| malformed("iss is missing"))?;
    if iss.eq_ignore_ascii_case(&check.app.client_id) {
        verify_certificate(check, assertion, &header, &claims)?;
        Ok(AssertionKind::Certificate)
    } else {
        verify_federated(check, assertion, &header, &claims, iss)?;
        Ok(AssertionKind::Federated)
    }
}

fn verify_certificate(
    check: &AssertionCheck<'_>,
    assertion: &str,
    header: &jsonwebtoken::Header,
    claims: &Map<String, Value>,
) -> Result<(), AadError> {
    let client_id = &check.app.client_id;
    if !string_claim(claims, "sub").is_some_and(|s| s.eq_ignore_ascii_case(client_id)) {
        return Err(invalid(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. \
             (iss and sub must both be the client id)",
        ));
    }
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(bad_signature(&format!(
            "The algorithm {:?} is not supported; use PS256 or RS256.",
            header.alg
        )));
    }
    let (s256, sha1) = (header.x5t_s256.as_deref(), header.x5t.as_deref());
    let thumbprint = s256.or(sha1).unwrap_or("");
    let cert = check
        .app
        .certificates
        .iter()
        .filter_map(|pem| ClientCertificate::from_pem(pem).ok())
        .find(|c| c.named_by(s256, sha1))
        .ok_or_else(|| {
            bad_signature(&format!(
                "The key was not found., Thumbprint of key used by client: '{thumbprint}', \
                 Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see \
                 configured keys for app Id '{client_id}'."
            ))
        })?;
    verify_signature(assertion, &cert.key, header.alg)
        .map_err(|e| bad_signature(&format!("Signature validation failed: {e}")))?;
    let audiences = audience_claim(claims);
    if !audiences.iter().any(|a| (check.audience_ok)(a)) {
        return Err(malformed(&format!(
            "the audience {audiences:?} is not this token endpoint"
        )));
    }
    let exp = check_time(claims, check.now)?;
    let jti = string_claim(claims, "jti").ok_or_else(|| malformed("jti is missing"))?;
    if !check
        .seen
        .first_use(format!("{client_id}:{jti}"), exp, check.now)
    {
        return Err(invalid(
            7000274,
            format!(
                "The client assertion with jti '{jti}' was already used (replayed assertion). \
                 Create a new assertion, with a new jti, for every token request."
            ),
        ));
    }
    Ok(())
}

fn verify_federated(
    check: &AssertionCheck<'_>,
    assertion: &str,
    header: &jsonwebtoken::Header,
    claims: &Map<String, Value>,
    iss: &str,
) -> Result<(), AadError> {
    let sub = string_claim(claims, "sub").unwrap_or("");
    let audiences = audience_claim(claims);
    let no_match = || {
        invalid(
            70021,
            format!(
                "No matching federated identity record found for presented assertion. \
                 Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: \
                 '{}'.",
                audiences.join(",")
            ),
        )
    };
    let candidates: Vec<&FederatedCredential> = check
        .app
        .federated_credentials
        .iter()
        .filter(|f| f.issuer == iss)
        .collect();
    if candidates.is_empty() {
        return Err(no_match());
    }
    if matches!(
        header.alg,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return Err(bad_signature("Symmetric algorithms are not accepted."));
    }
    let verified = candidates.iter().any(|f| {
        let Ok(set) = jwk_set(&f.jwks) else {
            return false;
        };
        let jwk = match header.kid.as_deref() {
            Some(kid) => set.find(kid),
            None if set.keys.len() == 1 => set.keys.first(),
            None => None,
        };
        jwk.and_then(|k| DecodingKey::from_jwk(k).ok())
            .is_some_and(|key| verify_signature(assertion, &key, header.alg).is_ok())
    });
    if !verified {
        return Err(bad_signature(&format!(
            "No key of issuer '{iss}' with kid '{}' verifies the assertion.",
            header.kid.as_deref().unwrap_or("")
        )));
    }
    check_time(claims, check.now)?;
    let matched = candidates
        .iter()
        .any(|f| f.subject == sub && audiences.iter().any(|a| f.audiences.iter().any(|x| x == a)));
    if matched {
        Ok(())
    } else {
        Err(no_match())
    }
}

/// Signature only: claims are checked by hand so each failure gets Microsoft's own code.
fn verify_signature(
    assertion: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<(), jsonwebtoken::errors::Error> {
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    jsonwebtoken::decode::<Map<String, Value>>(assertion, key, &validation).map(|_| ())
}

/// `exp` (required) and `nbf` (optional) against `now`, with skew; returns `exp`.
fn check_time(claims: &Map<String, Value>, now: i64) -> Result<i64, AadError> {
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| malformed("exp is missing"))?;
    let nbf = claims.get("nbf").and_then(Value::as_i64);
    if exp + SKEW_SECS < now || nbf.is_some_and(|n| n - SKEW_SECS > now) {
        return Err(invalid(
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {now}, \
                 assertion valid from {}, expiry time of assertion {exp}.",
                nbf.map(|n| n.to_string())
                    .unwrap_or_else(|| "-".to_string())
            ),
        ));
    }
    Ok(exp)
}

/// The payload before any check, to learn which kind of assertion it is.
fn unverified_claims(jwt: &str) -> Result<Map<String, Value>, AadError> {
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| malformed("not a JWT"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed("the payload is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| malformed("the payload is not a JSON object"))
}

fn string_claim<'c>(claims: &'c Map<String, Value>, name: &str) -> Option<&'c str> {
    claims.get(name).and_then(Value::as_str)
}

/// `aud` as a list (a JWT may carry one string or an array).
fn audience_claim(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[path = "assertion_tests.rs"]
mod tests;
