//! Behaviour tests for client credentials beyond secrets (certificate and federated assertions),
//! over real sockets; the fixture is shared with [`super::tests_tokens`].
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use super::assertion::JWT_BEARER;
use super::defaults as d;
use super::testing::{self_signed_certificate, FederatedIssuer};
use super::{start, AppConfig, Emulator, EmulatorConfig, SignInAudience};

pub(super) const CERT_APP: &str = "c3a7f000-1111-4222-8333-444455556666";
pub(super) const FED_APP: &str = "fed00000-1111-4222-8333-444455556666";
pub(super) const SUBJECT: &str = "system:serviceaccount:web:entrance";
pub(super) const EXCHANGE: &str = "api://AzureADTokenExchange";

pub(super) struct Fixture {
    pub em: Emulator,
    pub cert_pem: String,
    pub key_pem: String,
    pub issuer: FederatedIssuer,
}

pub(super) async fn fixture() -> Fixture {
    let (cert_pem, key_pem) = self_signed_certificate("entrance-cert-app");
    let issuer = FederatedIssuer::new("https://oidc.cluster.example/abc");
    let mut config = EmulatorConfig::default();
    config.apps.push(AppConfig {
        client_id: CERT_APP.into(),
        name: "daemon with a certificate, v1 API".into(),
        sign_in_audience: SignInAudience::AzureADMultipleOrgs,
        home_tenant: Some(d::CONTOSO_TID.into()),
        access_token_version: 1,
        app_roles_granted: vec!["Data.Read".into()],
        certificates: vec![cert_pem.clone()],
        ..AppConfig::default()
    });
    config.apps.push(AppConfig {
        client_id: FED_APP.into(),
        name: "workload identity".into(),
        sign_in_audience: SignInAudience::AzureADMyOrg,
        home_tenant: Some(d::CONTOSO_TID.into()),
        federated_credentials: vec![issuer.credential(SUBJECT)],
        ..AppConfig::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let em = start(config, listener).await.unwrap();
    Fixture {
        em,
        cert_pem,
        key_pem,
        issuer,
    }
}

pub(super) fn token_url(em: &Emulator, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/v2.0/token", em.authority())
}

pub(super) async fn post(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

pub(super) fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

pub(super) fn der_of(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(b64).unwrap()
}

/// Which thumbprint header the assertion carries.
pub(super) enum Thumb {
    S256,
    Sha1,
    Wrong,
}

pub(super) fn now() -> i64 {
    super::protocol::unix_now(std::time::SystemTime::now())
}

pub(super) fn cert_assertion(
    f: &Fixture,
    aud: &str,
    exp_in: i64,
    jti: &str,
    alg: Algorithm,
    thumb: Thumb,
) -> String {
    let der = der_of(&f.cert_pem);
    let mut header = Header::new(alg);
    match thumb {
        Thumb::S256 => header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(Sha256::digest(&der))),
        Thumb::Sha1 => header.x5t = Some(URL_SAFE_NO_PAD.encode(super::sha1::sha1(&der))),
        Thumb::Wrong => header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(Sha256::digest(b"other"))),
    }
    let t = now();
    let claims = json!({
        "aud": aud, "iss": CERT_APP, "sub": CERT_APP, "jti": jti,
        "nbf": t.min(t + exp_in - 600), "iat": t.min(t + exp_in - 600), "exp": t + exp_in,
    });
    let key = EncodingKey::from_rsa_pem(f.key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

pub(super) fn assertion_form<'a>(
    client_id: &'a str,
    assertion: &'a str,
    scope: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
        ("scope", scope),
    ]
}

pub(super) fn verify_with_jwks(jwt: &str, jwks: &Value, aud: &str, iss: &str) -> Value {
    let kid = jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let key = DecodingKey::from_jwk(set.find(&kid).unwrap()).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_issuer(&[iss]);
    jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap().claims
}

#[tokio::test]
async fn certificate_assertions_are_verified_like_microsoft() {
    let f = fixture().await;
    let url = token_url(&f.em, d::CONTOSO_TID);
    let scope = format!("api://{CERT_APP}/.default");
    // Accepted: PS256 + x5t#S256, and RS256 + legacy x5t, each with a fresh jti.
    for (alg, thumb, jti) in [
        (Algorithm::PS256, Thumb::S256, "jti-1"),
        (Algorithm::RS256, Thumb::Sha1, "jti-2"),
    ] {
        let a = cert_assertion(&f, &url, 300, jti, alg, thumb);
        let (status, body) = post(&url, &assertion_form(CERT_APP, &a, &scope)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
        let claims = payload(body["access_token"].as_str().unwrap());
        assert_eq!(claims["appidacr"], "2");
    }
    // The token endpoint reached by domain is the same endpoint.
    let by_domain = token_url(&f.em, "contoso.com");
    let a = cert_assertion(&f, &by_domain, 300, "jti-3", Algorithm::PS256, Thumb::S256);
    assert_eq!(
        post(&url, &assertion_form(CERT_APP, &a, &scope)).await.0,
        200
    );

    let refused = [
        (
            cert_assertion(&f, &url, 300, "jti-4", Algorithm::PS256, Thumb::Wrong),
            700027,
        ),
        (
            cert_assertion(
                &f,
                &token_url(&f.em, d::FABRIKAM_TID),
                300,
                "jti-5",
                Algorithm::PS256,
                Thumb::S256,
            ),
            50027,
        ),
        (
            cert_assertion(
                &f,
                "https://login.microsoftonline.com/x/oauth2/v2.0/token",
                300,
                "jti-6",
                Algorithm::PS256,
                Thumb::S256,
            ),
            50027,
        ),
        (
            cert_assertion(&f, &url, -600, "jti-7", Algorithm::PS256, Thumb::S256),
            700024,
        ),
        // Replay of an accepted assertion's jti.
        (
            cert_assertion(&f, &url, 300, "jti-1", Algorithm::PS256, Thumb::S256),
            7000274,
        ),
    ];
    for (assertion, code) in refused {
        let (status, body) = post(&url, &assertion_form(CERT_APP, &assertion, &scope)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{code}: {body}"
        );
        assert_eq!(body["error_codes"], json!([code]), "{body}");
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("AADSTS{code}:")));
        assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
    }
    // A tampered signature.
    let good = cert_assertion(&f, &url, 300, "jti-8", Algorithm::PS256, Thumb::S256);
    let at = good.rfind('.').unwrap() + 1;
    let flipped = if &good[at..at + 1] == "A" { "B" } else { "A" };
    let forged = format!("{}{flipped}{}", &good[..at], &good[at + 1..]);
    let (status, body) = post(&url, &assertion_form(CERT_APP, &forged, &scope)).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(700027))
    );
    // Secret and assertion together; neither.
    let mut both = assertion_form(CERT_APP, &good, &scope);
    both.push(("client_secret", "x"));
    let (status, body) = post(&url, &both).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = post(
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CERT_APP),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(7000218))
    );
    f.em.shutdown().await;
}

