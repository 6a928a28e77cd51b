//! `session.store: redis`: sessions kept in Redis (single node, Sentinel or Cluster), encrypted
//! at rest, found by a hash of the id the browser's cookie carries.
//!
//! Keys (all under `key_prefix`): `session:{h}` the sealed session, with a TTL at its end;
//! `user:{oid}` and `sid:{sid}` sets of `h`, for revoking every session of a user or of a
//! Microsoft sign-in session; `lock:{h}` the renewal lock shared by replicas. `h` is a SHA-256
//! of the session id, so reading Redis does not reveal cookie values.
//!
//! Must not: hold a lock across an await, wait on Redis longer than `command_timeout`, or
//! panic when Redis is away (every call is an error the gateway answers with 503; the next call
//! reconnects).

use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, Cmd, ConnectionInfo, FromRedisValue, IntoConnectionInfo};

use super::{Codec, Session, StoreError};
use crate::config::{RedisConfig, RedisConnection};

/// After a failed connect, calls fail fast for this long instead of each waiting
/// `connect_timeout` (Redis down must not make every request slow).
const RECONNECT_BACKOFF: Duration = Duration::from_millis(500);

/// How to make a connection.
enum Connector {
    Single(redis::Client),
    Sentinel(tokio::sync::Mutex<SentinelClient>),
    Cluster(ClusterClient),
}

#[derive(Clone)]
enum Connection {
    Multiplexed(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// The Redis session store.
pub struct RedisStore {
    connector: Connector,
    /// The live connection, if any; dropped after an I/O error so the next call reconnects.
    connection: tokio::sync::Mutex<(Option<Connection>, Option<Instant>)>,
    prefix: String,
    connect_timeout: Duration,
    command_timeout: Duration,
}

impl RedisStore {
    /// Build the clients; nothing connects until the first call, so entrance starts (and
    /// serves cookie-free routes) while Redis is still coming up.
    pub fn new(config: &RedisConfig) -> Result<RedisStore, StoreError> {
        let info = |url: &crate::secret::Secret<url::Url>| -> Result<ConnectionInfo, StoreError> {
            let info = url
                .expose()
                .as_str()
                .into_connection_info()
                .map_err(|e| StoreError::Config(describe(&e)))?;
            let mut settings = info.redis_settings().clone();
            if let Some(username) = &config.username {
                settings = settings.set_username(username);
            }
            if let Some(password) = &config.password {
                settings = settings.set_password(password.expose());
            }
            Ok(info.set_redis_settings(settings))
        };
        let connector = match &config.connection {
            RedisConnection::Single(url) => Connector::Single(
                redis::Client::open(info(url)?).map_err(|e| StoreError::Config(describe(&e)))?,
            ),
            RedisConnection::Cluster { nodes } => {
                let infos = nodes.iter().map(&info).collect::<Result<Vec<_>, _>>()?;
                let mut builder = ClusterClient::builder(infos)
                    .connection_timeout(config.connect_timeout)
                    .response_timeout(config.command_timeout);
                if let Some(username) = &config.username {
                    builder = builder.username(username);
                }
                if let Some(password) = &config.password {
                    builder = builder.password(password.expose());
                }
                Connector::Cluster(
                    builder
                        .build()
                        .map_err(|e| StoreError::Config(describe(&e)))?,
                )
            }
            RedisConnection::Sentinel { master_name, nodes } => {
                let infos = nodes.iter().map(&info).collect::<Result<Vec<_>, _>>()?;
                // The masters the sentinels name are reached with the same credentials.
                let node_settings = infos
                    .first()
                    .map(|i| i.redis_settings().clone())
                    .unwrap_or_default();
                let node =
                    SentinelNodeConnectionInfo::default().set_redis_connection_info(node_settings);
                let client = SentinelClient::build(
                    infos,
                    master_name.clone(),
                    Some(node),
                    SentinelServerType::Master,
                )
                .map_err(|e| StoreError::Config(describe(&e)))?;
                Connector::Sentinel(tokio::sync::Mutex::new(client))
            }
        };
        Ok(RedisStore {
            connector,
            connection: tokio::sync::Mutex::new((None, None)),
            prefix: config.key_prefix.clone(),
            connect_timeout: config.connect_timeout,
            command_timeout: config.command_timeout,
        })
    }

    /// `PING`: for `/readyz` and `entrance check`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.query(redis::cmd("PING")).await?;
        Ok(())
    }

    /// The session stored under `id`, if any (expired ones are gone by their TTL).
    pub async fn load(&self, codec: &Codec, id: &str) -> Result<Option<Session>, StoreError> {
        let key = self.session_key(id);
        let sealed: Option<String> = self.query(redis::cmd("GET").arg(&key).clone()).await?;
        Ok(sealed
            .and_then(|sealed| codec.open_value(&key, &sealed))
            .and_then(|plain| serde_json::from_str(&plain).ok()))
    }

    /// Store `session` until `ttl_secs` from now, and index it by user and `sid`.
    pub async fn save(
        &self,
        codec: &Codec,
        session: &Session,
        ttl_secs: i64,
    ) -> Result<(), StoreError> {
        let key = self.session_key(&session.id);
        let plain = serde_json::to_string(session)
            .map_err(|e| StoreError::Unavailable(format!("cannot encode the session: {e}")))?;
        let sealed = codec.seal_value(&key, plain);
        let ttl = ttl_secs.max(1);
        let () = self
            .query(
                redis::cmd("SET")
                    .arg(&key)
                    .arg(sealed)
                    .arg("EX")
                    .arg(ttl)
                    .clone(),
            )
            .await?;
        let hash = hash(&session.id);
        let mut indexes = vec![self.key("user", &session.identity.oid)];
        if let Some(sid) = &session.sid {
            indexes.push(self.key("sid", sid));
        }
        for index in indexes {
            let _: i64 = self
                .query(redis::cmd("SADD").arg(&index).arg(&hash).clone())
                .await?;
            // Every session lives at most its lifetime: the newest one sets the longest TTL.
            let lifetime = session
                .expires_at
                .saturating_sub(session.issued_at)
                .max(ttl);
            let _: i64 = self
                .query(redis::cmd("EXPIRE").arg(&index).arg(lifetime).clone())
                .await?;
        }
        Ok(())
    }

    /// Delete the session stored under `id`.
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .query(redis::cmd("DEL").arg(self.session_key(id)).clone())
            .await?;
        Ok(())
    }

