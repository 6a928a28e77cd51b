//! Who a request is from: a bearer token for the app's API, or a browser's session, kept alive
//! and renewed with its refresh token when due.

use http::HeaderMap;

use super::{note, note_decision, reference, Gateway};
use crate::identity::Identity;
use crate::logging;
use crate::respond::Failure;
use crate::session::{RenewError, Renewal, RequestCookies, Resumed, Session};
use crate::{bearer, endpoints, oidc};

/// Who a request is from, and the cookies its answer must carry.
#[derive(Default)]
pub struct Caller {
    pub who: Option<Identity>,
    /// The browser session, when the caller is one.
    pub session: Option<Session>,
    /// `Set-Cookie` values: a renewed session, or the deletion of an ended one.
    pub set_cookies: Vec<String>,
}

impl Gateway {
    /// The identity of the request: a valid bearer token when API tokens are accepted and one
    /// is sent (an invalid one is a 401, never a fallback to cookies), else the session.
    pub async fn caller(&self, headers: &HeaderMap, now: i64) -> Result<Caller, Failure> {
        if let (Some(audiences), Some(token)) =
            (&self.settings.api_audiences, bearer::token_from(headers))
        {
            return match self.provider.validate_bearer(token, audiences, now).await {
                Ok(who) => {
                    self.metrics.bearer("valid");
                    Ok(Caller {
                        who: Some(who),
                        ..Caller::default()
                    })
                }
                Err(why) => {
                    self.metrics.bearer("invalid");
                    note_decision("invalid_token");
                    tracing::info!(reason = %why, "refused a bearer token");
                    Err(Failure::InvalidToken(why))
                }
            };
        }
        self.resume(headers, now, false).await
    }

    /// The browser's session, kept alive and renewed when due (`force`: renew now). A session
    /// that ended (renewal refused, idle, signed out elsewhere) is no session, and its cookies
    /// are cleared.
    pub async fn resume(
        &self,
        headers: &HeaderMap,
        now: i64,
        force: bool,
    ) -> Result<Caller, Failure> {
        let cookies = RequestCookies::from_headers(headers);
        let resumed = self
            .sessions
            .resume(&cookies, now, force, |old| self.renew(old, now))
            .await;
        match resumed {
            Ok(Resumed::Active {
                session,
                set_cookies,
            }) => Ok(Caller {
                who: Some(session.identity.clone()),
                session: Some(*session),
                set_cookies,
            }),
            Ok(Resumed::None { clear }) => Ok(Caller {
                set_cookies: clear,
                ..Caller::default()
            }),
            Ok(Resumed::Ended { clear, reason }) => {
                self.metrics.session_ended(reason);
                note(|t| t.decision = format!("session_ended:{reason}"));
                Ok(Caller {
                    set_cookies: clear,
                    ..Caller::default()
                })
            }
            Err(error) => {
                self.metrics.session_store_error();
                Err(Failure::SessionStoreUnavailable(error.to_string()))
            }
        }
    }

    /// Renew `old` with its refresh token: the same user, re-read (groups from Graph again when
    /// that is where they came from), with the new refresh token.
    async fn renew(&self, old: Session, now: i64) -> Result<Session, RenewError> {
        let Some(renewal) = &old.renewal else {
            return Ok(old);
        };
        let signed_in = match self.provider.renew(&renewal.refresh_token.0, now).await {
            Ok(signed_in) => signed_in,
            Err(oidc::OidcError::TokenRejected { error, codes, .. })
                if crate::microsoft::ends_session(&error, &codes) =>
            {
                self.metrics.session_renewal("refused");
                let code = codes
                    .first()
                    .map(|c| format!(" AADSTS{c}"))
                    .unwrap_or_default();
                let reason = format!("{error}{code}");
                logging::audit::refresh_failed(
                    &old.identity.oid,
                    &old.identity.tid,
                    &reason,
                    &reference(),
                );
                return Err(RenewError::Refused(reason));
            }
            Err(error) => {
                self.metrics.session_renewal("failed");
                return Err(RenewError::Transient(error.to_string()));
            }
        };
        let user = match endpoints::callback::user_from(self, signed_in, renewal.groups_from_graph)
            .await
        {
            Ok(user) => user,
            Err(failure) => {
                // Graph failed: keep the groups the session has rather than drop them.
                self.metrics.session_renewal("failed");
                return Err(RenewError::Transient(failure.to_string()));
            }
        };
        if user.identity.oid != old.identity.oid || user.identity.tid != old.identity.tid {
            self.metrics.session_renewal("refused");
            return Err(RenewError::Refused(
                "the renewed ID token is for another user".into(),
            ));
        }
        self.metrics.session_renewal("renewed");
        tracing::info!(oid = %old.identity.oid, "session renewed with its refresh token");
        let margin = self.sessions.refresh_margin();
        let renewal = user.renewal(now, margin).or_else(|| {
            // No new refresh token: the old one stays in use.
            let mut kept = Renewal::new(
                renewal.refresh_token.clone(),
                now,
                user.access_lifetime(),
                margin,
            );
            kept.groups_from_graph = user.groups_from_graph;
            Some(kept)
        });
        Ok(Session {
            identity: user.identity,
            sid: user.sid.or(old.sid.clone()),
            login_hint: user.login_hint.or(old.login_hint.clone()),
            renewal,
            ..old
        })
    }
}
