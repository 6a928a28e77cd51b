//! HTTPS listeners with rustls: certificates and keys from PEM files, the server's TLS settings
//! (TLS 1.2 and 1.3 with the ring provider, ALPN `h2` then `http/1.1`), the certificate each
//! handshake gets (a host's own by the SNI name, else the listener's default), and certificates
//! swapped in place when their files change (cert-manager rewrites them), without a restart.
//!
//! This module must not serve connections or know about HTTP requests ([`crate::server`] does),
//! and must never pull in aws-lc: every rustls call names the ring provider explicitly.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

/// How often [`CertReloader::watch`] looks at the files when the caller has no opinion.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// `listen.tls` or `hosts[].tls`: a PEM certificate chain (leaf first) and its PEM private key
/// (RSA or ECDSA, PKCS#1, SEC1 or PKCS#8), both already resolved against the config file's
/// directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Why a certificate and key could not be loaded. Each names the file and what to change.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("the {what} {path} is not valid PEM ({reason}); was it written only halfway?")]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "the certificate file {path} holds no certificate; it must hold PEM \
         `-----BEGIN CERTIFICATE-----` blocks, the server's own certificate first"
    )]
    NoCertificate { path: PathBuf },
    #[error(
        "the key file {path} holds no private key; it must hold one PEM `PRIVATE KEY`, \
         `RSA PRIVATE KEY` or `EC PRIVATE KEY` block"
    )]
    NoKey { path: PathBuf },
    #[error("the private key in {path} cannot be used: {reason} (RSA or ECDSA P-256/P-384 keys)")]
    UnusableKey { path: PathBuf, reason: String },
    #[error("the first certificate in {path} cannot be parsed: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error(
        "the private key in {key} does not match the certificate in {cert}; the first \
         certificate must be the one issued for this key (server certificate first, then the \
         intermediates)"
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("TLS settings: {0}")]
    Settings(rustls::Error),
    #[error("the certificate reload did not run: {0}")]
    ReloadTask(String),
    /// More than one certificate failed at once; each is named in its own error.
    #[error("{} certificates cannot be used: {}", .0.len(), join(.0))]
    Several(Vec<TlsError>),
}

/// What a reload found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The files hold the pair already being served.
    Unchanged,
    /// A new, good pair is now served to new handshakes.
    Replaced,
}

/// One certificate being served: where it comes from, the pair in use, and what it was read from.
struct Slot {
    files: CertificateFiles,
    current: RwLock<Arc<CertifiedKey>>,
    /// SHA-256 of the PEM bytes of the pair being served: unchanged files are not parsed again.
    serving: std::sync::Mutex<[u8; 32]>,
}

/// Gives each handshake the certificate of the host it names (SNI), else the default one;
/// [`CertReloader`] swaps them.
struct CertResolver {
    /// Never empty: `slots[0]` is the default (`listen.tls`), the others hosts' own.
    slots: Vec<Slot>,
    /// Lower-case host name and the index in `slots` of its certificate; a name appears once.
    names: Vec<(String, usize)>,
}

/// Re-reads every certificate's files and swaps in a new pair when they changed and are good;
/// a bad pair is reported and the old one keeps serving. Clones share one state. The background
/// watch ([`CertReloader::watch`]) stops once every clone is dropped.
#[derive(Clone)]
pub struct CertReloader {
    inner: Arc<ReloaderInner>,
}

struct ReloaderInner {
    provider: Arc<CryptoProvider>,
    resolver: Arc<CertResolver>,
}

impl Slot {
    fn current(&self) -> Arc<CertifiedKey> {
        // A poisoned lock only means a writer panicked between two plain stores; the Arc inside
        // is whole either way.
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Read this slot's files and serve the new pair if they changed and are good.
    fn check(&self, provider: &CryptoProvider) -> Result<Reload, TlsError> {
        let (cert_pem, key_pem) = read_pair(&self.files)?;
        let fingerprint = fingerprint(&cert_pem, &key_pem);
        if *lock(&self.serving) == fingerprint {
            return Ok(Reload::Unchanged);
        }
        let key = certified_key(&self.files, &cert_pem, &key_pem, provider)?;
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(key);
        *lock(&self.serving) = fingerprint;
        tracing::info!(cert_file = %self.files.cert_file.display(), "TLS certificate reloaded");
        Ok(Reload::Replaced)
    }
}

impl fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertResolver").finish_non_exhaustive()
    }
}

