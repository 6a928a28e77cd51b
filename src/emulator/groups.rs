//! The `groups` claim and Microsoft's overage rule: a user in more than 200 groups gets no
//! `groups` claim at all in a JWT, but a distributed-claim pointer (`_claim_names`,
//! `_claim_sources`) to the legacy Azure AD Graph, which clients must not call (they ask
//! Microsoft Graph instead; see [`super::graph`]).
//!
//! Pure: shared by ID and access tokens.

use serde_json::{json, Map, Value};

use super::config::UserConfig;

/// Groups a JWT may carry before overage (nested groups count).
pub(crate) const JWT_GROUP_LIMIT: usize = 200;

/// Add `groups`, or the overage claims, for `user`. Users without groups get neither.
pub(crate) fn insert_group_claims(c: &mut Map<String, Value>, user: &UserConfig) {
    if user.groups.is_empty() {
        return;
    }
    if user.groups.len() <= JWT_GROUP_LIMIT {
        c.insert("groups".into(), json!(user.groups));
        return;
    }
    // Microsoft still points at graph.windows.net here, years after retiring it for apps.
    let endpoint = format!(
        "https://graph.windows.net/{}/users/{}/getMemberObjects",
        user.tenant, user.oid
    );
    c.insert("_claim_names".into(), json!({ "groups": "src1" }));
    c.insert(
        "_claim_sources".into(),
        json!({ "src1": { "endpoint": endpoint } }),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::emulator::config::EmulatorConfig;
    use crate::emulator::defaults as d;

    fn claims_for(username: &str) -> Map<String, Value> {
        let config = EmulatorConfig::default();
        let mut c = Map::new();
        insert_group_claims(&mut c, config.user(username).unwrap());
        c
    }

    #[test]
    fn erin_gets_the_overage_claim_instead_of_groups() {
        let c = claims_for(d::ERIN);
        assert!(c.get("groups").is_none());
        assert_eq!(c["_claim_names"], json!({"groups": "src1"}));
        assert_eq!(
            c["_claim_sources"]["src1"]["endpoint"],
            format!(
                "https://graph.windows.net/{}/users/{}/getMemberObjects",
                d::CONTOSO_TID,
                d::ERIN_OID
            )
        );
        let groups = d::erin_groups();
        assert_eq!(groups.len(), 250);
        assert!(groups.iter().any(|g| g == d::ENGINEERING_GROUP));
        let unique: std::collections::HashSet<_> = groups.iter().collect();
        assert_eq!(unique.len(), 250);
    }

    #[test]
    fn up_to_200_groups_are_listed_and_none_means_no_claim() {
        let alice = claims_for(d::ALICE);
        assert_eq!(alice["groups"].as_array().unwrap().len(), 2);
        assert!(alice.get("_claim_names").is_none());
        assert!(claims_for(d::CAROL).is_empty());
        let mut user = EmulatorConfig::default().user(d::ERIN).unwrap().clone();
        user.groups.truncate(JWT_GROUP_LIMIT);
        let mut c = Map::new();
        insert_group_claims(&mut c, &user);
        assert_eq!(c["groups"].as_array().unwrap().len(), 200);
    }
}
