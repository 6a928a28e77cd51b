//! Starting entrance: every site of a config on its listeners (TLS and limits as configured),
//! the admin listener and the http-to-https redirect.

use tokio::net::TcpListener;

use super::{redirect_uri, StartError};
use crate::config::Config;
use crate::server;
use crate::sites::{SiteSwitch, Sites};

/// Build the gateway from `config` and serve it on `listener`. Discovery and keys load in the
/// background (with retries); `/readyz` says when sign-in is possible.
pub async fn start(config: Config, listener: TcpListener) -> Result<server::Running, StartError> {
    Ok(start_with_admin(config, listener, None).await?.0)
}

/// [`start`], plus the admin listener (`/metrics`, `/status`) when one is given.
pub async fn start_with_admin(
    config: Config,
    listener: TcpListener,
    admin: Option<TcpListener>,
) -> Result<(server::Running, Option<server::Running>), StartError> {
    let serving = serve(
        config,
        Listeners {
            gateway: listener,
            admin,
            redirect_http: None,
        },
    )
    .await?;
    Ok((serving.gateway, serving.admin))
}

/// The sockets entrance serves on, bound by the caller.
pub struct Listeners {
    pub gateway: TcpListener,
    /// `/metrics` and `/status`.
    pub admin: Option<TcpListener>,
    /// `listen.redirect_http`: redirects everything to https.
    pub redirect_http: Option<TcpListener>,
}

/// What [`serve`] started.
pub struct Serving {
    pub gateway: server::Running,
    pub admin: Option<server::Running>,
    pub redirect_http: Option<server::Running>,
    /// Reload the config into service.
    pub sites: SiteSwitch,
    /// The certificate in use, reloaded when its files change (with `listen.tls`).
    pub certificate: Option<crate::tls::CertReloader>,
}

/// Serve every site of `config` on `listeners`: HTTPS when `listen.tls` is set (HTTP/2 and
/// HTTP/1.1), with the configured limits.
pub async fn serve(config: Config, listeners: Listeners) -> Result<Serving, StartError> {
    let sites = Sites::new(&config, None)?;
    sites.start();
    let default = sites.default_site().clone();
    tracing::info!(
        listen = %listeners.gateway.local_addr()?,
        public_url = %default.settings.public_url,
        hosts = config.hosts.len(),
        upstreams = config.upstreams.len(),
        tls = config.tls.is_some(),
        discovery = %default.provider.discovery_url(),
        redirect_uri = %redirect_uri(&default.settings.public_url),
        "entrance is serving"
    );
    let switch = SiteSwitch::new(sites);
    let admin = match listeners.admin {
        Some(listener) => {
            let status_switch = switch.clone();
            Some(crate::admin::spawn(
                listener,
                crate::admin::StatusSource {
                    version: env!("CARGO_PKG_VERSION"),
                    current: Box::new(move || {
                        let sites = status_switch.current();
                        (
                            sites.summary().clone(),
                            sites.default_site().provider.clone(),
                        )
                    }),
                    metrics: default.metrics.clone(),
                },
            )?)
        }
        None => None,
    };
    let (tls, certificate) = match &config.tls {
        Some(files) => {
            // Hosts with a certificate of their own get it by SNI; every other name the default.
            let by_name: Vec<_> = config
                .hosts
                .iter()
                .filter_map(|host| Some((host.names.clone(), host.tls.clone()?)))
                .collect();
            let (server_config, reloader) = crate::tls::server_config_for(files, &by_name)
                .map_err(|e| StartError::Tls(e.to_string()))?;
            reloader.watch(CERTIFICATE_CHECK_INTERVAL);
            (Some(server_config), Some(reloader))
        }
        None => (None, None),
    };
    let https_port = listeners.gateway.local_addr()?.port();
    let redirect_http = match listeners.redirect_http {
        Some(listener) => {
            let public_port = default
                .settings
                .public_url
                .port_or_known_default()
                .unwrap_or(https_port);
            Some(server::spawn_redirect_to_https(listener, public_port)?)
        }
        None => None,
    };
    let serving_switch = switch.clone();
    let gateway = server::spawn_with(
        listeners.gateway,
        server::ServeOptions {
            tls,
            limits: config.limits,
        },
        move |req, peer| {
            let switch = serving_switch.clone();
            async move { switch.serve(req, peer).await }
        },
        Some(default.metrics.clone()),
    )?;
    Ok(Serving {
        gateway,
        admin,
        redirect_http,
        sites: switch,
        certificate,
    })
}

/// How often the TLS certificate files are checked for a new certificate.
const CERTIFICATE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// What the status page shows of the config: no secrets, no credentials.
pub fn config_summary(config: &Config) -> serde_json::Value {
    serde_json::json!({
        "public_url": config.public_url.as_str(),
        "authority": config.provider.authority.as_str(),
        "tenant": config.provider.tenant,
        "client_id": config.provider.client_id,
        "credential": config.provider.credential.kind(),
        "routes": config.routes.len(),
        "api_enabled": config.api.enabled,
        "session_lifetime_secs": config.session.lifetime.as_secs(),
        "session_idle_timeout_secs": config.session.idle_timeout.map(|d| d.as_secs()),
        "session_store": match config.session.store {
            crate::config::SessionStoreConfig::Cookie => "cookie",
            crate::config::SessionStoreConfig::Redis(_) => "redis",
        },
        "session_secrets": config.session.secrets.len(),
        "tls": config.tls.is_some(),
        "hosts": config.hosts.iter().map(|h| h.public_url.as_str()).collect::<Vec<_>>(),
        "upstreams": config
            .upstreams
            .iter()
            .map(|u| format!("{} -> {}", u.prefix, match &u.target {
                crate::upstream::Target::Url(url) => url.to_string(),
                crate::upstream::Target::Unix(path) => format!("unix:{}", path.display()),
            }))
            .collect::<Vec<_>>(),
        "trusted_proxies": config.trusted_proxies.nets().iter().map(|n| n.to_string()).collect::<Vec<_>>(),
    })
}