    /// Delete every session of user `oid`; how many there were.
    pub async fn delete_user(&self, oid: &str) -> Result<usize, StoreError> {
        self.delete_indexed(&self.key("user", oid)).await
    }

    /// Delete every session of Microsoft sign-in session `sid`; how many there were.
    pub async fn delete_sid(&self, sid: &str) -> Result<usize, StoreError> {
        self.delete_indexed(&self.key("sid", sid)).await
    }

    /// Take the renewal lock of session `id` for `hold`; false when another holds it.
    pub async fn lock(&self, id: &str, hold: Duration) -> Result<bool, StoreError> {
        let millis = u64::try_from(hold.as_millis()).unwrap_or(u64::MAX);
        let set: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(self.key("lock", &hash(id)))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis)
                    .clone(),
            )
            .await?;
        Ok(set.is_some())
    }

    /// Release the renewal lock of session `id`.
    pub async fn unlock(&self, id: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .query(redis::cmd("DEL").arg(self.key("lock", &hash(id))).clone())
            .await?;
        Ok(())
    }

    /// Whether the renewal lock of session `id` is held.
    pub async fn is_locked(&self, id: &str) -> Result<bool, StoreError> {
        let n: i64 = self
            .query(
                redis::cmd("EXISTS")
                    .arg(self.key("lock", &hash(id)))
                    .clone(),
            )
            .await?;
        Ok(n > 0)
    }

    async fn delete_indexed(&self, index: &str) -> Result<usize, StoreError> {
        let hashes: Vec<String> = self
            .query(redis::cmd("SMEMBERS").arg(index).clone())
            .await?;
        let mut deleted = 0;
        for h in &hashes {
            let n: i64 = self
                .query(redis::cmd("DEL").arg(self.key("session", h)).clone())
                .await?;
            deleted += usize::try_from(n).unwrap_or(0);
        }
        let _: i64 = self.query(redis::cmd("DEL").arg(index).clone()).await?;
        Ok(deleted)
    }

    fn session_key(&self, id: &str) -> String {
        self.key("session", &hash(id))
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    /// Run one command within `command_timeout`; an error drops the connection so the next
    /// call reconnects.
    async fn query<T: FromRedisValue>(&self, cmd: Cmd) -> Result<T, StoreError> {
        let connection = self.connection().await?;
        let result = match connection {
            Connection::Multiplexed(mut c) => self.run(&mut c, &cmd).await,
            Connection::Cluster(mut c) => self.run(&mut c, &cmd).await,
        };
        if let Err(StoreError::Unavailable(_)) = &result {
            self.connection.lock().await.0 = None;
        }
        result
    }

    async fn run<C: ConnectionLike + Send, T: FromRedisValue>(
        &self,
        connection: &mut C,
        cmd: &Cmd,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.command_timeout, cmd.query_async(connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(StoreError::Unavailable(describe(&e))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "Redis did not answer within session.redis.command_timeout ({})",
                humantime::format_duration(self.command_timeout)
            ))),
        }
    }

    async fn connection(&self) -> Result<Connection, StoreError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = &slot.0 {
            return Ok(connection.clone());
        }
        if slot.1.is_some_and(|at| at.elapsed() < RECONNECT_BACKOFF) {
            return Err(StoreError::Unavailable(
                "Redis is unreachable (retrying shortly)".into(),
            ));
        }
        let connected = tokio::time::timeout(self.connect_timeout, self.connect()).await;
        let connection = match connected {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => {
                slot.1 = Some(Instant::now());
                return Err(StoreError::Unavailable(describe(&e)));
            }
            Err(_) => {
                slot.1 = Some(Instant::now());
                return Err(StoreError::Unavailable(format!(
                    "could not connect to Redis within session.redis.connect_timeout ({})",
                    humantime::format_duration(self.connect_timeout)
                )));
            }
        };
        slot.0 = Some(connection.clone());
        slot.1 = None;
        Ok(connection)
    }

    async fn connect(&self) -> redis::RedisResult<Connection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.command_timeout));
        Ok(match &self.connector {
            Connector::Single(client) => Connection::Multiplexed(
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?,
            ),
            Connector::Sentinel(client) => Connection::Multiplexed(
                client
                    .lock()
                    .await
                    .get_async_connection_with_config(&config)
                    .await?,
            ),
            Connector::Cluster(client) => Connection::Cluster(client.get_async_connection().await?),
        })
    }
}

/// The id as it appears in Redis keys.
fn hash(id: &str) -> String {
    super::digest_hex(id, 16)
}

/// A Redis error in words, never with a URL (it may carry a password).
fn describe(error: &redis::RedisError) -> String {
    if error.is_timeout() {
        "Redis timed out".into()
    } else if error.is_connection_refusal() {
        "Redis refused the connection (is it running, and is session.redis right?)".into()
    } else if error.is_io_error() || error.is_connection_dropped() {
        "the connection to Redis failed".into()
    } else {
        format!(
            "Redis answered: {:?} {}",
            error.kind(),
            error.detail().unwrap_or("")
        )
    }
}
