//! Listeners: accept TCP connections, serve HTTP/1.1 and HTTP/2 (with upgrades) through hyper,
//! and shut down gracefully. Used by the gateway, the emulator and the sample app alike, so each
//! of them can be started on a port-0 listener by tests.
//!
//! This module knows nothing about what a request means; handlers do.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::body::Body;
use crate::metrics::Metrics;

/// How long in-flight requests may run after shutdown begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// A request handler: the request and the peer address in, a response out. Errors are the
/// handler's own business: it must always produce a response.
pub trait Handler: Send + Sync + 'static {
    fn call(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    fn call(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send {
        self(req, peer)
    }
}

/// A server running in the background. Dropping it does not stop it; call [`Running::shutdown`].
pub struct Running {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, let in-flight requests finish (bounded), then return.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Wait until the server stops by itself (it only does on shutdown).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Serve `handler` on `listener` in a background task.
pub fn spawn<H: Handler>(listener: TcpListener, handler: H) -> std::io::Result<Running> {
    spawn_counted(listener, handler, None)
}

/// [`spawn`], counting open connections in `metrics` (the gateway's public listener).
pub fn spawn_counted<H: Handler>(
    listener: TcpListener,
    handler: H,
    metrics: Option<Arc<Metrics>>,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, Arc::new(handler), stopped, metrics));
    Ok(Running { addr, stop, task })
}

async fn accept_loop<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    mut stopped: watch::Receiver<bool>,
    metrics: Option<Arc<Metrics>>,
) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    // Usually EMFILE or a reset before accept; back off briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler.call(req, peer).await) }
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let conn = graceful.watch(conn.into_owned());
        let metrics = metrics.clone();
        if let Some(m) = &metrics {
            m.connection_opened();
        }
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            if let Some(m) = metrics {
                m.connection_closed();
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_DEADLINE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the drain deadline");
    }
}

/// `limits`: what one client may cost the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line and headers) accepted; larger gets 431. Default 64 KiB.
    pub max_header_bytes: usize,
    /// Connections served at once; more wait in the accept queue. Default 10 000.
    pub max_connections: usize,
    /// A client must send its whole request head within this (slowloris). Default 10s.
    pub header_read_timeout: std::time::Duration,
    /// Accept HTTP/2 with prior knowledge over plain TCP. Default true.
    pub h2c: bool,
    /// Largest request body accepted on any route; `None` (default): no limit.
    pub max_body_bytes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 64 * 1024,
            max_connections: 10_000,
            header_read_timeout: std::time::Duration::from_secs(10),
            h2c: true,
            max_body_bytes: None,
        }
    }
}
