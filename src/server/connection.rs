//! The bookkeeping of accepted connections: each socket is wrapped so the listener knows which
//! are still open (upgraded ones such as WebSockets included, which hyper no longer sees), can
//! wait for them to finish when draining, and can close those still open at the deadline.
//! Also the rewind buffer for sniffing the HTTP/2 preface on plain TCP.
//!
//! This module must not know about HTTP: it moves bytes and counts sockets.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit};

use crate::metrics::Metrics;

/// How long connections get to notice they were closed at the drain deadline.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The client preface every HTTP/2 connection starts with (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Where the listener is in its life; connections watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Serving,
    /// Finish in-flight requests, take no new ones on kept-alive connections.
    Draining,
    /// The drain deadline has passed: stop now.
    Closing,
}

/// The open connections of one listener.
pub(super) struct Registry {
    phase: watch::Sender<Phase>,
    open: Mutex<HashMap<u64, Arc<Closer>>>,
    next_id: AtomicU64,
    emptied: Notify,
}

/// Lets the registry close one connection's socket from outside, even while its owner (hyper,
/// or a WebSocket relay after an upgrade) waits idle on it.
struct Closer {
    closed: AtomicBool,
    /// The tasks last waiting to read and to write, woken when the connection is closed.
    wakers: Mutex<[Option<Waker>; 2]>,
}

const READ: usize = 0;
const WRITE: usize = 1;

/// A socket the registry tracks. Holds its connection slot (and the open-connections gauge) until
/// dropped, which for an upgraded connection is when the upgrade ends.
pub(super) struct Tracked<S> {
    inner: S,
    closer: Arc<Closer>,
    _slot: Slot,
}

struct Slot {
    id: u64,
    registry: Arc<Registry>,
    _permit: OwnedSemaphorePermit,
    metrics: Option<Arc<Metrics>>,
}

/// A socket whose first bytes were already read (to look for the HTTP/2 preface) and are read
/// again from here.
pub(super) struct Rewound<S> {
    prefix: Vec<u8>,
    read: usize,
    inner: S,
}

impl Registry {
    pub(super) fn new() -> Arc<Registry> {
        Arc::new(Registry {
            phase: watch::Sender::new(Phase::Serving),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            emptied: Notify::new(),
        })
    }

    pub(super) fn phase(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// Track `io`, holding `permit` and counting it in `metrics` until it is dropped.
    pub(super) fn track<S>(
        self: &Arc<Self>,
        io: S,
        permit: OwnedSemaphorePermit,
        metrics: Option<Arc<Metrics>>,
    ) -> Tracked<S> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let closer = Arc::new(Closer {
            closed: AtomicBool::new(false),
            wakers: Mutex::new([None, None]),
        });
        lock(&self.open).insert(id, closer.clone());
        if let Some(m) = &metrics {
            m.connection_opened();
        }
        Tracked {
            inner: io,
            closer,
            _slot: Slot {
                id,
                registry: self.clone(),
                _permit: permit,
                metrics,
            },
        }
    }

    /// Ask every connection to finish what it is doing, wait until all are gone or `deadline`
    /// passes, then close the rest.
    pub(super) async fn drain(&self, deadline: Duration) {
        self.phase.send_replace(Phase::Draining);
        if tokio::time::timeout(deadline, self.all_closed())
            .await
            .is_ok()
        {
            return;
        }
        let left = lock(&self.open).len();
        tracing::warn!(
            connections = left,
            "connections still open at the drain deadline are closed"
        );
        self.phase.send_replace(Phase::Closing);
        let closers: Vec<Arc<Closer>> = lock(&self.open).values().cloned().collect();
        for closer in closers {
            closer.close();
        }
        let _ = tokio::time::timeout(CLOSE_GRACE, self.all_closed()).await;
    }

    async fn all_closed(&self) {
        loop {
            let emptied = self.emptied.notified();
            tokio::pin!(emptied);
            emptied.as_mut().enable();
            if lock(&self.open).is_empty() {
                return;
            }
            emptied.await;
        }
    }
}

impl Closer {
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let wakers = std::mem::take(&mut *lock(&self.wakers));
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }

    /// Remember `cx`'s task as the one waiting in `direction`; true when the connection is
    /// closed. The waker is stored before the flag is read, so a close cannot slip in between.
    fn is_closed(&self, direction: usize, cx: &Context<'_>) -> bool {
        {
            let mut wakers = lock(&self.wakers);
            let slot = &mut wakers[direction];
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
        }
        self.closed.load(Ordering::Acquire)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let empty = {
            let mut open = lock(&self.registry.open);
            open.remove(&self.id);
            open.is_empty()
        };
        if empty {
            self.registry.emptied.notify_waiters();
        }
        if let Some(m) = &self.metrics {
            m.connection_closed();
        }
    }
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the server closed the connection at the drain deadline",
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closer.is_closed(READ, cx) {
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.closer.is_closed(WRITE, cx) {
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.closer.is_closed(WRITE, cx) {
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closer.is_closed(WRITE, cx) {
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Read up to the length of the HTTP/2 preface from `io`: true when it is the preface (a client
/// speaking HTTP/2 with prior knowledge). Stops at the first byte that differs, so an HTTP/1
/// request costs one read. The bytes read are replayed by the returned stream.
pub(super) async fn sniff_h2_preface<S: AsyncRead + Unpin>(
    mut io: S,
) -> io::Result<(bool, Rewound<S>)> {
    let mut prefix = Vec::with_capacity(H2_PREFACE.len());
    let mut chunk = [0u8; 24];
    let is_h2 = loop {
        let n = io
            .read(&mut chunk[..H2_PREFACE.len() - prefix.len()])
            .await?;
        if n == 0 {
            break false;
        }
        prefix.extend_from_slice(&chunk[..n]);
        if !H2_PREFACE.starts_with(&prefix) {
            break false;
        }
        if prefix.len() == H2_PREFACE.len() {
            break true;
        }
    };
    Ok((is_h2, Rewound::new(prefix, io)))
}

impl<S> Rewound<S> {
    pub(super) fn new(prefix: Vec<u8>, inner: S) -> Rewound<S> {
        Rewound {
            prefix,
            read: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read < this.prefix.len() {
            let rest = &this.prefix[this.read..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.read += n;
            if this.read == this.prefix.len() {
                this.prefix = Vec::new();
                this.read = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewound<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data under these locks stays whole even if a holder panicked.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn sniff(sent: &[u8]) -> (bool, Vec<u8>) {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(sent).await.unwrap();
        drop(client);
        let (is_h2, mut rewound) = sniff_h2_preface(server).await.unwrap();
        let mut replayed = Vec::new();
        rewound.read_to_end(&mut replayed).await.unwrap();
        (is_h2, replayed)
    }

    #[tokio::test]
    async fn the_h2_preface_is_recognised_and_replayed() {
        let mut sent = H2_PREFACE.to_vec();
        sent.extend_from_slice(b"\x00\x00\x00frames");
        assert_eq!(sniff(&sent).await, (true, sent));
    }

    #[tokio::test]
    async fn an_http1_request_is_replayed_whole() {
        let sent = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
        assert_eq!(sniff(&sent).await, (false, sent));
    }

    #[tokio::test]
    async fn a_short_or_near_preface_is_not_h2() {
        assert_eq!(
            sniff(b"PRI * HTTP/2.0").await,
            (false, b"PRI * HTTP/2.0".to_vec())
        );
        assert!(!sniff(b"PRI * HTTP/1.1\r\n").await.0);
        assert_eq!(sniff(b"").await, (false, Vec::new()));
    }
}
