//! Unit tests for resource resolution and access-token claims.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::emulator::defaults as d;

fn scopes(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[test]
fn scopes_resolve_to_their_resource() {
    let c = EmulatorConfig::default();
    let graph = |s: &str| {
        matches!(
            resolve(&c, &scopes(s), true, "t").unwrap().resource,
            Resource::Graph
        )
    };
    assert!(graph("openid profile offline_access"));
    assert!(graph("openid User.Read"));
    assert!(graph("https://graph.microsoft.com/.default"));
    assert!(graph(
        "https://graph.microsoft.com/User.Read offline_access"
    ));
    for api in [
        format!("api://{}/access_as_user", d::CLIENT_ID),
        format!("{}/.default", d::CLIENT_ID),
        format!("openid api://{}/.default", d::CLIENT_ID),
    ] {
        let r = resolve(&c, &scopes(&api), true, "t").unwrap();
        assert!(matches!(r.resource, Resource::Api(a) if a.client_id == d::CLIENT_ID));
    }
    let mixed = scopes(&format!("User.Read api://{}/read", d::CLIENT_ID));
    assert_eq!(resolve(&c, &mixed, true, "t").unwrap_err().code, 700022);
    let first = resolve(&c, &mixed, false, "t").unwrap();
    assert!(matches!(first.resource, Resource::Graph));
    assert_eq!(first.scopes, ["User.Read"]);
    let unknown = resolve(&c, &scopes("api://nope/.default"), true, "t").unwrap_err();
    assert_eq!((unknown.error, unknown.code), ("invalid_resource", 500011));
}

#[test]
fn scp_strips_the_resource_prefix() {
    let r = ResourceScopes {
        resource: Resource::Graph,
        scopes: scopes("api://x/read api://x/write api://x/read x/.default"),
    };
    assert_eq!(r.scp(), ["read", "write", DEFAULT_DELEGATED_SCOPE]);
}

#[test]
fn service_principal_ids_are_stable_guids_per_tenant() {
    let a = service_principal_id(d::CLIENT_ID, d::CONTOSO_TID);
    assert!(crate::emulator::protocol::is_guid(&a), "{a}");
    assert_eq!(
        a,
        service_principal_id(&d::CLIENT_ID.to_uppercase(), d::CONTOSO_TID)
    );
    assert_ne!(a, service_principal_id(d::CLIENT_ID, d::FABRIKAM_TID));
    assert!(crate::emulator::protocol::is_guid(&made_up_oid("x@y")));
    assert_eq!(made_up_oid("X@y"), made_up_oid("x@y"));
}

fn input<'a>(version: u8, principal: Principal<'a>) -> ApiTokenInput<'a> {
    ApiTokenInput {
        version,
        authority: "http://127.0.0.1:1",
        audience: default_audience(version, d::CLIENT_ID),
        tid: d::CONTOSO_TID.into(),
        principal,
        client_id: d::CLIENT_ID,
        client_acr: "1",
        roles: vec!["Admin".into()],
        issued_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000),
    }
}

#[test]
fn delegated_claims_differ_by_version() {
    let config = EmulatorConfig::default();
    let alice = config.user(d::ALICE).unwrap();
    let user = || Principal::User {
        user: alice,
        scp: vec!["read".into(), "write".into()],
    };
    let v2 = claims(&input(2, user()));
    assert_eq!(v2["aud"], d::CLIENT_ID);
    assert_eq!(
        v2["iss"],
        format!("http://127.0.0.1:1/{}/v2.0", d::CONTOSO_TID)
    );
    assert_eq!(
        (v2["azp"].as_str(), v2["azpacr"].as_str()),
        (Some(d::CLIENT_ID), Some("1"))
    );
    assert_eq!(v2["scp"], "read write");
    assert_eq!(v2["preferred_username"], d::ALICE);
    assert_eq!(v2["exp"], 1_003_600);
    assert_eq!(v2["ver"], "2.0");
    assert!(v2.get("appid").is_none() && v2.get("upn").is_none());
    let v1 = claims(&input(1, user()));
    assert_eq!(v1["aud"], format!("api://{}", d::CLIENT_ID));
    assert_eq!(
        v1["iss"],
        format!("https://sts.windows.net/{}/", d::CONTOSO_TID)
    );
    assert_eq!(v1["appid"], d::CLIENT_ID);
    assert_eq!(
        (v1["upn"].as_str(), v1["unique_name"].as_str()),
        (Some(d::ALICE), Some(d::ALICE))
    );
    assert_eq!(v1["ver"], "1.0");
    assert!(v1.get("azp").is_none() && v1.get("preferred_username").is_none());
    let erin = config.user(d::ERIN).unwrap();
    let overage = claims(&input(
        2,
        Principal::User {
            user: erin,
            scp: vec![],
        },
    ));
    assert!(overage.get("groups").is_none() && overage.get("_claim_names").is_some());
}

#[test]
fn app_only_claims_have_no_user() {
    let c = claims(&input(2, Principal::App));
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["oid"], c["sub"]);
    assert_eq!(c["oid"], service_principal_id(d::CLIENT_ID, d::CONTOSO_TID));
    assert_eq!(c["roles"], json!(["Admin"]));
    for absent in ["scp", "name", "preferred_username", "groups", "upn"] {
        assert!(c.get(absent).is_none(), "{absent}");
    }
}
