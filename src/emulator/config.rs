//! The emulator's directory: tenants, users and app registrations, built in or read from YAML,
//! validated once before the emulator starts.
//!
//! Lookups by name live here; who may sign in where lives in [`super::tenancy`].

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::defaults as d;
use super::protocol::is_guid;
use super::EmulatorError;

/// Everything the emulator knows: who exists and which apps may ask for sign-ins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorConfig {
    pub tenants: Vec<TenantConfig>,
    pub users: Vec<UserConfig>,
    pub apps: Vec<AppConfig>,
}

/// One directory (Entra tenant), or the personal-accounts tenant when `id` is
/// [`defaults::CONSUMERS_TID`](d::CONSUMERS_TID).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant GUID, lower case.
    pub id: String,
    /// Display name (pages only).
    pub name: String,
    /// Verified domains; each may be used instead of the GUID in paths.
    #[serde(default)]
    pub domains: Vec<String>,
    /// `tenant_region_scope` in discovery.
    #[serde(default = "default_region")]
    pub region: String,
}

/// One account. Its `oid` is per tenant, as at Microsoft: a user lives in exactly one tenant here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub oid: String,
    /// Display name (`name` claim).
    pub name: String,
    /// Sign-in name (`preferred_username`, `login_hint`); unique, compared case-insensitively.
    pub username: String,
    /// `email` claim, emitted only when the `email` scope was asked for.
    #[serde(default)]
    pub email: Option<String>,
    /// Tenant GUID (a domain is accepted in YAML and normalised to the GUID on load).
    pub tenant: String,
    /// Group object ids (`groups` claim). Personal accounts have none.
    #[serde(default)]
    pub groups: Vec<String>,
    /// App-role values (`roles` claim); the emulator assigns them for every app.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// An app registration: a client that asks for tokens and, at the same time, an API that tokens
/// can be issued for (`api://{client_id}`). Debug redacts the secret.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub client_id: String,
    /// The client secret; empty when the app authenticates with assertions only.
    #[serde(default)]
    pub client_secret: String,
    pub name: String,
    #[serde(default)]
    pub sign_in_audience: SignInAudience,
    /// Required for `AzureADMyOrg`: the only tenant the app exists in. Also the tenant of
    /// client-credentials tokens requested on `/organizations`.
    #[serde(default)]
    pub home_tenant: Option<String>,
    /// Absolute http(s) URIs without fragment; matched exactly, except loopback ports.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Microsoft's `api.requestedAccessTokenVersion`: 1 or 2, the version of access tokens
    /// issued *for this app's API* (whoever the caller is). Apps that accept personal accounts
    /// must use 2, as at Microsoft.
    #[serde(default = "default_access_token_version")]
    pub access_token_version: u8,
    /// Application permissions (app-role values of other APIs) granted to this app: the `roles`
    /// of its app-only (client-credentials) tokens.
    #[serde(default)]
    pub app_roles_granted: Vec<String>,
    /// PEM X.509 certificates (`-----BEGIN CERTIFICATE-----`, RSA keys) whose private keys may
    /// sign client assertions, named by `x5t#S256` or `x5t` in the assertion header.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Workload identity federation: tokens from these external issuers are client assertions.
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
    /// The registration's "Front-channel logout URL" (manifest `logoutUrl`): when a browser
    /// signs out at the end_session endpoint, the sign-out page loads it in a hidden iframe with
    /// `?sid=` of every sign-in of this app in that browser. Absolute http(s), no fragment.
    #[serde(default)]
    pub frontchannel_logout_url: Option<String>,
}

/// A federated identity credential: a trusted external issuer, subject and audience. Matching is
/// exact and case-sensitive, as at Microsoft.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredential {
    /// The external token's `iss` (e.g. a Kubernetes cluster's OIDC issuer URL).
    pub issuer: String,
    /// Its `sub` (e.g. `system:serviceaccount:ns:name`).
    pub subject: String,
    /// Accepted `aud` values.
    #[serde(default = "default_federated_audiences")]
    pub audiences: Vec<String>,
    /// The issuer's public keys as a JWKS (`{"keys": [...]}`), inline: the emulator cannot fetch
    /// a cluster's discovery document.
    pub jwks: serde_json::Value,
}

/// Microsoft's `signInAudience` values: which accounts the app accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum SignInAudience {
    /// Single tenant: `home_tenant` only.
    AzureADMyOrg,
    /// Any work/school tenant.
    AzureADMultipleOrgs,
    /// Any work/school tenant and personal accounts.
    #[default]
    AzureADandPersonalMicrosoftAccount,
    /// Personal accounts only.
    PersonalMicrosoftAccount,
}