impl CertResolver {
    /// The certificate for a handshake naming `server_name`: the host's own when a host with a
    /// certificate has that name (any case), else the default.
    fn pick(&self, server_name: Option<&str>) -> &Slot {
        let index = server_name
            .and_then(|sni| {
                self.names
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(sni))
            })
            .map_or(0, |(_, index)| *index);
        // `names` only holds indexes into `slots`, and `slots` is never empty.
        &self.slots[index]
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(client_hello.server_name()).current())
    }
}

impl fmt::Debug for CertReloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: Vec<_> = self.inner.resolver.slots.iter().map(|s| &s.files).collect();
        f.debug_struct("CertReloader")
            .field("files", &files)
            .finish_non_exhaustive()
    }
}

impl CertReloader {
    /// Read every certificate's files now and serve each new pair that changed and is good.
    /// Each bad pair leaves the one already being served in place, and the others are still
    /// checked. `Replaced` when any certificate was swapped. Reads files: call from a blocking
    /// context, or use [`CertReloader::reload_now`].
    pub fn check(&self) -> Result<Reload, TlsError> {
        let inner = &self.inner;
        let mut outcome = Reload::Unchanged;
        let mut errors = Vec::new();
        for slot in &inner.resolver.slots {
            match slot.check(&inner.provider) {
                Ok(Reload::Replaced) => outcome = Reload::Replaced,
                Ok(Reload::Unchanged) => {}
                Err(error) => errors.push(error),
            }
        }
        one_error(errors).map_or(Ok(outcome), Err)
    }

    /// [`CertReloader::check`] off the async threads, with the outcome logged (for SIGHUP).
    pub async fn reload_now(&self) -> Result<Reload, TlsError> {
        let reloader = self.clone();
        let outcome = tokio::task::spawn_blocking(move || reloader.check())
            .await
            .unwrap_or_else(|join| Err(TlsError::ReloadTask(join.to_string())));
        if let Err(error) = &outcome {
            tracing::warn!(%error, "TLS certificate not reloaded; the previous one keeps serving");
        }
        outcome
    }

    /// Look at the files every `every` in the background until every clone of this reloader is
    /// dropped. A problem is logged once (until it changes), never fatal.
    pub fn watch(&self, every: Duration) -> JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(watch_loop(weak, every))
    }

    /// The default certificate chain being served now, leaf first.
    pub fn current_chain(&self) -> Vec<CertificateDer<'static>> {
        self.inner.resolver.pick(None).current().cert.clone()
    }

    /// The chain a handshake naming `server_name` (SNI) gets now, leaf first.
    pub fn current_chain_for(&self, server_name: &str) -> Vec<CertificateDer<'static>> {
        self.inner
            .resolver
            .pick(Some(server_name))
            .current()
            .cert
            .clone()
    }
}

async fn watch_loop(weak: Weak<ReloaderInner>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut last_problem: Option<String> = None;
    loop {
        ticks.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        let reloader = CertReloader { inner };
        let outcome = match tokio::task::spawn_blocking(move || reloader.check()).await {
            Ok(outcome) => outcome,
            Err(join) => {
                tracing::warn!(error = %join, "TLS certificate check failed");
                continue;
            }
        };
        match outcome {
            Ok(_) => last_problem = None,
            Err(error) => {
                let problem = error.to_string();
                if last_problem.as_deref() != Some(&problem) {
                    tracing::warn!(
                        %error,
                        "TLS certificate files changed but cannot be used; the previous \
                         certificate keeps serving"
                    );
                    last_problem = Some(problem);
                }
            }
        }
    }
}

/// The listener's TLS settings for `files` alone, and the reloader that swaps the certificate in
/// them: [`server_config_for`] without hosts of their own.
pub fn server_config(
    files: &CertificateFiles,
) -> Result<(Arc<ServerConfig>, CertReloader), TlsError> {
    server_config_for(files, &[])
}

