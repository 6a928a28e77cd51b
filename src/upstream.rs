//! Upstreams: where allowed requests go, chosen by path prefix (longest wins), and the TLS
//! material (CA, client certificate) read for https ones at start.
//!
//! Selection is pure: it takes a path and returns the upstream and the path to send. This module
//! must not open connections or touch requests; [`crate::proxy`] does.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::HeaderValue;
use rustls::RootCertStore;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use url::Url;

/// One `upstreams` entry (or the single top-level `upstream`).
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Normalised path prefix ending in `/` (`/` matches everything).
    pub prefix: String,
    pub target: Target,
    /// Remove `prefix` (keeping a leading `/`) before forwarding.
    pub strip_prefix: bool,
    /// Send the client's `Host` instead of the upstream's authority.
    pub preserve_host: bool,
    pub timeouts: Timeouts,
    /// For https targets: extra trust and a client certificate.
    pub tls: UpstreamTls,
}

/// Where an upstream is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An `http://` or `https://` base URL (its path, if any, is prepended).
    Url(Url),
    /// `unix:/path/to.sock`: HTTP/1.1 over a unix socket.
    Unix(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP (or unix socket) connect and TLS handshake. Default 5s.
    pub connect: Duration,
    /// From sending the request to the response headers (the old `upstream_timeout`). Default 30s.
    /// The wait includes getting a connection; the shorter connect timeout normally ends that.
    pub response_header: Duration,
    /// Pooled idle connections are closed after this. Default 90s.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            response_header: Duration::from_secs(30),
            idle: Duration::from_secs(90),
        }
    }
}

/// TLS to an https upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTls {
    /// PEM CA certificates trusted instead of the public (webpki) roots: an upstream with a
    /// private CA is trusted only with a certificate from that CA.
    pub ca_file: Option<PathBuf>,
    /// A client certificate: (PEM chain, PEM key).
    pub client_certificate: Option<(PathBuf, PathBuf)>,
}

impl UpstreamConfig {
    /// The single-`upstream` form: everything to `url`.
    pub fn single(url: Url, response_header_timeout: Duration) -> Self {
        UpstreamConfig {
            prefix: "/".to_owned(),
            target: Target::Url(url),
            strip_prefix: false,
            preserve_host: false,
            timeouts: Timeouts {
                response_header: response_header_timeout,
                ..Timeouts::default()
            },
            tls: UpstreamTls::default(),
        }
    }
}

/// Why the upstreams cannot be used as configured. Each message names the upstream by its prefix,
/// the setting or file at fault, and what to change.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream is configured; give `upstream` or at least one `upstreams` entry")]
    Empty,
    #[error("upstream prefix {prefix:?}: {why}; write it like /api/")]
    Prefix { prefix: String, why: &'static str },
    #[error("two upstreams have the prefix {prefix}; give each prefix to one upstream")]
    DuplicatePrefix { prefix: String },
    #[error("upstream {prefix}: {target} cannot be used: {why}")]
    Target {
        prefix: String,
        target: String,
        why: &'static str,
    },
    #[error(
        "upstream {prefix}: tls is set but the target is not https; tls applies only to https:// \
         upstreams: remove it or use https://"
    )]
    TlsWithoutHttps { prefix: String },
    #[error("upstream {prefix}: {setting} {}: {why}", path.display())]
    File {
        prefix: String,
        /// The setting that names the file (`tls.ca_file`, ...).
        setting: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error(
        "upstream {prefix}: tls.client_certificate cannot be used: {why}; give a certificate and \
         its own private key (RSA, ECDSA P-256/P-384 or Ed25519)"
    )]
    ClientCertificate { prefix: String, why: String },
    /// rustls refused its own defaults (ring's protocol versions); not a config mistake.
    #[error("upstream {prefix}: cannot set up TLS: {why}")]
    Tls { prefix: String, why: String },
}

/// One usable upstream: its settings (prefix normalised), where requests go, and its TLS client
/// settings when it is https.
#[derive(Debug)]
pub struct Upstream {
    pub config: UpstreamConfig,
    pub(crate) origin: Origin,
    /// `Some` exactly for https targets.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
}

/// Where requests to an upstream go: the absolute URI parts and the default `Host`.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub scheme: Scheme,
    pub authority: Authority,
    /// The `Host` header sent upstream unless `preserve_host`: the upstream's own authority
    /// (`localhost` for a unix socket).
    pub host: HeaderValue,
    /// The target URL's path without a trailing slash ("" for none), prefixed to every request.
    pub base_path: String,
}

/// All upstreams of a site, ready to be chosen by path.
#[derive(Debug, Default)]
pub struct Upstreams {
    /// In configuration order; [`Selected::index`] points here.
    entries: Vec<Upstream>,
    /// Indexes into `entries`, longest prefix first, so the first match is the longest.
    longest_first: Vec<usize>,
}

/// The upstream that serves a request, and the path and query to send it.
#[derive(Debug, Clone)]
pub struct Selected<'a> {
    /// Position of the upstream in the configured list.
    pub index: usize,
    pub upstream: &'a Upstream,
    /// Starts with `/`: the request's path and query, with the prefix removed when the upstream
    /// has `strip_prefix` (the upstream URL's own base path is added later, when forwarding).
    pub path_and_query: Cow<'a, str>,
}