impl fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("name", &self.name)
            .field("sign_in_audience", &self.sign_in_audience)
            .field("home_tenant", &self.home_tenant)
            .field("redirect_uris", &self.redirect_uris)
            .field("access_token_version", &self.access_token_version)
            .field("app_roles_granted", &self.app_roles_granted)
            .field("certificates", &self.certificates.len())
            .field("federated_credentials", &self.federated_credentials)
            .field("frontchannel_logout_url", &self.frontchannel_logout_url)
            .finish()
    }
}

/// An app with no credentials and no redirect URIs: fill in what a test needs with
/// `AppConfig { client_id, .., ..AppConfig::default() }`.
impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            client_id: String::new(),
            client_secret: String::new(),
            name: String::new(),
            sign_in_audience: SignInAudience::default(),
            home_tenant: None,
            redirect_uris: Vec::new(),
            access_token_version: default_access_token_version(),
            app_roles_granted: Vec::new(),
            certificates: Vec::new(),
            federated_credentials: Vec::new(),
            frontchannel_logout_url: None,
        }
    }
}

fn default_access_token_version() -> u8 {
    2
}

fn default_federated_audiences() -> Vec<String> {
    vec!["api://AzureADTokenExchange".to_string()]
}

pub(super) fn default_region() -> String {
    "NA".to_string()
}

impl EmulatorConfig {
    /// Read and validate a YAML file with the same structure as this type.
    pub fn from_yaml_file(path: &Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::ReadConfig {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml_str(&text)
    }

    /// Parse and validate YAML. Unknown keys are errors; every validation problem is reported
    /// with its key path in one go.
    pub fn from_yaml_str(s: &str) -> Result<Self, EmulatorError> {
        let de = serde_yaml::Deserializer::from_str(s);
        let mut config: EmulatorConfig =
            serde_path_to_error::deserialize(de).map_err(|e| EmulatorError::ParseConfig {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        config.normalise();
        config.validate()?;
        Ok(config)
    }

    /// Lower-case the identifiers Microsoft treats case-insensitively, and turn user tenants
    /// given as domains into GUIDs, so lookups can compare plainly.
    fn normalise(&mut self) {
        for t in &mut self.tenants {
            t.id = t.id.to_ascii_lowercase();
            for dom in &mut t.domains {
                *dom = dom.to_ascii_lowercase();
            }
        }
        for i in 0..self.users.len() {
            let wanted = self.users[i].tenant.to_ascii_lowercase();
            let id = self
                .tenant_by_name(&wanted)
                .map(|t| t.id.clone())
                .unwrap_or(wanted);
            self.users[i].tenant = id;
        }
    }

    /// Every problem, each with its key path; `Ok` when there are none.
    pub(crate) fn validate(&self) -> Result<(), EmulatorError> {
        let mut problems = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if !is_guid(&t.id) {
                problems.push(format!(
                    "tenants[{i}].id: {:?} is not a lower-case GUID",
                    t.id
                ));
            }
            for name in std::iter::once(&t.id).chain(&t.domains) {
                if matches!(name.as_str(), "common" | "organizations" | "consumers") {
                    problems.push(format!("tenants[{i}].domains: {name:?} is reserved"));
                } else if !names.insert(name.to_ascii_lowercase()) {
                    problems.push(format!("tenants[{i}]: {name:?} is used by two tenants"));
                }
            }
        }
        let mut usernames = std::collections::HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            if !is_guid(&u.oid) {
                problems.push(format!("users[{i}].oid: {:?} is not a GUID", u.oid));
            }
            if u.username.is_empty() || !usernames.insert(u.username.to_lowercase()) {
                problems.push(format!(
                    "users[{i}].username: {:?} is empty or not unique",
                    u.username
                ));
            }
            if self.tenant(&u.tenant).is_none() {
                problems.push(format!("users[{i}].tenant: no tenant {:?}", u.tenant));
            }
            if u.tenant == d::CONSUMERS_TID && !u.groups.is_empty() {
                problems.push(format!(
                    "users[{i}].groups: personal accounts have no groups"
                ));
            }
            for (j, g) in u.groups.iter().enumerate() {
                if !is_guid(g) {
                    problems.push(format!("users[{i}].groups[{j}]: {g:?} is not a GUID"));
                }
            }
        }
        let mut clients = std::collections::HashSet::new();
        for (i, a) in self.apps.iter().enumerate() {
            if !is_guid(&a.client_id) || !clients.insert(a.client_id.as_str()) {
                problems.push(format!(
                    "apps[{i}].client_id: {:?} is not a unique GUID",
                    a.client_id
                ));
            }
            if a.client_secret.is_empty()
                && a.certificates.is_empty()
                && a.federated_credentials.is_empty()
            {
                problems.push(format!(
                    "apps[{i}]: needs a client_secret, certificates or federated_credentials"
                ));
            }
            problems.extend(
                check_credentials(a)
                    .into_iter()
                    .map(|p| format!("apps[{i}].{p}")),
            );
            match (&a.home_tenant, a.sign_in_audience) {
                (None, SignInAudience::AzureADMyOrg) => {
                    problems.push(format!("apps[{i}].home_tenant: required for AzureADMyOrg"))
                }
                (Some(t), _) if self.tenant(t).is_none() => {
                    problems.push(format!("apps[{i}].home_tenant: no tenant {t:?}"))
                }
                _ => {}
            }
            for (j, uri) in a.redirect_uris.iter().enumerate() {
                if let Err(why) = check_redirect_uri(uri) {
                    problems.push(format!("apps[{i}].redirect_uris[{j}]: {why}"));
                }
            }
            if let Some(url) = &a.frontchannel_logout_url {
                if let Err(why) = check_frontchannel_logout_url(url) {
                    problems.push(format!("apps[{i}].frontchannel_logout_url: {why}"));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(EmulatorError::InvalidConfig(problems))
        }
    }

    /// The tenant with this GUID.
    pub(crate) fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.id.eq_ignore_ascii_case(id))
    }

    /// The tenant with this GUID or verified domain (case-insensitive).
    pub(crate) fn tenant_by_name(&self, name: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| {
            t.id.eq_ignore_ascii_case(name)
                || t.domains.iter().any(|d| d.eq_ignore_ascii_case(name))
        })
    }

