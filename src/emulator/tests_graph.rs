//! Behaviour tests for the groups-overage path (Microsoft Graph on the emulator's listener) and
//! the v1 metadata, over real sockets.
#![allow(clippy::unwrap_used)]

use reqwest::redirect::Policy;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::defaults as d;
use super::{start, AccessTokenSpec, Emulator, EmulatorConfig};

const REDIRECT: &str = "http://127.0.0.1:8443/oauth2/callback";

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

/// Sign `user` in with Graph scopes; returns the token response.
async fn graph_tokens(em: &Emulator, user: &str) -> Value {
    let url = format!("{}/organizations/oauth2/v2.0/authorize", em.authority());
    let resp = client()
        .get(url)
        .query(&[
            ("client_id", d::CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile offline_access User.Read"),
            ("login_hint", user),
        ])
        .send()
        .await
        .unwrap();
    let loc = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc.query_pairs().find(|(k, _)| k == "code").unwrap().1;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", d::CLIENT_ID),
        ("client_secret", d::CLIENT_SECRET),
        ("code", &code),
        ("redirect_uri", REDIRECT),
    ];
    let url = format!("{}/organizations/oauth2/v2.0/token", em.authority());
    let resp = client().post(url).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// `http://{msgraph_host}` from discovery.
async fn graph_base(em: &Emulator) -> String {
    let url = format!(
        "{}/common/v2.0/.well-known/openid-configuration",
        em.authority()
    );
    let doc: Value = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    format!("http://{}", doc["msgraph_host"].as_str().unwrap())
}

async fn graph_get(url: &str, token: &str) -> (u16, Value) {
    let resp = client().get(url).bearer_auth(token).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn overage_groups_come_from_graph_in_three_pages() {
    let em = emulator().await;
    let tokens = graph_tokens(&em, d::ERIN).await;
    let id = tokens["id_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            id.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(claims.get("groups").is_none());
    assert_eq!(claims["_claim_names"], json!({"groups": "src1"}));

    let token = tokens["access_token"].as_str().unwrap();
    let base = graph_base(&em).await;
    assert_eq!(base, em.authority());
    let mut next = Some(format!(
        "{base}/v1.0/me/transitiveMemberOf/microsoft.graph.group?$select=id"
    ));
    let (mut ids, mut sizes) = (Vec::new(), Vec::new());
    while let Some(url) = next {
        let (status, page) = graph_get(&url, token).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#groups(id)"));
        let value = page["value"].as_array().unwrap();
        sizes.push(value.len());
        for item in value {
            assert_eq!(item["@odata.type"], "#microsoft.graph.group");
            ids.push(item["id"].as_str().unwrap().to_string());
        }
        next = page["@odata.nextLink"].as_str().map(str::to_string);
        if let Some(link) = &next {
            assert!(
                link.starts_with(&format!("{base}/v1.0/me/transitiveMemberOf")),
                "{link}"
            );
            assert!(link.contains("$skiptoken="), "{link}");
        }
    }
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(ids, d::erin_groups());
    assert_eq!(em.graph_requests(), 3);

    let (_, one) = graph_get(
        &format!("{base}/v1.0/me/transitiveMemberOf?$top=999"),
        token,
    )
    .await;
    assert_eq!(one["value"].as_array().unwrap().len(), 250);
    assert!(one.get("@odata.nextLink").is_none());
    let (status, err) = graph_get(
        &format!("{base}/v1.0/me/transitiveMemberOf?$top=1000"),
        token,
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("BadRequest"))
    );

    let resp = client()
        .post(format!("{base}/v1.0/me/getMemberObjects"))
        .bearer_auth(token)
        .json(&json!({"securityEnabledOnly": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["value"], json!(d::erin_groups()));
    em.shutdown().await;
}

#[tokio::test]
async fn graph_refuses_bad_tokens_app_only_me_and_answers_503_when_down() {
    let em = emulator().await;
    let base = graph_base(&em).await;
    let me = format!("{base}/v1.0/me/transitiveMemberOf");
    let api_jwt = em.mint_access_token(AccessTokenSpec {
        user: Some(d::ALICE.into()),
        tenant: None,
        version: 2,
        audience: None,
        scopes: vec!["access_as_user".into()],
        roles: vec![],
        client_id: d::CLIENT_ID.into(),
        expired: false,
    });
    for token in ["not-a-token", api_jwt.as_str()] {
        let resp = client().get(&me).bearer_auth(token).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer "));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
        assert!(body["error"]["message"].is_string());
    }
    let resp = client().get(&me).send().await.unwrap();
    assert_eq!(resp.status(), 401);

    // App-only Graph token: /me is refused, /users/{oid} works within the tenant.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", d::CLIENT_ID),
        ("client_secret", d::CLIENT_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let url = format!("{}/{}/oauth2/v2.0/token", em.authority(), d::CONTOSO_TID);
    let app: Value = client()
        .post(url)
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_token = app["access_token"].as_str().unwrap();
    let (status, _) = graph_get(&me, app_token).await;
    assert_eq!(status, 403);
    let (status, page) = graph_get(
        &format!("{base}/v1.0/users/{}/transitiveMemberOf", d::ALICE_OID),
        app_token,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    let (status, _) = graph_get(
        &format!("{base}/v1.0/users/{}/transitiveMemberOf", d::CAROL_OID),
        app_token,
    )
    .await;
    assert_eq!(status, 404);

    let alice = graph_tokens(&em, d::ALICE).await;
    let token = alice["access_token"].as_str().unwrap();
    em.set_graph_available(false);
    let (status, body) = graph_get(&me, token).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("serviceNotAvailable"))
    );
    em.set_graph_available(true);
    let (status, page) = graph_get(&me, token).await;
    assert_eq!(status, 200);
    assert_eq!(page["value"][1]["id"], d::ALL_STAFF_GROUP);
    // A refreshed Graph token works too.
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", d::CLIENT_ID),
        ("client_secret", d::CLIENT_SECRET),
        ("refresh_token", alice["refresh_token"].as_str().unwrap()),
    ];
    let url = format!("{}/organizations/oauth2/v2.0/token", em.authority());
    let again: Value = client()
        .post(url)
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, _) = graph_get(&me, again["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(em.graph_requests(), 9);
    em.shutdown().await;
}

#[tokio::test]
async fn v1_metadata_names_the_sts_windows_net_issuer() {
    let em = emulator().await;
    let a = em.authority();
    for (seg, issuer, endpoint_seg) in [
        (
            "common",
            "https://sts.windows.net/{tenantid}/".to_string(),
            "common",
        ),
        (
            "organizations",
            "https://sts.windows.net/{tenantid}/".to_string(),
            "organizations",
        ),
        (
            "contoso.com",
            format!("https://sts.windows.net/{}/", d::CONTOSO_TID),
            d::CONTOSO_TID,
        ),
    ] {
        let url = format!("{a}/{seg}/.well-known/openid-configuration");
        let doc: Value = client()
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], issuer.as_str(), "{seg}");
        assert_eq!(
            doc["token_endpoint"],
            format!("{a}/{endpoint_seg}/oauth2/token")
        );
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{a}/{endpoint_seg}/oauth2/authorize")
        );
        assert_eq!(
            doc["jwks_uri"],
            format!("{a}/{endpoint_seg}/discovery/keys")
        );
    }
    let keys: Value = client()
        .get(format!("{a}/common/discovery/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let v2: Value = client()
        .get(format!("{a}/common/discovery/v2.0/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        keys["keys"][0]["issuer"],
        "https://sts.windows.net/{tenantid}/"
    );
    assert_eq!(keys["keys"][0]["kid"], v2["keys"][0]["kid"]);
    let v1_token = client()
        .post(format!("{a}/common/oauth2/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(v1_token.status(), 404);
    em.shutdown().await;
}
