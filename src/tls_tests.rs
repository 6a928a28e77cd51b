//! Loading certificate and key files in every format operators bring, the errors that say what
//! is wrong with them, and reloads that keep the old pair when the new one is bad.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

use super::*;

/// A P-256 key as `openssl ecparam -genkey` writes it (SEC1, with the curve named), and the same
/// key as PKCS#8, so a certificate can be made for it. Test material only.
const OPENSSL_EC_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIDAsi8tmdEBkcp9T3Vp5VvF78XO1/MFJ1x1fOA/PjkIOoAoGCCqGSM49
AwEHoUQDQgAEl93kLXCEbGK/tQ66s1z4UFkZ93ofBJw6P09aXnyUxMs0PP0vXEtS
LCCuD0ax6igGFwjgWEwymV6QZI0Jn6h0OA==
-----END EC PRIVATE KEY-----
";
const OPENSSL_EC_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMCyLy2Z0QGRyn1Pd
WnlW8Xvxc7X8wUnXHV84D8+OQg6hRANCAASX3eQtcIRsYr+1DrqzXPhQWRn3eh8E
nDo/T1pefJTEyzQ8/S9cS1IsIK4PRrHqKAYXCOBYTDKZXpBkjQmfqHQ4
-----END PRIVATE KEY-----
";

/// A self-signed certificate for `localhost` made with the PKCS#8 `key_pem`.
fn certificate_for(key_pem: &str) -> String {
    let key = rcgen::KeyPair::from_pem(key_pem).unwrap();
    rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap()
        .pem()
}

/// `(certificate PEM, PKCS#8 key PEM)` with a fresh P-256 key.
fn ecdsa_pair() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let key_pem = key.serialize_pem();
    (certificate_for(&key_pem), key_pem)
}

/// A fresh 2048-bit RSA key: `(PKCS#8 PEM, PKCS#1 PEM)`.
fn rsa_keys() -> (String, String) {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let pkcs8 = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
    (pkcs8, pkcs1)
}

/// A directory of its own under the system temp dir, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "entrance-tls-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn files(&self, cert_pem: &str, key_pem: &str) -> CertificateFiles {
        let files = CertificateFiles {
            cert_file: self.0.join("tls.crt"),
            key_file: self.0.join("tls.key"),
        };
        write(&files.cert_file, cert_pem);
        write(&files.key_file, key_pem);
        files
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn load_error(files: &CertificateFiles) -> String {
    load_certified_key(files).err().unwrap().to_string()
}

#[test]
fn loads_rsa_keys_in_pkcs8_and_pkcs1() {
    let dir = TempDir::new();
    let (pkcs8, pkcs1) = rsa_keys();
    let cert = certificate_for(&pkcs8);
    assert!(load_certified_key(&dir.files(&cert, &pkcs8)).is_ok());
    assert!(load_certified_key(&dir.files(&cert, &pkcs1)).is_ok());
}

#[test]
fn loads_ecdsa_keys_in_pkcs8_and_sec1() {
    let dir = TempDir::new();
    let (cert, key) = ecdsa_pair();
    assert!(load_certified_key(&dir.files(&cert, &key)).is_ok());
    let cert = certificate_for(OPENSSL_EC_PKCS8);
    assert!(load_certified_key(&dir.files(&cert, OPENSSL_EC_SEC1)).is_ok());
}

#[test]
fn a_chain_is_served_leaf_first_and_whole() {
    let dir = TempDir::new();
    let (leaf, key) = ecdsa_pair();
    let (intermediate, _) = ecdsa_pair();
    let files = dir.files(&format!("{leaf}{intermediate}"), &key);
    assert_eq!(load_certified_key(&files).unwrap().cert.len(), 2);
}

#[test]
fn a_missing_file_is_named() {
    let dir = TempDir::new();
    let (cert, key) = ecdsa_pair();
    let mut files = dir.files(&cert, &key);
    files.key_file = dir.0.join("nowhere.key");
    let message = load_error(&files);
    assert!(message.contains("key file"), "{message}");
    assert!(message.contains("nowhere.key"), "{message}");
}

#[test]
fn a_certificate_file_without_a_certificate_says_so() {
    let dir = TempDir::new();
    let (_, key) = ecdsa_pair();
    let files = dir.files(&key, &key);
    let message = load_error(&files);
    assert!(message.contains("holds no certificate"), "{message}");
    assert!(message.contains("tls.crt"), "{message}");
}

#[test]
fn a_key_file_without_a_key_says_so() {
    let dir = TempDir::new();
    let (cert, _) = ecdsa_pair();
    let files = dir.files(&cert, &cert);
    let message = load_error(&files);
    assert!(message.contains("holds no private key"), "{message}");
    assert!(message.contains("tls.key"), "{message}");
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let dir = TempDir::new();
    let (cert, _) = ecdsa_pair();
    let (_, other_key) = ecdsa_pair();
    let files = dir.files(&cert, &other_key);
    assert!(matches!(
        load_certified_key(&files),
        Err(TlsError::KeyMismatch { .. })
    ));
    assert!(load_error(&files).contains("does not match"));
}

#[test]
fn a_half_written_certificate_is_refused_with_the_reason() {
    let dir = TempDir::new();
    let (cert, key) = ecdsa_pair();
    let half = &cert[..cert.len() / 2];
    let message = load_error(&dir.files(half, &key));
    assert!(message.contains("not valid PEM"), "{message}");
    assert!(message.contains("END CERTIFICATE"), "{message}");
}

#[test]
fn the_settings_offer_h2_then_http11() {
    let dir = TempDir::new();
    let (cert, key) = ecdsa_pair();
    let (config, _) = server_config(&dir.files(&cert, &key)).unwrap();
    assert_eq!(
        config.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn a_reload_swaps_a_good_new_pair_and_keeps_the_old_one_over_a_bad_one() {
    let dir = TempDir::new();
    let (cert, key) = ecdsa_pair();
    let files = dir.files(&cert, &key);
    let (_, reloader) = server_config(&files).unwrap();
    let first = reloader.current_chain();
    assert_eq!(reloader.check().unwrap(), Reload::Unchanged);

    // cert-manager has written the new certificate but not yet its key.
    let (new_cert, new_key) = ecdsa_pair();
    write(&files.cert_file, &new_cert);
    assert!(matches!(
        reloader.check(),
        Err(TlsError::KeyMismatch { .. })
    ));
    assert_eq!(reloader.current_chain(), first);

    write(&files.key_file, &new_key);
    assert_eq!(reloader.check().unwrap(), Reload::Replaced);
    let second = reloader.current_chain();
    assert_ne!(second, first);

    std::fs::remove_file(&files.key_file).unwrap();
    assert!(matches!(reloader.check(), Err(TlsError::Read { .. })));
    assert_eq!(reloader.current_chain(), second);
}
