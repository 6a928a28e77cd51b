//! Listeners: accept TCP connections, optionally TLS, and serve HTTP/1.1 (with upgrades) and
//! HTTP/2 through hyper within [`Limits`]; drain gracefully on shutdown. Used by the gateway, the
//! emulator and the sample app alike, so each of them can be started on a port-0 listener by
//! tests. Also the plain-HTTP listener that only redirects to https.
//!
//! HTTP/2 comes by ALPN over TLS, or with prior knowledge (h2c) over plain TCP when
//! [`Limits::h2c`] allows it. This module knows nothing about what a request means; handlers do.
//! It must not read certificate files ([`crate::tls`] does).

mod connection;
mod https_redirect;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::body::Body;
use crate::metrics::Metrics;
use connection::{Phase, Registry, Rewound, Tracked};

/// How long in-flight requests may run after [`Running::shutdown`] begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// hyper's own read buffer limit for HTTP/1 (8 KiB + 100 × 4 KiB); raised only when the header
/// limit is larger, since the head must fit in it.
const HYPER_MAX_BUF: usize = 8192 + 4096 * 100;

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

/// How a listener serves: TLS or plain, and what one client may cost.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// HTTPS with these settings (from [`crate::tls::server_config`]); `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub limits: Limits,
}

/// A server running in the background. Stop it with [`Running::shutdown`] or
/// [`Running::drain`]; dropping it starts the same graceful shutdown without waiting for it.
pub struct Running {
    addr: SocketAddr,
    /// `Some(deadline)`: stop accepting and drain within the deadline.
    drain: watch::Sender<Option<Duration>>,
    task: JoinHandle<()>,
}

impl Running {
    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, let in-flight requests finish (within 10 seconds), then return.
    pub async fn shutdown(self) {
        self.drain(DRAIN_DEADLINE).await;
    }

    /// For SIGTERM: stop accepting now (new connections are refused), let in-flight requests and
    /// upgraded connections (WebSockets) finish until `deadline`, then close what is still open
    /// and return. Idle kept-alive connections are closed at once.
    pub async fn drain(self, deadline: Duration) {
        let _ = self.drain.send(Some(deadline));
        let _ = self.task.await;
    }

    /// Wait until the server stops by itself (it only does when drained).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Serve `handler` on `listener` in a background task, plain HTTP with default [`Limits`].
pub fn spawn<H: Handler>(listener: TcpListener, handler: H) -> std::io::Result<Running> {
    spawn_counted(listener, handler, None)
}

/// [`spawn`], counting open connections in `metrics` (the gateway's public listener).
pub fn spawn_counted<H: Handler>(
    listener: TcpListener,
    handler: H,
    metrics: Option<Arc<Metrics>>,
) -> std::io::Result<Running> {
    spawn_with(listener, ServeOptions::default(), handler, metrics)
}

/// Serve `handler` on `listener` as `options` say (TLS or plain, limits), counting open
/// connections in `metrics` when given.
pub fn spawn_with<H: Handler>(
    listener: TcpListener,
    options: ServeOptions,
    handler: H,
    metrics: Option<Arc<Metrics>>,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let (drain, drain_requested) = watch::channel(None);
    let serving = Arc::new(Serving::new(options, handler));
    let task = tokio::spawn(accept_loop(listener, serving, metrics, drain_requested));
    Ok(Running { addr, drain, task })
}

/// A plain-HTTP listener (`listen.redirect_http`) answering every request with a redirect to the
/// same host and path over https on `https_port` (the port left out when 443): 301 for GET and
/// HEAD, 308 for other methods, 400 when the request names no valid host.
pub fn spawn_redirect_to_https(listener: TcpListener, https_port: u16) -> std::io::Result<Running> {
    spawn(listener, move |req: Request<Incoming>, _peer| async move {
        https_redirect::respond(&req, https_port)
    })
}

/// What every connection of one listener shares.
struct Serving<H> {
    handler: Arc<H>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    limits: Limits,
}

impl<H: Handler> Serving<H> {
    fn new(options: ServeOptions, handler: H) -> Serving<H> {
        let limits = options.limits;
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(limits.max_header_bytes)
            .max_buf_size(limits.max_header_bytes.max(HYPER_MAX_BUF));
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
        Serving {
            handler: Arc::new(handler),
            tls: options.tls.map(tokio_rustls::TlsAcceptor::from),
            http1,
            http2,
            limits,
        }
    }
}

async fn accept_loop<H: Handler>(
    listener: TcpListener,
    serving: Arc<Serving<H>>,
    metrics: Option<Arc<Metrics>>,
    mut drain_requested: watch::Receiver<Option<Duration>>,
) {
    let registry = Registry::new();
    let max = serving
        .limits
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let deadline = loop {
        // Beyond max_connections, stop accepting: the kernel's queue holds the rest.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break DRAIN_DEADLINE,
            },
            deadline = drain_deadline(&mut drain_requested) => break deadline,
        };
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
            deadline = drain_deadline(&mut drain_requested) => break deadline,
        };
        let _ = stream.set_nodelay(true);
        let io = registry.track(stream, permit, metrics.clone());
        tokio::spawn(serve(io, peer, serving.clone(), registry.phase()));
    };
    drop(listener);
    registry.drain(deadline).await;
}

