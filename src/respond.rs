//! The one status table: every failure the gateway can meet becomes a status, a page or JSON
//! body, and a log line here, and nowhere else. Client mistakes are not logged as errors;
//! internal detail never goes into a body.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::body::{self, Body};
use crate::microsoft;
use crate::oidc::{OidcError, TokenError};
use crate::pages::{Branding, Page, PageKind};
use crate::policy::DenyReason;

/// Everything that can stop a request short of the upstream.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("the request path is not acceptable: {0}")]
    BadPath(String),
    #[error("no entrance endpoint at this path")]
    NoSuchEndpoint,
    #[error("sign-in is needed")]
    Unauthenticated,
    #[error("the signed-in user is not allowed: {}", .0.code())]
    Denied(DenyReason),
    #[error("the callback matches no sign-in attempt of this browser")]
    UnknownAttempt,
    #[error("the callback carries neither a code nor an error")]
    BadCallback,
    #[error("Microsoft refused the sign-in: {error}")]
    SignInRefused {
        /// Only a known OAuth error value (never attacker text).
        error: &'static str,
        code: Option<u32>,
    },
    #[error(transparent)]
    Oidc(#[from] OidcError),
    #[error("the bearer token was refused: {0}")]
    InvalidToken(crate::bearer::BearerError),
    #[error("the user's groups could not be read from Microsoft Graph: {0}")]
    GroupsUnavailable(String),
    #[error("the request's parameters are not acceptable: {0}")]
    BadParameters(String),
    #[error("the upstream is unreachable: {0}")]
    UpstreamUnreachable(String),
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    #[error("no upstream serves this path")]
    NoUpstream,
    #[error("the request body is larger than limits.max_body_bytes")]
    BodyTooLarge,
    #[error("the session store is unavailable: {0}")]
    SessionStoreUnavailable(String),
    #[error("the identity provider could not renew the session: {0}")]
    RenewalUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// How the client wants errors: a page for browsers, JSON for API callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Browser,
    Api,
}

