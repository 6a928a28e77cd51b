//! One sign-in attempt: its `state`, `nonce`, PKCE verifier and where to land afterwards.
//! Sealed into its own short-lived cookie by the session module.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// How long an attempt may take, from redirect to callback.
pub const ATTEMPT_LIFETIME_SECS: i64 = 600;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// Random, 256 bits; also names the attempt's cookie.
    pub state: String,
    pub nonce: String,
    #[serde(with = "secret_string")]
    pub verifier: Secret<String>,
    /// A path already checked by `redirect::safe_path`.
    pub return_to: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl Attempt {
    pub fn new(return_to: String, now: i64) -> Self {
        Attempt {
            state: random_token(32),
            nonce: random_token(32),
            // 32 random bytes → 43 characters, within PKCE's 43..128.
            verifier: Secret::new(random_token(32)),
            return_to,
            created_at: now,
        }
    }

    pub fn is_expired(&self, now: i64) -> bool {
        now - self.created_at > ATTEMPT_LIFETIME_SECS || now < self.created_at - 60
    }
}

/// `n` random bytes from the OS, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

mod secret_string {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::secret::Secret;

    pub fn serialize<S: Serializer>(value: &Secret<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret<String>, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_unique_and_expire_after_ten_minutes() {
        let a = Attempt::new("/".into(), 1000);
        let b = Attempt::new("/".into(), 1000);
        assert_ne!(a.state, b.state);
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.verifier.expose().len(), 43);
        assert!(!a.is_expired(1000 + 600));
        assert!(a.is_expired(1000 + 601));
    }
}
