//! Upstreams: where allowed requests go, chosen by path prefix (longest wins).

use std::path::PathBuf;
use std::time::Duration;

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
    /// PEM CA certificates trusted in addition to the public roots.
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