impl Failure {
    /// Turn the failure into a response; logs it with `reference` so a user's quote finds it.
    pub fn into_response(
        self,
        audience: Audience,
        reference: &str,
        brand: &Branding,
    ) -> Response<Body> {
        let (status, title, message, hint): (StatusCode, &str, String, Option<String>) = match &self
        {
            Failure::BadPath(why) => {
                tracing::debug!(reference, reason = %why, "refused a request path");
                (
                    StatusCode::BAD_REQUEST,
                    "Bad request",
                    "This address cannot be served.".into(),
                    None,
                )
            }
            Failure::NoSuchEndpoint => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing at this address.".into(),
                None,
            ),
            Failure::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "Sign-in required",
                "Sign in to continue.".into(),
                None,
            ),
            Failure::Denied(reason) => {
                tracing::info!(reference, reason = reason.code(), "access denied");
                (
                    StatusCode::FORBIDDEN,
                    "Access denied",
                    reason.user_message().into(),
                    None,
                )
            }
            Failure::UnknownAttempt => {
                tracing::info!(reference, "callback without a matching sign-in attempt (expired, replayed or forged state)");
                (
                    StatusCode::BAD_REQUEST,
                    "Sign-in could not be completed",
                    "This sign-in link has expired or was already used. Please sign in again."
                        .into(),
                    None,
                )
            }
            Failure::BadCallback => (
                StatusCode::BAD_REQUEST,
                "Sign-in could not be completed",
                "The response from the sign-in service was incomplete. Please sign in again."
                    .into(),
                None,
            ),
            Failure::SignInRefused { error, code } => {
                let explanation = code.and_then(microsoft::explain);
                tracing::warn!(
                    reference,
                    error,
                    aadsts = code,
                    "Microsoft refused the sign-in"
                );
                (
                    if *error == "access_denied" {
                        StatusCode::FORBIDDEN
                    } else {
                        StatusCode::BAD_GATEWAY
                    },
                    "Sign-in failed",
                    "Microsoft could not sign you in to this application.".into(),
                    Some(operator_hint(error, *code, explanation)),
                )
            }
            Failure::Oidc(OidcError::TokenRejected {
                error,
                codes,
                description,
            }) => {
                let code = codes
                    .first()
                    .copied()
                    .or_else(|| description.as_deref().and_then(microsoft::aadsts_code));
                let error = microsoft::known_error(error).unwrap_or("an unrecognised error");
                tracing::error!(
                    reference,
                    error,
                    aadsts = code,
                    "the token endpoint refused to redeem the code"
                );
                (
                    StatusCode::BAD_GATEWAY,
                    "Sign-in failed",
                    "Microsoft signed you in, but refused to complete the sign-in for this application.".into(),
                    Some(operator_hint(error, code, code.and_then(microsoft::explain))),
                )
            }
            Failure::Oidc(OidcError::IdToken(why)) => {
                tracing::warn!(reference, reason = %why, "refused an ID token");
                (
                    StatusCode::UNAUTHORIZED,
                    "Sign-in could not be verified",
                    "The sign-in response could not be verified, so you were not signed in. Please sign in again.".into(),
                    Some(id_token_hint(why)),
                )
            }
            Failure::Oidc(OidcError::NotReady) => {
                tracing::warn!(
                    reference,
                    "sign-in needed before the identity provider's metadata is loaded"
                );
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in is not available yet",
                    "The sign-in service cannot be reached right now. Please try again in a minute.".into(),
                    Some("entrance has not loaded the identity provider's discovery document and keys; see the log for why (provider.authority, provider.tenant, network).".into()),
                )
            }
            Failure::Oidc(other) => {
                tracing::error!(reference, error = %other, "identity provider call failed");
                (
                    StatusCode::BAD_GATEWAY,
                    "Sign-in failed",
                    "The sign-in service could not be reached. Please try again.".into(),
                    Some("A call to the identity provider failed; the log line with this reference says which and why.".into()),
                )
            }
            Failure::InvalidToken(why) => (
                StatusCode::UNAUTHORIZED,
                "Invalid token",
                why.to_string(),
                None,
            ),
            Failure::GroupsUnavailable(why) => {
                tracing::error!(reference, reason = %why, "sign-in stopped: the user's groups could not be read from Microsoft Graph");
                (
                    StatusCode::BAD_GATEWAY,
                    "Sign-in failed",
                    "Your group memberships could not be read from Microsoft Graph, so you were not signed in. Please try again in a moment.".into(),
                    Some("entrance needs the user's groups (groups overage or authorization.groups_source: graph) and the Microsoft Graph call failed; the log line with this reference has the status. The app registration needs the delegated User.Read permission.".into()),
                )
            }
            Failure::BadParameters(why) => {
                (StatusCode::BAD_REQUEST, "Bad request", why.clone(), None)
            }
            Failure::UpstreamUnreachable(why) => {
                tracing::error!(reference, reason = %why, "upstream unreachable");
                (
                    StatusCode::BAD_GATEWAY,
                    "Application unavailable",
                    "The application behind this gateway is not answering. Please try again shortly.".into(),
                    None,
                )
            }
            Failure::UpstreamTimeout => {
                tracing::error!(reference, "upstream timed out");
                (
                    StatusCode::GATEWAY_TIMEOUT,
                    "Application timed out",
                    "The application behind this gateway took too long to answer.".into(),
                    None,
                )
            }
            Failure::NoUpstream => (
                StatusCode::NOT_FOUND,
                "Not found",
                "Nothing is served at this address.".into(),
                Some("No entry of upstreams has a prefix matching this path; add one (or one for /).".into()),
            ),
            Failure::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
                "The request body is larger than this gateway accepts.".into(),
                Some("limits.max_body_bytes caps request bodies; raise it if this upload is legitimate.".into()),
            ),
            Failure::SessionStoreUnavailable(why) => {
                tracing::error!(reference, reason = %why, "session store unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "Your session cannot be read right now. Nothing is lost: please try again in a moment.".into(),
                    Some("session.store is redis and Redis did not answer (see the log line with this reference). entrance reconnects by itself; check that Redis is running and reachable at session.redis.".into()),
                )
            }
            Failure::RenewalUnavailable(why) => {
                tracing::error!(reference, reason = %why, "session renewal failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "Your session could not be renewed with Microsoft right now. Please try again in a moment.".into(),
                    Some("The refresh-token call to the identity provider failed for a reason other than the user's grant (see the log line with this reference).".into()),
                )
            }
            Failure::Internal(why) => {
                tracing::error!(reference, reason = %why, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "entrance could not handle this request.".into(),
                    None,
                )
            }
        };
        let mut response = match audience {
            Audience::Api => json(
                status,
                &serde_json::json!({
                    "error": error_slug(status),
                    "message": message,
                    "reference": reference,
                }),
            ),
            Audience::Browser => {
                let action = retry_action(&self);
                html(
                    status,
                    Page {
                        title,
                        message: &message,
                        operator_hint: hint.as_deref(),
                        action,
                        reference: Some(reference),
                    }
                    .render_with(
                        if matches!(self, Failure::Denied(_)) {
                            PageKind::Forbidden
                        } else {
                            PageKind::Error
                        },
                        brand,
                    ),
                )
            }
        };
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match &self {
                // RFC 6750 §3: say why the token failed, in words without the token.
                Failure::InvalidToken(why) => HeaderValue::from_str(&format!(
                    "Bearer error=\"invalid_token\", error_description=\"{why}\""
                ))
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer error=\"invalid_token\"")),
                _ => HeaderValue::from_static("Bearer"),
            };
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

