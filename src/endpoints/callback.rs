//! `/oauth2/callback`: finish a sign-in attempt. The code is redeemed only after the state
//! matched an attempt cookie of this browser; the attempt is cleared whatever happens. Groups
//! that did not fit the token (overage) are read from Microsoft Graph before the session
//! exists: a session never lacks groups silently.

use std::collections::HashMap;

use http::{Method, Request, Response};
use hyper::body::Incoming;

use crate::body::Body;
use crate::config::{GroupsSource, PERSONAL_ACCOUNTS_TENANT};
use crate::gateway::Gateway;
use crate::identity::Identity;
use crate::oidc::{Claims, SignedIn};
use crate::policy::Verdict;
use crate::respond::{self, Failure};
use crate::secret::Secret;
use crate::session::{RefreshToken, Renewal, RequestCookies, Session};
use crate::{logging, microsoft};

pub async fn handle(
    gateway: &Gateway,
    req: &Request<Incoming>,
    query: &HashMap<String, String>,
    cookies: &RequestCookies,
    now: i64,
) -> Response<Body> {
    let headers = req.headers();
    let unknown = || {
        gateway.metrics.sign_in("error", "state_mismatch", now);
        crate::gateway::note_decision("sign_in_failed:state_mismatch");
        gateway.fail(Failure::UnknownAttempt, headers)
    };
    let Some(state) = query.get("state") else {
        return unknown();
    };
    let Some(attempt) = gateway.cookies().open_attempt(state, cookies, now) else {
        return unknown();
    };
    let clear_attempt = vec![gateway.cookies().clear_attempt(&attempt.state)];
    let fail = |failure: Failure| {
        let reason = failure_reason(&failure);
        let outcome = if matches!(failure, Failure::Denied(_)) {
            "denied"
        } else {
            "error"
        };
        gateway.metrics.sign_in(outcome, reason, now);
        crate::gateway::note_decision(&format!("sign_in_failed:{reason}"));
        respond::with_cookies(gateway.fail(failure, headers), clear_attempt.clone())
    };

    if let Some(error) = query.get("error") {
        let code = query
            .get("error_codes")
            .and_then(|c| c.split(',').next()?.trim().parse().ok())
            .or_else(|| {
                query
                    .get("error_description")
                    .and_then(|d| microsoft::aadsts_code(d))
            });
        return fail(Failure::SignInRefused {
            error: microsoft::known_error(error).unwrap_or("an unrecognised error"),
            code,
        });
    }
    let Some(code) = query.get("code") else {
        return fail(Failure::BadCallback);
    };

    let signed_in = match gateway.provider.finish(code, &attempt, now).await {
        Ok(signed_in) => signed_in,
        Err(error) => return fail(Failure::Oidc(error)),
    };
    let user = match user_from(gateway, signed_in, false).await {
        Ok(user) => user,
        Err(failure) => return fail(failure),
    };
    let identity = user.identity.clone();
    let route = gateway.policy.route(
        &Method::GET,
        attempt.return_to.split('?').next().unwrap_or("/"),
    );
    if let Verdict::Deny(reason) = gateway.policy.decide(&route, Some(&identity), None) {
        logging::audit::denied(
            &identity.oid,
            &identity.tid,
            reason.code(),
            &route.label(),
            &crate::gateway::reference(),
        );
        return fail(Failure::Denied(reason));
    }

    let mut session = Session::new(
        identity,
        user.sid.clone(),
        now,
        gateway.sessions.lifetime_secs(),
    );
    session.login_hint = user.login_hint.clone();
    session.renewal = user.renewal(now, gateway.sessions.refresh_margin());
    let mut set = match gateway.sessions.start(&session, cookies, now).await {
        Ok(set) => set,
        Err(error) => return fail(Failure::SessionStoreUnavailable(error.to_string())),
    };
    set.extend(clear_attempt.clone());
    gateway.metrics.sign_in("success", "success", now);
    crate::gateway::note_identity(&session.identity);
    crate::gateway::note_decision("sign_in");
    logging::audit::sign_in(
        &session.identity.oid,
        &session.identity.tid,
        &crate::gateway::reference(),
    );
    respond::with_cookies(respond::redirect(&attempt.return_to), set)
}

