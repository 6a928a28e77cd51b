//! What one request's access-log line and metrics say, noted by the steps of the story as they
//! decide (a task-local scope around the request), and the reference quoted on error pages.

use std::sync::{Arc, Mutex};

use crate::identity::Identity;
use crate::oidc;
use crate::policy::Route;

/// The id that ties an error page to its log lines: the request id inside a request, a fresh
/// random one elsewhere.
pub fn reference() -> String {
    REQUEST
        .try_with(|r| r.id.clone())
        .unwrap_or_else(|_| oidc::attempt::random_token(9))
}

tokio::task_local! {
    /// The request being handled: its id, and what the story decided (for the access log).
    pub(super) static REQUEST: RequestScope;
}

#[derive(Clone)]
pub(super) struct RequestScope {
    pub(super) id: String,
    pub(super) trace: Arc<Mutex<Trace>>,
}

/// What the access log and metrics say about a request, noted by the steps as they decide.
#[derive(Clone, Default)]
pub(super) struct Trace {
    pub(super) decision: String,
    pub(super) route: String,
    pub(super) oid: Option<String>,
    pub(super) tid: Option<String>,
    pub(super) upstream_ms: Option<f64>,
}

/// Note something about the current request (no-op outside one).
pub(super) fn note(f: impl FnOnce(&mut Trace)) {
    let _ = REQUEST.try_with(|r| {
        if let Ok(mut trace) = r.trace.lock() {
            f(&mut trace);
        }
    });
}

/// Note the route that decided the current request (a forward-auth check's original route).
pub fn note_route(route: &Route<'_>) {
    note(|t| t.route = route.label());
}

/// Note the decision taken for the current request, for its access-log line.
pub fn note_decision(decision: &str) {
    note(|t| t.decision = decision.to_owned());
}

/// Note who the current request is from.
pub fn note_identity(who: &Identity) {
    note(|t| {
        t.oid = Some(who.oid.clone());
        t.tid = Some(who.tid.clone());
    });
}
