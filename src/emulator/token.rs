//! `POST /{tenant}/oauth2/v2.0/token`: the `authorization_code`, `refresh_token` and
//! `client_credentials` grants after client authentication ([`super::client_auth`]), and the
//! token response. The access token depends on the resource of the scopes
//! ([`super::access_token`]): Microsoft Graph gets an opaque token, an app's API a signed JWT.
//!
//! Errors are Microsoft's JSON shape; `invalid_client` is 401, the rest 400.

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::body::Body;

use super::access_token::{self, ApiTokenInput, Principal, Resource, ResourceScopes};
use super::client_auth::{authenticate, basic_credentials, missing, param, Client};
use super::config::{AppConfig, UserConfig};
use super::grants::{Authorization, Pkce};
use super::graph::GraphGrant;
use super::http::{self, Params};
use super::id_token::{self, IdTokenInput};
use super::keys::SigningKey;
use super::protocol::{guid, s256, AadError, Trace};
use super::tenancy::{Scope, TenantPath};
use super::{client_credentials, RefreshRefusal, State, Tamper};

fn invalid_grant(code: u32, message: &str) -> AadError {
    AadError::new("invalid_grant", code, message)
}

fn server_error(detail: &str) -> AadError {
    AadError::new(
        "server_error",
        90100,
        format!("An error occurred in the emulator: {detail}"),
    )
}

/// Handle one token request.
pub(crate) async fn token(
    state: &State,
    tenant: &TenantPath,
    req: Request<Incoming>,
) -> Response<Body> {
    let now = SystemTime::now();
    let trace = Trace::new(now);
    let basic = basic_credentials(req.headers());
    let result = match http::read_form(req.into_body()).await {
        Ok(params) => issue(state, tenant, &params, basic, now).await,
        Err(e) => Err(AadError::new(
            "invalid_request",
            9002313,
            format!("Invalid request. Request is malformed or invalid. ({e})"),
        )),
    };
    match result {
        Ok(body) => http::respond(
            StatusCode::OK,
            &[
                (header::CONTENT_TYPE, "application/json; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store, no-cache"),
                (header::PRAGMA, "no-cache"),
            ],
            body.to_string(),
        ),
        Err(err) => {
            tracing::info!(
                error = err.error,
                code = err.code,
                "emulator: token request refused"
            );
            http::aad_json(&err, &state.authority, &trace)
        }
    }
}

/// Check the grant type, authenticate the client, then use the grant.
async fn issue(
    state: &State,
    tenant: &TenantPath,
    params: &Params,
    basic: Result<Option<(String, String)>, AadError>,
    now: SystemTime,
) -> Result<Value, AadError> {
    let grant_type = param(params, "grant_type").ok_or_else(|| missing("grant_type"))?;
    if !matches!(
        grant_type,
        "authorization_code" | "refresh_token" | "client_credentials"
    ) {
        return Err(AadError::new(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        ));
    }
    let client = authenticate(state, tenant, params, basic?, now)?;
    if grant_type == "client_credentials" {
        return client_credentials::issue(state, tenant, &client, params, now);
    }
    let is_code = grant_type == "authorization_code";
    let auth = grant(state, tenant, params, client.app, is_code)?;
    respond_with_tokens(state, &client, auth, is_code, param(params, "scope"), now).await
}

