//! `POST /{tenant}/oauth2/v2.0/token`: client authentication (secret in the body or HTTP
//! Basic), the `authorization_code` and `refresh_token` grants, and the token response.
//!
//! Errors are Microsoft's JSON shape; `invalid_client` is 401, the rest 400.

use std::time::{Instant, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::body::Body;

use super::config::AppConfig;
use super::grants::{Authorization, Pkce};
use super::http::{self, Params};
use super::id_token::{self, IdTokenInput};
use super::keys::SigningKey;
use super::protocol::{guid, opaque, s256, AadError, Trace};
use super::tenancy::{Scope, TenantPath, Unavailable};
use super::{State, Tamper};

/// Access-token lifetime reported in `expires_in`/`ext_expires_in`.
const ACCESS_TOKEN_SECS: u64 = 3600;

fn param<'p>(params: &'p Params, name: &str) -> Option<&'p str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

fn missing(name: &str) -> AadError {
    AadError::new(
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

fn invalid_grant(code: u32, message: &str) -> AadError {
    AadError::new("invalid_grant", code, message)
}

/// Handle one token request.
pub(crate) async fn token(
    state: &State,
    tenant: &TenantPath,
    req: Request<Incoming>,
) -> Response<Body> {
    let trace = Trace::new(SystemTime::now());
    let basic = basic_credentials(req.headers());
    let result = match http::read_form(req.into_body()).await {
        Ok(params) => match grant(state, tenant, &params, basic) {
            Ok((auth, nonce)) => respond_with_tokens(state, auth, nonce).await,
            Err(e) => Err(e),
        },
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

/// `client_secret_basic` credentials, if the request used them: `Ok(None)` for no (or another
/// scheme's) Authorization header, `Err` for a malformed Basic one.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, AadError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || {
        AadError::new(
            "invalid_client",
            7000218,
            "The Authorization header is not valid HTTP Basic client authentication.",
        )
    };
    let text = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, rest)) = text.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| malformed())?;
    let (id, secret) = decoded
        .iter()
        .position(|&b| b == b':')
        .map(|i| (&decoded[..i], &decoded[i + 1..]))
        .ok_or_else(malformed)?;
    // RFC 6749 §2.3.1: both halves are form-urlencoded before joining.
    let unescape = |b: &[u8]| -> String {
        url::form_urlencoded::parse(&[b"x=", b].concat())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// Authenticate the client, then check and use the grant. Returns the authorization behind it
/// and whether its nonce goes into the ID token (code grant only).
fn grant(
    state: &State,
    tenant: &TenantPath,
    params: &Params,
    basic: Result<Option<(String, String)>, AadError>,
) -> Result<(Authorization, bool), AadError> {
    let grant_type = param(params, "grant_type").ok_or_else(|| missing("grant_type"))?;
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(AadError::new(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        ));
    }
    let app = authenticate(state, tenant, params, basic?)?;
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
    if grant_type == "refresh_token" {
        let token = param(params, "refresh_token").ok_or_else(|| missing("refresh_token"))?;
        let auth = state.grants.use_refresh(token, now, check)?;
        return Ok((auth, false));
    }
    let code = param(params, "code").ok_or_else(|| missing("code"))?;
    let redirect_uri = param(params, "redirect_uri").ok_or_else(|| missing("redirect_uri"))?;
    let verifier = param(params, "code_verifier");
    let auth = state.grants.redeem_code(code, now, |auth| {
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
    })?;
    Ok((auth, true))
}

fn wrong_tenant() -> AadError {
    invalid_grant(
        700005,
        "Provided Authorization Code is intended to use against other tenant, thus rejected.",
    )
}

/// Client authentication: a known app available on this path, with its secret.
fn authenticate<'s>(
    state: &'s State,
    tenant: &TenantPath,
    params: &Params,
    basic: Option<(String, String)>,
) -> Result<&'s AppConfig, AadError> {
    let body_id = param(params, "client_id");
    let (client_id, secret) = match &basic {
        Some((id, secret)) => {
            if body_id.is_some_and(|b| !b.eq_ignore_ascii_case(id)) {
                return Err(AadError::new(
                    "invalid_request",
                    9002313,
                    "Invalid request. Request is malformed or invalid. (client_id in the body \
                     differs from the Authorization header)",
                ));
            }
            (id.as_str(), Some(secret.as_str()))
        }
        None => (
            body_id.ok_or_else(|| missing("client_id"))?,
            param(params, "client_secret"),
        ),
    };
    let not_found = || {
        AadError::new(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory. You \
                 may have sent your authentication request to the wrong tenant."
            ),
        )
    };
    let app = state.config.app(client_id).ok_or_else(not_found)?;
    match tenant.app_available(app) {
        Ok(()) => {}
        Err(Unavailable::NotInTenant) => return Err(not_found()),
        Err(Unavailable::Redirect(e)) => return Err(e),
    }
    let Some(secret) = secret else {
        return Err(AadError::new(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'.",
        ));
    };
    let expected = app.client_secret.as_bytes();
    let matches = expected.len() == secret.len() && bool::from(expected.ct_eq(secret.as_bytes()));
    if !matches {
        return Err(AadError::new(
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is \
                 the client secret value, not the client secret ID, for a secret added to app \
                 '{}'.",
                app.client_id
            ),
        ));
    }
    Ok(app)
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

/// The success body: access token, ID token (with `openid`), refresh token (with
/// `offline_access`). A pending [`Tamper`] is consumed by the ID token only.
async fn respond_with_tokens(
    state: &State,
    auth: Authorization,
    with_nonce: bool,
) -> Result<Value, AadError> {
    let server_error = |detail: &str| {
        AadError::new(
            "server_error",
            90100,
            format!("An error occurred in the emulator: {detail}"),
        )
    };
    let user = state
        .config
        .user(&auth.username)
        .ok_or_else(|| invalid_grant(50034, "The user account does not exist in the directory."))?;
    let has = |s: &str| auth.scopes.iter().any(|x| x == s);
    let mut body = json!({
        "token_type": "Bearer",
        "scope": auth.scopes.join(" "),
        "expires_in": ACCESS_TOKEN_SECS,
        "ext_expires_in": ACCESS_TOKEN_SECS,
        "access_token": opaque(96),
    });
    if has("openid") {
        let mut claims = id_token::claims(&IdTokenInput {
            authority: &state.authority,
            client_id: &auth.client_id,
            user,
            nonce: auth.nonce.as_deref().filter(|_| with_nonce),
            scopes: &auth.scopes,
            sid: &auth.sid,
            now: SystemTime::now(),
        });
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
        let jwt = match tamper {
            Some(Tamper::AlgNone) => id_token::unsigned(&claims),
            Some(Tamper::UnknownKey) => {
                let rogue = tokio::task::spawn_blocking(SigningKey::generate)
                    .await
                    .map_err(|e| server_error(&e.to_string()))?
                    .map_err(|e| server_error(&e.to_string()))?;
                id_token::sign(&claims, &rogue).map_err(|e| server_error(&e.to_string()))?
            }
            _ => id_token::sign(&claims, &state.keys.current())
                .map_err(|e| server_error(&e.to_string()))?,
        };
        body["id_token"] = json!(jwt);
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let enc = STANDARD.encode("my%3Aid:p%40ss+word");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {enc}").parse().unwrap(),
        );
        assert_eq!(
            basic_credentials(&h).unwrap(),
            Some(("my:id".into(), "p@ss word".into()))
        );
        h.insert(header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(basic_credentials(&h).unwrap(), None);
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert!(basic_credentials(&h).is_err());
    }

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
