//! A test PKI for the https upstream tests: a CA, certificates it issues (RSA 2048, SHA-256)
//! and rustls helpers to load them. Made with the `x509-cert` builder the crate already has, so
//! no certificate generator is added as a dependency.

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rsa::pkcs1v15::Signature;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::signature::{Keypair, Signer};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::asn1::{Any, ObjectIdentifier};
use x509_cert::der::EncodePem as _;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, SubjectPublicKeyInfoOwned,
};
use x509_cert::time::Validity;

/// sha256WithRSAEncryption.
const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
/// DER DigestInfo prefix for SHA-256 (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// An RSA key that signs certificates (PKCS#1 v1.5, SHA-256).
struct Key {
    private: RsaPrivateKey,
    public: RsaPublicKey,
}

impl Key {
    fn generate() -> Key {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        Key {
            public: private.to_public_key(),
            private,
        }
    }

    fn pem(&self) -> String {
        self.private
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string()
    }
}

impl Keypair for Key {
    type VerifyingKey = RsaPublicKey;

    fn verifying_key(&self) -> RsaPublicKey {
        self.public.clone()
    }
}

impl DynSignatureAlgorithmIdentifier for Key {
    fn signature_algorithm_identifier(&self) -> x509_cert::spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::from_str(SHA256_WITH_RSA).unwrap(),
            parameters: Some(Any::null()),
        })
    }
}

impl Signer<Signature> for Key {
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

fn serial(n: u8) -> SerialNumber {
    SerialNumber::new(&[0x10, n]).unwrap()
}

fn validity() -> Validity {
    Validity::from_now(Duration::from_secs(24 * 3600)).unwrap()
}

fn spki(key: &Key) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_key(key.public.clone()).unwrap()
}

fn issue(ca: &Key, ca_name: &Name, n: u8, cn: &str, ip: Option<IpAddr>) -> (String, String) {
    let key = Key::generate();
    let profile = Profile::Leaf {
        issuer: ca_name.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: true,
    };
    let subject = Name::from_str(&format!("CN={cn}")).unwrap();
    let mut builder =
        CertificateBuilder::new(profile, serial(n), validity(), subject, spki(&key), ca).unwrap();
    if let Some(ip) = ip {
        builder
            .add_extension(&SubjectAltName(vec![GeneralName::from(ip)]))
            .unwrap();
    }
    let cert = builder.build::<Signature>().unwrap();
    (cert.to_pem(LineEnding::LF).unwrap(), key.pem())
}

fn self_signed(key: &Key, n: u8, cn: &str) -> String {
    let name = Name::from_str(&format!("CN={cn}")).unwrap();
    let builder =
        CertificateBuilder::new(Profile::Root, serial(n), validity(), name, spki(key), key)
            .unwrap();
    let cert = builder.build::<Signature>().unwrap();
    cert.to_pem(LineEnding::LF).unwrap()
}

/// Made once for the whole file: RSA key generation is slow.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca_key = Key::generate();
        let ca_name = Name::from_str("CN=entrance test CA").unwrap();
        let ca = self_signed(&ca_key, 1, "entrance test CA");
        let localhost = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let other_key = Key::generate();
        let other_name = Name::from_str("CN=some other CA").unwrap();
        Pki {
            server: issue(&ca_key, &ca_name, 2, "upstream", localhost),
            client: issue(&ca_key, &ca_name, 3, "entrance", None),
            stranger: issue(&other_key, &other_name, 4, "upstream", localhost),
            ca,
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
