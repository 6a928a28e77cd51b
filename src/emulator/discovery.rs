//! Metadata: the v2 and v1 OpenID discovery documents and JWKS, shaped like Microsoft's
//! (including its extensions: `tenant_region_scope`, `cloud_instance_name`, `msgraph_host`, the
//! JWK `issuer`). `msgraph_host` names this emulator, which serves the Graph calls itself.

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

/// Microsoft's v1 issuer host; v1 tokens and metadata name it whatever host served them.
const V1_ISSUER_HOST: &str = "https://sts.windows.net";

/// `tenant_region_scope`: the tenant's region, `null` on the multi-tenant paths.
fn region(state: &State, tenant: &TenantPath) -> Value {
    match &tenant.scope {
        Scope::Tenant(tid) => state.config.tenant(tid).map(|t| json!(t.region)),
        Scope::Common | Scope::Organizations => None,
    }
    .unwrap_or(Value::Null)
}

/// `msgraph_host`: this emulator's `host:port` (Microsoft: `graph.microsoft.com`). Clients build
/// `https://{msgraph_host}/v1.0/…`, or `http://` for a loopback host.
pub(crate) fn msgraph_host(authority: &str) -> &str {
    authority
        .strip_prefix("http://")
        .or_else(|| authority.strip_prefix("https://"))
        .unwrap_or(authority)
}

/// The v2 discovery document for one tenant path.
pub(crate) fn document(state: &State, tenant: &TenantPath) -> Value {
    let authority = &state.authority;
    let seg = &tenant.segment;
    let region = region(state, tenant);
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
        "msgraph_host": msgraph_host(authority),
        "rbac_url": "https://pas.windows.net",
    })
}

/// The v1 issuer: the `{tenantid}` template on the multi-tenant paths.
fn v1_issuer(tenant: &TenantPath) -> String {
    match &tenant.scope {
        Scope::Common | Scope::Organizations => format!("{V1_ISSUER_HOST}/{{tenantid}}/"),
        Scope::Tenant(tid) => format!("{V1_ISSUER_HOST}/{tid}/"),
    }
}

/// The v1 discovery document (`/{tenant}/.well-known/openid-configuration`). The emulator does
/// not implement the v1 authorize/token endpoints it names; they answer 404.
pub(crate) fn document_v1(state: &State, tenant: &TenantPath) -> Value {
    let authority = &state.authority;
    let seg = &tenant.segment;
    json!({
        "token_endpoint": format!("{authority}/{seg}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{authority}/{seg}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": v1_issuer(tenant),
        "microsoft_multi_refresh_token": true,
        "authorization_endpoint": format!("{authority}/{seg}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{authority}/{seg}/oauth2/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{authority}/{seg}/oauth2/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email",
            "given_name", "family_name", "nickname"
        ],
        "check_session_iframe": format!("{authority}/{seg}/oauth2/checksession"),
        "userinfo_endpoint": format!("{authority}/{seg}/openid/userinfo"),
        "kerberos_endpoint": format!("{authority}/{seg}/kerberos"),
        "tenant_region_scope": region(state, tenant),
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": msgraph_host(authority),
        "rbac_url": "https://pas.windows.net",
    })
}

pub(crate) fn openid_configuration_v1(state: &State, tenant: &TenantPath) -> Response<Body> {
    metadata(&document_v1(state, tenant))
}

/// The v1 JWKS: the same signing keys, each with the v1 issuer template.
pub(crate) fn jwks_v1_document(state: &State) -> Value {
    let issuer = format!("{V1_ISSUER_HOST}/{{tenantid}}/");
    json!({ "keys": [state.keys.current().jwk(&issuer)] })
}

pub(crate) fn jwks_v1(state: &State) -> Response<Body> {
    metadata(&jwks_v1_document(state))
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
