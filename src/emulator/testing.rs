//! Test fixtures for client credentials beyond secrets: a self-signed certificate for
//! [`AppConfig::certificates`](super::AppConfig) and an external token issuer for
//! [`AppConfig::federated_credentials`](super::AppConfig).
//!
//! Public (not `cfg(test)`) because the behaviour tests under `tests/` use it. These helpers
//! panic when key generation or encoding fails: they only set tests up, and a test that cannot
//! build its fixture must fail loudly (a knowing exception to "expect only at start-up").

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs1v15::Signature;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::signature::{Keypair, Signer};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::asn1::{Any, ObjectIdentifier};
use x509_cert::der::EncodePem;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, SubjectPublicKeyInfoOwned,
};
use x509_cert::time::Validity;

use super::config::FederatedCredential;
use super::protocol::{guid, opaque, unix_now};

/// `sha256WithRSAEncryption`.
const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
/// DER DigestInfo prefix for SHA-256 (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// A PKCS#1 v1.5 SHA-256 certificate signer. `rsa::pkcs1v15::SigningKey<Sha256>` would do, but
/// its algorithm identifier needs the `rsa/sha2` feature, which the crate does not enable.
struct CertSigner {
    private: RsaPrivateKey,
    public: RsaPublicKey,
}

impl Keypair for CertSigner {
    type VerifyingKey = RsaPublicKey;

    fn verifying_key(&self) -> RsaPublicKey {
        self.public.clone()
    }
}

impl DynSignatureAlgorithmIdentifier for CertSigner {
    fn signature_algorithm_identifier(&self) -> x509_cert::spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::from_str(SHA256_WITH_RSA)
                .map_err(|_| x509_cert::spki::Error::KeyMalformed)?,
            parameters: Some(Any::null()),
        })
    }
}

impl Signer<Signature> for CertSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Signature, rsa::signature::Error> {
        let scheme = Pkcs1v15Sign {
            hash_len: Some(32),
            prefix: SHA256_DIGEST_INFO.to_vec().into_boxed_slice(),
        };
        let bytes = self
            .private
            .sign(scheme, &Sha256::digest(msg))
            .map_err(rsa::signature::Error::from_source)?;
        Signature::try_from(bytes.as_slice())
    }
}

fn generate_rsa_key() -> RsaPrivateKey {
    RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("generate a 2048-bit RSA key")
}

/// A new 2048-bit RSA key and a self-signed certificate for it (`CN={common_name}`, SHA-256 with
/// RSA, valid for a year): `(certificate PEM, PKCS#8 private key PEM)`. `common_name` must be
/// plain text (no `,`, `+`, `=` or quotes).
pub fn self_signed_certificate(common_name: &str) -> (String, String) {
    let private = generate_rsa_key();
    let signer = CertSigner {
        public: private.to_public_key(),
        private,
    };
    let subject = Name::from_str(&format!("CN={common_name}")).expect("a plain common name");
    let spki =
        SubjectPublicKeyInfoOwned::from_key(signer.public.clone()).expect("encode the public key");
    let mut serial = [0u8; 16];
    serial.copy_from_slice(&Sha256::digest(opaque(16).as_bytes())[..16]);
    serial[0] &= 0x7f; // positive, as RFC 5280 requires
    let serial = SerialNumber::new(&serial).expect("a 16-byte serial number");
    let validity =
        Validity::from_now(Duration::from_secs(365 * 24 * 3600)).expect("a one-year validity");
    let builder = CertificateBuilder::new(Profile::Root, serial, validity, subject, spki, &signer)
        .expect("a certificate builder");
    let cert = builder.build::<Signature>().expect("sign the certificate");
    let cert_pem = cert
        .to_pem(LineEnding::LF)
        .expect("PEM-encode the certificate");
    let key_pem = signer
        .private
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PEM-encode the private key")
        .to_string();
    (cert_pem, key_pem)
}

