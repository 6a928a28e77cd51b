//! The one body type every response and proxied request uses, and small constructors for it.
//!
//! Upstream bodies stream through as they are (boxed, never collected); pages and JSON are
//! `Full` buffers boxed into the same type.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streaming body: an upstream's, a client's, or a small buffer of our own.
pub type Body = BoxBody<Bytes, BoxError>;

/// A body holding `data` in full (pages, JSON).
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body (redirects, 202, HEAD).
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// Any hyper-compatible body, boxed without buffering.
pub fn stream<B>(body: B) -> Body
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// [`stream`], failing once more than `max` bytes have passed (`limits.max_body_bytes` for
/// bodies that do not announce their length).
pub fn stream_limited<B>(body: B, max: Option<u64>) -> Body
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    match max.and_then(|m| usize::try_from(m).ok()) {
        Some(max) => http_body_util::Limited::new(body.map_err(Into::into), max)
            .map_err(Into::into)
            .boxed(),
        None => stream(body),
    }
}
