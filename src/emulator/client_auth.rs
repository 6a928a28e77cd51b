//! Client authentication at the token endpoint, the same for every grant: `client_secret_post`,
//! `client_secret_basic`, or a client assertion (certificate or federated token, checked in
//! [`super::assertion`]). Exactly one kind must be sent.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::header::{self, HeaderMap};
use subtle::ConstantTimeEq;

use super::assertion::{self, AssertionCheck, AssertionKind, JWT_BEARER};
use super::config::AppConfig;
use super::http::Params;
use super::protocol::{unix_now, AadError};
use super::tenancy::{TenantPath, Unavailable};
use super::State;

/// An authenticated client.
pub(crate) struct Client<'s> {
    pub app: &'s AppConfig,
    /// `azpacr` / `appidacr`: "1" for a secret, "2" for a certificate or federated assertion.
    pub acr: &'static str,
}

pub(crate) fn param<'p>(params: &'p Params, name: &str) -> Option<&'p str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

pub(crate) fn missing(name: &str) -> AadError {
    AadError::new(
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

fn malformed(detail: &str) -> AadError {
    AadError::new(
        "invalid_request",
        9002313,
        format!("Invalid request. Request is malformed or invalid. ({detail})"),
    )
}

/// `client_secret_basic` credentials, if the request used them: `Ok(None)` for no (or another
/// scheme's) Authorization header, `Err` for a malformed Basic one.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, AadError> {
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

/// Is `aud` the URL of the token endpoint this request came to? Any spelling of the same
/// tenant path counts (GUID or domain), and the v1 path too, as Microsoft accepts both.
fn is_this_token_endpoint(state: &State, tenant: &TenantPath, aud: &str) -> bool {
    let Some(rest) = aud
        .strip_prefix(state.authority.as_str())
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    let segment = rest
        .strip_suffix("/oauth2/v2.0/token")
        .or_else(|| rest.strip_suffix("/oauth2/token"));
    segment
        .and_then(|s| TenantPath::resolve(&state.config, s))
        .is_some_and(|t| t.scope == tenant.scope)
}

/// A known app available on this path that proved who it is.
pub(crate) fn authenticate<'s>(
    state: &'s State,
    tenant: &TenantPath,
    params: &Params,
    basic: Option<(String, String)>,
    now: SystemTime,
) -> Result<Client<'s>, AadError> {
    let body_id = param(params, "client_id");
    let (client_id, secret) = match &basic {
        Some((id, secret)) => {
            if body_id.is_some_and(|b| !b.eq_ignore_ascii_case(id)) {
                return Err(malformed(
                    "client_id in the body differs from the Authorization header",
                ));
            }
            (id.as_str(), Some(secret.as_str()))
        }
        None => (
            body_id.ok_or_else(|| missing("client_id"))?,
            param(params, "client_secret"),
        ),
    };
    let assertion = param(params, "client_assertion");
    let assertion_type = param(params, "client_assertion_type");
    if secret.is_some() && (assertion.is_some() || assertion_type.is_some()) {
        return Err(malformed(
            "send either a client secret or a client assertion, not both",
        ));
    }
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
    match (secret, assertion) {
        (Some(secret), _) => check_secret(app, secret).map(|()| Client { app, acr: "1" }),
        (None, Some(assertion)) => {
            match assertion_type {
                Some(JWT_BEARER) => {}
                None => return Err(missing("client_assertion_type")),
                Some(other) => {
                    return Err(malformed(&format!(
                        "client_assertion_type '{other}' is not supported; use '{JWT_BEARER}'"
                    )))
                }
            }
            let audience_ok = |aud: &str| is_this_token_endpoint(state, tenant, aud);
            let check = AssertionCheck {
                app,
                audience_ok: &audience_ok,
                now: unix_now(now),
                seen: &state.assertions,
            };
            let kind = assertion::verify(&check, assertion)?;
            tracing::info!(client_id = %app.client_id, kind = ?kind, "emulator: client assertion accepted");
            Ok(Client {
                app,
                acr: match kind {
                    AssertionKind::Certificate | AssertionKind::Federated => "2",
                },
            })
        }
        (None, None) => Err(AadError::new(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'.",
        )),
    }
}

fn check_secret(app: &AppConfig, secret: &str) -> Result<(), AadError> {
    let expected = app.client_secret.as_bytes();
    // An app without a secret matches nothing (the length check fails for any non-empty input).
    let matches = !expected.is_empty()
        && expected.len() == secret.len()
        && bool::from(expected.ct_eq(secret.as_bytes()));
    if matches {
        Ok(())
    } else {
        Err(AadError::new(
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is \
                 the client secret value, not the client secret ID, for a secret added to app \
                 '{}'.",
                app.client_id
            ),
        ))
    }
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
    fn an_app_without_a_secret_accepts_no_secret() {
        let app = AppConfig::default();
        assert_eq!(check_secret(&app, "").unwrap_err().code, 7000215);
        let app = AppConfig {
            client_secret: "s3".into(),
            ..AppConfig::default()
        };
        assert!(check_secret(&app, "s3").is_ok());
        assert!(check_secret(&app, "s4").is_err());
    }
}