/// The drain deadline once one is asked for; the default one when the [`Running`] was dropped.
async fn drain_deadline(requested: &mut watch::Receiver<Option<Duration>>) -> Duration {
    match requested.wait_for(Option::is_some).await {
        Ok(deadline) => deadline.unwrap_or(DRAIN_DEADLINE),
        Err(_) => DRAIN_DEADLINE,
    }
}

/// One connection: the TLS handshake or the h2c sniff (both within the header read timeout, as
/// a client must send promptly), then HTTP/2 or HTTP/1.1 until it ends or the listener drains.
async fn serve<H: Handler>(
    io: Tracked<TcpStream>,
    peer: SocketAddr,
    serving: Arc<Serving<H>>,
    phase: watch::Receiver<Phase>,
) {
    let timeout = serving.limits.header_read_timeout;
    match &serving.tls {
        Some(acceptor) => {
            let tls = match tokio::time::timeout(timeout, acceptor.accept(io)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake not finished within header_read_timeout");
                    return;
                }
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            serve_http(tls, h2, peer, &serving, phase).await;
        }
        None if serving.limits.h2c => {
            let (h2, io) =
                match tokio::time::timeout(timeout, connection::sniff_h2_preface(io)).await {
                    Ok(Ok(sniffed)) => sniffed,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "connection failed before a request");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "no request within header_read_timeout");
                        return;
                    }
                };
            serve_http(io, h2, peer, &serving, phase).await;
        }
        None => serve_http(Rewound::new(Vec::new(), io), false, peer, &serving, phase).await,
    }
}

async fn serve_http<I, H>(
    io: I,
    h2: bool,
    peer: SocketAddr,
    serving: &Serving<H>,
    phase: watch::Receiver<Phase>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Handler,
{
    let handler = serving.handler.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.call(req, peer).await) }
    });
    let io = TokioIo::new(io);
    let ended = if h2 {
        let conn = serving.http2.serve_connection(io, service);
        drive(conn, phase, |conn| conn.graceful_shutdown()).await
    } else {
        let conn = serving.http1.serve_connection(io, service).with_upgrades();
        drive(conn, phase, |conn| conn.graceful_shutdown()).await
    };
    match ended {
        Ended::Done(Ok(())) => {}
        Ended::Done(Err(error)) => tracing::debug!(%peer, %error, "connection ended with an error"),
        Ended::Closed => tracing::debug!(%peer, "connection closed at the drain deadline"),
    }
}

enum Ended {
    Done(hyper::Result<()>),
    Closed,
}

/// Run `conn` to its end, starting its graceful shutdown once the listener drains (at once if
/// it already is) and dropping it when the drain deadline passes.
async fn drive<C>(
    conn: C,
    mut phase: watch::Receiver<Phase>,
    graceful_shutdown: impl Fn(Pin<&mut C>),
) -> Ended
where
    C: Future<Output = hyper::Result<()>>,
{
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let now = *phase.borrow_and_update();
        match now {
            Phase::Closing => return Ended::Closed,
            Phase::Draining if !draining => {
                draining = true;
                graceful_shutdown(conn.as_mut());
            }
            Phase::Draining | Phase::Serving => {}
        }
        tokio::select! {
            result = conn.as_mut() => return Ended::Done(result),
            changed = phase.changed() => if changed.is_err() {
                return Ended::Closed;
            },
        }
    }
}

/// `limits`: what one client may cost the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line and headers) accepted; larger gets 431. Default 64 KiB.
    pub max_header_bytes: usize,
    /// Connections served at once, upgraded ones (WebSockets) included; more wait in the
    /// kernel's accept queue until one closes. Default 10 000.
    pub max_connections: usize,
    /// A client must send its whole request head within this (slowloris). Also bounds the TLS
    /// handshake, and how long a kept-alive HTTP/1 connection may sit idle between requests.
    /// Default 10s.
    pub header_read_timeout: std::time::Duration,
    /// Accept HTTP/2 with prior knowledge over plain TCP. Default true.
    pub h2c: bool,
    /// Largest request body accepted on any route; `None` (default): no limit. Applied by the
    /// gateway, not by the listener.
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
