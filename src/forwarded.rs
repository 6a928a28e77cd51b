//! Trusted proxies and what they say about the original request (work in progress).
