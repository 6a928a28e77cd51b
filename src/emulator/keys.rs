//! Signing keys: RSA-2048 generated at start (and on rotation), published as a JWKS.
//!
//! The current key sits behind a `RwLock` holding only an `Arc`, so readers clone it and let go
//! at once; generation (slow) happens outside the lock.

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::EncodingKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;

use super::protocol::opaque;
use super::EmulatorError;

/// One signing key: what is needed to sign and to publish it.
#[derive(Clone)]
pub(crate) struct SigningKey {
    /// Base64url of 20 random bytes: the same length as Microsoft's SHA-1 thumbprint kids.
    pub kid: String,
    pub encoding: EncodingKey,
    /// Public modulus and exponent, base64url big-endian (JWK `n`, `e`).
    pub n: String,
    pub e: String,
}

impl SigningKey {
    /// Generate a fresh key. Takes tens of milliseconds; call it off the async threads.
    pub fn generate() -> Result<SigningKey, EmulatorError> {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map_err(|e| EmulatorError::KeyGeneration(e.to_string()))?;
        let der = private
            .to_pkcs1_der()
            .map_err(|e| EmulatorError::KeyGeneration(e.to_string()))?;
        let encoding = EncodingKey::from_rsa_der(der.as_bytes());
        Ok(SigningKey {
            kid: opaque(20),
            encoding,
            n: URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        })
    }

    /// The JWK as Microsoft publishes it (`x5t` = `kid`, `issuer` extension; no `x5c` because
    /// the emulator makes no certificates).
    pub fn jwk(&self, issuer: &str) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": self.n,
            "e": self.e,
            "issuer": issuer,
        })
    }
}

/// The key currently used for signing and published in JWKS.
pub(crate) struct KeyRing {
    current: RwLock<Arc<SigningKey>>,
}

impl KeyRing {
    pub fn new(key: SigningKey) -> Self {
        KeyRing {
            current: RwLock::new(Arc::new(key)),
        }
    }

    /// The current key. A poisoned lock still holds a whole `Arc`, so it is safe to read on.
    pub fn current(&self) -> Arc<SigningKey> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Emergency rollover: `key` replaces the current one everywhere at once.
    pub fn replace(&self, key: SigningKey) {
        let key = Arc::new(key);
        match self.current.write() {
            Ok(mut guard) => *guard = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn replace_changes_the_kid() {
        let ring = KeyRing::new(SigningKey::generate().unwrap());
        let before = ring.current().kid.clone();
        assert_eq!(before.len(), 27);
        ring.replace(SigningKey::generate().unwrap());
        assert_ne!(ring.current().kid, before);
        let jwk = ring.current().jwk("iss");
        assert_eq!(jwk["x5t"], jwk["kid"]);
        assert_eq!(jwk["e"], "AQAB");
    }
}
