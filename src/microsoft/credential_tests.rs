#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::OnceLock;

use jsonwebtoken::Validation;
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, LineEnding};
use rsa::RsaPrivateKey;
use serde_json::Value;

use super::*;
use crate::emulator::testing::self_signed_certificate;

const TOKEN_ENDPOINT: &str = "https://login.microsoftonline.com/tid/oauth2/v2.0/token";
const NOW: i64 = 1_800_000_000;

/// One certificate and key for the whole module: RSA key generation is slow.
fn pair() -> &'static (String, String) {
    static PAIR: OnceLock<(String, String)> = OnceLock::new();
    PAIR.get_or_init(|| self_signed_certificate("credential-test"))
}

fn certificate() -> ClientCredential {
    let (cert, key) = pair();
    ClientCredential::certificate(cert.as_bytes(), key.as_bytes()).unwrap()
}

fn public_key(key_pem: &str) -> DecodingKey {
    let private = RsaPrivateKey::from_pkcs8_pem(key_pem).unwrap();
    let der = private.to_public_key().to_pkcs1_der().unwrap();
    DecodingKey::from_rsa_der(der.as_bytes())
}

fn temp_path(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("entrance-{}-{nanos}-{name}", std::process::id()))
}

fn assertion<'a>(params: &'a [(&'static str, String)]) -> &'a str {
    assert_eq!(
        params.len(),
        2,
        "{:?}",
        params.iter().map(|p| p.0).collect::<Vec<_>>()
    );
    assert_eq!(params[0].0, "client_assertion_type");
    assert_eq!(params[0].1, JWT_BEARER);
    assert_eq!(params[1].0, "client_assertion");
    &params[1].1
}

#[test]
fn a_secret_is_sent_as_client_secret() {
    let credential = ClientCredential::Secret(Secret::new("s3cret".to_owned()));
    let params = credential
        .token_params("client", TOKEN_ENDPOINT, NOW)
        .unwrap();
    assert_eq!(params, [("client_secret", "s3cret".to_owned())]);
    assert_eq!(credential.kind(), "client secret");
    assert!(!format!("{credential:?}").contains("s3cret"));
}

#[test]
fn a_certificate_assertion_verifies_with_the_certificates_key() {
    let (cert_pem, key_pem) = pair();
    let credential = certificate();
    assert_eq!(credential.kind(), "client certificate");
    let params = credential
        .token_params("my-client", TOKEN_ENDPOINT, NOW)
        .unwrap();
    let jwt = assertion(&params);

    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, Algorithm::PS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let der = first_certificate_der(cert_pem.as_bytes()).unwrap();
    let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(&der));
    assert_eq!(header.x5t_s256.as_deref(), Some(expected.as_str()));
    assert_eq!(expected.len(), 43);
    let raw_header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(raw_header["x5t#S256"], Value::String(expected));

    let mut validation = Validation::new(Algorithm::PS256);
    validation.set_audience(&[TOKEN_ENDPOINT]);
    validation.set_issuer(&["my-client"]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(jwt, &public_key(key_pem), &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["aud"], TOKEN_ENDPOINT);
    assert_eq!(claims["iss"], "my-client");
    assert_eq!(claims["sub"], "my-client");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["nbf"], NOW);
    assert_eq!(claims["exp"], NOW + 300);
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 36);
    assert_eq!(jti.matches('-').count(), 4);
    assert_eq!(&jti[14..15], "4");
}

