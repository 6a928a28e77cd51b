#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

use super::*;
use crate::oidc::test_keys::{key_set, sign};

const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const TID: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const V2: &str = "https://login.example/{tenantid}/v2.0";
const V1: &str = "https://sts.windows.net/{tenantid}/";
const NOW: i64 = 1_700_000_000;

fn audiences() -> Vec<String> {
    vec![CLIENT.to_owned(), format!("api://{CLIENT}")]
}

fn v2_claims() -> Value {
    json!({
        "aud": CLIENT, "iss": format!("https://login.example/{TID}/v2.0"), "ver": "2.0",
        "iat": NOW, "nbf": NOW, "exp": NOW + 3600, "tid": TID,
        "oid": "bbbbbbbb-0000-4000-8000-000000000002", "sub": "s", "azp": "cccccccc-0000-4000-8000-000000000003",
        "scp": "Files.Read access_as_user", "roles": ["Admin"], "preferred_username": "ada@contoso.com", "name": "Ada",
    })
}

fn v1_claims() -> Value {
    json!({
        "aud": format!("api://{CLIENT}"), "iss": format!("https://sts.windows.net/{TID}/"), "ver": "1.0",
        "iat": NOW, "nbf": NOW, "exp": NOW + 3600, "tid": TID,
        "oid": "bbbbbbbb-0000-4000-8000-000000000002", "sub": "s", "appid": "cccccccc-0000-4000-8000-000000000003",
        "scp": "access_as_user", "upn": "ada@contoso.com", "name": "Ada",
    })
}

fn check(claims: &Value, key_issuer: &str) -> Result<(Identity, i64), BearerError> {
    let aud = audiences();
    let expected = Expected {
        audiences: &aud,
        issuer_v2: V2,
        issuer_v1: Some(V1),
        now: NOW,
    };
    validate(
        &sign(claims, "k0", 0),
        &key_set(Some(key_issuer)),
        &expected,
    )
}

#[test]
fn v2_tokens_map_to_an_api_caller() {
    let (who, exp) = check(&v2_claims(), V2).unwrap();
    assert_eq!(exp, NOW + 3600);
    assert_eq!(who.tid, TID);
    assert_eq!(who.preferred_username.as_deref(), Some("ada@contoso.com"));
    let caller = who.caller.unwrap();
    assert_eq!(caller.client_id, "cccccccc-0000-4000-8000-000000000003");
    assert_eq!(caller.scopes, vec!["Files.Read", "access_as_user"]);
    assert!(!caller.app_only);
}

#[test]
fn v1_tokens_are_checked_against_the_v1_issuer_and_map_the_same_way() {
    let (who, _) = check(&v1_claims(), V1).unwrap();
    assert_eq!(who.preferred_username.as_deref(), Some("ada@contoso.com"));
    assert_eq!(
        who.caller.unwrap().client_id,
        "cccccccc-0000-4000-8000-000000000003"
    );
    // A v1 token carrying the v2 issuer is refused.
    let mut c = v1_claims();
    c["iss"] = json!(format!("https://login.example/{TID}/v2.0"));
    assert_eq!(check(&c, V1).unwrap_err(), BearerError::Issuer);
}

#[test]
fn v1_tokens_wait_for_v1_metadata() {
    let aud = audiences();
    let expected = Expected {
        audiences: &aud,
        issuer_v2: V2,
        issuer_v1: None,
        now: NOW,
    };
    assert_eq!(
        validate(&sign(&v1_claims(), "k0", 0), &key_set(Some(V1)), &expected).unwrap_err(),
        BearerError::NoV1Metadata
    );
}

#[test]
fn app_only_tokens_are_recognised() {
    let mut c = v2_claims();
    c.as_object_mut().unwrap().remove("scp");
    c["idtyp"] = json!("app");
    let (who, _) = check(&c, V2).unwrap();
    let caller = who.caller.unwrap();
    assert!(caller.app_only);
    assert!(caller.scopes.is_empty());
    assert_eq!(who.preferred_username, None);
}

#[test]
fn tokens_for_other_resources_are_refused_before_any_signature_check() {
    let mut c = v2_claims();
    c["aud"] = json!("00000003-0000-0000-c000-000000000000");
    assert_eq!(check(&c, V2).unwrap_err(), BearerError::Audience);
    c["aud"] = json!("https://graph.microsoft.com");
    assert_eq!(check(&c, V2).unwrap_err(), BearerError::Audience);
    // A Graph-style token is not even a verifiable JWT for us: still an audience refusal.
    let graph_like = format!("eyJub25jZSI6IngiLCJhbGciOiJSUzI1NiJ9.{}.sig", {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"aud":"https://graph.microsoft.com","ver":"1.0"}"#)
    });
    let aud = audiences();
    let expected = Expected {
        audiences: &aud,
        issuer_v2: V2,
        issuer_v1: Some(V1),
        now: NOW,
    };
    assert_eq!(
        validate(&graph_like, &key_set(Some(V2)), &expected).unwrap_err(),
        BearerError::Audience
    );
}

#[test]
fn expiry_issuer_tenant_and_signature_are_enforced() {
    let mut c = v2_claims();
    c["exp"] = json!(NOW - 301);
    assert_eq!(check(&c, V2).unwrap_err(), BearerError::Expired);
    let mut c = v2_claims();
    c["nbf"] = json!(NOW + 301);
    assert_eq!(check(&c, V2).unwrap_err(), BearerError::NotYetValid);
    let mut c = v2_claims();
    c["iss"] = json!("https://login.example/dddddddd-0000-4000-8000-000000000004/v2.0");
    assert_eq!(check(&c, V2).unwrap_err(), BearerError::Issuer);
    // Key published for one concrete tenant cannot sign another's tokens.
    assert_eq!(
        check(
            &v2_claims(),
            "https://login.example/dddddddd-0000-4000-8000-000000000004/v2.0"
        )
        .unwrap_err(),
        BearerError::Issuer
    );
    let aud = audiences();
    let expected = Expected {
        audiences: &aud,
        issuer_v2: V2,
        issuer_v1: Some(V1),
        now: NOW,
    };
    assert_eq!(
        validate(&sign(&v2_claims(), "k0", 1), &key_set(Some(V2)), &expected).unwrap_err(),
        BearerError::Signature
    );
    assert_eq!(
        validate(&sign(&v2_claims(), "k7", 0), &key_set(Some(V2)), &expected).unwrap_err(),
        BearerError::UnknownKey(Version::V2)
    );
}

#[test]
fn the_authorization_header_is_parsed_strictly() {
    let mut h = HeaderMap::new();
    h.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
    assert_eq!(token_from(&h), Some("abc"));
    h.insert(AUTHORIZATION, "bearer  abc ".parse().unwrap());
    assert_eq!(token_from(&h), Some("abc"));
    h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
    assert_eq!(token_from(&h), None);
    h.insert(AUTHORIZATION, "Bearer ".parse().unwrap());
    assert_eq!(token_from(&h), None);
}

#[test]
fn the_cache_returns_live_entries_only_and_stays_bounded() {
    let cache = Cache::default();
    let who = Identity::default();
    let k = Cache::key("t");
    cache.put(k, who.clone(), NOW + 10, NOW);
    assert_eq!(cache.get(&k, NOW), Some(who.clone()));
    assert_eq!(cache.get(&k, NOW + 10 + MAX_SKEW_SECS + 1), None);
    for i in 0..(CACHE_CAPACITY + 5) {
        cache.put(Cache::key(&i.to_string()), who.clone(), NOW + 10, NOW);
    }
    assert!(cache.entries.lock().unwrap().len() <= CACHE_CAPACITY);
}
