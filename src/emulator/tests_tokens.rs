//! Behaviour tests for access tokens: app-only (client credentials) and delegated tokens for an
//! app's API or for Graph, and minted test tokens, over real sockets.
#![allow(clippy::unwrap_used)]

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use super::access_token::service_principal_id;
use super::defaults as d;
use super::tests_credentials::{
    assertion_form, cert_assertion, fixture, now, payload, post, token_url, verify_with_jwks,
    Thumb, CERT_APP,
};
use super::AccessTokenSpec;

#[tokio::test]
async fn client_credentials_issue_app_only_tokens_per_api_version() {
    let f = fixture().await;
    let url = token_url(&f.em, d::CONTOSO_TID);
    let (_, jwks) = get(&format!("{}/common/discovery/v2.0/keys", f.em.authority())).await;
    // v2 API (the built-in app), called by itself with its secret.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", d::CLIENT_ID),
        ("client_secret", d::CLIENT_SECRET),
        ("scope", &format!("{}/.default", d::CLIENT_ID)),
    ];
    let (status, body) = post(&url, &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let jwt = body["access_token"].as_str().unwrap();
    let c = verify_with_jwks(
        jwt,
        &jwks,
        d::CLIENT_ID,
        &format!("{}/{}/v2.0", f.em.authority(), d::CONTOSO_TID),
    );
    let sp = service_principal_id(d::CLIENT_ID, d::CONTOSO_TID);
    assert_eq!(
        (c["idtyp"].as_str(), c["oid"].as_str(), c["sub"].as_str()),
        (Some("app"), Some(sp.as_str()), Some(sp.as_str()))
    );
    assert_eq!(
        (c["azp"].as_str(), c["azpacr"].as_str(), c["ver"].as_str()),
        (Some(d::CLIENT_ID), Some("1"), Some("2.0"))
    );
    assert_eq!(c["tid"], d::CONTOSO_TID);
    for absent in ["scp", "roles", "name", "preferred_username", "appid"] {
        assert!(c.get(absent).is_none(), "{absent}: {c}");
    }
    assert!(jsonwebtoken::decode_header(jwt).unwrap().x5t.is_none());

    // v1 API (the certificate app), called by the certificate app: roles = its granted permissions.
    let a = cert_assertion(&f, &url, 300, "cc-1", Algorithm::PS256, Thumb::S256);
    let scope = format!("api://{CERT_APP}/.default");
    let (status, body) = post(&url, &assertion_form(CERT_APP, &a, &scope)).await;
    assert_eq!(status, 200, "{body}");
    let jwt = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.x5t, header.kid);
    let c = verify_with_jwks(
        jwt,
        &jwks,
        &format!("api://{CERT_APP}"),
        &format!("https://sts.windows.net/{}/", d::CONTOSO_TID),
    );
    assert_eq!(
        (
            c["appid"].as_str(),
            c["appidacr"].as_str(),
            c["ver"].as_str()
        ),
        (Some(CERT_APP), Some("2"), Some("1.0"))
    );
    assert_eq!(c["roles"], json!(["Data.Read"]));
    assert_eq!(c["idtyp"], "app");
    assert!(c.get("azp").is_none() && c.get("scp").is_none());

    // Graph: an opaque token. Unknown resource, non-.default scope, /common: refused.
    let graph = [
        ("grant_type", "client_credentials"),
        ("client_id", d::CLIENT_ID),
        ("client_secret", d::CLIENT_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let (status, body) = post(&url, &graph).await;
    assert_eq!(status, 200);
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 1);
    for (scope, tenant, error, code) in [
        (
            "api://00000000-0000-4000-8000-000000000000/.default",
            d::CONTOSO_TID,
            "invalid_resource",
            500011,
        ),
        ("User.Read", d::CONTOSO_TID, "invalid_scope", 1002012),
        (
            "https://graph.microsoft.com/.default",
            "common",
            "invalid_request",
            9001023,
        ),
    ] {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", d::CLIENT_ID),
            ("client_secret", d::CLIENT_SECRET),
            ("scope", scope),
        ];
        let (status, body) = post(&token_url(&f.em, tenant), &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{body}"
        );
        assert_eq!(body["error_codes"], json!([code]));
        assert!(body["error_uri"].is_string() && body["timestamp"].is_string());
    }
    f.em.shutdown().await;
}