#[tokio::test]
async fn federated_assertions_match_issuer_subject_and_audience() {
    let f = fixture().await;
    let url = token_url(&f.em, d::CONTOSO_TID);
    let scope = format!("api://{}/.default", d::CLIENT_ID);
    let good = f.issuer.token(SUBJECT, EXCHANGE, 3600);
    // The same projected token works for several requests (no replay check for federated).
    for _ in 0..2 {
        let (status, body) = post(&url, &assertion_form(FED_APP, &good, &scope)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            payload(body["access_token"].as_str().unwrap())["azpacr"],
            "2"
        );
    }
    let other_issuer = FederatedIssuer::new("https://oidc.cluster.example/abc");
    let cases = [
        (
            f.issuer
                .token("system:serviceaccount:web:other", EXCHANGE, 3600),
            70021,
        ),
        (f.issuer.token(SUBJECT, "api://SomethingElse", 3600), 70021),
        (
            FederatedIssuer::new("https://elsewhere.example").token(SUBJECT, EXCHANGE, 3600),
            70021,
        ),
        // Stale beyond the five minutes of skew, like a projected token file the kubelet stopped rotating.
        (f.issuer.token(SUBJECT, EXCHANGE, -600), 700024),
        // Right issuer URL, wrong key.
        (other_issuer.token(SUBJECT, EXCHANGE, 3600), 700027),
    ];
    for (assertion, code) in cases {
        let (status, body) = post(&url, &assertion_form(FED_APP, &assertion, &scope)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{body}"
        );
        assert_eq!(body["error_codes"], json!([code]), "{body}");
    }
    f.em.shutdown().await;
}
