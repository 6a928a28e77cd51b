//! Loading certificate and key files in every format operators bring, the errors that say what
//! is wrong with them, reloads that keep the old pair when the new one is bad, and the
//! certificate each handshake gets by the name it asks for (SNI).
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
        self.named_files("tls", cert_pem, key_pem)
    }

    /// `{name}.crt` and `{name}.key` in this directory, holding the pair.
    fn named_files(&self, name: &str, cert_pem: &str, key_pem: &str) -> CertificateFiles {
        let files = CertificateFiles {
            cert_file: self.0.join(format!("{name}.crt")),
            key_file: self.0.join(format!("{name}.key")),
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

// ---------------------------------------------------------------------------------------------
// A certificate per host name, by SNI
// ---------------------------------------------------------------------------------------------

/// A CA of this test's own and leaves it issues for given names.
struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        Ca {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// `(certificate PEM, key PEM)` of a new leaf for `names`.
    fn leaf(&self, names: &[&str]) -> (String, String) {
        let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A complete in-memory handshake with `server`, by a client that trusts only this CA,
    /// checks the certificate against `name`, and sends `name` as SNI only when `send_sni`.
    /// The leaf the server presented (DER).
    fn handshake(&self, server: Arc<ServerConfig>, name: &str, send_sni: bool) -> Vec<u8> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.enable_sni = send_sni;
        let name = rustls_pki_types::ServerName::try_from(name.to_owned()).unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut server = rustls::ServerConnection::new(server).unwrap();
        // A handshake is a few flights; the bound only turns a stuck exchange into a failure.
        for _ in 0..10 {
            if !client.is_handshaking() && !server.is_handshaking() {
                break;
            }
            let mut flight = Vec::new();
            client.write_tls(&mut flight).unwrap();
            server.read_tls(&mut flight.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            let mut flight = Vec::new();
            server.write_tls(&mut flight).unwrap();
            client.read_tls(&mut flight.as_slice()).unwrap();
            client.process_new_packets().unwrap();
        }
        assert!(!client.is_handshaking(), "the handshake did not finish");
        client.peer_certificates().unwrap()[0].to_vec()
    }
}

fn leaf_der(cert_pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// `a.test` on the default certificate; `b.test` and `www.b.test` on b's own.
fn two_certificates(ca: &Ca, dir: &TempDir) -> (CertificateFiles, CertificateFiles) {
    let (cert, key) = ca.leaf(&["a.test"]);
    let default = dir.named_files("default", &cert, &key);
    let (cert, key) = ca.leaf(&["b.test", "www.b.test"]);
    let b = dir.named_files("b", &cert, &key);
    (default, b)
}

fn b_names() -> Vec<String> {
    vec!["b.test".to_owned(), "www.b.test".to_owned()]
}

#[test]
fn a_handshake_naming_a_host_gets_that_hosts_certificate() {
    let ca = Ca::new();
    let dir = TempDir::new();
    let (default, b) = two_certificates(&ca, &dir);
    let (config, _) = server_config_for(&default, &[(b_names(), b.clone())]).unwrap();
    let b_leaf = leaf_der(&std::fs::read_to_string(&b.cert_file).unwrap());

    assert_eq!(ca.handshake(config.clone(), "b.test", true), b_leaf);
    assert_eq!(ca.handshake(config.clone(), "www.b.test", true), b_leaf);
    // Names are matched in any case.
    assert_eq!(ca.handshake(config, "WWW.B.Test", true), b_leaf);
}

#[test]
fn other_names_and_no_name_get_the_default_certificate() {
    let ca = Ca::new();
    let dir = TempDir::new();
    let (default, b) = two_certificates(&ca, &dir);
    let (config, reloader) = server_config_for(&default, &[(b_names(), b)]).unwrap();
    let default_leaf = leaf_der(&std::fs::read_to_string(&default.cert_file).unwrap());

    assert_eq!(ca.handshake(config.clone(), "a.test", true), default_leaf);
    // The client checks the certificate against a.test but sends no SNI.
    assert_eq!(ca.handshake(config, "a.test", false), default_leaf);
    assert_eq!(reloader.current_chain()[0].to_vec(), default_leaf);
    assert_eq!(
        reloader.current_chain_for("c.test")[0].to_vec(),
        default_leaf
    );
}

#[test]
fn one_hosts_certificate_reloads_alone_and_a_bad_one_keeps_serving() {
    let ca = Ca::new();
    let dir = TempDir::new();
    let (default, b) = two_certificates(&ca, &dir);
    let (config, reloader) = server_config_for(&default, &[(b_names(), b.clone())]).unwrap();
    let default_chain = reloader.current_chain();
    assert_eq!(reloader.check().unwrap(), Reload::Unchanged);

    let (new_cert, new_key) = ca.leaf(&["b.test", "www.b.test"]);
    write(&b.cert_file, &new_cert);
    write(&b.key_file, &new_key);
    assert_eq!(reloader.check().unwrap(), Reload::Replaced);
    assert_eq!(
        ca.handshake(config.clone(), "b.test", true),
        leaf_der(&new_cert)
    );
    assert_eq!(reloader.current_chain(), default_chain);

    // b's new certificate arrives before its key: refused, naming b's files; b keeps serving.
    let (newer_cert, _) = ca.leaf(&["b.test"]);
    write(&b.cert_file, &newer_cert);
    let error = reloader.check().unwrap_err().to_string();
    assert!(error.contains("does not match"), "{error}");
    assert!(
        error.contains("b.crt") && error.contains("b.key"),
        "{error}"
    );
    assert_eq!(
        ca.handshake(config.clone(), "b.test", true),
        leaf_der(&new_cert)
    );

    // Both broken at once: each is named; both keep serving.
    std::fs::remove_file(&default.key_file).unwrap();
    let error = reloader.check().unwrap_err().to_string();
    assert!(
        error.contains("default.key") && error.contains("b.crt"),
        "{error}"
    );
    assert_eq!(reloader.current_chain(), default_chain);
    assert_eq!(ca.handshake(config, "b.test", true), leaf_der(&new_cert));
}

#[test]
fn a_bad_host_certificate_at_start_is_refused_naming_its_file() {
    let ca = Ca::new();
    let dir = TempDir::new();
    let (default, mut b) = two_certificates(&ca, &dir);
    b.key_file = dir.0.join("nowhere.key");
    let error = server_config_for(&default, &[(b_names(), b)])
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("nowhere.key"), "{error}");
}