async fn get(url: &str) -> (u16, Value) {
    let resp = reqwest::get(url).await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn delegated_api_scopes_yield_a_jwt_and_graph_scopes_an_opaque_token() {
    let f = fixture().await;
    let em = &f.em;
    let redirect = "http://127.0.0.1:8443/oauth2/callback";
    let code_for = |scope: String| async move {
        let url = format!("{}/common/oauth2/v2.0/authorize", em.authority());
        let resp = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(url)
            .query(&[
                ("client_id", d::CLIENT_ID),
                ("response_type", "code"),
                ("redirect_uri", redirect),
                ("scope", &scope),
                ("login_hint", d::ERIN),
            ])
            .send()
            .await
            .unwrap();
        let loc = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        loc.query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    };
    let redeem = |code: String, scope: Option<String>| async move {
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("client_id", d::CLIENT_ID.into()),
            ("client_secret", d::CLIENT_SECRET.into()),
            ("code", code),
            ("redirect_uri", redirect.into()),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post(&token_url(em, "common"), &form).await
    };
    let api = format!("api://{}/access_as_user", d::CLIENT_ID);
    let (status, body) = redeem(code_for(format!("openid profile {api}")).await, None).await;
    assert_eq!(status, 200, "{body}");
    let c = payload(body["access_token"].as_str().unwrap());
    assert_eq!(
        (c["aud"].as_str(), c["scp"].as_str(), c["ver"].as_str()),
        (Some(d::CLIENT_ID), Some("access_as_user"), Some("2.0"))
    );
    assert_eq!(
        (c["oid"].as_str(), c["preferred_username"].as_str()),
        (Some(d::ERIN_OID), Some(d::ERIN))
    );
    assert!(c.get("groups").is_none() && c["_claim_names"]["groups"] == "src1");
    let id = payload(body["id_token"].as_str().unwrap());
    assert!(id.get("groups").is_none());
    assert_eq!(
        id["_claim_sources"]["src1"]["endpoint"],
        format!(
            "https://graph.windows.net/{}/users/{}/getMemberObjects",
            d::CONTOSO_TID,
            d::ERIN_OID
        )
    );
    // OIDC scopes and User.Read: an opaque Graph token.
    let (_, body) = redeem(code_for("openid profile User.Read".into()).await, None).await;
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 1);
    // A token request naming two resources is AADSTS700022.
    let code = code_for("openid User.Read".into()).await;
    let (status, body) = redeem(code, Some(format!("User.Read {api}"))).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(700022))
    );
    f.em.shutdown().await;
}

#[tokio::test]
async fn minted_tokens_follow_the_spec() {
    let f = fixture().await;
    let (_, jwks) = get(&format!("{}/common/discovery/keys", f.em.authority())).await;
    let spec = AccessTokenSpec {
        user: Some(d::ALICE.into()),
        tenant: None,
        version: 1,
        audience: None,
        scopes: vec![format!("api://{}/read", d::CLIENT_ID), "write".into()],
        roles: vec!["Admin".into()],
        client_id: d::CLIENT_ID.into(),
        expired: false,
    };
    let jwt = f.em.mint_access_token(spec.clone());
    let c = verify_with_jwks(
        &jwt,
        &jwks,
        &format!("api://{}", d::CLIENT_ID),
        &format!("https://sts.windows.net/{}/", d::CONTOSO_TID),
    );
    assert_eq!(
        (c["scp"].as_str(), c["upn"].as_str()),
        (Some("read write"), Some(d::ALICE))
    );
    assert_eq!(c["roles"], json!(["Admin"]));
    let app_only = f.em.mint_access_token(AccessTokenSpec {
        user: None,
        version: 2,
        tenant: Some(d::FABRIKAM_TID.into()),
        ..spec.clone()
    });
    let c = payload(&app_only);
    assert_eq!(
        (c["idtyp"].as_str(), c["tid"].as_str(), c["aud"].as_str()),
        (Some("app"), Some(d::FABRIKAM_TID), Some(d::CLIENT_ID))
    );
    let expired = payload(&f.em.mint_access_token(AccessTokenSpec {
        expired: true,
        ..spec.clone()
    }));
    assert!(expired["exp"].as_i64().unwrap() < now());
    let stranger = payload(&f.em.mint_access_token(AccessTokenSpec {
        user: Some("zed@nowhere.example".into()),
        audience: Some("other".into()),
        ..spec
    }));
    assert_eq!(stranger["aud"], "other");
    assert!(super::protocol::is_guid(stranger["oid"].as_str().unwrap()));
    f.em.shutdown().await;
}
