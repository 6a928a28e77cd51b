//! Behaviour tests for the emulator over real sockets (port 0), with a client that does not
//! follow redirects.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::redirect::Policy;
use serde_json::Value;
use tokio::net::TcpListener;

use super::defaults as d;
use super::{start, Emulator, EmulatorConfig, Tamper};

const REDIRECT: &str = "http://127.0.0.1:8443/oauth2/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn emulator() -> Emulator {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start(EmulatorConfig::default(), listener).await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

async fn get_json(url: &str) -> (u16, Value) {
    let resp = client().get(url).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Query (or fragment) parameters of a redirect's Location.
fn location_params(resp: &reqwest::Response) -> HashMap<String, String> {
    let loc = resp.headers()["location"].to_str().unwrap();
    url::Url::parse(loc)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Authorize on `tenant` with these parameters on top of a valid code request.
async fn authorize(em: &Emulator, tenant: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", d::CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile email offline_access"),
        ("state", "st-1"),
        ("nonce", "no-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        params.push((k, v));
    }
    let url = format!("{}/{tenant}/oauth2/v2.0/authorize", em.authority());
    client().get(url).query(&params).send().await.unwrap()
}

async fn code_for(em: &Emulator, user: &str) -> String {
    let resp = authorize(em, "common", &[("login_hint", user)]).await;
    assert_eq!(resp.status(), 302);
    location_params(&resp)["code"].clone()
}

async fn redeem(em: &Emulator, form: &[(&str, &str)]) -> (u16, Value) {
    let url = format!("{}/common/oauth2/v2.0/token", em.authority());
    let resp = client().post(url).form(form).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn code_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", d::CLIENT_ID),
        ("client_secret", d::CLIENT_SECRET),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ]
}