impl Upstreams {
    /// Check every upstream and read its TLS files (CA, client certificate). Prefixes are
    /// normalised to end in `/`; two upstreams may not share one.
    pub fn new(configs: &[UpstreamConfig]) -> Result<Upstreams, UpstreamError> {
        if configs.is_empty() {
            return Err(UpstreamError::Empty);
        }
        let mut entries = Vec::with_capacity(configs.len());
        for config in configs {
            let mut config = config.clone();
            config.prefix = normalise_prefix(&config.prefix)?;
            if entries
                .iter()
                .any(|other: &Upstream| other.config.prefix == config.prefix)
            {
                return Err(UpstreamError::DuplicatePrefix {
                    prefix: config.prefix,
                });
            }
            let origin = Origin::new(&config)?;
            let tls = tls_client_config(&config)?;
            entries.push(Upstream {
                config,
                origin,
                tls,
            });
        }
        let mut longest_first: Vec<usize> = (0..entries.len()).collect();
        longest_first.sort_by_key(|&index| std::cmp::Reverse(entries[index].config.prefix.len()));
        Ok(Upstreams {
            entries,
            longest_first,
        })
    }

    /// The upstream whose prefix matches `path_and_query` longest, with the path rewritten for
    /// it; `None` when no prefix matches (or the path does not start with `/`).
    ///
    /// A prefix `/api/` matches `/api/` and everything under it, and also the bare `/api`, so a
    /// link without the trailing slash reaches the same app; it never matches `/apix`. Only the
    /// path is compared (case-sensitively); the query is kept as it is. With `strip_prefix`,
    /// `/api/x?q` becomes `/x?q` and `/api` or `/api?q` become `/` or `/?q`.
    pub fn select<'a>(&'a self, path_and_query: &'a str) -> Option<Selected<'a>> {
        if !path_and_query.starts_with('/') {
            return None;
        }
        let path = path_and_query
            .split_once('?')
            .map_or(path_and_query, |(path, _)| path);
        self.longest_first.iter().find_map(|&index| {
            let upstream = &self.entries[index];
            let bare = bare_prefix(&upstream.config.prefix);
            let rest = path.strip_prefix(bare)?;
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            let path_and_query = if !upstream.config.strip_prefix {
                Cow::Borrowed(path_and_query)
            } else if rest.is_empty() {
                // `/api` or `/api?q`: what is left after the bare prefix is "" or "?q".
                Cow::Owned(format!("/{}", &path_and_query[bare.len()..]))
            } else {
                // The rest of the path and the query are one suffix of the original.
                Cow::Borrowed(&path_and_query[bare.len()..])
            };
            Some(Selected {
                index,
                upstream,
                path_and_query,
            })
        })
    }

    /// The upstreams in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Upstream> {
        self.entries.iter()
    }

    /// The upstream at `index` in configuration order.
    pub fn get(&self, index: usize) -> Option<&Upstream> {
        self.entries.get(index)
    }
}

/// `/api` → `/api/`; the prefix must be an absolute path without query or fragment.
fn normalise_prefix(prefix: &str) -> Result<String, UpstreamError> {
    let bad = |why| UpstreamError::Prefix {
        prefix: prefix.to_owned(),
        why,
    };
    if !prefix.starts_with('/') {
        return Err(bad("it must start with /"));
    }
    if prefix.contains(['?', '#']) {
        return Err(bad("it is a path; it cannot hold ? or #"));
    }
    if prefix.ends_with('/') {
        Ok(prefix.to_owned())
    } else {
        Ok(format!("{prefix}/"))
    }
}

/// The prefix without its trailing `/` ("" for `/`).
fn bare_prefix(prefix: &str) -> &str {
    prefix.strip_suffix('/').unwrap_or(prefix)
}

impl Origin {
    fn new(config: &UpstreamConfig) -> Result<Origin, UpstreamError> {
        match &config.target {
            Target::Url(url) => Origin::from_url(&config.prefix, url),
            Target::Unix(path) => {
                if cfg!(not(unix)) {
                    return Err(UpstreamError::Target {
                        prefix: config.prefix.clone(),
                        target: format!("unix:{}", path.display()),
                        why: "unix sockets exist only on unix systems; use http://",
                    });
                }
                // The socket path is the address; the URI only has to be absolute, and `Host`
                // says `localhost` as most servers on a socket expect.
                Ok(Origin {
                    scheme: Scheme::HTTP,
                    authority: Authority::from_static("localhost"),
                    host: HeaderValue::from_static("localhost"),
                    base_path: String::new(),
                })
            }
        }
    }

