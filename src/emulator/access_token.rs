//! Access tokens, which depend on the resource as at Microsoft: which resource a scope list is
//! for (Microsoft Graph or a registered app's API), and the v1/v2 JWT claim sets for an app's API
//! (delegated and app-only). Graph tokens are opaque and live in [`super::graph`].
//!
//! Resource resolution and claim building are pure; signing uses the key it is given.

use std::time::SystemTime;

use jsonwebtoken::{Algorithm, Header};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::config::{AppConfig, EmulatorConfig, UserConfig};
use super::defaults::CONTOSO_TID;
use super::groups::insert_group_claims;
use super::id_token::pairwise_sub;
use super::keys::SigningKey;
use super::protocol::{opaque, unix_now, AadError};
use super::AccessTokenSpec;

/// Access-token lifetime: Microsoft's is 60–90 minutes; the emulator uses a fixed hour.
pub(crate) const LIFETIME_SECS: i64 = 3600;

/// Scopes about the sign-in itself, not any resource.
pub(crate) const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Microsoft Graph's resource URI and its well-known application id.
const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The `scp` Microsoft's portal gives the first scope an API exposes; a delegated `.default`
/// request gets it because the emulator keeps no list of exposed scopes.
pub(crate) const DEFAULT_DELEGATED_SCOPE: &str = "user_impersonation";

/// Whom an access token is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resource<'c> {
    /// Microsoft Graph: an opaque token only the emulator's Graph endpoints understand.
    Graph,
    /// A registered app's API: a signed JWT in the app's `access_token_version`.
    Api(&'c AppConfig),
}

impl Resource<'_> {
    fn same(&self, other: &Resource<'_>) -> bool {
        match (self, other) {
            (Resource::Graph, Resource::Graph) => true,
            (Resource::Api(a), Resource::Api(b)) => a.client_id == b.client_id,
            _ => false,
        }
    }
}

/// The resource of a token request and its scopes, exactly as requested (`api://…/read`).
#[derive(Debug, Clone)]
pub(crate) struct ResourceScopes<'c> {
    pub resource: Resource<'c>,
    pub scopes: Vec<String>,
}

impl ResourceScopes<'_> {
    /// The scope names for `scp`: the resource prefix stripped; `.default` becomes
    /// [`DEFAULT_DELEGATED_SCOPE`].
    pub fn scp(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for s in &self.scopes {
            let name = s.rsplit('/').next().unwrap_or(s);
            let name = if name == ".default" {
                DEFAULT_DELEGATED_SCOPE
            } else {
                name
            };
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        names
    }
}

/// AADSTS500011: a scope names a resource that does not exist.
pub(crate) fn unknown_resource(resource: &str, tenant: &str) -> AadError {
    AadError::new(
        "invalid_resource",
        500011,
        format!(
            "The resource principal named {resource} was not found in the tenant named \
             {tenant}. This can happen if the application has not been installed by the \
             administrator of the tenant or consented to by any user in the tenant. You might \
             have sent your authentication request to the wrong tenant."
        ),
    )
}

/// The resource one (non-OIDC) scope belongs to. Bare names (`User.Read`) are Graph's, as at
/// Microsoft; `{id}/name` and `api://{id}/name` are a registered app's.
pub(crate) fn classify<'c>(
    config: &'c EmulatorConfig,
    scope: &str,
    tenant: &str,
) -> Result<Resource<'c>, AadError> {
    let Some((resource, _name)) = scope.rsplit_once('/') else {
        return Ok(Resource::Graph);
    };
    if resource.eq_ignore_ascii_case(GRAPH_RESOURCE) || resource.eq_ignore_ascii_case(GRAPH_APP_ID)
    {
        return Ok(Resource::Graph);
    }
    let id = resource.strip_prefix("api://").unwrap_or(resource);
    config
        .app(id)
        .map(Resource::Api)
        .ok_or_else(|| unknown_resource(resource, tenant))
}

