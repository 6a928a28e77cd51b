//! `/oauth2/callback`: finish a sign-in attempt. The code is redeemed only after the state
//! matched an attempt cookie of this browser; the attempt is cleared whatever happens.

use std::collections::HashMap;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::body::Body;
use crate::gateway::Gateway;
use crate::identity::Identity;
use crate::microsoft;
use crate::oidc::Claims;
use crate::policy::Decision;
use crate::respond::{self, Failure};
use crate::session::{RequestCookies, Session};

pub async fn handle(
    gateway: &Gateway,
    req: &Request<Incoming>,
    query: &HashMap<String, String>,
    cookies: &RequestCookies,
    now: i64,
) -> Response<Body> {
    let headers = req.headers();
    let Some(state) = query.get("state") else {
        return gateway.fail(Failure::UnknownAttempt, headers);
    };
    let Some(attempt) = gateway.cookies.open_attempt(state, cookies, now) else {
        return gateway.fail(Failure::UnknownAttempt, headers);
    };
    let clear_attempt = vec![gateway.cookies.clear_attempt(&attempt.state)];

    if let Some(error) = query.get("error") {
        let code = query
            .get("error_description")
            .and_then(|d| microsoft::aadsts_code(d));
        let failure = Failure::SignInRefused {
            error: microsoft::known_error(error).unwrap_or("an unrecognised error"),
            code,
        };
        return respond::with_cookies(gateway.fail(failure, headers), clear_attempt);
    }
    let Some(code) = query.get("code") else {
        return respond::with_cookies(gateway.fail(Failure::BadCallback, headers), clear_attempt);
    };

    let claims = match gateway.provider.finish(code, &attempt, now).await {
        Ok(claims) => claims,
        Err(error) => {
            return respond::with_cookies(
                gateway.fail(Failure::Oidc(error), headers),
                clear_attempt,
            )
        }
    };
    let sid = claims.sid.clone();
    let identity = identity_from(claims);
    if let Decision::Deny(reason) = gateway.authorize(&identity) {
        tracing::info!(oid = %identity.oid, tid = %identity.tid, reason = reason.code(), "sign-in denied by the authorization rules");
        return respond::with_cookies(
            gateway.fail(Failure::Denied(reason), headers),
            clear_attempt,
        );
    }

    let session = Session::new(identity, sid, now, gateway.settings.lifetime_secs);
    let mut set = match gateway.cookies.seal_session(&session, cookies, now) {
        Ok(set) => set,
        Err(error) => {
            return respond::with_cookies(
                gateway.fail(Failure::Internal(error.to_string()), headers),
                clear_attempt,
            )
        }
    };
    set.extend(clear_attempt);
    tracing::info!(oid = %session.identity.oid, tid = %session.identity.tid, "signed in");
    respond::with_cookies(respond::redirect(&attempt.return_to), set)
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
