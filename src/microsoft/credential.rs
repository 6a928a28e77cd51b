//! How the app proves it is itself on a token request (MICROSOFT.md D.2, D.4, D.5): a client
//! secret, a certificate (a PS256 client assertion naming the certificate by `x5t#S256`), or a
//! federated token file (Azure Workload Identity; the file is read afresh for every request).
//!
//! Must not: print a secret, a key or an assertion (`Debug` is redacted, errors name files and
//! reasons only), or cache the federated token.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rand::RngCore as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_cert::der::Decode as _;
use x509_cert::Certificate;

use crate::secret::Secret;

/// The only `client_assertion_type` Microsoft accepts.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Lifetime of a certificate assertion: Microsoft's documented 5 minutes.
const ASSERTION_LIFETIME_SECS: i64 = 300;
/// `rsaEncryption`: the only key type Microsoft accepts for certificate credentials.
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const BEGIN_CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----";
const END_CERTIFICATE: &str = "-----END CERTIFICATE-----";
/// Signed with the key and verified with the certificate at load: proves they belong together.
const PROBE: &[u8] = b"entrance: does this key belong to the certificate?";

/// The app's client credential. `Debug` never shows the secret or the key.
#[derive(Clone)]
pub enum ClientCredential {
    /// `client_secret` (client_secret_post).
    Secret(Secret<String>),
    /// A certificate registered on the app, and its RSA private key.
    Certificate {
        /// Base64url SHA-256 of the certificate's DER: the assertion header's `x5t#S256`.
        thumbprint_s256: String,
        /// The certificate's RSA private key (checked at load to match the certificate).
        key: EncodingKey,
    },
    /// A file holding a token of a trusted external issuer (Kubernetes service account token),
    /// re-read for every token request because the kubelet rotates it.
    FederatedTokenFile(PathBuf),
}

/// Why a credential could not be loaded or used. Names files and reasons, never key material.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The certificate PEM is unusable (the config names `cert_file`).
    #[error("{0}")]
    Certificate(String),
    /// The private key PEM is unusable (the config names `key_file`).
    #[error("{0}")]
    Key(String),
    /// Signing the client assertion failed.
    #[error("cannot sign the client assertion: {0}")]
    Sign(String),
    /// The federated token file could not be read, or is empty.
    #[error("federated token file {}: {reason}", path.display())]
    FederatedToken { path: PathBuf, reason: String },
}

/// Claims of a certificate client assertion (D.4).
#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

impl ClientCredential {
    /// A certificate credential from the certificate PEM (the first `CERTIFICATE` block is
    /// used, so a file with the chain after it works) and its RSA private key PEM (PKCS#1 or
    /// PKCS#8). Checks that the certificate is an X.509 certificate with an RSA key and that the
    /// private key belongs to it.
    pub fn certificate(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, CredentialError> {
        let der = first_certificate_der(cert_pem).map_err(CredentialError::Certificate)?;
        let public = certificate_public_key(&der).map_err(CredentialError::Certificate)?;
        // Deliberately no detail from jsonwebtoken's error: it could describe the key's content.
        let key = EncodingKey::from_rsa_pem(key_pem).map_err(|_| {
            CredentialError::Key(
                "is not an RSA private key in PEM (expected -----BEGIN RSA PRIVATE KEY----- or \
                 -----BEGIN PRIVATE KEY----- with an RSA key)"
                    .to_owned(),
            )
        })?;
        // EncodingKey only stores the DER; signing is what parses it (and what refuses keys
        // shorter than 2048 bits).
        let signature =
            jsonwebtoken::crypto::sign(PROBE, &key, Algorithm::PS256).map_err(|_| {
                CredentialError::Key(
                    "is not a usable RSA private key (RSA keys of 2048 bits or more are accepted)"
                        .to_owned(),
                )
            })?;
        let matches = jsonwebtoken::crypto::verify(&signature, PROBE, &public, Algorithm::PS256)
            .unwrap_or(false);
        if !matches {
            return Err(CredentialError::Key(
                "does not belong to the certificate (its public key differs from the \
                 certificate's)"
                    .to_owned(),
            ));
        }
        Ok(ClientCredential::Certificate {
            thumbprint_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
            key,
        })
    }

    /// The form parameters that authenticate the client on a token request to
    /// `token_endpoint` at `now` (unix seconds): `client_secret`, or `client_assertion_type` +
    /// `client_assertion`. A certificate assertion is new for every call (fresh `jti`); the
    /// federated token file is read again on every call.
    pub fn token_params(
        &self,
        client_id: &str,
        token_endpoint: &str,
        now: i64,
    ) -> Result<Vec<(&'static str, String)>, CredentialError> {
        let assertion = match self {
            ClientCredential::Secret(secret) => {
                return Ok(vec![("client_secret", secret.expose().clone())]);
            }
            ClientCredential::Certificate {
                thumbprint_s256,
                key,
            } => certificate_assertion(thumbprint_s256, key, client_id, token_endpoint, now)?,
            ClientCredential::FederatedTokenFile(path) => read_federated_token(path)?,
        };
        Ok(vec![
            ("client_assertion_type", JWT_BEARER.to_owned()),
            ("client_assertion", assertion),
        ])
    }

    /// What kind of credential this is, for logs and `entrance check`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientCredential::Secret(_) => "client secret",
            ClientCredential::Certificate { .. } => "client certificate",
            ClientCredential::FederatedTokenFile(_) => "federated token",
        }
    }
}