async fn id_token_for(em: &Emulator, user: &str) -> String {
    let code = code_for(em, user).await;
    let (status, body) = redeem(em, &code_form(&code, VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
    body["id_token"].as_str().unwrap().to_string()
}

fn decode_part(jwt: &str, i: usize) -> Value {
    let part = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn current_jwk(em: &Emulator) -> Value {
    let (_, jwks) = get_json(&format!("{}/common/discovery/v2.0/keys", em.authority())).await;
    jwks["keys"][0].clone()
}

#[tokio::test]
async fn discovery_issuer_follows_the_tenant_segment() {
    let em = emulator().await;
    let a = em.authority();
    let issuer_for = |seg: &str| format!("{a}/{seg}/v2.0/.well-known/openid-configuration");
    for (seg, issuer, endpoint_seg) in [
        ("common", format!("{a}/{{tenantid}}/v2.0"), "common"),
        (
            "organizations",
            format!("{a}/{{tenantid}}/v2.0"),
            "organizations",
        ),
        (
            d::CONTOSO_TID,
            format!("{a}/{}/v2.0", d::CONTOSO_TID),
            d::CONTOSO_TID,
        ),
        (
            "contoso.com",
            format!("{a}/{}/v2.0", d::CONTOSO_TID),
            d::CONTOSO_TID,
        ),
        (
            "consumers",
            format!("{a}/{}/v2.0", d::CONSUMERS_TID),
            "consumers",
        ),
    ] {
        let resp = client().get(issuer_for(seg)).send().await.unwrap();
        assert_eq!(resp.headers()["cache-control"], "max-age=86400, private");
        let doc: Value = resp.json().await.unwrap();
        assert_eq!(doc["issuer"], issuer, "{seg}");
        assert_eq!(
            doc["token_endpoint"],
            format!("{a}/{endpoint_seg}/oauth2/v2.0/token")
        );
        assert_eq!(
            doc["jwks_uri"],
            format!("{a}/{endpoint_seg}/discovery/v2.0/keys")
        );
        assert_eq!(
            doc["subject_types_supported"],
            serde_json::json!(["pairwise"])
        );
        assert!(doc.get("code_challenge_methods_supported").is_none());
    }
    let (status, err) = get_json(&issuer_for("nope.example")).await;
    assert_eq!(status, 400);
    assert_eq!(err["error_codes"], serde_json::json!([90002]));
    em.shutdown().await;
}

#[tokio::test]
async fn jwks_has_microsoft_shape_and_rotation_replaces_the_kid() {
    let em = emulator().await;
    let key = current_jwk(&em).await;
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["x5t"], key["kid"]);
    assert_eq!(
        key["issuer"],
        format!("{}/{{tenantid}}/v2.0", em.authority())
    );
    em.rotate_keys();
    let rotated = current_jwk(&em).await;
    assert_ne!(rotated["kid"], key["kid"]);
    let token = id_token_for(&em, d::ALICE).await;
    assert_eq!(decode_part(&token, 0)["kid"], rotated["kid"]);
    em.shutdown().await;
}

#[tokio::test]
async fn login_hint_code_flow_yields_a_verifiable_id_token_and_refresh() {
    let em = emulator().await;
    let resp = authorize(&em, "organizations", &[("login_hint", "ALICE@contoso.com")]).await;
    assert_eq!(resp.status(), 302);
    let params = location_params(&resp);
    assert!(resp.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(REDIRECT));
    assert_eq!(params["state"], "st-1");
    assert!(params.contains_key("session_state"));
    let (status, body) = redeem(&em, &code_form(&params["code"], VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let jwt = body["id_token"].as_str().unwrap();
    let jwk = current_jwk(&em).await;
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[d::CLIENT_ID]);
    validation.set_issuer(&[format!("{}/{}/v2.0", em.authority(), d::CONTOSO_TID)]);
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(decode_part(jwt, 0)["typ"], "JWT");
    assert_eq!(claims["nonce"], "no-1");
    assert_eq!(claims["oid"], d::ALICE_OID);
    assert_eq!(claims["tid"], d::CONTOSO_TID);
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["email"], d::ALICE);
    assert_eq!(claims["roles"], serde_json::json!(["Admin"]));
    assert_eq!(claims["groups"].as_array().unwrap().len(), 2);
    assert_eq!(claims["sid"], params["session_state"]);

    let rt = body["refresh_token"].as_str().unwrap();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("client_id", d::CLIENT_ID),
        ("client_secret", d::CLIENT_SECRET),
        ("refresh_token", rt),
    ];
    for _ in 0..2 {
        let (status, again) = redeem(&em, &refresh).await;
        assert_eq!(status, 200, "{again}");
        assert_ne!(again["refresh_token"], body["refresh_token"]);
        assert!(decode_part(again["id_token"].as_str().unwrap(), 1)
            .get("nonce")
            .is_none());
    }
    assert_eq!(em.token_requests(), 3);
    em.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_errors_match_microsoft() {
    let em = emulator().await;
    let code = code_for(&em, d::BOB).await;
    let (status, body) = redeem(
        &em,
        &code_form(&code, "wrong-verifier-wrong-verifier-wrong-verifier"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(body["error_codes"], serde_json::json!([501481]));
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("\r\nTrace ID: "));
    assert_eq!(
        body["error_uri"],
        format!("{}/error?code=501481", em.authority())
    );

    let mut wrong_secret = code_form(&code, VERIFIER);
    wrong_secret[2] = ("client_secret", "nope");
    let (status, body) = redeem(&em, &wrong_secret).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(7000215))
    );
    assert_eq!(body["error"], "invalid_client");
    wrong_secret.remove(2);
    let (status, body) = redeem(&em, &wrong_secret).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(7000218))
    );
    let mut unknown = code_form(&code, VERIFIER);
    unknown[1] = ("client_id", "00000000-0000-4000-8000-000000000000");
    let (status, body) = redeem(&em, &unknown).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    // HTTP Basic client authentication works; the code is then spent.
    let url = format!("{}/common/oauth2/v2.0/token", em.authority());
    let mut basic = code_form(&code, VERIFIER);
    basic.drain(1..3);
    let resp = client()
        .post(&url)
        .basic_auth(d::CLIENT_ID, Some(d::CLIENT_SECRET))
        .form(&basic)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, body) = redeem(&em, &code_form(&code, VERIFIER)).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(54005))
    );
    let resp = client()
        .post(&url)
        .body("\u{0}\u{ff}garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    em.shutdown().await;
}

#[tokio::test]
async fn authorize_refuses_bad_clients_on_its_own_page() {
    let em = emulator().await;
    for (extra, code) in [
        (("redirect_uri", "https://evil.example/cb"), "AADSTS50011"),
        (
            ("client_id", "00000000-0000-4000-8000-000000000000"),
            "AADSTS700016",
        ),
    ] {
        let resp = authorize(&em, "common", &[extra, ("login_hint", d::ALICE)]).await;
        assert_eq!(resp.status(), 400);
        assert!(resp.headers().get("location").is_none());
        assert!(resp.text().await.unwrap().contains(code));
    }
    em.shutdown().await;
}

#[tokio::test]
async fn authorize_errors_after_redirect_validation_go_back_to_the_client() {
    let em = emulator().await;
    let cases = [
        (
            d::CONTOSO_TID,
            vec![("login_hint", d::CAROL)],
            "access_denied",
            "AADSTS50020",
        ),
        (
            "consumers",
            vec![("login_hint", d::ALICE)],
            "access_denied",
            "AADSTS50020",
        ),
        (
            "common",
            vec![("prompt", "none")],
            "login_required",
            "AADSTS50058",
        ),
        (
            "common",
            vec![("response_type", "token")],
            "unsupported_response_type",
            "AADSTS700054",
        ),
        (
            "common",
            vec![(
                "scope",
                "openid api://00000000-0000-4000-8000-000000000000/x",
            )],
            "invalid_resource",
            "AADSTS500011",
        ),
    ];
    for (tenant, extra, error, code) in cases {
        let resp = authorize(&em, tenant, &extra).await;
        assert_eq!(resp.status(), 302, "{tenant} {extra:?}");
        let params = location_params(&resp);
        assert_eq!(params["error"], error);
        assert!(params["error_description"].starts_with(code), "{params:?}");
        assert_eq!(params["state"], "st-1");
    }
    em.shutdown().await;
}