    fn from_url(prefix: &str, url: &Url) -> Result<Origin, UpstreamError> {
        let bad = |why| UpstreamError::Target {
            prefix: prefix.to_owned(),
            target: without_credentials(url),
            why,
        };
        let scheme = match url.scheme() {
            "http" => Scheme::HTTP,
            "https" => Scheme::HTTPS,
            _ => return Err(bad("use http://, https:// or unix:/path/to.sock")),
        };
        let host = url
            .host_str()
            .ok_or_else(|| bad("it has no host; write it like http://127.0.0.1:8080"))?;
        if !url.username().is_empty() || url.password().is_some() {
            // Never sent, and a password in the URL would end up in logs: refuse it.
            return Err(bad(
                "it holds a user name or password, which entrance does not send; remove them",
            ));
        }
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let invalid = || bad("its host is not a valid host name");
        Ok(Origin {
            scheme,
            host: HeaderValue::from_str(&authority).map_err(|_| invalid())?,
            authority: Authority::try_from(authority.as_str()).map_err(|_| invalid())?,
            base_path: url.path().trim_end_matches('/').to_owned(),
        })
    }
}

/// `url` as shown in messages: any user name and password left out.
fn without_credentials(url: &Url) -> String {
    let mut shown = url.clone();
    // Both fail only for URLs that cannot hold credentials, which then have none to remove.
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

/// The rustls client settings of an https upstream: the public (webpki) roots, or only the CAs
/// of `tls.ca_file` when given, and the client certificate when given. `None` for http and unix
/// targets, which must not carry TLS settings.
fn tls_client_config(
    config: &UpstreamConfig,
) -> Result<Option<Arc<rustls::ClientConfig>>, UpstreamError> {
    let https = matches!(&config.target, Target::Url(url) if url.scheme() == "https");
    if !https {
        if config.tls != UpstreamTls::default() {
            return Err(UpstreamError::TlsWithoutHttps {
                prefix: config.prefix.clone(),
            });
        }
        return Ok(None);
    }
    let prefix = config.prefix.as_str();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| UpstreamError::Tls {
            prefix: prefix.to_owned(),
            why: error.to_string(),
        })?;
    let builder = match &config.tls.ca_file {
        Some(path) => builder.with_root_certificates(private_roots(prefix, path)?),
        None => hyper_rustls::ConfigBuilderExt::with_webpki_roots(builder),
    };
    // No ALPN: hyper-rustls refuses a preset list, and without one servers speak HTTP/1.1,
    // which is what entrance sends upstream.
    let client = match &config.tls.client_certificate {
        Some((cert_file, key_file)) => {
            let chain = certificates(prefix, "tls.client_certificate.cert_file", cert_file)?;
            let key = private_key(prefix, key_file)?;
            builder.with_client_auth_cert(chain, key).map_err(|error| {
                UpstreamError::ClientCertificate {
                    prefix: prefix.to_owned(),
                    why: error.to_string(),
                }
            })?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(client)))
}

/// `tls.ca_file`: the only trust anchors for this upstream. A private CA replaces the public
/// roots rather than adding to them (as nginx's `proxy_ssl_trusted_certificate` does): an
/// internal app is then reachable only with a certificate from its own CA.
fn private_roots(prefix: &str, path: &Path) -> Result<RootCertStore, UpstreamError> {
    const SETTING: &str = "tls.ca_file";
    let mut roots = RootCertStore::empty();
    for (position, cert) in certificates(prefix, SETTING, path)?.into_iter().enumerate() {
        roots.add(cert).map_err(|error| {
            file_error(
                prefix,
                SETTING,
                path,
                format!(
                "certificate {} cannot be a trust anchor ({error}); give the PEM CA certificate \
                 that signed the upstream's certificate",
                position + 1
            ),
            )
        })?;
    }
    Ok(roots)
}

/// Every PEM certificate in the file at `setting`; at least one.
fn certificates(
    prefix: &str,
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, UpstreamError> {
    let pem = read(prefix, setting, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            file_error(prefix, setting, path, format!("is not valid PEM ({error})"))
        })?;
    if certs.is_empty() {
        return Err(file_error(
            prefix,
            setting,
            path,
            "holds no certificate; give PEM certificates (-----BEGIN CERTIFICATE-----)".to_owned(),
        ));
    }
    Ok(certs)
}

/// The first PEM private key in the client certificate's key file.
fn private_key(prefix: &str, path: &Path) -> Result<PrivateKeyDer<'static>, UpstreamError> {
    const SETTING: &str = "tls.client_certificate.key_file";
    let pem = read(prefix, SETTING, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| {
        let why = match error {
            pem::Error::NoItemsFound => "holds no private key; give the client certificate's \
                                         key, PEM (PKCS#8, PKCS#1 or SEC1)"
                .to_owned(),
            other => format!("is not a valid PEM private key ({other})"),
        };
        file_error(prefix, SETTING, path, why)
    })
}

fn read(prefix: &str, setting: &'static str, path: &Path) -> Result<Vec<u8>, UpstreamError> {
    std::fs::read(path).map_err(|error| {
        file_error(
            prefix,
            setting,
            path,
            format!("cannot be read ({error}); check the path and its permissions"),
        )
    })
}

fn file_error(prefix: &str, setting: &'static str, path: &Path, why: String) -> UpstreamError {
    UpstreamError::File {
        prefix: prefix.to_owned(),
        setting,
        path: path.to_owned(),
        why,
    }
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
