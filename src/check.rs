//! `entrance check`: the "test your connection" button. Validates what can be validated before
//! real users arrive: the config (already loaded), discovery and keys, the redirect URI to
//! register, and that the client credential is accepted by the token endpoint
//! (client-credentials grant for `{client_id}/.default`), explaining any AADSTS code.

use std::fmt::Write as _;

use crate::config::Config;
use crate::gateway::{redirect_uri, unix_now};
use crate::microsoft;
use crate::oidc::{OidcError, Provider};

/// The outcome: every line printed, and whether all is well.
pub struct Report {
    pub text: String,
    pub ok: bool,
}

/// What entrance itself needs besides the identity provider: the TLS certificate and the
/// session store. False when one of them fails.
async fn local_checks(config: &Config, text: &mut String) -> bool {
    let mut ok = true;
    let host_certificates = config.hosts.iter().enumerate().filter_map(|(i, host)| {
        host.tls
            .as_ref()
            .map(|files| (format!("hosts[{i}].tls"), files))
    });
    for (key, files) in config
        .tls
        .as_ref()
        .map(|files| ("listen.tls".to_owned(), files))
        .into_iter()
        .chain(host_certificates)
    {
        match crate::tls::load_certified_key(files) {
            Ok(_) => {
                let _ = writeln!(text, "{key}: ok, the certificate and key load and match");
            }
            Err(error) => {
                ok = false;
                let _ = writeln!(text, "FAIL {key}: {error}");
            }
        }
    }
    let secure = config.public_url.scheme() == "https";
    match crate::session::Sessions::new(&config.session, secure) {
        Ok(sessions) => match sessions.ready().await {
            Ok(()) => {
                let _ = writeln!(text, "session store ({}): ok", sessions.store_kind());
            }
            Err(error) => {
                ok = false;
                let _ = writeln!(
                    text,
                    "FAIL session store ({}): {error}",
                    sessions.store_kind()
                );
            }
        },
        Err(error) => {
            ok = false;
            let _ = writeln!(text, "FAIL session store: {error}");
        }
    }
    ok
}

/// Run every check against the identity provider named in `config`.
pub async fn run(config: &Config) -> Report {
    let mut text = String::new();
    let mut ok = true;
    let redirect = redirect_uri(&config.public_url);
    let _ = writeln!(text, "config: ok");
    let _ = writeln!(text, "redirect URI to register (platform Web): {redirect}");
    for host in &config.hosts {
        let _ = writeln!(
            text,
            "redirect URI to register for {}: {}",
            host.names.first().map(String::as_str).unwrap_or_default(),
            redirect_uri(&host.public_url)
        );
    }
    let _ = writeln!(
        text,
        "front-channel logout URL to register (Authentication page): {}",
        config
            .public_url
            .join("/oauth2/frontchannel_logout")
            .map(|u| u.to_string())
            .unwrap_or_default()
    );
    if config.provider.sign_out_at_microsoft {
        let _ = writeln!(
            text,
            "also register, for sign-out at Microsoft: {}",
            config
                .public_url
                .join("/oauth2/signed_out")
                .map(|u| u.to_string())
                .unwrap_or_default()
        );
    }

    // Client credentials are refused on the multi-tenant aliases; the organizations alias
    // resolves to the app's home tenant where the provider supports it.
    let mut provider_config = config.provider.clone();
    if matches!(provider_config.tenant.as_str(), "common" | "consumers") {
        provider_config.tenant = "organizations".into();
    }
    let provider = match Provider::new(&config.provider, &redirect, config.api.enabled) {
        Ok(p) => p,
        Err(error) => {
            let _ = writeln!(text, "FAIL provider settings: {error}");
            return Report { text, ok: false };
        }
    };
    match provider.refresh().await {
        Ok(()) => {
            let metadata = provider.metadata();
            let _ = writeln!(text, "discovery: ok ({})", provider.discovery_url());
            if let Some(m) = metadata {
                let _ = writeln!(text, "  issuer: {}", m.issuer);
                let _ = writeln!(text, "  token endpoint: {}", m.token_endpoint);
            }
            let _ = writeln!(text, "signing keys: ok ({} keys)", provider.key_count());
        }
        Err(error) => {
            let _ = writeln!(text, "FAIL discovery and keys: {error}");
            let _ = writeln!(
                text,
                "  fix: check provider.authority ({}) and provider.tenant ({}), and that this machine can reach them",
                config.provider.authority, config.provider.tenant
            );
            return Report { text, ok: false };
        }
    }

    // The redirect URI can only be checked where the browser meets it: at the authorize page.
    match provider.probe_authorize(unix_now()).await {
        Ok(None) => {
            let _ = writeln!(
                text,
                "authorize endpoint: ok, it accepts the client id and redirect URI"
            );
        }
        Ok(Some(code)) => {
            ok = false;
            let _ = writeln!(
                text,
                "FAIL authorize endpoint: Microsoft answers AADSTS{code}"
            );
            if let Some(e) = microsoft::explain(code) {
                let _ = writeln!(text, "  {}", e.meaning);
                let _ = writeln!(text, "  fix: {}", e.fix);
            }
        }
        Err(error) => {
            ok = false;
            let _ = writeln!(text, "FAIL authorize endpoint: {error}");
        }
    }

    let credential_provider = if provider_config.tenant == config.provider.tenant {
        provider
    } else {
        match Provider::new(&provider_config, &redirect, false) {
            Ok(p) if p.refresh().await.is_ok() => p,
            _ => provider,
        }
    };
    let scope = format!("{}/.default", config.provider.client_id);
    let kind = credential_provider.credential_kind();
    match credential_provider
        .client_credentials(&scope, unix_now())
        .await
    {
        Ok(_) => {
            let _ = writeln!(
                text,
                "credential ({kind}): ok, the token endpoint accepted it"
            );
        }
        Err(OidcError::TokenRejected {
            error,
            codes,
            description,
        }) => {
            ok = false;
            let code = codes
                .first()
                .copied()
                .or_else(|| description.as_deref().and_then(microsoft::aadsts_code));
            let _ = writeln!(
                text,
                "FAIL credential ({kind}): the token endpoint answered {error}"
            );
            match code.and_then(microsoft::explain) {
                Some(e) => {
                    let _ = writeln!(text, "  AADSTS{}: {}", e.code, e.meaning);
                    let _ = writeln!(text, "  fix: {}", e.fix);
                }
                None => {
                    if let Some(code) = code {
                        let _ = writeln!(text, "  AADSTS{code}");
                    }
                    if let Some(d) = description {
                        // Microsoft's own text, for the operator running the check.
                        let first = d.lines().next().unwrap_or_default();
                        let _ = writeln!(text, "  {first}");
                    }
                }
            }
        }
        Err(error) => {
            ok = false;
            let _ = writeln!(text, "FAIL credential ({kind}): {error}");
        }
    }
    ok &= local_checks(config, &mut text).await;
    let _ = writeln!(
        text,
        "{}",
        if ok {
            "all checks passed"
        } else {
            "some checks failed"
        }
    );
    Report { text, ok }
}