fn retry_action(failure: &Failure) -> Option<(&'static str, &'static str)> {
    match failure {
        Failure::UnknownAttempt
        | Failure::BadCallback
        | Failure::SignInRefused { .. }
        | Failure::Oidc(_)
        | Failure::Unauthenticated => Some(("Sign in again", "/oauth2/start")),
        Failure::Denied(_) => Some(("Sign in with another account", "/oauth2/sign_out")),
        Failure::GroupsUnavailable(_) => Some(("Try again", "/oauth2/start")),
        Failure::BadPath(_)
        | Failure::InvalidToken(_)
        | Failure::BadParameters(_)
        | Failure::NoSuchEndpoint
        | Failure::UpstreamUnreachable(_)
        | Failure::UpstreamTimeout
        | Failure::SessionStoreUnavailable(_)
        | Failure::RenewalUnavailable(_)
        | Failure::NoUpstream
        | Failure::BodyTooLarge
        | Failure::Internal(_) => None,
    }
}

fn operator_hint(
    error: &str,
    code: Option<u32>,
    explanation: Option<microsoft::Explanation>,
) -> String {
    match (code, explanation) {
        (Some(code), Some(e)) => format!("AADSTS{code}: {} Fix: {}", e.meaning, e.fix),
        (Some(code), None) => format!(
            "Microsoft answered {error} with AADSTS{code}. Look the code up at {}/error?code={code}.",
            crate::microsoft::Cloud::Global.authority()
        ),
        (None, _) => format!("Microsoft answered {error}. The entrance log has the details."),
    }
}

fn id_token_hint(why: &TokenError) -> String {
    let fix = match why {
        TokenError::Audience => " Check that provider.client_id is the application (client) ID of this app registration.",
        TokenError::Issuer | TokenError::KeyIssuer => " Check provider.authority and provider.tenant: they must name the cloud and tenant that issue the tokens.",
        TokenError::Expired | TokenError::NotYetValid => " Check that this machine's clock is correct.",
        TokenError::MissingClaim("oid") => " Add the profile scope to provider.scopes.",
        _ => "",
    };
    format!("{why}.{fix}")
}

fn error_slug(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::BAD_GATEWAY => "bad_gateway",
        StatusCode::GATEWAY_TIMEOUT => "gateway_timeout",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        _ => "internal_error",
    }
}

/// An HTML response that is never cached.
pub fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut response = Response::new(body::full(page));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON response that is never cached.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(body::full(value.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// 302 to `location` (already validated by the caller).
pub fn redirect(location: &str) -> Response<Body> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Add `Set-Cookie` headers to a response.
pub fn with_cookies(mut response: Response<Body>, cookies: Vec<String>) -> Response<Body> {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn status_of(f: Failure) -> StatusCode {
        f.into_response(Audience::Browser, "r", &Branding::default())
            .status()
    }

    #[test]
    fn each_failure_has_its_status() {
        assert_eq!(
            status_of(Failure::BadPath("x".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(status_of(Failure::NoSuchEndpoint), StatusCode::NOT_FOUND);
        assert_eq!(
            status_of(Failure::Unauthenticated),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status_of(Failure::Denied(DenyReason::TenantNotAllowed)),
            StatusCode::FORBIDDEN
        );
        assert_eq!(status_of(Failure::UnknownAttempt), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(Failure::BadCallback), StatusCode::BAD_REQUEST);
        assert_eq!(
            status_of(Failure::SignInRefused {
                error: "access_denied",
                code: Some(65004)
            }),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_of(Failure::SignInRefused {
                error: "invalid_request",
                code: Some(50011)
            }),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            status_of(Failure::Oidc(OidcError::IdToken(TokenError::Nonce))),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status_of(Failure::Oidc(OidcError::NotReady)),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of(Failure::Oidc(OidcError::TokenRejected {
                codes: vec![],
                error: "invalid_client".into(),
                description: None
            })),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            status_of(Failure::UpstreamUnreachable("x".into())),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            status_of(Failure::UpstreamTimeout),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            status_of(Failure::Internal("x".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn api_callers_get_json_and_a_bearer_challenge() {
        let r = Failure::Unauthenticated.into_response(Audience::Api, "r", &Branding::default());
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer");
    }
}
