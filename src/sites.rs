//! Sites: the top-level one and one per `hosts` entry, each a [`Gateway`] of its own (public URL,
//! upstreams, routes, rules, cookies), chosen per request by the host the client asked for.
//! The set in service is swapped atomically when the config is reloaded: requests in flight
//! finish on the sites they started with.
//!
//! Must not: believe a client's `X-Forwarded-Host` unless its peer is a trusted proxy, or put a
//! reloaded config into service before its identity provider is ready.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{Request, Response};
use hyper::body::Incoming;

use crate::body::Body;
use crate::config::{Config, HostConfig};
use crate::forwarded::{self, TrustedProxies};
use crate::gateway::{Gateway, StartError};

/// How long a reload waits for the new sites' identity providers to load discovery and keys.
const READY_WAIT: Duration = Duration::from_secs(20);

/// Every site of one config.
pub struct Sites {
    /// Serves every host not named in `hosts`.
    default: Arc<Gateway>,
    /// Lower-case host name (no port) → its site.
    by_host: HashMap<String, Arc<Gateway>>,
    trusted_proxies: TrustedProxies,
    /// What the status page shows of this config (no secrets).
    summary: serde_json::Value,
}

impl Sites {
    /// Build (but not start) every site of `config`. `previous`: the sites it replaces, whose
    /// sites of the same public URL hand over what they remember of ended sessions.
    pub fn new(config: &Config, previous: Option<&Sites>) -> Result<Sites, StartError> {
        let build = |config: &Config| -> Result<Arc<Gateway>, StartError> {
            let mut site = Gateway::new(config)?;
            if let Some(before) = previous.and_then(|p| p.site_for(&config.public_url)) {
                site.sessions.adopt_revocations(&before.sessions);
            }
            Ok(Arc::new(site))
        };
        let default = build(config)?;
        let mut by_host = HashMap::new();
        for host in &config.hosts {
            let site = build(&site_config(config, host))?;
            for name in &host.names {
                by_host.insert(name.to_ascii_lowercase(), site.clone());
            }
        }
        Ok(Sites {
            default,
            by_host,
            trusted_proxies: config.trusted_proxies.clone(),
            summary: crate::gateway::config_summary(config),
        })
    }

    /// The site a request is for: by `Host` (or HTTP/2 `:authority`; a trusted proxy's
    /// `X-Forwarded-Host`), the top-level site when no `hosts` entry names it.
    pub fn select(&self, req: &Request<Incoming>, peer: SocketAddr) -> &Arc<Gateway> {
        if self.by_host.is_empty() {
            return &self.default;
        }
        let own = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or_default();
        let view = forwarded::client_view(
            peer,
            req.headers(),
            &self.trusted_proxies,
            forwarded::Proto::Http,
            own,
        );
        let name = host_name(&view.host);
        self.by_host.get(&name).unwrap_or(&self.default)
    }

    /// The site whose public URL is `public_url`.
    fn site_for(&self, public_url: &url::Url) -> Option<Arc<Gateway>> {
        self.all()
            .into_iter()
            .find(|site| site.settings.public_url == *public_url)
    }

    /// Every distinct site, the top-level one first.
    pub fn all(&self) -> Vec<Arc<Gateway>> {
        let mut sites = vec![self.default.clone()];
        for site in self.by_host.values() {
            if !sites.iter().any(|s| Arc::ptr_eq(s, site)) {
                sites.push(site.clone());
            }
        }
        sites
    }

    /// What the status page shows of this config (no secrets).
    pub fn summary(&self) -> &serde_json::Value {
        &self.summary
    }

    /// The top-level site.
    pub fn default_site(&self) -> &Arc<Gateway> {
        &self.default
    }

    /// Start every site's background work (discovery and key refresh).
    pub fn start(&self) {
        for site in self.all() {
            site.start_background();
        }
    }

    /// Whether every site's identity provider has loaded discovery and keys.
    pub fn is_ready(&self) -> bool {
        self.all().iter().all(|s| s.provider.is_ready())
    }
}

/// The sites in service, swapped whole on reload.
#[derive(Clone)]
pub struct SiteSwitch {
    current: Arc<ArcSwap<Sites>>,
}

