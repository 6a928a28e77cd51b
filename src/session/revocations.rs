//! Front-channel logout for cookie-stored sessions: the sessions live only in browsers, so
//! entrance remembers which Microsoft sign-in sessions (`sid`) have ended and refuses cookies
//! issued before that. Bounded in size and time; kept in this process only.

use std::collections::HashMap;
use std::sync::Mutex;

/// Most `sid`s remembered; beyond this the ones to be forgotten soonest go first.
const CAPACITY: usize = 100_000;

#[derive(Default)]
pub(super) struct Revocations {
    /// sid → (revoked at, forget at), unix seconds.
    ended: Mutex<HashMap<String, (i64, i64)>>,
}

impl Revocations {
    /// Remember that `sid` ended at `now`, for `keep_secs` (the longest a session lives).
    pub(super) fn revoke(&self, sid: &str, now: i64, keep_secs: i64) {
        let Ok(mut ended) = self.ended.lock() else {
            return;
        };
        ended.retain(|_, (_, forget_at)| *forget_at > now);
        if ended.len() >= CAPACITY {
            if let Some(soonest) = ended
                .iter()
                .min_by_key(|(_, (_, forget_at))| *forget_at)
                .map(|(sid, _)| sid.clone())
            {
                ended.remove(&soonest);
            }
        }
        ended.insert(sid.to_owned(), (now, now.saturating_add(keep_secs)));
    }

    /// Whether a session of `sid` issued at `issued_at` has been ended since.
    pub(super) fn is_revoked(&self, sid: Option<&str>, issued_at: i64) -> bool {
        let Some(sid) = sid else { return false };
        self.ended
            .lock()
            .map(|ended| {
                ended
                    .get(sid)
                    .is_some_and(|(revoked_at, _)| issued_at <= *revoked_at)
            })
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_issued_before_a_logout_are_refused_and_later_ones_are_not() {
        let r = Revocations::default();
        r.revoke("sid-1", 100, 3600);
        assert!(r.is_revoked(Some("sid-1"), 50));
        assert!(r.is_revoked(Some("sid-1"), 100));
        assert!(
            !r.is_revoked(Some("sid-1"), 101),
            "a new sign-in after the logout"
        );
        assert!(!r.is_revoked(Some("sid-2"), 50));
        assert!(!r.is_revoked(None, 50));
    }

    #[test]
    fn old_revocations_are_forgotten_once_no_session_can_outlive_them() {
        let r = Revocations::default();
        r.revoke("old", 100, 10);
        r.revoke("new", 200, 10);
        assert!(!r.is_revoked(Some("old"), 50));
        assert!(r.is_revoked(Some("new"), 150));
    }
}