/// The resource of a scope list. OIDC scopes alone mean Graph (Microsoft issues a Graph token
/// for them, usable at userinfo). Scopes of several resources are AADSTS700022 when `strict`
/// (a token request's own `scope`); otherwise the first resource wins (a grant's scopes, as
/// Microsoft does on refresh).
pub(crate) fn resolve<'c>(
    config: &'c EmulatorConfig,
    scopes: &[String],
    strict: bool,
    tenant: &str,
) -> Result<ResourceScopes<'c>, AadError> {
    let mut first: Option<ResourceScopes<'c>> = None;
    for scope in scopes.iter().filter(|s| !OIDC_SCOPES.contains(&s.as_str())) {
        let resource = classify(config, scope, tenant)?;
        match &mut first {
            None => {
                first = Some(ResourceScopes {
                    resource,
                    scopes: vec![scope.clone()],
                })
            }
            Some(f) if f.resource.same(&resource) => f.scopes.push(scope.clone()),
            Some(_) if strict => {
                return Err(AadError::new(
                    "invalid_scope",
                    700022,
                    format!(
                        "The provided value for the input parameter scope is not valid because \
                         it contains more than one resource. Scope {} is not valid.",
                        scopes.join(" ")
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(first.unwrap_or(ResourceScopes {
        resource: Resource::Graph,
        scopes: Vec::new(),
    }))
}

/// A deterministic GUID for the service principal of `client_id` in tenant `tid` (the `oid` of
/// its app-only tokens): stable across runs, different per tenant, as at Microsoft.
pub(crate) fn service_principal_id(client_id: &str, tid: &str) -> String {
    let digest = Sha256::digest(
        format!(
            "service-principal:{}:{}",
            client_id.to_ascii_lowercase(),
            tid.to_ascii_lowercase()
        )
        .as_bytes(),
    );
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    super::protocol::guid_from(b)
}

/// The principal an access token speaks for.
pub(crate) enum Principal<'a> {
    /// Delegated: a user, with the scopes (`scp`) the client was granted.
    User {
        user: &'a UserConfig,
        scp: Vec<String>,
    },
    /// App-only (client credentials): the client's service principal.
    App,
}

/// Everything an API access token says.
pub(crate) struct ApiTokenInput<'a> {
    /// `"1.0"` claims and issuer for 1, `"2.0"` for anything else.
    pub version: u8,
    /// `{authority}` for the v2 issuer; v1 tokens use Microsoft's `sts.windows.net`.
    pub authority: &'a str,
    pub audience: String,
    pub tid: String,
    pub principal: Principal<'a>,
    /// The client that asked for the token (`azp` / `appid`).
    pub client_id: &'a str,
    /// How it authenticated (`azpacr` / `appidacr`): "0" public, "1" secret, "2" certificate or
    /// federated assertion.
    pub client_acr: &'a str,
    pub roles: Vec<String>,
    /// `iat` and `nbf`; `exp` is an hour later.
    pub issued_at: SystemTime,
}

/// The v2 issuer for a tenant on this authority, or Microsoft's literal v1 issuer.
pub(crate) fn issuer(version: u8, authority: &str, tid: &str) -> String {
    if version == 1 {
        format!("https://sts.windows.net/{tid}/")
    } else {
        format!("{authority}/{tid}/v2.0")
    }
}

/// The default `aud` for a token for `api_client_id`'s API: the GUID in v2 tokens, the App ID URI
/// in v1 tokens.
pub(crate) fn default_audience(version: u8, api_client_id: &str) -> String {
    if version == 1 {
        format!("api://{api_client_id}")
    } else {
        api_client_id.to_string()
    }
}

/// The claims of an API access token.
pub(crate) fn claims(input: &ApiTokenInput<'_>) -> Map<String, Value> {
    let v1 = input.version == 1;
    let now = unix_now(input.issued_at);
    let mut c = Map::new();
    c.insert("aud".into(), json!(input.audience));
    c.insert(
        "iss".into(),
        json!(issuer(input.version, input.authority, &input.tid)),
    );
    c.insert("iat".into(), json!(now));
    c.insert("nbf".into(), json!(now));
    c.insert("exp".into(), json!(now + LIFETIME_SECS));
    c.insert("aio".into(), json!(opaque(48)));
    let (id_claim, acr_claim) = if v1 {
        ("appid", "appidacr")
    } else {
        ("azp", "azpacr")
    };
    c.insert(id_claim.into(), json!(input.client_id));
    c.insert(acr_claim.into(), json!(input.client_acr));
    match &input.principal {
        Principal::User { user, scp } => {
            if v1 {
                c.insert("amr".into(), json!(["pwd"]));
                c.insert("unique_name".into(), json!(user.username));
                c.insert("upn".into(), json!(user.username));
            } else {
                c.insert("preferred_username".into(), json!(user.username));
            }
            c.insert("name".into(), json!(user.name));
            c.insert("oid".into(), json!(user.oid));
            c.insert("scp".into(), json!(scp.join(" ")));
            c.insert(
                "sub".into(),
                json!(pairwise_sub(&user.oid, input.client_id, &input.tid)),
            );
            insert_group_claims(&mut c, user);
        }
        Principal::App => {
            let sp = service_principal_id(input.client_id, &input.tid);
            c.insert("idtyp".into(), json!("app"));
            c.insert("oid".into(), json!(sp));
            c.insert("sub".into(), json!(sp));
        }
    }
    if !input.roles.is_empty() {
        c.insert("roles".into(), json!(input.roles));
    }
    c.insert("rh".into(), json!(format!("0.{}.", opaque(40))));
    c.insert("tid".into(), json!(input.tid));
    c.insert("uti".into(), json!(opaque(16)));
    c.insert("ver".into(), json!(if v1 { "1.0" } else { "2.0" }));
    c
}

/// RS256 with `typ: JWT` and `kid`; v1 tokens also carry `x5t` (= `kid`), as at Microsoft.
pub(crate) fn sign(
    claims: &Map<String, Value>,
    key: &SigningKey,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    if claims.get("ver").and_then(Value::as_str) == Some("1.0") {
        header.x5t = Some(key.kid.clone());
    }
    jsonwebtoken::encode(&header, claims, &key.encoding)
}

/// A deterministic oid for a user name the directory does not know (minted test tokens only).
fn made_up_oid(username: &str) -> String {
    service_principal_id(&username.to_lowercase(), "made-up-user")
}

/// The claims of a test token described by an [`AccessTokenSpec`] (see
/// [`Emulator::mint_access_token`](super::Emulator::mint_access_token)).
pub(crate) fn minted_claims(
    config: &EmulatorConfig,
    authority: &str,
    spec: &AccessTokenSpec,
    now: SystemTime,
) -> Map<String, Value> {
    let issued_at = if spec.expired {
        now - std::time::Duration::from_secs(2 * 3600)
    } else {
        now
    };
    let version = if spec.version == 1 { 1 } else { 2 };
    let made_up;
    let user = match &spec.user {
        None => None,
        Some(name) => match config.user(name) {
            Some(u) => Some(u),
            None => {
                made_up = UserConfig {
                    oid: made_up_oid(name),
                    name: name.clone(),
                    username: name.clone(),
                    email: None,
                    tenant: spec
                        .tenant
                        .clone()
                        .unwrap_or_else(|| CONTOSO_TID.to_string()),
                    groups: Vec::new(),
                    roles: Vec::new(),
                };
                Some(&made_up)
            }
        },
    };
    let tid = spec
        .tenant
        .clone()
        .or_else(|| user.map(|u| u.tenant.clone()))
        .or_else(|| {
            config
                .app(&spec.client_id)
                .and_then(|a| a.home_tenant.clone())
        })
        .unwrap_or_else(|| CONTOSO_TID.to_string());
    let principal = match user {
        Some(user) => Principal::User {
            user,
            scp: ResourceScopes {
                resource: Resource::Graph,
                scopes: spec.scopes.clone(),
            }
            .scp(),
        },
        None => Principal::App,
    };
    claims(&ApiTokenInput {
        version,
        authority,
        audience: spec
            .audience
            .clone()
            .unwrap_or_else(|| default_audience(version, &spec.client_id)),
        tid,
        principal,
        client_id: &spec.client_id,
        client_acr: "1",
        roles: spec.roles.clone(),
        issued_at,
    })
}

#[cfg(test)]
#[path = "access_token_tests.rs"]
mod tests;
