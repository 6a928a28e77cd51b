//! The `client_credentials` grant: app-only access tokens for `{resource}/.default`. A
//! registered app's API gets a signed JWT (no user, `idtyp: app`, `roles` = the caller's granted
//! application permissions); Microsoft Graph gets an opaque token. No ID or refresh token.

use std::time::{Instant, SystemTime};

use serde_json::{json, Value};

use super::access_token::{self, ApiTokenInput, Principal, Resource, LIFETIME_SECS};
use super::client_auth::{missing, param, Client};
use super::defaults::CONSUMERS_TID;
use super::graph::GraphGrant;
use super::protocol::AadError;
use super::tenancy::{Scope, TenantPath};
use super::State;

fn not_supported_here() -> AadError {
    AadError::new(
        "invalid_request",
        9001023,
        "The grant type is not supported over the /common or /consumers endpoints. Please use \
         the /organizations or tenant-specific endpoint.",
    )
}

/// The tenant an app-only token is for: the path's tenant, or on `/organizations` the app's
/// home tenant. `/common` and `/consumers` name no directory the app could act in.
fn app_only_tenant(tenant: &TenantPath, client: &Client<'_>) -> Result<String, AadError> {
    match &tenant.scope {
        Scope::Tenant(tid) if tid == CONSUMERS_TID => Err(not_supported_here()),
        Scope::Tenant(tid) => Ok(tid.clone()),
        Scope::Organizations => client
            .app
            .home_tenant
            .clone()
            .ok_or_else(not_supported_here),
        Scope::Common => Err(not_supported_here()),
    }
}

/// Issue an app-only token for an authenticated client.
pub(crate) fn issue(
    state: &State,
    tenant: &TenantPath,
    client: &Client<'_>,
    params: &super::http::Params,
    now: SystemTime,
) -> Result<Value, AadError> {
    let scope = param(params, "scope").ok_or_else(|| missing("scope"))?;
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let resource_scope = match scopes.as_slice() {
        [only] if only.ends_with("/.default") => *only,
        _ => {
            return Err(AadError::new(
                "invalid_scope",
                1002012,
                format!(
                    "The provided value for scope {scope} is not valid. Client credential flows \
                     must have a scope value with /.default suffixed to the resource identifier \
                     (application ID URI)."
                ),
            ))
        }
    };
    let tid = app_only_tenant(tenant, client)?;
    let tenant_name = state
        .config
        .tenant(&tid)
        .map(|t| t.name.clone())
        .unwrap_or_else(|| tid.clone());
    let resource = access_token::classify(&state.config, resource_scope, &tenant_name)?;
    let token = match resource {
        Resource::Graph => state.graph.issue(
            GraphGrant {
                username: None,
                tid,
                client_id: client.app.client_id.clone(),
            },
            Instant::now(),
        ),
        Resource::Api(api) => {
            let version = api.access_token_version;
            let claims = access_token::claims(&ApiTokenInput {
                version,
                authority: &state.authority,
                audience: access_token::default_audience(version, &api.client_id),
                tid,
                principal: Principal::App,
                client_id: &client.app.client_id,
                client_acr: client.acr,
                roles: client.app.app_roles_granted.clone(),
                issued_at: now,
            });
            access_token::sign(&claims, &state.keys.current()).map_err(|e| {
                AadError::new(
                    "server_error",
                    90100,
                    format!("An error occurred in the emulator: {e}"),
                )
            })?
        }
    };
    tracing::info!(client_id = %client.app.client_id, resource = resource_scope, "emulator: app-only token issued");
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": LIFETIME_SECS,
        "ext_expires_in": LIFETIME_SECS,
        "access_token": token,
    }))
}
