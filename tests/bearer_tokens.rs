#![allow(clippy::unwrap_used)]
mod support;

use entrance::emulator::defaults::{ALICE_OID, CLIENT_ID, CONTOSO_TID};
use entrance::emulator::AccessTokenSpec;
use support::*;

const API: &str = "api:\n  enabled: true\n";

fn api_options() -> Options {
    Options {
        extra_yaml: API.to_string(),
        routes: vec![
            "{path: /files/, required_scopes: [Files.Read]}".to_string(),
            "{path: /writers/, required_roles: [Writer]}".to_string(),
        ],
        ..Options::default()
    }
}

fn token(stack: &Stack, spec: AccessTokenSpec) -> String {
    let jwt = stack.emulator.mint_access_token(spec);
    assert!(!jwt.is_empty(), "the emulator could not sign the token");
    jwt
}

/// Asserts a bearer call was forwarded to `path` for Alice, and returns what the upstream saw.
fn assert_forwarded_for_alice(stack: &Stack, reply: &Reply, path: &str) -> Recorded {
    assert_eq!(reply.status, 200, "bearer call not forwarded\n{reply}");
    let seen = stack.upstream.last();
    assert_eq!(seen.target, path, "{seen}");
    assert_eq!(
        seen.expect_header("x-auth-request-oid"),
        ALICE_OID,
        "{seen}"
    );
    assert_eq!(
        seen.expect_header("x-auth-request-tid"),
        CONTOSO_TID,
        "{seen}"
    );
    assert_eq!(
        seen.expect_header("x-auth-request-client-id"),
        CLIENT_ID,
        "{seen}"
    );
    seen
}

#[tokio::test]
async fn v2_access_token_for_the_app_is_forwarded_with_the_callers_identity() {
    let stack = Stack::start(api_options()).await;
    let jwt = token(&stack, AccessTokenSpec::default());
    let reply = bearer_get(&stack.url("/anything"), &jwt).await;
    assert_forwarded_for_alice(&stack, &reply, "/anything");

    // A second call with the same token (the validation may come from the cache).
    let reply = bearer_get(&stack.url("/again?x=1"), &jwt).await;
    assert_forwarded_for_alice(&stack, &reply, "/again?x=1");
}