    /// The user signing in as `username` (case-insensitive, as Microsoft's sign-in names are).
    pub(crate) fn user(&self, username: &str) -> Option<&UserConfig> {
        self.users
            .iter()
            .find(|u| u.username.to_lowercase() == username.trim().to_lowercase())
    }

    /// The app registration with this client id (GUIDs compare case-insensitively).
    pub(crate) fn app(&self, client_id: &str) -> Option<&AppConfig> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }
}

/// Token version and credentials of one app; each problem starts with its key path below the app.
fn check_credentials(a: &AppConfig) -> Vec<String> {
    let mut problems = Vec::new();
    match a.access_token_version {
        1 if a.sign_in_audience != SignInAudience::AzureADMyOrg
            && a.sign_in_audience != SignInAudience::AzureADMultipleOrgs =>
        {
            problems.push(
                "access_token_version: must be 2 for apps that accept personal accounts \
                 (Microsoft refuses requestedAccessTokenVersion 1 for them)"
                    .to_string(),
            )
        }
        1 | 2 => {}
        v => problems.push(format!("access_token_version: {v} is not 1 or 2")),
    }
    for (j, pem) in a.certificates.iter().enumerate() {
        if let Err(why) = super::certificate::ClientCertificate::from_pem(pem) {
            problems.push(format!("certificates[{j}]: {why}"));
        }
    }
    for (j, f) in a.federated_credentials.iter().enumerate() {
        let at = format!("federated_credentials[{j}]");
        if f.issuer.is_empty() || f.subject.is_empty() {
            problems.push(format!("{at}: issuer and subject must not be empty"));
        }
        if f.audiences.is_empty() {
            problems.push(format!("{at}.audiences: must not be empty"));
        }
        if let Err(why) = super::assertion::jwk_set(&f.jwks) {
            problems.push(format!("{at}.jwks: {why}"));
        }
    }
    problems
}

fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let parsed =
        url::Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{uri:?} must be http or https"));
    }
    if parsed.fragment().is_some() {
        return Err(format!("{uri:?} must not have a fragment"));
    }
    Ok(())
}

/// A front-channel logout URL: what a redirect URI must be, and no user info (the emulator
/// appends `sid` to the query and puts the result in an iframe). Microsoft's portal insists on
/// https; its manifest also takes http, which the emulator allows because it lives on loopback.
pub(crate) fn check_frontchannel_logout_url(url: &str) -> Result<(), String> {
    check_redirect_uri(url)?;
    match url::Url::parse(url) {
        Ok(parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            Err(format!("{url:?} must not carry a user name or password"))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{url:?} is not an absolute URL: {e}")),
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
