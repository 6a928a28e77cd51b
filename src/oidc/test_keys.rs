//! RSA keys for unit tests of token validation (generated once per test binary).
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

use super::keys::KeySet;

pub struct TestKey {
    pub encoding: EncodingKey,
    pub n: String,
    pub e: String,
}

/// Test key `i` (0 or 1).
pub fn key(i: usize) -> &'static TestKey {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..2)
            .map(|_| {
                let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
                let der = private.to_pkcs1_der().unwrap();
                TestKey {
                    encoding: EncodingKey::from_rsa_der(der.as_bytes()),
                    n: URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
                    e: URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
                }
            })
            .collect()
    })[i]
}

/// A key set publishing key 0 as "k0", with Microsoft's `issuer` extension when given.
pub fn key_set(key_issuer: Option<&str>) -> KeySet {
    let k = key(0);
    let mut jwk = json!({"kty": "RSA", "use": "sig", "kid": "k0", "n": k.n, "e": k.e});
    if let Some(issuer) = key_issuer {
        jwk["issuer"] = json!(issuer);
    }
    KeySet::from_jwks(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap()
}

/// `claims` signed RS256 by key `key_index`, naming `kid`.
pub fn sign(claims: &Value, kid: &str, key_index: usize) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key(key_index).encoding).unwrap()
}