#[tokio::test]
async fn sign_in_page_lists_eligible_users_and_its_form_completes() {
    let em = emulator().await;
    let resp = authorize(&em, "organizations", &[("prompt", "select_account")]).await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Microsoft identity EMULATOR — for development and tests only"));
    assert!(page.contains(d::ALICE) && page.contains(d::CAROL) && !page.contains(d::DAVE));
    assert!(!page.contains("name=\"prompt\""));
    let url = format!("{}/organizations/oauth2/v2.0/authorize", em.authority());
    let form = [
        ("client_id", d::CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("login_hint", d::CAROL),
    ];
    let resp = client().post(url).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    assert!(location_params(&resp).contains_key("code"));
    let extra = [("response_mode", "form_post"), ("login_hint", d::DAVE)];
    let posted = authorize(&em, "consumers", &extra).await;
    assert_eq!(posted.status(), 200);
    let page = posted.text().await.unwrap();
    assert!(page.contains("name=\"code\"") && page.contains(&format!("action=\"{REDIRECT}\"")));
    em.shutdown().await;
}

#[tokio::test]
async fn each_tamper_damages_exactly_one_id_token() {
    let em = emulator().await;
    let kid = current_jwk(&em).await["kid"].clone();
    let clean = decode_part(&id_token_for(&em, d::ALICE).await, 1);
    let tampers = [
        Tamper::WrongAudience,
        Tamper::WrongIssuer,
        Tamper::IssuerTenantMismatch,
        Tamper::Expired,
        Tamper::NotYetValid,
        Tamper::UnknownKey,
        Tamper::AlgNone,
        Tamper::WrongNonce,
        Tamper::MissingTid,
    ];
    for t in tampers {
        em.tamper_next_id_token(t);
        let jwt = id_token_for(&em, d::ALICE).await;
        let (h, c) = (decode_part(&jwt, 0), decode_part(&jwt, 1));
        let changed = match t {
            Tamper::WrongAudience => c["aud"] != clean["aud"],
            Tamper::WrongIssuer => c["iss"] != clean["iss"] && c["tid"] == clean["tid"],
            Tamper::IssuerTenantMismatch => !c["iss"]
                .as_str()
                .unwrap()
                .contains(c["tid"].as_str().unwrap()),
            Tamper::Expired => c["exp"].as_i64().unwrap() < clean["iat"].as_i64().unwrap() - 3000,
            Tamper::NotYetValid => {
                c["nbf"].as_i64().unwrap() > clean["iat"].as_i64().unwrap() + 3000
            }
            Tamper::UnknownKey => h["kid"] != kid && h["alg"] == "RS256",
            Tamper::AlgNone => h["alg"] == "none" && jwt.ends_with('.'),
            Tamper::WrongNonce => c["nonce"] != "no-1",
            Tamper::MissingTid => c.get("tid").is_none(),
        };
        assert!(changed, "{t:?}: {h} {c}");
        let next = id_token_for(&em, d::ALICE).await;
        assert_eq!(decode_part(&next, 0)["kid"], kid, "{t:?} was not cleared");
        assert_eq!(decode_part(&next, 1)["aud"], d::CLIENT_ID);
    }
    em.shutdown().await;
}

#[tokio::test]
async fn logout_redirects_only_to_registered_origins() {
    let em = emulator().await;
    let url = format!("{}/common/oauth2/v2.0/logout", em.authority());
    let ok = client()
        .get(&url)
        .query(&[("post_logout_redirect_uri", "http://127.0.0.1:9/bye")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 302);
    assert_eq!(ok.headers()["location"], "http://127.0.0.1:9/bye");
    let evil = client()
        .get(&url)
        .query(&[("post_logout_redirect_uri", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 200);
    assert!(evil.text().await.unwrap().contains("signed out"));
    let (status, _) = get_json(&format!("{}/nope", em.authority())).await;
    assert_eq!(status, 404);
    let home = client()
        .get(format!("{}/", em.authority()))
        .send()
        .await
        .unwrap();
    assert!(home.text().await.unwrap().contains(d::DAVE));
    assert_eq!(em.users().len(), 5);
    em.shutdown().await;
}

#[tokio::test]
async fn codes_are_bound_to_their_tenant() {
    let em = emulator().await;
    let resp = authorize(&em, "contoso.com", &[("login_hint", d::ALICE)]).await;
    let code = location_params(&resp)["code"].clone();
    let url = format!("{}/{}/oauth2/v2.0/token", em.authority(), d::FABRIKAM_TID);
    let resp = client()
        .post(url)
        .form(&code_form(&code, VERIFIER))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error_codes"], serde_json::json!([700005]));
    let (status, _) = redeem(&em, &code_form(&code, VERIFIER)).await;
    assert_eq!(status, 200);
    em.shutdown().await;
}