/// Who signed in (or renewed), from validated tokens.
pub(crate) struct SignedInUser {
    pub identity: Identity,
    pub sid: Option<String>,
    pub login_hint: Option<String>,
    /// The groups came from Microsoft Graph.
    pub groups_from_graph: bool,
    refresh_token: Option<Secret<String>>,
    expires_in: Option<std::time::Duration>,
}

/// Microsoft's access tokens live 60–90 minutes; without `expires_in`, assume the shortest.
const DEFAULT_ACCESS_LIFETIME_SECS: i64 = 3600;

impl SignedInUser {
    /// Seconds the access token from this token call lives.
    pub fn access_lifetime(&self) -> i64 {
        self.expires_in
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or(DEFAULT_ACCESS_LIFETIME_SECS)
    }

    /// What renewing the session needs, when the token call returned a refresh token; renewal
    /// comes `margin` seconds before the access token expires.
    pub fn renewal(&self, now: i64, margin: i64) -> Option<Renewal> {
        let refresh_token = self.refresh_token.as_ref()?;
        let mut renewal = Renewal::new(
            RefreshToken(refresh_token.expose().clone()),
            now,
            self.access_lifetime(),
            margin,
        );
        renewal.groups_from_graph = self.groups_from_graph;
        Some(renewal)
    }
}

/// The user from validated claims, with the groups read from Microsoft Graph when the token
/// could not carry them (overage), the operator asked for Graph, or (`graph_before`) they came
/// from Graph last time.
pub(crate) async fn user_from(
    gateway: &Gateway,
    signed_in: SignedIn,
    graph_before: bool,
) -> Result<SignedInUser, Failure> {
    let SignedIn { claims, tokens } = signed_in;
    let overage = claims.groups_overage();
    let sid = claims.sid.clone();
    let login_hint = claims.login_hint.clone();
    let mut identity = identity_from(claims);
    // Personal accounts have no groups, and Graph does not serve their memberships.
    let wants_graph = overage
        || graph_before
        || (gateway.settings.groups_source == GroupsSource::Graph
            && identity.tid != PERSONAL_ACCOUNTS_TENANT);
    if wants_graph {
        let graph = gateway.provider.graph().ok_or_else(|| {
            Failure::GroupsUnavailable("the discovery document names no usable msgraph_host".into())
        })?;
        let started = std::time::Instant::now();
        let groups = graph
            .transitive_group_ids(tokens.access_token.expose())
            .await;
        gateway
            .metrics
            .idp_call("graph", started.elapsed().as_secs_f64(), groups.is_ok());
        identity.groups = groups.map_err(|e| Failure::GroupsUnavailable(e.to_string()))?;
        tracing::debug!(
            groups = identity.groups.len(),
            overage,
            "groups read from Microsoft Graph"
        );
    }
    Ok(SignedInUser {
        identity,
        sid,
        login_hint,
        groups_from_graph: wants_graph,
        refresh_token: tokens.refresh_token,
        expires_in: tokens.expires_in,
    })
}

/// A short, fixed label for why a sign-in failed (metrics and the status page).
fn failure_reason(failure: &Failure) -> &'static str {
    use crate::oidc::OidcError;
    match failure {
        Failure::Denied(reason) => reason.code(),
        Failure::SignInRefused { .. } => "provider_error",
        Failure::Oidc(OidcError::TokenRejected { .. }) => "token_rejected",
        Failure::Oidc(OidcError::IdToken(_)) => "invalid_token",
        Failure::Oidc(_) => "provider_unreachable",
        Failure::GroupsUnavailable(_) => "graph_failed",
        Failure::UnknownAttempt => "state_mismatch",
        _ => "other",
    }
}

/// The identity entrance keeps, from validated claims.
fn identity_from(claims: Claims) -> Identity {
    Identity {
        oid: claims.oid.unwrap_or_default(),
        tid: claims.tid.unwrap_or_default(),
        sub: claims.sub,
        name: claims.name,
        preferred_username: claims.preferred_username,
        email: claims.email,
        groups: claims.groups,
        roles: claims.roles,
        caller: None,
    }
}