#[tokio::test]
async fn v1_access_token_for_the_app_is_forwarded_with_the_callers_identity() {
    let stack = Stack::start(api_options()).await;
    let jwt = token(
        &stack,
        AccessTokenSpec {
            version: 1,
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/anything"), &jwt).await;
    assert_forwarded_for_alice(&stack, &reply, "/anything");
}

#[tokio::test]
async fn access_token_for_the_app_id_uri_is_forwarded() {
    let stack = Stack::start(api_options()).await;
    let jwt = token(
        &stack,
        AccessTokenSpec {
            audience: Some(format!("api://{CLIENT_ID}")),
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/anything"), &jwt).await;
    assert_forwarded_for_alice(&stack, &reply, "/anything");
}

#[tokio::test]
async fn access_token_for_a_configured_api_audience_is_forwarded() {
    let stack = Stack::start(Options {
        extra_yaml: "api:\n  enabled: true\n  audiences: [\"https://api.contoso.example\"]\n"
            .to_string(),
        ..Options::default()
    })
    .await;
    let jwt = token(
        &stack,
        AccessTokenSpec {
            audience: Some("https://api.contoso.example".to_string()),
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/anything"), &jwt).await;
    assert_forwarded_for_alice(&stack, &reply, "/anything");

    let other = token(
        &stack,
        AccessTokenSpec {
            audience: Some("https://api.other.example".to_string()),
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/anything"), &other).await;
    assert_invalid_token(&reply);
    assert_eq!(stack.upstream.count(), 1);
}

#[tokio::test]
async fn app_only_token_is_forwarded_and_says_which_application_called() {
    let stack = Stack::start(api_options()).await;
    for version in [2, 1] {
        let jwt = token(
            &stack,
            AccessTokenSpec {
                user: None,
                version,
                ..AccessTokenSpec::default()
            },
        );
        let reply = bearer_get(&stack.url("/jobs"), &jwt).await;
        assert_eq!(reply.status, 200, "app-only v{version} token\n{reply}");
        let seen = stack.upstream.last();
        assert_eq!(seen.target, "/jobs", "{seen}");
        assert_eq!(
            seen.expect_header("x-auth-request-client-id"),
            CLIENT_ID,
            "{seen}"
        );
        assert_eq!(
            seen.expect_header("x-auth-request-tid"),
            CONTOSO_TID,
            "{seen}"
        );
        assert!(seen.header("x-auth-request-email").is_none(), "{seen}");
        assert_ne!(
            seen.header("x-auth-request-oid").as_deref(),
            Some(ALICE_OID),
            "{seen}"
        );
    }
}

#[tokio::test]
async fn forged_client_id_header_never_reaches_the_upstream() {
    let stack = Stack::start(api_options()).await;
    let jwt = token(&stack, AccessTokenSpec::default());
    let client = Browser::new();
    let reply = client
        .send(
            client
                .client
                .get(stack.url("/anything"))
                .header("authorization", format!("Bearer {jwt}"))
                .header("accept", "application/json")
                .header("X-Auth-Request-Client-Id", "forged-client")
                .header("X_Auth_Request_Client_Id", "forged-client-2"),
        )
        .await;
    let seen = assert_forwarded_for_alice(&stack, &reply, "/anything");
    for (name, value) in &seen.headers {
        assert!(
            !value.contains("forged"),
            "{name}: {value} reached the upstream\n{seen}"
        );
    }
}

#[tokio::test]
async fn microsoft_graph_token_is_refused_with_401_never_a_redirect() {
    let stack = Stack::start(api_options()).await;
    for audience in [
        "https://graph.microsoft.com",
        "00000003-0000-0000-c000-000000000000",
    ] {
        let jwt = token(
            &stack,
            AccessTokenSpec {
                audience: Some(audience.to_string()),
                ..AccessTokenSpec::default()
            },
        );
        let reply = bearer_get(&stack.url("/anything"), &jwt).await;
        assert_invalid_token(&reply);

        // A browser navigation carrying it is refused the same way.
        let browser = Browser::new();
        let reply = browser
            .send(
                browser
                    .request(reqwest::Method::GET, &stack.url("/anything"))
                    .header("authorization", format!("Bearer {jwt}")),
            )
            .await;
        assert_invalid_token(&reply);
    }
    assert_eq!(stack.upstream.count(), 0, "the upstream was reached");
}

#[tokio::test]
async fn expired_token_is_401_invalid_token() {
    let stack = Stack::start(api_options()).await;
    let jwt = token(
        &stack,
        AccessTokenSpec {
            expired: true,
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/anything"), &jwt).await;
    assert_invalid_token(&reply);
    assert_eq!(stack.upstream.count(), 0);
}

#[tokio::test]
async fn malformed_or_tampered_tokens_are_401() {
    let stack = Stack::start(api_options()).await;
    let good = token(&stack, AccessTokenSpec::default());
    // The same token with one signature character changed.
    let mut forged = good.clone().into_bytes();
    let last = forged.len() - 5;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    // Its header and payload with the signature removed.
    let unsigned = format!("{}.", good.rsplit_once('.').unwrap().0);
    for jwt in [
        "garbage".to_string(),
        "a.b.c".to_string(),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".to_string(),
        forged,
        unsigned,
    ] {
        let reply = bearer_get(&stack.url("/anything"), &jwt).await;
        assert_eq!(reply.status, 401, "token {jwt:?}\n{reply}");
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "token {jwt:?}\n{reply}");
        assert!(reply.location().is_none(), "token {jwt:?}\n{reply}");
    }
    assert_eq!(stack.upstream.count(), 0, "the upstream was reached");
}

#[tokio::test]
async fn route_requiring_a_scope_needs_it_in_the_token() {
    let stack = Stack::start(api_options()).await;
    let without = token(
        &stack,
        AccessTokenSpec {
            scopes: vec!["Files.Write".to_string()],
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/files/report"), &without).await;
    assert_eq!(reply.status, 403, "{reply}");
    assert!(reply.location().is_none(), "{reply}");
    assert_eq!(stack.upstream.count(), 0);

    let with = token(
        &stack,
        AccessTokenSpec {
            scopes: vec!["Files.Read".to_string()],
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/files/report"), &with).await;
    assert_forwarded_for_alice(&stack, &reply, "/files/report");

    // The scope is the route's business only.
    let reply = bearer_get(&stack.url("/anything"), &without).await;
    assert_eq!(reply.status, 200, "{reply}");

    // App-only tokens carry no scopes.
    let app = token(
        &stack,
        AccessTokenSpec {
            user: None,
            roles: vec!["Files.Read".to_string()],
            ..AccessTokenSpec::default()
        },
    );
    let before = stack.upstream.count();
    let reply = bearer_get(&stack.url("/files/report"), &app).await;
    assert_eq!(reply.status, 403, "{reply}");
    assert_eq!(stack.upstream.count(), before);
}

#[tokio::test]
async fn route_requiring_a_role_needs_it_in_the_token() {
    let stack = Stack::start(api_options()).await;
    let reader = token(
        &stack,
        AccessTokenSpec {
            roles: vec!["Reader".to_string()],
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/writers/doc"), &reader).await;
    assert_eq!(reply.status, 403, "{reply}");
    assert_eq!(stack.upstream.count(), 0);

    let writer = token(
        &stack,
        AccessTokenSpec {
            roles: vec!["Writer".to_string()],
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/writers/doc"), &writer).await;
    assert_forwarded_for_alice(&stack, &reply, "/writers/doc");

    let app = token(
        &stack,
        AccessTokenSpec {
            user: None,
            roles: vec!["Writer".to_string()],
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/writers/doc"), &app).await;
    assert_eq!(reply.status, 200, "app-only token with the role\n{reply}");
}

#[tokio::test]
async fn token_from_a_tenant_not_allowed_is_403() {
    let stack = Stack::start(Options {
        allowed_tenants: vec![CONTOSO_TID.to_string()],
        ..api_options()
    })
    .await;
    let carol = token(
        &stack,
        AccessTokenSpec {
            user: Some(CAROL.to_string()),
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/anything"), &carol).await;
    assert_eq!(reply.status, 403, "{reply}");
    assert!(reply.location().is_none(), "{reply}");
    assert_eq!(stack.upstream.count(), 0);

    let app_elsewhere = token(
        &stack,
        AccessTokenSpec {
            user: None,
            tenant: Some(entrance::emulator::defaults::FABRIKAM_TID.to_string()),
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/anything"), &app_elsewhere).await;
    assert_eq!(reply.status, 403, "{reply}");
    assert_eq!(stack.upstream.count(), 0);

    let alice = token(&stack, AccessTokenSpec::default());
    let reply = bearer_get(&stack.url("/anything"), &alice).await;
    assert_forwarded_for_alice(&stack, &reply, "/anything");
}

#[tokio::test]
async fn bearer_token_is_ignored_when_the_api_is_not_enabled() {
    let stack = Stack::default().await;
    let jwt = token(&stack, AccessTokenSpec::default());

    let api = bearer_get(&stack.url("/anything"), &jwt).await;
    assert_api_unauthorized(&api);

    let browser = Browser::new();
    let navigation = browser
        .send(
            browser
                .request(reqwest::Method::GET, &stack.url("/anything"))
                .header("authorization", format!("Bearer {jwt}")),
        )
        .await;
    assert_sends_to_sign_in(&stack, &navigation);
    assert_eq!(stack.upstream.count(), 0, "the upstream was reached");
}

#[tokio::test]
async fn public_routes_neither_check_tokens_nor_pass_identity() {
    // The default options make /public/ a public route.
    let stack = Stack::start(api_options()).await;
    let expired = token(
        &stack,
        AccessTokenSpec {
            expired: true,
            ..AccessTokenSpec::default()
        },
    );
    let reply = bearer_get(&stack.url("/public/page"), &expired).await;
    assert_eq!(
        reply.status, 200,
        "a stale token must not lock callers out of a public route\n{reply}"
    );
    let valid = token(&stack, AccessTokenSpec::default());
    let reply = bearer_get(&stack.url("/public/page"), &valid).await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = stack.upstream.last();
    assert_eq!(
        seen.header("x-auth-request-oid"),
        None,
        "public routes get no identity\n{seen}"
    );

    // A signed-in browser on a public route: no identity headers either.
    let alice = Browser::signed_in(&stack, ALICE).await;
    let reply = alice.get(&stack.url("/public/page")).await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = stack.upstream.last();
    assert_eq!(seen.header("x-auth-request-user"), None, "{seen}");
}
