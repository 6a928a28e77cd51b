//! Registered client certificates: PEM to DER, the thumbprints an assertion header names them
//! by (`x5t#S256` = SHA-256, `x5t` = SHA-1, both base64url of the DER) and the RSA public key
//! that verifies the assertion.
//!
//! Parsing only; which assertion is acceptable is decided in [`super::assertion`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::DecodingKey;
use sha2::{Digest, Sha256};
use x509_cert::der::{DecodePem, Encode};
use x509_cert::Certificate;

use super::sha1::sha1;

/// `rsaEncryption`: the only key type Microsoft accepts for certificate credentials.
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// One parsed certificate credential.
pub(crate) struct ClientCertificate {
    /// Base64url SHA-256 of the DER (`x5t#S256`).
    pub sha256: String,
    /// Base64url SHA-1 of the DER (`x5t`, legacy).
    pub sha1: String,
    /// The subject public key, for RS256 and PS256.
    pub key: DecodingKey,
}

impl ClientCertificate {
    /// Parse one PEM certificate with an RSA key; the error says what is wrong with it.
    pub fn from_pem(pem: &str) -> Result<ClientCertificate, String> {
        let cert = Certificate::from_pem(pem.trim().as_bytes())
            .map_err(|e| format!("not a PEM X.509 certificate ({e})"))?;
        let der = cert
            .to_der()
            .map_err(|e| format!("cannot re-encode the certificate ({e})"))?;
        let spki = &cert.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid.to_string() != RSA_ENCRYPTION {
            return Err(format!(
                "the certificate's key is not RSA (algorithm {})",
                spki.algorithm.oid
            ));
        }
        // For rsaEncryption the subjectPublicKey bits are the PKCS#1 RSAPublicKey DER.
        let pkcs1 = spki
            .subject_public_key
            .as_bytes()
            .ok_or("the certificate's public key has unused bits")?;
        Ok(ClientCertificate {
            sha256: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
            sha1: URL_SAFE_NO_PAD.encode(sha1(&der)),
            key: DecodingKey::from_rsa_der(pkcs1),
        })
    }

    /// Does an assertion header's thumbprint name this certificate?
    pub fn named_by(&self, x5t_s256: Option<&str>, x5t: Option<&str>) -> bool {
        x5t_s256.is_some_and(|t| t == self.sha256) || x5t.is_some_and(|t| t == self.sha1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::emulator::testing::self_signed_certificate;

    #[test]
    fn parses_a_generated_certificate_and_refuses_junk() {
        let (pem, _key) = self_signed_certificate("parse-test");
        let cert = ClientCertificate::from_pem(&pem).unwrap();
        assert_eq!(cert.sha256.len(), 43);
        assert_eq!(cert.sha1.len(), 27);
        assert!(cert.named_by(Some(&cert.sha256), None));
        assert!(cert.named_by(None, Some(&cert.sha1)));
        assert!(!cert.named_by(Some(&cert.sha1), Some(&cert.sha256)));
        let err = ClientCertificate::from_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        )
        .err()
        .unwrap();
        assert!(err.contains("not a PEM X.509 certificate"), "{err}");
    }
}