/// The listener's TLS settings: each handshake gets the certificate of the `by_name` entry
/// whose host names include its SNI name (any case), else `default` (no SNI, or another name).
/// The one reloader returned covers every certificate. TLS 1.3 and 1.2 with the ring provider,
/// ALPN `h2` then `http/1.1`, session tickets. Every pair is loaded and checked now (all failures
/// reported together). Call [`CertReloader::watch`] (inside the runtime) to follow file changes.
pub fn server_config_for(
    default: &CertificateFiles,
    by_name: &[(Vec<String>, CertificateFiles)],
) -> Result<(Arc<ServerConfig>, CertReloader), TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let all = std::iter::once(default).chain(by_name.iter().map(|(_, files)| files));
    let mut slots = Vec::new();
    let mut errors = Vec::new();
    for files in all {
        match load_slot(files, &provider) {
            Ok(slot) => slots.push(slot),
            Err(error) => errors.push(error),
        }
    }
    if let Some(error) = one_error(errors) {
        return Err(error);
    }
    let mut names: Vec<(String, usize)> = Vec::new();
    for (index, (hosts, _)) in by_name.iter().enumerate() {
        for name in hosts {
            let name = name.to_ascii_lowercase();
            // The config gives each name to one site; should two claim it, the first keeps it.
            if !names.iter().any(|(known, _)| *known == name) {
                names.push((name, index + 1));
            }
        }
    }
    let resolver = Arc::new(CertResolver { slots, names });
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Settings)?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Settings)?;
    let reloader = CertReloader {
        inner: Arc::new(ReloaderInner { provider, resolver }),
    };
    Ok((Arc::new(config), reloader))
}

fn load_slot(files: &CertificateFiles, provider: &CryptoProvider) -> Result<Slot, TlsError> {
    let (cert_pem, key_pem) = read_pair(files)?;
    let key = certified_key(files, &cert_pem, &key_pem, provider)?;
    Ok(Slot {
        files: files.clone(),
        current: RwLock::new(Arc::new(key)),
        serving: std::sync::Mutex::new(fingerprint(&cert_pem, &key_pem)),
    })
}

/// No error, the one error, or [`TlsError::Several`].
fn one_error(mut errors: Vec<TlsError>) -> Option<TlsError> {
    match errors.len() {
        0 => None,
        1 => errors.pop(),
        _ => Some(TlsError::Several(errors)),
    }
}

fn join(errors: &[TlsError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Load and check the pair in `files` (the same checks a reload makes), without serving it.
pub fn load_certified_key(files: &CertificateFiles) -> Result<CertifiedKey, TlsError> {
    let (cert_pem, key_pem) = read_pair(files)?;
    certified_key(
        files,
        &cert_pem,
        &key_pem,
        &rustls::crypto::ring::default_provider(),
    )
}

fn read_pair(files: &CertificateFiles) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let cert = read(&files.cert_file, "certificate file")?;
    let key = read(&files.key_file, "key file")?;
    Ok((cert, key))
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn certified_key(
    files: &CertificateFiles,
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| pem_error(&files.cert_file, "certificate file", error))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert_file.clone(),
        });
    }
    let key = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey {
                path: files.key_file.clone(),
            })
        }
        Err(error) => return Err(pem_error(&files.key_file, "key file", error)),
    };
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|error| TlsError::UnusableKey {
            path: files.key_file.clone(),
            reason: error.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Unknown: the key cannot tell its public half; rustls accepts that too.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch {
                cert: files.cert_file.clone(),
                key: files.key_file.clone(),
            })
        }
        Err(error) => Err(TlsError::BadCertificate {
            path: files.cert_file.clone(),
            reason: error.to_string(),
        }),
    }
}

fn pem_error(path: &Path, what: &'static str, error: pem::Error) -> TlsError {
    match error {
        pem::Error::Io(source) => TlsError::Read {
            what,
            path: path.to_path_buf(),
            source,
        },
        pem::Error::MissingSectionEnd { end_marker } => TlsError::Pem {
            what,
            path: path.to_path_buf(),
            reason: format!(
                "no `-----END {}-----` line",
                String::from_utf8_lossy(&end_marker).trim()
            ),
        },
        pem::Error::IllegalSectionStart { .. } => TlsError::Pem {
            what,
            path: path.to_path_buf(),
            reason: "a malformed `-----BEGIN` line".into(),
        },
        other => TlsError::Pem {
            what,
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

fn fingerprint(cert_pem: &[u8], key_pem: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update((cert_pem.len() as u64).to_be_bytes());
    hash.update(cert_pem);
    hash.update(key_pem);
    hash.finalize().into()
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
