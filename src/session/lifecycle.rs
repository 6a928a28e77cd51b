//! The life of a session: found on a request (in its cookies or in Redis), kept alive
//! (`idle_timeout`), renewed with its refresh token before the access token expires, and ended
//! (sign-out, front-channel logout by `sid`, revocation of a user, renewal refused).
//!
//! Renewal runs once per session however many requests arrive at the moment it is due: the
//! others wait for that one token call ([`super::flights`]). With Redis, replicas also take a
//! short lock in Redis so that only one of them calls the token endpoint.
//!
//! Must not: know how a session is renewed (the gateway passes that in), or keep a session that
//! ended on the data even when its cookie is still valid.

use std::future::Future;
use std::time::Duration;

use super::flights::Flights;
use super::redis_store::RedisStore;
use super::revocations::Revocations;
use super::{Codec, CookieError, RequestCookies, Session};
use crate::config::{SessionConfig, SessionStoreConfig};

/// How long one replica may hold the renewal lock before another may take over.
const RENEWAL_LOCK: Duration = Duration::from_secs(15);
/// How long a replica waits for another one's renewal before going on with the old session.
const RENEWAL_WAIT: Duration = Duration::from_secs(10);

/// Why the session store could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Redis is down, slow or refused the command: try again later.
    #[error("{0}")]
    Unavailable(String),
    /// `session.redis` cannot be used as written.
    #[error("session.redis: {0}")]
    Config(String),
    /// Asked for something only a server-side store can do.
    #[error(
        "sessions are kept in cookies (session.store: cookie), so entrance cannot find them to \
         revoke; use session.store: redis, or rotate session.secret to end every session"
    )]
    NotServerSide,
}

/// Why a session could not be renewed.
#[derive(Debug, Clone)]
pub enum RenewError {
    /// The grant is gone (`invalid_grant`, `interaction_required`, another user): sign in again.
    Refused(String),
    /// The provider could not be reached or answered oddly: keep the session, retry later.
    Transient(String),
}

/// What a request's cookies amount to.
#[derive(Debug)]
pub enum Resumed {
    /// No usable session; `clear` deletes stale session cookies (none when none were sent).
    None { clear: Vec<String> },
    /// A live session; `set_cookies` carries its renewed or refreshed cookie, if it changed.
    Active {
        session: Box<Session>,
        set_cookies: Vec<String>,
    },
    /// The session ended just now (`reason`: `idle`, `signed_out`, `renewal_refused`).
    Ended {
        clear: Vec<String>,
        reason: &'static str,
    },
}

enum Store {
    Cookie,
    Redis(Box<RedisStore>),
}

/// Every session of one gateway.
pub struct Sessions {
    codec: Codec,
    store: Store,
    /// Shared with the sessions of the config this one replaced (a reload must not forget a
    /// front-channel logout).
    revoked: std::sync::Arc<Revocations>,
    flights: Flights<Result<Session, RenewError>>,
    lifetime: i64,
    idle: Option<i64>,
    margin: i64,
}

impl Sessions {
    /// Sessions as `config` says, with cookies `secure` when public_url is https.
    pub fn new(config: &SessionConfig, secure: bool) -> Result<Sessions, SessionsError> {
        let secrets: Vec<&[u8]> = config
            .secrets
            .iter()
            .map(|s| s.expose().as_slice())
            .collect();
        let codec = Codec::with_secrets(&secrets, &config.cookie_name, secure)?;
        let store = match &config.store {
            SessionStoreConfig::Cookie => Store::Cookie,
            SessionStoreConfig::Redis(redis) => Store::Redis(Box::new(RedisStore::new(redis)?)),
        };
        Ok(Sessions {
            codec,
            store,
            revoked: std::sync::Arc::new(Revocations::default()),
            flights: Flights::default(),
            lifetime: seconds(config.lifetime),
            idle: config.idle_timeout.map(seconds),
            margin: seconds(config.refresh),
        })
    }

    /// Keep remembering the front-channel logouts `previous` knows (the sessions of the config
    /// this one replaces on reload).
    pub fn adopt_revocations(&mut self, previous: &Sessions) {
        self.revoked = previous.revoked.clone();
    }

    /// The cookie codec (attempt cookies, stripping entrance's cookies before the upstream).
    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// Seconds before the access token expires at which sessions are renewed (`session.refresh`).
    pub fn refresh_margin(&self) -> i64 {
        self.margin
    }

    /// Absolute session lifetime, seconds.
    pub fn lifetime_secs(&self) -> i64 {
        self.lifetime
    }

