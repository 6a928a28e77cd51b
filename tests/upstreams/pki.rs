//! The certificates of the https upstream tests, from the listener tests' CA (rcgen), and
//! rustls helpers to load them.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::tls_support::TestCa;

/// A test CA and the certificates it issued, as PEM.
pub struct Pki {
    pub ca: String,
    /// For 127.0.0.1 (an IP SAN), as the https upstream presents it.
    pub server: (String, String),
    /// For entrance to present to an upstream that asks for one.
    pub client: (String, String),
    /// For 127.0.0.1 too, but issued by another CA.
    pub stranger: (String, String),
}

/// Made once for the whole file.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca = TestCa::new();
        let other = TestCa::new();
        let pair = |leaf: crate::tls_support::Leaf| (leaf.cert_pem, leaf.key_pem);
        Pki {
            server: pair(ca.leaf_for(&["127.0.0.1"])),
            client: pair(ca.client_leaf("entrance")),
            stranger: pair(other.leaf_for(&["127.0.0.1"])),
            ca: ca.cert_pem,
        }
    })
}

pub fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

pub fn key(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap()
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
