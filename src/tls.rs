//! HTTPS listeners with rustls: certificates from PEM files, reloaded when the files change.

use std::path::PathBuf;

/// `listen.tls`: a PEM certificate chain (leaf first) and its PEM private key (RSA or ECDSA,
/// PKCS#1, SEC1 or PKCS#8), both already resolved against the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}