impl fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientCredential::Secret(secret) => f.debug_tuple("Secret").field(secret).finish(),
            // The thumbprint is public (it is sent in every assertion header); the key is not.
            ClientCredential::Certificate {
                thumbprint_s256, ..
            } => f
                .debug_struct("Certificate")
                .field("thumbprint_s256", thumbprint_s256)
                .field("key", &"***")
                .finish(),
            ClientCredential::FederatedTokenFile(path) => {
                f.debug_tuple("FederatedTokenFile").field(path).finish()
            }
        }
    }
}

/// A PS256 client assertion (D.4): `x5t#S256` header, `aud` = the token endpoint exactly,
/// `iss` = `sub` = client id, five minutes of validity.
fn certificate_assertion(
    thumbprint_s256: &str,
    key: &EncodingKey,
    client_id: &str,
    token_endpoint: &str,
    now: i64,
) -> Result<String, CredentialError> {
    let mut header = Header::new(Algorithm::PS256);
    header.typ = Some("JWT".to_owned());
    header.x5t_s256 = Some(thumbprint_s256.to_owned());
    let claims = AssertionClaims {
        aud: token_endpoint,
        iss: client_id,
        sub: client_id,
        jti: random_uuid(),
        nbf: now,
        iat: now,
        exp: now.saturating_add(ASSERTION_LIFETIME_SECS),
    };
    jsonwebtoken::encode(&header, &claims, key).map_err(|e| CredentialError::Sign(e.to_string()))
}

/// The federated token, read now (never cached: the kubelet rotates the file).
fn read_federated_token(path: &Path) -> Result<String, CredentialError> {
    let error = |reason: String| CredentialError::FederatedToken {
        path: path.to_owned(),
        reason,
    };
    let content =
        std::fs::read_to_string(path).map_err(|e| error(format!("cannot read it: {e}")))?;
    let token = content.trim();
    if token.is_empty() {
        return Err(error("the file is empty".to_owned()));
    }
    Ok(token.to_owned())
}

/// The DER of the first `CERTIFICATE` block. Strict: only base64 and whitespace between the
/// markers (no RFC 1421 headers), padding as base64 requires.
fn first_certificate_der(pem: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "is not a PEM text file".to_owned())?;
    let start = text
        .find(BEGIN_CERTIFICATE)
        .ok_or_else(|| format!("has no {BEGIN_CERTIFICATE} block"))?;
    let body = &text[start + BEGIN_CERTIFICATE.len()..];
    let end = body
        .find(END_CERTIFICATE)
        .ok_or_else(|| format!("has no {END_CERTIFICATE} after {BEGIN_CERTIFICATE}"))?;
    let base64: String = body[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if base64.is_empty() {
        return Err("the CERTIFICATE block is empty".to_owned());
    }
    STANDARD
        .decode(base64)
        .map_err(|_| "the CERTIFICATE block is not valid base64".to_owned())
}

/// The RSA public key of a DER certificate, to check the private key against.
fn certificate_public_key(der: &[u8]) -> Result<DecodingKey, String> {
    let cert = Certificate::from_der(der)
        .map_err(|e| format!("the CERTIFICATE block is not an X.509 certificate ({e})"))?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid.to_string() != RSA_ENCRYPTION {
        return Err(format!(
            "the certificate's key is not RSA (algorithm {}); Microsoft accepts RSA certificates \
             only",
            spki.algorithm.oid
        ));
    }
    // For rsaEncryption the subjectPublicKey bits are the PKCS#1 RSAPublicKey DER.
    let pkcs1 = spki
        .subject_public_key
        .as_bytes()
        .ok_or("the certificate's public key is malformed")?;
    Ok(DecodingKey::from_rsa_der(pkcs1))
}

/// A random (version 4) UUID in its usual text form, for `jti`.
fn random_uuid() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
#[path = "credential_tests.rs"]
mod tests;
