//! The pooled client of one upstream and its connectors: TCP, TLS (rustls) or a unix socket,
//! each bounded by the upstream's connect timeout.
//!
//! Knows how to reach an upstream, nothing about requests: headers and paths are the proxy's.

use std::future::Future;
#[cfg(unix)]
use std::path::Path;
use std::pin::Pin;
#[cfg(unix)]
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
#[cfg(unix)]
use hyper_util::rt::TokioIo;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::{Body, BoxError};
use crate::upstream::{Target, Upstream};

/// A pooled keep-alive HTTP/1.1 client of one upstream. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub(super) struct Pool(Kind);

/// The client type follows the target.
#[derive(Clone)]
enum Kind {
    Http(Client<ConnectTimeout<HttpConnector>, Body>),
    Https(Client<ConnectTimeout<HttpsConnector<HttpConnector>>, Body>),
    #[cfg(unix)]
    Unix(Client<ConnectTimeout<UnixConnector>, Body>),
}

impl Pool {
    pub(super) fn new(upstream: &Upstream) -> Pool {
        let timeouts = upstream.config.timeouts;
        let mut builder = Client::builder(TokioExecutor::new());
        // Idle connections are closed by a timer, not only noticed when next checked out.
        builder
            .pool_idle_timeout(timeouts.idle)
            .pool_timer(TokioTimer::new());
        let mut http = HttpConnector::new();
        // Requests are small and latency-bound; Nagle only adds delay.
        http.set_nodelay(true);
        Pool(match (&upstream.config.target, &upstream.tls) {
            #[cfg(unix)]
            (Target::Unix(path), _) => Kind::Unix(builder.build(ConnectTimeout::new(
                UnixConnector {
                    path: Arc::from(path.as_path()),
                },
                timeouts.connect,
            ))),
            (_, Some(tls)) => {
                http.enforce_http(false);
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(rustls::ClientConfig::clone(tls))
                    .https_only()
                    .enable_http1()
                    .wrap_connector(http);
                Kind::Https(builder.build(ConnectTimeout::new(https, timeouts.connect)))
            }
            _ => Kind::Http(builder.build(ConnectTimeout::new(http, timeouts.connect))),
        })
    }

    pub(super) fn request(&self, req: Request<Body>) -> ResponseFuture {
        match &self.0 {
            Kind::Http(client) => client.request(req),
            Kind::Https(client) => client.request(req),
            #[cfg(unix)]
            Kind::Unix(client) => client.request(req),
        }
    }
}

/// A connector bounded by the upstream's connect timeout, covering TCP (or unix socket) connect
/// and the TLS handshake alike.
#[derive(Clone, Debug)]
struct ConnectTimeout<C> {
    inner: C,
    limit: Duration,
}

/// The connect timeout ran out (say, a firewall silently dropping packets).
#[derive(Debug, thiserror::Error)]
#[error("connecting took longer than the connect timeout ({0:?})")]
struct ConnectTimedOut(Duration);

impl<C> ConnectTimeout<C> {
    fn new(inner: C, limit: Duration) -> Self {
        ConnectTimeout { inner, limit }
    }
}

impl<C> tower_service::Service<Uri> for ConnectTimeout<C>
where
    C: tower_service::Service<Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let limit = self.limit;
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_elapsed) => Err(ConnectTimedOut(limit).into()),
            }
        })
    }
}

/// Connects to a unix socket whatever the URI says (the URI only names the pool).
#[cfg(unix)]
#[derive(Clone, Debug)]
struct UnixConnector {
    path: Arc<Path>,
}

#[cfg(unix)]
impl tower_service::Service<Uri> for UnixConnector {
    type Response = TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let path = self.path.clone();
        Box::pin(async move {
            match tokio::net::UnixStream::connect(&path).await {
                Ok(stream) => Ok(TokioIo::new(stream)),
                Err(error) => Err(std::io::Error::new(
                    error.kind(),
                    format!("cannot connect to unix socket {}: {error}", path.display()),
                )),
            }
        })
    }
}
