//! HTTPS listeners with rustls (work in progress).
