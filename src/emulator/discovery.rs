//! Metadata: the OpenID discovery document and the JWKS, shaped like Microsoft's (including its
//! extensions: `tenant_region_scope`, `cloud_instance_name`, the JWK `issuer`).

use hyper::header;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::body::Body;

use super::defaults::CONSUMERS_TID;
use super::http::respond;
use super::tenancy::{Scope, TenantPath};
use super::State;

/// Microsoft's caching header on metadata.
const METADATA_CACHE: &str = "max-age=86400, private";

/// The discovery document for one tenant path.
pub(crate) fn document(state: &State, tenant: &TenantPath) -> Value {
    let authority = &state.authority;
    let seg = &tenant.segment;
    let region = match &tenant.scope {
        Scope::Tenant(tid) => state.config.tenant(tid).map(|t| json!(t.region)),
        Scope::Common | Scope::Organizations => None,
    }
    .unwrap_or(Value::Null);
    json!({
        "token_endpoint": format!("{authority}/{seg}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{authority}/{seg}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": tenant.issuer(authority),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{authority}/{seg}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{authority}/{seg}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{authority}/{seg}/oauth2/v2.0/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
            "name", "tid", "ver", "at_hash", "c_hash", "email"
        ],
        "kerberos_endpoint": format!("{authority}/{seg}/kerberos"),
        "tenant_region_scope": region,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    })
}

pub(crate) fn openid_configuration(state: &State, tenant: &TenantPath) -> Response<Body> {
    metadata(&document(state, tenant))
}

/// The JWKS. Keys carry the templated Entra issuer, except on the personal-accounts tenant,
/// where Microsoft publishes its MSA keys with that tenant's concrete issuer.
pub(crate) fn jwks_document(state: &State, tenant: &TenantPath) -> Value {
    let issuer = match &tenant.scope {
        Scope::Tenant(tid) if tid == CONSUMERS_TID => tenant.issuer(&state.authority),
        _ => format!("{}/{{tenantid}}/v2.0", state.authority),
    };
    json!({ "keys": [state.keys.current().jwk(&issuer)] })
}

pub(crate) fn jwks(state: &State, tenant: &TenantPath) -> Response<Body> {
    metadata(&jwks_document(state, tenant))
}

fn metadata(doc: &Value) -> Response<Body> {
    respond(
        StatusCode::OK,
        &[
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::CACHE_CONTROL, METADATA_CACHE),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        doc.to_string(),
    )
}
