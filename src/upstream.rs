//! Upstream selection by path prefix (work in progress).