    /// `cookie` or `redis`.
    pub fn store_kind(&self) -> &'static str {
        match self.store {
            Store::Cookie => "cookie",
            Store::Redis(_) => "redis",
        }
    }

    /// Whether the store answers (always for cookies; a Redis `PING` otherwise).
    pub async fn ready(&self) -> Result<(), StoreError> {
        match &self.store {
            Store::Cookie => Ok(()),
            Store::Redis(redis) => redis.ping().await,
        }
    }

    /// The session of a request, kept alive and renewed when due (`force`: renew now).
    /// `renew` turns a session due for renewal into the renewed one.
    pub async fn resume<R, Fut>(
        &self,
        cookies: &RequestCookies,
        now: i64,
        force: bool,
        renew: R,
    ) -> Result<Resumed, StoreError>
    where
        R: FnOnce(Session) -> Fut,
        Fut: Future<Output = Result<Session, RenewError>>,
    {
        let Some(mut session) = self.load(cookies, now).await? else {
            return Ok(Resumed::None {
                clear: self.codec.clear_session(cookies),
            });
        };
        if self
            .revoked
            .is_revoked(session.sid.as_deref(), session.issued_at)
        {
            return Ok(self.ended(&session, cookies, "signed_out").await);
        }
        if session.is_idle(now, self.idle) {
            return Ok(self.ended(&session, cookies, "idle").await);
        }
        let mut changed = false;
        if session.renewal.is_some() && (force || session.needs_renewal(now)) {
            match self.renew_once(session.clone(), now, renew).await {
                Ok(renewed) => {
                    session = renewed;
                    // Redis: the renewing request stored it already.
                    changed = matches!(self.store, Store::Cookie);
                }
                Err(RenewError::Refused(why)) => {
                    tracing::info!(
                        oid = %session.identity.oid,
                        reason = %why,
                        "session ended: the identity provider refused to renew it"
                    );
                    return Ok(self.ended(&session, cookies, "renewal_refused").await);
                }
                Err(RenewError::Transient(why)) => {
                    tracing::warn!(
                        oid = %session.identity.oid,
                        reason = %why,
                        "session renewal failed; the session goes on and renewal is retried"
                    );
                }
            }
        }
        if let Some(idle) = self.idle {
            if now.saturating_sub(session.seen_at) >= touch_interval(idle) {
                session.seen_at = now;
                changed = true;
            }
        }
        let set_cookies = if changed {
            self.persist(&session, cookies, now).await?
        } else {
            Vec::new()
        };
        Ok(Resumed::Active {
            session: Box::new(session),
            set_cookies,
        })
    }

    /// Store a new session (after sign-in) and the cookies that carry it.
    pub async fn start(
        &self,
        session: &Session,
        cookies: &RequestCookies,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        match &self.store {
            Store::Cookie => self.persist(session, cookies, now).await,
            Store::Redis(redis) => {
                redis
                    .save(&self.codec, session, self.ttl(session, now))
                    .await?;
                Ok(self
                    .codec
                    .seal_handle(&session.id, cookies, session.expires_at - now))
            }
        }
    }

    /// Sign-out: the session (if any), deleted from the store, and cookies that clear every
    /// entrance cookie. A store failure is logged; the browser is signed out regardless.
    pub async fn end(&self, cookies: &RequestCookies, now: i64) -> (Option<Session>, Vec<String>) {
        let session = match self.load(cookies, now).await {
            Ok(session) => session,
            Err(error) => {
                tracing::error!(%error, "sign-out could not read the session store");
                None
            }
        };
        if let Some(session) = &session {
            self.delete(session).await;
            if let Some(sid) = &session.sid {
                self.revoked.revoke(sid, now, self.lifetime);
            }
        }
        (session, self.codec.clear_all(cookies))
    }

    /// Front-channel logout: end every session of Microsoft sign-in session `sid`. Returns how
    /// many were deleted (Redis), or `None` when they live in cookies (refused from now on).
    pub async fn end_sid(&self, sid: &str, now: i64) -> Result<Option<usize>, StoreError> {
        self.revoked.revoke(sid, now, self.lifetime);
        match &self.store {
            Store::Cookie => Ok(None),
            Store::Redis(redis) => redis.delete_sid(sid).await.map(Some),
        }
    }

    /// Revoke every session of user `oid` (Redis only).
    pub async fn end_user(&self, oid: &str) -> Result<usize, StoreError> {
        match &self.store {
            Store::Cookie => Err(StoreError::NotServerSide),
            Store::Redis(redis) => redis.delete_user(&oid.to_ascii_lowercase()).await,
        }
    }

    async fn load(
        &self,
        cookies: &RequestCookies,
        now: i64,
    ) -> Result<Option<Session>, StoreError> {
        match &self.store {
            Store::Cookie => Ok(self.codec.open_session(cookies, now)),
            Store::Redis(redis) => {
                let Some(id) = self.codec.open_handle(cookies) else {
                    return Ok(None);
                };
                Ok(redis
                    .load(&self.codec, &id)
                    .await?
                    .filter(|s| s.id == id && !s.is_expired(now)))
            }
        }
    }

    async fn persist(
        &self,
        session: &Session,
        cookies: &RequestCookies,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        match &self.store {
            Store::Cookie => self
                .codec
                .seal_session(session, cookies, now)
                .map_err(|e| StoreError::Unavailable(e.to_string())),
            Store::Redis(redis) => {
                redis
                    .save(&self.codec, session, self.ttl(session, now))
                    .await?;
                Ok(Vec::new())
            }
        }
    }

    async fn ended(
        &self,
        session: &Session,
        cookies: &RequestCookies,
        reason: &'static str,
    ) -> Resumed {
        self.delete(session).await;
        Resumed::Ended {
            clear: self.codec.clear_session(cookies),
            reason,
        }
    }

    async fn delete(&self, session: &Session) {
        if let Store::Redis(redis) = &self.store {
            if let Err(error) = redis.delete(&session.id).await {
                tracing::error!(%error, "could not delete a session from Redis");
            }
        }
    }

    /// Seconds Redis keeps a session: to its end, or its idle deadline if sooner.
    fn ttl(&self, session: &Session, now: i64) -> i64 {
        let to_end = session.expires_at.saturating_sub(now);
        match self.idle {
            Some(idle) => to_end.min(session.seen_at.saturating_add(idle).saturating_sub(now)),
            None => to_end,
        }
    }

    /// Renew `session` once for all the requests that want it now.
    async fn renew_once<R, Fut>(
        &self,
        session: Session,
        now: i64,
        renew: R,
    ) -> Result<Session, RenewError>
    where
        R: FnOnce(Session) -> Fut,
        Fut: Future<Output = Result<Session, RenewError>>,
    {
        // One flight per session and refresh token: every request carrying this generation of
        // the session shares it; the renewed session (a new refresh token) starts a new one.
        let generation = session
            .renewal
            .as_ref()
            .map_or_else(String::new, |r| super::digest_hex(&r.refresh_token.0, 8));
        let key = format!("{}:{generation}", session.id);
        let (result, _) = self
            .flights
            .run(&key, now, || self.renew_guarded(session, now, renew))
            .await;
        result
    }

    /// Renew, with the replicas' lock when sessions are in Redis.
    async fn renew_guarded<R, Fut>(
        &self,
        session: Session,
        now: i64,
        renew: R,
    ) -> Result<Session, RenewError>
    where
        R: FnOnce(Session) -> Fut,
        Fut: Future<Output = Result<Session, RenewError>>,
    {
        let Store::Redis(redis) = &self.store else {
            return renew(session).await;
        };
        let transient = |e: StoreError| RenewError::Transient(e.to_string());
        let id = session.id.clone();
        if !redis.lock(&id, RENEWAL_LOCK).await.map_err(transient)? {
            return self.wait_for_other_replica(redis, session, now).await;
        }
        // Another replica may have finished just before we took the lock.
        let result = match redis.load(&self.codec, &session.id).await {
            Ok(Some(current)) if !current.needs_renewal(now) => Ok(current),
            Ok(None) => Err(RenewError::Refused("the session was ended".into())),
            _ => match renew(session).await {
                Ok(renewed) => redis
                    .save(&self.codec, &renewed, self.ttl(&renewed, now))
                    .await
                    .map(|()| renewed)
                    .map_err(transient),
                Err(e) => Err(e),
            },
        };
        if let Err(error) = redis.unlock(&id).await {
            tracing::debug!(%error, "could not release a renewal lock; it expires by itself");
        }
        result
    }

    async fn wait_for_other_replica(
        &self,
        redis: &RedisStore,
        session: Session,
        now: i64,
    ) -> Result<Session, RenewError> {
        let transient = |e: StoreError| RenewError::Transient(e.to_string());
        let deadline = tokio::time::Instant::now() + RENEWAL_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            match redis
                .load(&self.codec, &session.id)
                .await
                .map_err(transient)?
            {
                None => return Err(RenewError::Refused("the session was ended".into())),
                Some(current) if !current.needs_renewal(now) => return Ok(current),
                Some(_) => {}
            }
            if !redis.is_locked(&session.id).await.map_err(transient)? {
                break;
            }
        }
        Err(RenewError::Transient(
            "another replica is renewing this session".into(),
        ))
    }
}

/// How stale `seen_at` may get: a tenth of the idle timeout, between 1s and 60s, so an active
/// session is not rewritten on every request.
fn touch_interval(idle: i64) -> i64 {
    (idle / 10).clamp(1, 60)
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Why sessions could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error("session cookies: {0}")]
    Cookies(#[from] CookieError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "lifecycle_tests.rs"]
mod tests;
