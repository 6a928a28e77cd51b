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

/// An app registration. Debug redacts the secret.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub client_id: String,
    pub client_secret: String,
    pub name: String,
    #[serde(default)]
    pub sign_in_audience: SignInAudience,
    /// Required for `AzureADMyOrg`: the only tenant the app exists in.
    #[serde(default)]
    pub home_tenant: Option<String>,
    /// Absolute http(s) URIs without fragment; matched exactly, except loopback ports.
    pub redirect_uris: Vec<String>,
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
            .finish()
    }
}

fn default_region() -> String {
    "NA".to_string()
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        let tenant = |id: &str, name: &str, domains: &[&str]| TenantConfig {
            id: id.to_string(),
            name: name.to_string(),
            domains: domains.iter().map(|s| s.to_string()).collect(),
            region: default_region(),
        };
        let user = |oid: &str,
                    name: &str,
                    username: &str,
                    tenant: &str,
                    groups: &[&str],
                    roles: &[&str]| {
            UserConfig {
                oid: oid.to_string(),
                name: name.to_string(),
                username: username.to_string(),
                email: Some(username.to_string()),
                tenant: tenant.to_string(),
                groups: groups.iter().map(|s| s.to_string()).collect(),
                roles: roles.iter().map(|s| s.to_string()).collect(),
            }
        };
        EmulatorConfig {
            tenants: vec![
                tenant(
                    d::CONTOSO_TID,
                    "Contoso",
                    &["contoso.onmicrosoft.com", "contoso.com"],
                ),
                tenant(
                    d::FABRIKAM_TID,
                    "Fabrikam",
                    &["fabrikam.onmicrosoft.com", "fabrikam.com"],
                ),
                TenantConfig {
                    region: "WW".to_string(),
                    ..tenant(d::CONSUMERS_TID, "Microsoft personal accounts", &[])
                },
            ],
            users: vec![
                user(
                    d::ALICE_OID,
                    "Alice Admin",
                    d::ALICE,
                    d::CONTOSO_TID,
                    &[d::ENGINEERING_GROUP, d::ALL_STAFF_GROUP],
                    &["Admin"],
                ),
                user(
                    d::BOB_OID,
                    "Bob Reader",
                    d::BOB,
                    d::CONTOSO_TID,
                    &[d::ALL_STAFF_GROUP],
                    &["Reader"],
                ),
                user(
                    d::CAROL_OID,
                    "Carol Fabrikam",
                    d::CAROL,
                    d::FABRIKAM_TID,
                    &[],
                    &[],
                ),
                user(
                    d::DAVE_OID,
                    "Dave Personal",
                    d::DAVE,
                    d::CONSUMERS_TID,
                    &[],
                    &[],
                ),
            ],
            apps: vec![AppConfig {
                client_id: d::CLIENT_ID.to_string(),
                client_secret: d::CLIENT_SECRET.to_string(),
                name: "entrance (emulator app)".to_string(),
                sign_in_audience: SignInAudience::AzureADandPersonalMicrosoftAccount,
                home_tenant: Some(d::CONTOSO_TID.to_string()),
                redirect_uris: d::REDIRECT_URIS.iter().map(|s| s.to_string()).collect(),
            }],
        }
    }
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
            if a.client_secret.is_empty() {
                problems.push(format!("apps[{i}].client_secret: must not be empty"));
            }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn built_in_config_is_valid() {
        EmulatorConfig::default().validate().unwrap();
    }

    #[test]
    fn yaml_loads_and_normalises_domains() {
        let yaml = r#"
tenants:
  - { id: 6E5F1D2C-3B4A-4C5D-8E7F-0A1B2C3D4E5F, name: Contoso, domains: [Contoso.com] }
users:
  - { oid: a11ce000-1b2c-4d3e-8f40-5a6b7c8d9e0f, name: A, username: a@contoso.com, tenant: contoso.com }
apps:
  - client_id: 4d2b9c6e-8f1a-4e3b-a5c7-2d9e0f1a3b5c
    client_secret: s
    name: app
    sign_in_audience: AzureADMyOrg
    home_tenant: 6e5f1d2c-3b4a-4c5d-8e7f-0a1b2c3d4e5f
    redirect_uris: [http://127.0.0.1/cb]
"#;
        let c = EmulatorConfig::from_yaml_str(yaml).unwrap();
        assert_eq!(c.users[0].tenant, d::CONTOSO_TID);
        assert_eq!(c.apps[0].sign_in_audience, SignInAudience::AzureADMyOrg);
    }

    #[test]
    fn yaml_unknown_key_names_its_path() {
        let err = EmulatorConfig::from_yaml_str(
            "tenants: []\nusers: []\napps: [{client_id: x, colour: red}]",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("apps[0]") && err.contains("colour"), "{err}");
    }

    #[test]
    fn yaml_validation_collects_every_problem() {
        let yaml = "tenants: [{id: nope, name: T}]\nusers: [{oid: x, name: U, username: u, tenant: t}]\napps: []";
        let err = EmulatorConfig::from_yaml_str(yaml).unwrap_err().to_string();
        for part in ["tenants[0].id", "users[0].oid", "users[0].tenant"] {
            assert!(err.contains(part), "{err}");
        }
    }
}