/// Check and use a code or refresh token of `app`: the authorization behind it.
fn grant(
    state: &State,
    tenant: &TenantPath,
    params: &Params,
    app: &AppConfig,
    is_code: bool,
) -> Result<Authorization, AadError> {
    let now = Instant::now();
    let check = |auth: &Authorization| -> Result<(), AadError> {
        if !auth.client_id.eq_ignore_ascii_case(&app.client_id) {
            return Err(invalid_grant(
                70000,
                "Provided grant is invalid or malformed.",
            ));
        }
        let user = state.config.user(&auth.username).ok_or_else(|| {
            invalid_grant(50034, "The user account does not exist in the directory.")
        })?;
        tenant
            .admits(&state.config, app, user)
            .map_err(|_| wrong_tenant())
    };
    if !is_code {
        state.refresh_requests.fetch_add(1, Ordering::SeqCst);
        let token = param(params, "refresh_token").ok_or_else(|| missing("refresh_token"))?;
        return state.grants.use_refresh(token, now, |auth| {
            check(auth)?;
            refusal(state, &auth.username)
        });
    }
    let code = param(params, "code").ok_or_else(|| missing("code"))?;
    let redirect_uri = param(params, "redirect_uri").ok_or_else(|| missing("redirect_uri"))?;
    let verifier = param(params, "code_verifier");
    state.grants.redeem_code(code, now, |auth| {
        check(auth)?;
        // Codes are tenant-bound: redeem on the path that issued it, on `common`, or on the
        // user's own tenant (`check` has already made sure the path admits the user).
        let own_tenant = state
            .config
            .user(&auth.username)
            .is_some_and(|u| tenant.scope == Scope::Tenant(u.tenant.clone()));
        if auth.scope != tenant.scope && tenant.scope != Scope::Common && !own_tenant {
            return Err(wrong_tenant());
        }
        if auth.redirect_uri != redirect_uri {
            return Err(invalid_grant(
                50011,
                &format!(
                    "The redirect URI '{redirect_uri}' specified in the request does not match the \
                     redirect URI used to obtain the authorization code."
                ),
            ));
        }
        check_pkce(auth.pkce.as_ref(), verifier)
    })
}

/// The refusal a test arranged for this user's refresh tokens, as Microsoft words it.
fn refusal(state: &State, username: &str) -> Result<(), AadError> {
    let refusal = match state.refresh_refusals.lock() {
        Ok(r) => r.get(&username.to_ascii_lowercase()).copied(),
        Err(poisoned) => poisoned
            .into_inner()
            .get(&username.to_ascii_lowercase())
            .copied(),
    };
    match refusal {
        None => Ok(()),
        Some(RefreshRefusal::Revoked) => Err(invalid_grant(
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is \
             needed. The user might have changed or reset their password.",
        )),
        Some(RefreshRefusal::MfaRequired) => Err(AadError::new(
            "interaction_required",
            50076,
            "Due to a configuration change made by your administrator, or because you moved to \
             a new location, you must use multi-factor authentication to access the resource.",
        )),
    }
}

fn wrong_tenant() -> AadError {
    invalid_grant(
        700005,
        "Provided Authorization Code is intended to use against other tenant, thus rejected.",
    )
}

/// PKCE at redemption: a challenge at /authorize requires a matching verifier. A verifier
/// without a challenge is ignored.
fn check_pkce(pkce: Option<&Pkce>, verifier: Option<&str>) -> Result<(), AadError> {
    let Some(pkce) = pkce else {
        return Ok(());
    };
    let Some(verifier) = verifier else {
        return Err(AadError::new(
            "invalid_request",
            50148,
            "The code_verifier does not match the code_challenge supplied in the authorization \
             request for PKCE. (code_verifier is missing)",
        ));
    };
    let ok = match pkce {
        Pkce::S256(challenge) => s256(verifier) == *challenge,
        Pkce::Plain(challenge) => verifier == challenge,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid_grant(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        ))
    }
}