/// An external OIDC issuer (say, a Kubernetes cluster) whose tokens an app trusts through a
/// federated credential: it holds an RSA key, publishes it as a JWKS and signs tokens.
pub struct FederatedIssuer {
    issuer: String,
    kid: String,
    encoding: EncodingKey,
    jwks: serde_json::Value,
}

impl FederatedIssuer {
    /// A new issuer with the given `iss` URL and a fresh key (takes tens of milliseconds).
    pub fn new(issuer: &str) -> FederatedIssuer {
        let private = generate_rsa_key();
        let der = private.to_pkcs1_der().expect("DER-encode the RSA key");
        let kid = opaque(16);
        let jwks = serde_json::json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        }]});
        FederatedIssuer {
            issuer: issuer.to_string(),
            kid,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwks,
        }
    }

    /// The `iss` of its tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Its public keys, for [`FederatedCredential::jwks`].
    pub fn jwks(&self) -> serde_json::Value {
        self.jwks.clone()
    }

    /// A federated credential trusting this issuer for `subject` with the default audience
    /// (`api://AzureADTokenExchange`).
    pub fn credential(&self, subject: &str) -> FederatedCredential {
        FederatedCredential {
            issuer: self.issuer.clone(),
            subject: subject.to_string(),
            audiences: vec!["api://AzureADTokenExchange".to_string()],
            jwks: self.jwks(),
        }
    }

    /// An RS256 token (`kid` header; `iss`, `sub`, `aud`, `iat`, `nbf`, `exp`, `jti`) that expires
    /// `expires_in_secs` from now; a negative value gives a token that expired that long ago
    /// (issued an hour before it expired), like a stale projected token file.
    pub fn token(&self, subject: &str, audience: &str, expires_in_secs: i64) -> String {
        let now = unix_now(SystemTime::now());
        let exp = now + expires_in_secs;
        let iat = if expires_in_secs > 0 { now } else { exp - 3600 };
        let claims = serde_json::json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": [audience],
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            "jti": guid(),
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).expect("sign a federated token")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};
    use x509_cert::der::DecodePem;
    use x509_cert::Certificate;

    #[test]
    fn certificate_is_self_signed_with_sha256_rsa_and_key_matches() {
        use rsa::pkcs8::DecodePrivateKey;
        use x509_cert::der::Encode;
        let (pem, key_pem) = self_signed_certificate("entrance-test");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let cert = Certificate::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(cert.signature_algorithm.oid.to_string(), SHA256_WITH_RSA);
        assert_eq!(cert.tbs_certificate.subject.to_string(), "CN=entrance-test");
        assert_eq!(cert.tbs_certificate.issuer, cert.tbs_certificate.subject);
        // The signature verifies with the certificate's own key (PKCS#1 v1.5, SHA-256).
        let private = RsaPrivateKey::from_pkcs8_pem(&key_pem).unwrap();
        let tbs = cert.tbs_certificate.to_der().unwrap();
        let scheme = Pkcs1v15Sign {
            hash_len: Some(32),
            prefix: SHA256_DIGEST_INFO.to_vec().into_boxed_slice(),
        };
        private
            .to_public_key()
            .verify(scheme, &Sha256::digest(&tbs), cert.signature.raw_bytes())
            .unwrap();
    }

    #[test]
    fn federated_tokens_verify_with_the_published_jwks() {
        let issuer = FederatedIssuer::new("https://oidc.example/cluster");
        let token = issuer.token(
            "system:serviceaccount:ns:sa",
            "api://AzureADTokenExchange",
            600,
        );
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(issuer.jwks()).unwrap();
        let key = DecodingKey::from_jwk(&set.keys[0]).unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["api://AzureADTokenExchange"]);
        v.set_issuer(&[issuer.issuer()]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &v)
            .unwrap()
            .claims;
        assert_eq!(claims["sub"], "system:serviceaccount:ns:sa");
        let stale = issuer.token("s", "a", -60);
        let c: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(stale.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(c["exp"].as_i64().unwrap() < unix_now(SystemTime::now()));
        assert_eq!(
            issuer.credential("s").audiences,
            ["api://AzureADTokenExchange"]
        );
    }
}
