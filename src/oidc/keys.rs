//! The provider's signing keys (JWKS), decoded once per fetch and looked up by `kid`.

use std::collections::HashMap;

use jsonwebtoken::DecodingKey;
use serde::Deserialize;

use super::OidcError;

/// One usable RSA signing key.
#[derive(Clone)]
pub struct SigningKey {
    pub decoding: DecodingKey,
    /// Microsoft's `issuer` extension: which issuer this key may sign for (exact, or a
    /// `{tenantid}` template). `None` for providers that do not publish it.
    pub issuer: Option<String>,
}

/// The keys of one JWKS fetch, by `kid`.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, SigningKey>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kty: String,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
}

impl KeySet {
    /// Parse a JWKS document, keeping the RSA signature keys that have a `kid`. Keys of other
    /// kinds are skipped, not errors: providers publish encryption keys too.
    pub fn from_jwks(body: &[u8]) -> Result<Self, OidcError> {
        let jwks: Jwks = serde_json::from_slice(body)
            .map_err(|e| OidcError::Keys(format!("the JWKS document is not valid JSON: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in jwks.keys {
            if jwk.kty != "RSA" || jwk.use_.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let (Some(kid), Some(n), Some(e)) = (jwk.kid, jwk.n, jwk.e) else {
                continue;
            };
            let Ok(decoding) = DecodingKey::from_rsa_components(&n, &e) else {
                tracing::warn!(%kid, "skipping a JWKS key whose modulus or exponent does not decode");
                continue;
            };
            keys.insert(
                kid,
                SigningKey {
                    decoding,
                    issuer: jwk.issuer,
                },
            );
        }
        if keys.is_empty() {
            return Err(OidcError::Keys(
                "the JWKS document holds no RSA signing key".into(),
            ));
        }
        Ok(KeySet { keys })
    }

    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.get(kid)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key ids, sorted (for the status page).
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.keys.keys().cloned().collect();
        kids.sort();
        kids
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // A real 2048-bit modulus is not needed to parse; jsonwebtoken only base64-decodes here.
    const N: &str = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw";

    #[test]
    fn keeps_rsa_signature_keys_with_their_issuer() {
        let body = serde_json::json!({"keys": [
            {"kty": "RSA", "use": "sig", "kid": "k1", "n": N, "e": "AQAB",
             "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"},
            {"kty": "RSA", "use": "enc", "kid": "k2", "n": N, "e": "AQAB"},
            {"kty": "EC", "kid": "k3"},
            {"kty": "RSA", "use": "sig", "n": N, "e": "AQAB"},
        ]});
        let set = KeySet::from_jwks(body.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(
            set.get("k1").unwrap().issuer.as_deref(),
            Some("https://login.microsoftonline.com/{tenantid}/v2.0")
        );
    }

    #[test]
    fn empty_or_garbage_documents_are_errors() {
        assert!(KeySet::from_jwks(b"{\"keys\":[]}").is_err());
        assert!(KeySet::from_jwks(b"<html>").is_err());
    }
}
