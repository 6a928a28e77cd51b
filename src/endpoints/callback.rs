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
use crate::session::{RequestCookies, Session};
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
    let Some(attempt) = gateway.cookies.open_attempt(state, cookies, now) else {
        return unknown();
    };
    let clear_attempt = vec![gateway.cookies.clear_attempt(&attempt.state)];
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
    let identity = match identity_with_groups(gateway, signed_in).await {
        Ok(identity) => identity,
        Err(failure) => return fail(failure),
    };
    let (identity, sid) = identity;
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

    let session = Session::new(identity, sid, now, gateway.settings.lifetime_secs);
    let mut set = match gateway.cookies.seal_session(&session, cookies, now) {
        Ok(set) => set,
        Err(error) => return fail(Failure::Internal(error.to_string())),
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

/// The identity from validated claims, with the groups read from Microsoft Graph when the token
/// could not carry them (overage) or the operator asked for Graph.
async fn identity_with_groups(
    gateway: &Gateway,
    signed_in: SignedIn,
) -> Result<(Identity, Option<String>), Failure> {
    let SignedIn { claims, tokens } = signed_in;
    let overage = claims.groups_overage();
    let sid = claims.sid.clone();
    let mut identity = identity_from(claims);
    // Personal accounts have no groups, and Graph does not serve their memberships.
    let wants_graph = overage
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
    Ok((identity, sid))
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
