#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};

use super::*;
use crate::oidc::test_keys::{key, key_set, sign};

const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const TID: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const TEMPLATE: &str = "https://login.example/{tenantid}/v2.0";
const NOW: i64 = 1_700_000_000;

fn keys(key_issuer: Option<&str>) -> KeySet {
    key_set(key_issuer)
}

fn claims() -> Value {
    json!({
        "aud": CLIENT,
        "iss": format!("https://login.example/{TID}/v2.0"),
        "iat": NOW, "nbf": NOW, "exp": NOW + 3600,
        "nonce": "n-123", "tid": TID, "oid": "bbbbbbbb-0000-4000-8000-000000000002",
        "sub": "pairwise", "ver": "2.0", "name": "Ada", "preferred_username": "ada@contoso.com",
        "email": "ada@contoso.com", "groups": ["g1"], "roles": ["Admin"], "sid": "s-1",
    })
}

fn expected(now: i64) -> Expected<'static> {
    Expected {
        client_id: CLIENT,
        issuer: TEMPLATE,
        nonce: Some("n-123"),
        now,
    }
}

fn check(claims: &Value) -> Result<Claims, TokenError> {
    validate(
        &sign(claims, "k0", 0),
        &keys(Some(TEMPLATE)),
        &expected(NOW),
    )
}

#[test]
fn a_good_token_yields_its_claims() {
    let c = check(&claims()).unwrap();
    assert_eq!(c.tid.as_deref(), Some(TID));
    assert_eq!(c.groups, vec!["g1"]);
    assert_eq!(c.sid.as_deref(), Some("s-1"));
}

#[test]
fn wrong_audience_is_refused() {
    let mut c = claims();
    c["aud"] = json!("someone-else");
    assert_eq!(check(&c).unwrap_err(), TokenError::Audience);
}

#[test]
fn issuer_must_be_the_template_with_the_tokens_own_tid() {
    let mut c = claims();
    c["iss"] = json!("https://evil.example/{TID}/v2.0");
    assert_eq!(check(&c).unwrap_err(), TokenError::Issuer);
    let mut c = claims();
    c["iss"] = json!("https://login.example/aaaaaaaa-0000-4000-8000-000000000999/v2.0");
    assert_eq!(check(&c).unwrap_err(), TokenError::Issuer);
    let mut c = claims();
    c["iss"] = json!(TEMPLATE);
    assert_eq!(check(&c).unwrap_err(), TokenError::Issuer);
}

#[test]
fn exact_issuers_are_compared_exactly() {
    let exact = format!("https://login.example/{TID}/v2.0");
    let e = Expected {
        client_id: CLIENT,
        issuer: &exact,
        nonce: Some("n-123"),
        now: NOW,
    };
    assert!(validate(&sign(&claims(), "k0", 0), &keys(None), &e).is_ok());
    let mut c = claims();
    c["iss"] = json!(format!("{exact}/"));
    assert_eq!(
        validate(&sign(&c, "k0", 0), &keys(None), &e).unwrap_err(),
        TokenError::Issuer
    );
}

#[test]
fn tid_must_be_present_and_a_guid() {
    let mut c = claims();
    c.as_object_mut().unwrap().remove("tid");
    assert_eq!(check(&c).unwrap_err(), TokenError::MissingClaim("tid"));
    let mut c = claims();
    c["tid"] = json!("{tenantid}");
    assert_eq!(check(&c).unwrap_err(), TokenError::TenantId);
}

#[test]
fn time_is_checked_with_five_minutes_of_skew() {
    let token = sign(&claims(), "k0", 0);
    let keys = keys(Some(TEMPLATE));
    assert!(validate(&token, &keys, &expected(NOW + 3600 + 300)).is_ok());
    assert_eq!(
        validate(&token, &keys, &expected(NOW + 3600 + 301)).unwrap_err(),
        TokenError::Expired
    );
    assert!(validate(&token, &keys, &expected(NOW - 300)).is_ok());
    assert_eq!(
        validate(&token, &keys, &expected(NOW - 301)).unwrap_err(),
        TokenError::NotYetValid
    );
}

#[test]
fn nonce_must_match() {
    let mut c = claims();
    c["nonce"] = json!("other");
    assert_eq!(check(&c).unwrap_err(), TokenError::Nonce);
    c.as_object_mut().unwrap().remove("nonce");
    assert_eq!(check(&c).unwrap_err(), TokenError::MissingClaim("nonce"));
}

#[test]
fn unknown_keys_and_forged_signatures_are_refused() {
    assert_eq!(
        validate(
            &sign(&claims(), "k9", 0),
            &keys(Some(TEMPLATE)),
            &expected(NOW)
        )
        .unwrap_err(),
        TokenError::UnknownKey("k9".into())
    );
    // Signed by another key but claiming k0's id.
    assert_eq!(
        validate(
            &sign(&claims(), "k0", 1),
            &keys(Some(TEMPLATE)),
            &expected(NOW)
        )
        .unwrap_err(),
        TokenError::Signature
    );
}

#[test]
fn alg_none_and_hmac_tokens_are_refused() {
    let body = URL_SAFE_NO_PAD.encode(claims().to_string());
    let none = format!(
        "{}.{body}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"k0"}"#)
    );
    assert!(matches!(
        validate(&none, &keys(Some(TEMPLATE)), &expected(NOW)),
        Err(TokenError::Algorithm(_))
    ));
    // HS256 keyed with the public modulus: the classic key-confusion attack.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k0".into());
    let hs = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(key(0).n.as_bytes()),
    )
    .unwrap();
    assert!(matches!(
        validate(&hs, &keys(Some(TEMPLATE)), &expected(NOW)),
        Err(TokenError::Algorithm(_))
    ));
}

#[test]
fn a_key_may_only_sign_for_its_own_issuer() {
    let other_tenant = "https://login.example/cccccccc-0000-4000-8000-000000000003/v2.0";
    assert_eq!(
        validate(
            &sign(&claims(), "k0", 0),
            &keys(Some(other_tenant)),
            &expected(NOW)
        )
        .unwrap_err(),
        TokenError::KeyIssuer
    );
}

#[test]
fn garbage_never_panics() {
    let keys = keys(Some(TEMPLATE));
    for junk in [
        "",
        ".",
        "..",
        "a.b.c",
        "eyJhbGciOiJSUzI1NiJ9..",
        "\u{0}",
        "a.b.c.d.e",
    ] {
        assert!(validate(junk, &keys, &expected(NOW)).is_err(), "{junk:?}");
    }
}

#[test]
fn guids_are_recognised() {
    assert!(is_guid(TID));
    assert!(!is_guid("aaaaaaaa-0000-4000-8000-00000000000"));
    assert!(!is_guid("aaaaaaaa_0000-4000-8000-000000000001"));
    assert!(!is_guid("contoso.com"));
}
