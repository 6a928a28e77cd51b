//! Unit tests for client-assertion checks that need no server.
#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

fn claims(v: serde_json::Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn time_range_allows_five_minutes_of_skew() {
    let now = 1_000_000;
    assert!(check_time(&claims(json!({"exp": now - 299})), now).is_ok());
    assert_eq!(
        check_time(&claims(json!({"exp": now - 301})), now)
            .unwrap_err()
            .code,
        700024
    );
    assert!(check_time(&claims(json!({"exp": now + 600, "nbf": now + 299})), now).is_ok());
    assert_eq!(
        check_time(&claims(json!({"exp": now + 600, "nbf": now + 301})), now)
            .unwrap_err()
            .code,
        700024
    );
    assert_eq!(check_time(&claims(json!({})), now).unwrap_err().code, 50027);
}

#[test]
fn replayed_jtis_are_caught_until_they_expire() {
    let seen = SeenAssertions::default();
    assert!(seen.first_use("a:1".into(), 100, 0));
    assert!(!seen.first_use("a:1".into(), 100, 50));
    assert!(seen.first_use("b:1".into(), 100, 50));
    // Long after expiry the entry is swept, so the map does not grow forever.
    assert!(seen.first_use("c:1".into(), 10_000, 1_000));
    assert!(seen.first_use("a:1".into(), 10_000, 1_001));
}

#[test]
fn malformed_assertions_never_panic() {
    let app = AppConfig::default();
    let ok = |_: &str| true;
    let seen = SeenAssertions::default();
    let check = AssertionCheck {
        app: &app,
        audience_ok: &ok,
        now: 0,
        seen: &seen,
    };
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#);
    for junk in [
        String::new(),
        "a.b.c".to_string(),
        format!("{header}.!!!.x"),
        format!("{header}.{}.x", URL_SAFE_NO_PAD.encode("[1]")),
        format!("{header}.{}.x", URL_SAFE_NO_PAD.encode(r#"{"iss":5}"#)),
    ] {
        assert_eq!(verify(&check, &junk).unwrap_err().code, 50027, "{junk}");
    }
    // A foreign issuer with no federated credential is "no matching record".
    let foreign = format!(
        "{header}.{}.x",
        URL_SAFE_NO_PAD.encode(r#"{"iss":"https://x"}"#)
    );
    assert_eq!(verify(&check, &foreign).unwrap_err().code, 70021);
}

#[test]
fn audience_may_be_a_string_or_a_list() {
    assert_eq!(audience_claim(&claims(json!({"aud": "a"}))), ["a"]);
    assert_eq!(
        audience_claim(&claims(json!({"aud": ["a", 1, "b"]}))),
        ["a", "b"]
    );
    assert!(audience_claim(&claims(json!({}))).is_empty());
}

#[test]
fn jwks_must_hold_usable_keys() {
    assert!(jwk_set(&json!({"keys": []})).is_err());
    assert!(jwk_set(&json!({"nope": 1})).is_err());
    let issuer = crate::emulator::testing::FederatedIssuer::new("https://i");
    assert_eq!(jwk_set(&issuer.jwks()).unwrap().keys.len(), 1);
}
