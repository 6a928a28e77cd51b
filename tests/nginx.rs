//! entrance as the `auth_request` service of a real nginx, running the shipped
//! `deploy/nginx/entrance.conf`: a browser signs in end to end through nginx (the Microsoft
//! emulator's callback comes through nginx too), and the app behind nginx sees exactly the
//! identity entrance vouched for. Skips with a message when nginx is not installed, unless
//! ENTRANCE_REQUIRE_SERVERS=1.
#![allow(clippy::unwrap_used)]

mod support;

use entrance::emulator::defaults::ENGINEERING_GROUP;
use support::nginx::Front;
use support::{expect_authorize_redirect, query_param, Browser, Options, Reply};
use support::{ALICE, BOB, CAROL, IDENTITY_HEADERS};

/// GET `path` at nginx without a session: nginx has entrance start sign-in for that path (the
/// answer is entrance's redirect to Microsoft, with its attempt cookie), and the app is not
/// asked. Returns the authorize URL.
async fn expect_sign_in_redirect(front: &Front, browser: &Browser, path: &str) -> url::Url {
    let before = front.stack.upstream.count();
    let reply = browser.get(&front.nginx.url(path)).await;
    assert_eq!(
        reply.status,
        302,
        "nginx must send a browser without a session to sign in\n{reply}\n{}",
        front.nginx.logs()
    );
    let authorize = expect_authorize_redirect(&front.stack, &reply);
    assert_eq!(
        front.stack.upstream.count(),
        before,
        "the app behind nginx was reached without a session"
    );
    authorize
}

/// Sign-in through nginx up to the callback: the page asked for -> entrance's sign-in start
/// (through nginx) -> the emulator (as `user`) -> /oauth2/callback at nginx. Returns the
/// callback's answer.
async fn callback_through_nginx(front: &Front, browser: &Browser, user: &str, path: &str) -> Reply {
    let authorize = expect_sign_in_redirect(front, browser, path).await;
    let redirect_uri = front.nginx.url("/oauth2/callback");
    assert_eq!(
        query_param(&authorize, "redirect_uri").as_deref(),
        Some(redirect_uri.as_str()),
        "entrance must ask Microsoft to come back through nginx (its public_url)"
    );
    let callback = browser.authorize(&authorize, user).await;
    assert!(
        callback.starts_with(&redirect_uri),
        "the emulator sent the browser to {callback}, not to nginx's {redirect_uri}"
    );
    browser.get(&callback).await
}

/// The whole sign-in through nginx, back to `path`; returns the answer for `path`.
async fn sign_in_through_nginx(front: &Front, browser: &Browser, user: &str, path: &str) -> Reply {
    let reply = callback_through_nginx(front, browser, user, path).await;
    assert_eq!(
        reply.expect_redirect(),
        path,
        "after the callback through nginx entrance must send the browser back to {path}\n{reply}"
    );
    assert!(
        !browser
            .session_cookies(&front.nginx.cookie_origin())
            .is_empty(),
        "the callback through nginx left no session cookie for nginx's origin\n{reply}"
    );
    browser.get(&front.nginx.url(path)).await
}

#[tokio::test]
async fn signing_in_through_nginx_gives_the_app_the_identity_entrance_vouched_for() {
    let test = "signing_in_through_nginx_gives_the_app_the_identity_entrance_vouched_for";
    let Some(front) = Front::start(test, Options::default()).await else {
        return;
    };
    let browser = Browser::new();

    // The whole original URI comes back, every query parameter included.
    let reply = sign_in_through_nginx(&front, &browser, ALICE, "/anything?x=1&y=2").await;
    assert_eq!(
        reply.status,
        200,
        "a signed-in request through nginx must reach the app\n{reply}\n{}",
        front.nginx.logs()
    );
    let seen = front.stack.upstream.last();
    assert_eq!(seen.target, "/anything?x=1&y=2", "{seen}");
    seen.assert_alice_identity();

    // A client forging every identity header gets none of them past nginx: the app sees
    // entrance's answer or nothing.
    let mut forged = browser.request(reqwest::Method::GET, &front.nginx.url("/forged"));
    for name in IDENTITY_HEADERS {
        forged = forged.header(*name, "mallory@evil.example");
    }
    let reply = browser.send(forged).await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = front.stack.upstream.last();
    assert_eq!(seen.target, "/forged", "{seen}");
    seen.assert_alice_identity();
    assert_eq!(
        seen.header("x-auth-request-client-id"),
        None,
        "a browser session has no client id; the client's forged one must not pass\n{seen}"
    );
    for (name, value) in &seen.headers {
        assert!(
            !value.contains("mallory"),
            "the client's forged {name} reached the app\n{seen}"
        );
    }

    // Signing out through nginx ends it: the next request is sent to sign in again.
    let reply = browser.get(&front.nginx.url("/oauth2/sign_out")).await;
    reply.expect_redirect();
    expect_sign_in_redirect(&front, &browser, "/after-sign-out").await;
}

