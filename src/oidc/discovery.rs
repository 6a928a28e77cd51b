//! The provider's discovery document (`{authority}/{tenant}/v2.0/.well-known/openid-configuration`):
//! every endpoint entrance uses comes from here, never built by hand.

use serde::Deserialize;
use url::Url;

use super::OidcError;

/// The parts of the discovery document entrance relies on.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// Exact issuer, or a template containing `{tenantid}` (common/organizations).
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    #[serde(default)]
    pub end_session_endpoint: Option<Url>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Microsoft's extension: the Microsoft Graph host of this cloud (`graph.microsoft.com`).
    #[serde(default)]
    pub msgraph_host: Option<String>,
}

/// Where the v1 discovery document lives (for v1 access tokens).
pub fn v1_document_url(authority: &Url, tenant: &str) -> Result<Url, OidcError> {
    let base = authority.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}/{tenant}/.well-known/openid-configuration"))
        .map_err(|e| OidcError::Discovery(format!("cannot build the v1 discovery URL: {e}")))
}

/// Where the discovery document of `authority`/`tenant` lives.
pub fn document_url(authority: &Url, tenant: &str) -> Result<Url, OidcError> {
    let base = authority.as_str().trim_end_matches('/');
    let url = format!("{base}/{tenant}/v2.0/.well-known/openid-configuration");
    Url::parse(&url)
        .map_err(|e| OidcError::Discovery(format!("cannot build the discovery URL: {e}")))
}

impl Metadata {
    /// Refuse a document entrance must not follow: endpoints that are not https (except on
    /// loopback hosts, where the emulator and tests live), endpoints in another sovereign cloud
    /// than `authority`, or an empty issuer.
    pub fn check(&self, authority: &Url) -> Result<(), OidcError> {
        for url in [
            &self.authorization_endpoint,
            &self.token_endpoint,
            &self.jwks_uri,
        ] {
            crate::microsoft::cloud::check_same_cloud(authority, url)
                .map_err(OidcError::Discovery)?;
        }
        if self.issuer.trim().is_empty() {
            return Err(OidcError::Discovery(
                "the document has an empty issuer".into(),
            ));
        }
        for (name, url) in [
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            ("jwks_uri", &self.jwks_uri),
        ] {
            if !secure_or_loopback(url) {
                return Err(OidcError::Discovery(format!(
                    "{name} {url} is not https; entrance only follows http endpoints on loopback hosts"
                )));
            }
        }
        if !self.id_token_signing_alg_values_supported.is_empty()
            && !self
                .id_token_signing_alg_values_supported
                .iter()
                .any(|a| a == "RS256")
        {
            return Err(OidcError::Discovery(
                "the provider does not sign ID tokens with RS256".into(),
            ));
        }
        Ok(())
    }

    /// True when the issuer is a template (`common`/`organizations` authorities).
    pub fn issuer_is_template(&self) -> bool {
        self.issuer.contains(TENANT_PLACEHOLDER)
    }
}

/// The literal placeholder Microsoft puts in multi-tenant issuers.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// https anywhere, http only on loopback hosts.
pub fn secure_or_loopback(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn meta(token: &str) -> Metadata {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
            "authorization_endpoint": "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize",
            "token_endpoint": token,
            "jwks_uri": "https://login.microsoftonline.com/organizations/discovery/v2.0/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
        }))
        .unwrap()
    }

    #[test]
    fn document_url_follows_microsoft_layout() {
        let authority = Url::parse("https://login.microsoftonline.com/").unwrap();
        assert_eq!(
            document_url(&authority, "organizations").unwrap().as_str(),
            "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"
        );
    }

    #[test]
    fn plain_http_endpoints_are_refused_off_loopback() {
        let global = Url::parse("https://login.microsoftonline.com").unwrap();
        assert!(
            meta("https://login.microsoftonline.com/o/oauth2/v2.0/token")
                .check(&global)
                .is_ok()
        );
        assert!(meta("http://login.microsoftonline.com/token")
            .check(&global)
            .is_err());
        assert!(secure_or_loopback(
            &Url::parse("http://127.0.0.1:9/token").unwrap()
        ));
        assert!(secure_or_loopback(
            &Url::parse("http://localhost:9/token").unwrap()
        ));
        assert!(!secure_or_loopback(
            &Url::parse("http://evil.example/token").unwrap()
        ));
    }

    #[test]
    fn endpoints_in_another_cloud_are_refused() {
        let global = Url::parse("https://login.microsoftonline.com").unwrap();
        assert!(meta("https://login.microsoftonline.us/o/oauth2/v2.0/token")
            .check(&global)
            .is_err());
        assert!(meta("https://evil.example/token").check(&global).is_err());
    }

    #[test]
    fn template_issuer_is_recognised() {
        assert!(meta("https://x/t").issuer_is_template());
    }
}