#[test]
fn every_assertion_has_a_fresh_jti() {
    let credential = certificate();
    let jtis: HashSet<String> = (0..5)
        .map(|_| {
            let params = credential.token_params("c", TOKEN_ENDPOINT, NOW).unwrap();
            let payload = assertion(&params).split('.').nth(1).unwrap().to_owned();
            let claims: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
            claims["jti"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(jtis.len(), 5);
}

#[test]
fn pkcs1_keys_and_certificate_chains_are_accepted() {
    let (cert_pem, key_pem) = pair();
    let pkcs1 = RsaPrivateKey::from_pkcs8_pem(key_pem)
        .unwrap()
        .to_pkcs1_pem(LineEnding::LF)
        .unwrap();
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    // A leaf followed by a (here unrelated) second certificate, as in a chain file.
    let chain = format!("subject=CN=test\n{cert_pem}{cert_pem}");
    let credential = ClientCredential::certificate(chain.as_bytes(), pkcs1.as_bytes()).unwrap();
    let ClientCredential::Certificate {
        thumbprint_s256, ..
    } = &credential
    else {
        panic!("not a certificate credential");
    };
    let debug = format!("{credential:?}");
    assert!(debug.contains(thumbprint_s256.as_str()), "{debug}");
    assert!(!debug.contains("PRIVATE"), "{debug}");
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let (cert_pem, _) = pair();
    let (_, other_key) = self_signed_certificate("other");
    let error =
        ClientCredential::certificate(cert_pem.as_bytes(), other_key.as_bytes()).unwrap_err();
    assert!(
        matches!(&error, CredentialError::Key(m) if m.contains("does not belong")),
        "{error}"
    );
}

#[test]
fn bad_pem_says_which_file_and_why() {
    let (cert_pem, key_pem) = pair();
    let cert_problem =
        |pem: &str| match ClientCredential::certificate(pem.as_bytes(), key_pem.as_bytes()) {
            Err(CredentialError::Certificate(message)) => message,
            other => panic!("expected a certificate error, got {other:?}"),
        };
    assert!(cert_problem("").contains("no -----BEGIN CERTIFICATE-----"));
    assert!(cert_problem(key_pem).contains("no -----BEGIN CERTIFICATE-----"));
    assert!(cert_problem("-----BEGIN CERTIFICATE-----\nAAAA").contains("no -----END"));
    assert!(
        cert_problem("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----").contains("empty")
    );
    assert!(
        cert_problem("-----BEGIN CERTIFICATE-----\nProc-Type: 4\n-----END CERTIFICATE-----")
            .contains("not valid base64")
    );
    assert!(
        cert_problem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
            .contains("not an X.509 certificate")
    );

    let key_problem =
        |pem: &str| match ClientCredential::certificate(cert_pem.as_bytes(), pem.as_bytes()) {
            Err(CredentialError::Key(message)) => message,
            other => panic!("expected a key error, got {other:?}"),
        };
    assert!(key_problem("").contains("not an RSA private key"));
    assert!(key_problem(cert_pem).contains("RSA private key"));
}

#[test]
fn the_federated_token_file_is_read_afresh_on_every_call() {
    let path = temp_path("federated-token");
    std::fs::write(&path, "first.token.value\n").unwrap();
    let credential = ClientCredential::FederatedTokenFile(path.clone());
    assert_eq!(credential.kind(), "federated token");
    let first = credential.token_params("c", TOKEN_ENDPOINT, NOW).unwrap();
    assert_eq!(assertion(&first), "first.token.value");
    // The kubelet rotates the file in place.
    std::fs::write(&path, "  second.token.value  \r\n").unwrap();
    let second = credential.token_params("c", TOKEN_ENDPOINT, NOW).unwrap();
    assert_eq!(assertion(&second), "second.token.value");

    std::fs::write(&path, " \n").unwrap();
    let error = credential
        .token_params("c", TOKEN_ENDPOINT, NOW)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("empty") && error.contains(&path.display().to_string()),
        "{error}"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_missing_federated_token_file_is_an_error_naming_the_path() {
    let path = temp_path("no-such-token");
    let credential = ClientCredential::FederatedTokenFile(path.clone());
    let error = credential
        .token_params("c", TOKEN_ENDPOINT, NOW)
        .unwrap_err();
    assert!(matches!(error, CredentialError::FederatedToken { .. }));
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("cannot read"), "{message}");
}

#[test]
fn random_uuids_are_version_4() {
    let id = random_uuid();
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
    assert_ne!(random_uuid(), id);
}