/// The success body: access token (for the resource of the request's `scope`, else of the
/// grant's scopes), ID token (with `openid`), refresh token (with `offline_access`). A pending
/// [`Tamper`] is consumed by the ID token only.
async fn respond_with_tokens(
    state: &State,
    client: &Client<'_>,
    auth: Authorization,
    is_code: bool,
    requested: Option<&str>,
    now: SystemTime,
) -> Result<Value, AadError> {
    let user = state
        .config
        .user(&auth.username)
        .ok_or_else(|| invalid_grant(50034, "The user account does not exist in the directory."))?;
    let tenant_name = state
        .config
        .tenant(&user.tenant)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    // A code redemption may name one resource only (AADSTS700022); a refresh takes the first.
    let (scopes, strict) = match requested {
        Some(s) => (s.split_whitespace().map(str::to_string).collect(), is_code),
        None => (auth.scopes.clone(), false),
    };
    let resource = access_token::resolve(&state.config, &scopes, strict, &tenant_name)?;
    let has = |s: &str| auth.scopes.iter().any(|x| x == s);
    let lifetime = state.access_token_secs.load(Ordering::SeqCst);
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scopes.join(" "),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": user_access_token(state, client, user, &resource, now)?,
    });
    if has("openid") {
        let claims = id_token::claims(&IdTokenInput {
            authority: &state.authority,
            client_id: &auth.client_id,
            user,
            nonce: auth.nonce.as_deref().filter(|_| is_code),
            scopes: &auth.scopes,
            sid: &auth.sid,
            now,
        });
        body["id_token"] = json!(signed_id_token(state, user, claims).await?);
    }
    if has("offline_access") {
        let client_id = auth.client_id.clone();
        body["refresh_token"] = json!(state.grants.issue_refresh(auth, Instant::now()));
        tracing::info!(%client_id, user = %user.username, "emulator: tokens issued with refresh token");
    } else {
        tracing::info!(client_id = %auth.client_id, user = %user.username, "emulator: tokens issued");
    }
    Ok(body)
}

/// A delegated access token: opaque for Graph (remembered for the Graph endpoints), a signed JWT
/// in the API app's token version otherwise.
fn user_access_token(
    state: &State,
    client: &Client<'_>,
    user: &UserConfig,
    resource: &ResourceScopes<'_>,
    now: SystemTime,
) -> Result<String, AadError> {
    let api = match resource.resource {
        Resource::Graph => {
            let grant = GraphGrant {
                username: Some(user.username.clone()),
                tid: user.tenant.clone(),
                client_id: client.app.client_id.clone(),
            };
            return Ok(state.graph.issue(grant, Instant::now()));
        }
        Resource::Api(api) => api,
    };
    let version = api.access_token_version;
    let claims = access_token::claims(&ApiTokenInput {
        version,
        authority: &state.authority,
        audience: access_token::default_audience(version, &api.client_id),
        tid: user.tenant.clone(),
        principal: Principal::User {
            user,
            scp: resource.scp(),
        },
        client_id: &client.app.client_id,
        client_acr: client.acr,
        roles: user.roles.clone(),
        issued_at: now,
    });
    access_token::sign(&claims, &state.keys.current()).map_err(|e| server_error(&e.to_string()))
}

/// Sign an ID token, applying (and clearing) a pending [`Tamper`].
async fn signed_id_token(
    state: &State,
    user: &UserConfig,
    mut claims: serde_json::Map<String, Value>,
) -> Result<String, AadError> {
    let tamper = state.take_tamper();
    if let Some(t) = tamper {
        let other = state
            .config
            .tenants
            .iter()
            .map(|t| t.id.clone())
            .find(|id| *id != user.tenant)
            .unwrap_or_else(guid);
        id_token::tamper_claims(&mut claims, t, &state.authority, &other);
        tracing::warn!(tamper = ?t, "emulator: issuing a deliberately damaged ID token");
    }
    match tamper {
        Some(Tamper::AlgNone) => Ok(id_token::unsigned(&claims)),
        Some(Tamper::UnknownKey) => {
            let rogue = tokio::task::spawn_blocking(SigningKey::generate)
                .await
                .map_err(|e| server_error(&e.to_string()))?
                .map_err(|e| server_error(&e.to_string()))?;
            id_token::sign(&claims, &rogue).map_err(|e| server_error(&e.to_string()))
        }
        _ => {
            id_token::sign(&claims, &state.keys.current()).map_err(|e| server_error(&e.to_string()))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pkce_checks() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let s = Pkce::S256("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into());
        assert!(check_pkce(Some(&s), Some(v)).is_ok());
        assert_eq!(check_pkce(Some(&s), Some("x")).unwrap_err().code, 501481);
        assert_eq!(check_pkce(Some(&s), None).unwrap_err().code, 50148);
        assert!(check_pkce(Some(&Pkce::Plain(v.into())), Some(v)).is_ok());
        assert!(check_pkce(None, Some(v)).is_ok());
    }
}