impl SiteSwitch {
    pub fn new(sites: Sites) -> SiteSwitch {
        SiteSwitch {
            current: Arc::new(ArcSwap::from_pointee(sites)),
        }
    }

    /// Serve one request on the site it is for.
    pub async fn serve(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let site = self.current.load().select(&req, peer).clone();
        site.observe(req, peer).await
    }

    /// The sites in service now.
    pub fn current(&self) -> Arc<Sites> {
        self.current.load_full()
    }

    /// Put `config` into service: build its sites, wait until their identity providers are
    /// ready, then swap. On any failure the sites in service stay as they are.
    pub async fn reload(&self, config: &Config) -> Result<(), ReloadError> {
        let sites = Sites::new(config, Some(&self.current())).map_err(ReloadError::Start)?;
        sites.start();
        let waited = tokio::time::timeout(READY_WAIT, async {
            while !sites.is_ready() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        if waited.is_err() {
            return Err(ReloadError::NotReady);
        }
        self.current.store(Arc::new(sites));
        Ok(())
    }
}

/// Why a reloaded config was not put into service.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Start(StartError),
    #[error(
        "the new config's identity provider did not load discovery and keys within 20s; \
         the previous config keeps serving"
    )]
    NotReady,
}

/// The config of one `hosts` entry: the top-level config with the host's own public URL,
/// upstreams, routes and (when it has them) rules.
pub fn site_config(config: &Config, host: &HostConfig) -> Config {
    let mut site = config.clone();
    site.public_url = host.public_url.clone();
    site.upstreams = host.upstreams.clone();
    site.routes = host.routes.clone();
    if let Some(rules) = &host.authorization {
        site.authorization.rules = rules.clone();
    }
    site.hosts = Vec::new();
    site
}

/// `host[:port]` → lower-case host without the port (IPv6 brackets kept).
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => host[..=end].to_owned(),
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_owned(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cookie header carrying what `set_cookies` set.
    fn sent_back(set_cookies: &[String]) -> crate::session::RequestCookies {
        let pairs: Vec<&str> = set_cookies
            .iter()
            .filter_map(|c| c.split(';').next())
            .collect();
        let mut headers = http::HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(&pairs.join("; ")) {
            headers.insert(http::header::COOKIE, value);
        }
        crate::session::RequestCookies::from_headers(&headers)
    }

    #[tokio::test]
    async fn a_reload_does_not_forget_a_front_channel_logout() {
        let yaml = "
public_url: https://app.example.com
upstream: http://127.0.0.1:8080
provider:
  tenant: 11111111-2222-3333-4444-555555555555
  client_id: my-client
  client_secret: s3cr3t-client-value
session:
  secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
";
        let config = match crate::config::load_str(yaml, &|_| None) {
            Ok(config) => config,
            Err(error) => panic!("{error}"),
        };
        let Ok(before) = Sites::new(&config, None) else {
            panic!("sites did not build");
        };
        let now = 1_000_000;
        let who = crate::session::user_for_tests("o");
        let session = crate::session::Session::new(who, Some("sid-1".into()), now, 3600);
        let sessions = &before.default_site().sessions;
        let Ok(set) = sessions
            .start(&session, &crate::session::RequestCookies::default(), now)
            .await
        else {
            panic!("no cookie");
        };
        let cookies = sent_back(&set);
        assert!(sessions.end_sid("sid-1", now + 1).await.is_ok());

        let Ok(after) = Sites::new(&config, Some(&before)) else {
            panic!("sites did not build");
        };
        let resumed = after
            .default_site()
            .sessions
            .resume(&cookies, now + 2, false, |s| async move { Ok(s) })
            .await;
        assert!(
            matches!(resumed, Ok(crate::session::Resumed::Ended { .. })),
            "the reloaded config let a logged-out session back in: {resumed:?}"
        );
    }

    #[test]
    fn host_names_lose_their_port_and_case() {
        assert_eq!(host_name("App.Example.com:8443"), "app.example.com");
        assert_eq!(host_name("app.example.com"), "app.example.com");
        assert_eq!(host_name("[::1]:4180"), "[::1]");
        assert_eq!(host_name("127.0.0.1:80"), "127.0.0.1");
    }
}