#[tokio::test]
async fn requests_without_a_session_never_reach_the_app_behind_nginx() {
    let test = "requests_without_a_session_never_reach_the_app_behind_nginx";
    let Some(front) = Front::start(test, Options::default()).await else {
        return;
    };
    let browser = Browser::new();
    expect_sign_in_redirect(&front, &browser, "/").await;
    expect_sign_in_redirect(&front, &browser, "/reports/2024").await;

    // Forged identity headers are no way in either.
    let mut forged = browser.request(reqwest::Method::GET, &front.nginx.url("/admin"));
    for name in IDENTITY_HEADERS {
        forged = forged.header(*name, ALICE);
    }
    let reply = browser.send(forged).await;
    assert_eq!(reply.status, 302, "{reply}");
    assert_eq!(front.stack.upstream.count(), 0, "the app was reached");

    // The auth check itself is internal to nginx.
    let reply = browser.get(&front.nginx.url("/oauth2/auth")).await;
    assert_eq!(
        reply.status, 404,
        "browsers must not call /oauth2/auth through nginx\n{reply}"
    );
}

/// A location with rules of its own, written as deploy/nginx/entrance.conf's comment says:
/// an internal check location passing entrance extra rules as query parameters.
fn engineering_only_location() -> String {
    format!(
        "location = /oauth2/auth-engineering {{\n\
             internal;\n\
             proxy_pass http://entrance_gateway/oauth2/auth?allowed_groups={ENGINEERING_GROUP};\n\
             proxy_http_version 1.1;\n\
             proxy_pass_request_body off;\n\
             proxy_set_header Content-Length \"\";\n\
             proxy_set_header Connection \"\";\n\
         }}\n\
         location /engineering/ {{\n\
             auth_request /oauth2/auth-engineering;\n\
             error_page 401 = @entrance_sign_in;\n\
             auth_request_set $entrance_user $upstream_http_x_auth_request_user;\n\
             proxy_set_header X-Auth-Request-User $entrance_user;\n\
             proxy_pass http://entrance_app;\n\
         }}\n"
    )
}

#[tokio::test]
async fn users_entrance_refuses_never_reach_the_app_behind_nginx() {
    let test = "users_entrance_refuses_never_reach_the_app_behind_nginx";
    let options = Options {
        allowed_email_domains: vec!["contoso.com".to_string()],
        ..Options::default()
    };
    let Some(front) = Front::start_with(test, options, &engineering_only_location()).await else {
        return;
    };

    // Carol is of Fabrikam: entrance refuses her at the callback, with its own page, through
    // nginx; she gets no session.
    let carol = Browser::new();
    let reply = callback_through_nginx(&front, &carol, CAROL, "/anything").await;
    assert_eq!(reply.status, 403, "{reply}");
    assert!(reply.is_html(), "a person gets a page\n{reply}");
    assert!(
        carol
            .session_cookies(&front.nginx.cookie_origin())
            .is_empty(),
        "a refused user must get no session\n{reply}"
    );
    expect_sign_in_redirect(&front, &carol, "/anything").await;
    assert_eq!(front.stack.upstream.count(), 0, "the app was reached");

    // Bob (Contoso, not in Engineering) may use the app, but not the location whose check
    // asks entrance for Engineering: nginx answers 403 and the app is not asked.
    let bob = Browser::new();
    let reply = sign_in_through_nginx(&front, &bob, BOB, "/anything").await;
    assert_eq!(reply.status, 200, "{reply}");
    let before = front.stack.upstream.count();
    let reply = bob.get(&front.nginx.url("/engineering/plans")).await;
    assert_eq!(
        reply.status, 403,
        "entrance's 403 on the check must stop the request at nginx\n{reply}"
    );
    assert_eq!(front.stack.upstream.count(), before, "the app was reached");

    // Alice is in Engineering: the same location lets her through, with her identity.
    let alice = Browser::new();
    sign_in_through_nginx(&front, &alice, ALICE, "/anything").await;
    let reply = alice.get(&front.nginx.url("/engineering/plans")).await;
    assert_eq!(reply.status, 200, "{reply}");
    let seen = front.stack.upstream.last();
    assert_eq!(seen.target, "/engineering/plans", "{seen}");
    assert_eq!(seen.header("x-auth-request-user").as_deref(), Some(ALICE));
}
