//! `session.store: redis` against a real redis-server: replicas share sessions, sign-out and
//! front-channel logout on one are honoured by the other at once, renewals are made once across
//! replicas, and Redis going away answers 503 and recovers by itself.
#![allow(clippy::unwrap_used)]
mod support;

use std::time::Duration;

use support::redis::RedisServer;
use support::*;

/// Options for a stack whose sessions live in `redis`.
fn redis_options(redis: &RedisServer) -> Options {
    Options {
        session_yaml: vec![
            "store: redis".into(),
            format!(
                "redis: {{url: \"{}\", command_timeout: 1s, connect_timeout: 1s}}",
                redis.url()
            ),
        ],
        ..Options::default()
    }
}

/// `browser`'s cookies for `from`, copied to `to` (the same browser on another replica).
fn carry_cookies(browser: &Browser, from: &str, to: &str) -> Browser {
    let other = Browser::new();
    other.replace_cookies(to, browser.cookies(from));
    other
}

#[tokio::test]
async fn replicas_share_sessions_and_a_sign_out_on_one_is_honoured_by_the_other_at_once() {
    let Some(redis) = RedisServer::start("replicas_share_sessions") else {
        return;
    };
    let stack = Stack::start(redis_options(&redis)).await;
    let replica = stack.replica(redis_options(&redis)).await;

    let on_a = Browser::signed_in(&stack, ALICE).await;
    let cookies = on_a.session_cookies(&stack.cookie_origin());
    let size: usize = cookies.iter().map(|(n, v)| n.len() + v.len()).sum();
    assert!(
        size < 300,
        "with Redis the cookie carries only an id, yet it is {size} bytes: {cookies:?}"
    );
    assert!(redis.key_count() >= 1, "nothing was stored in Redis");
    assert!(
        !redis
            .keys_reply()
            .contains(cookies.values().next().unwrap()),
        "a cookie value appears in a Redis key"
    );

    let on_b = carry_cookies(&on_a, &stack.cookie_origin(), &replica.cookie_origin());
    let reply = on_b.get(&replica.url("/anything")).await;
    assert_eq!(
        reply.status, 200,
        "replica B does not know A's session\n{reply}"
    );
    stack.upstream.last().assert_alice_identity();

    let out = on_b.get(&replica.url("/oauth2/sign_out")).await;
    assert_eq!(out.status, 302, "{out}");
    // A still holds the cookie, but the session is gone everywhere.
    let after = on_a.get(&stack.url("/anything")).await;
    assert_sends_to_sign_in(&stack, &after);
}

#[tokio::test]
async fn front_channel_logout_on_one_replica_ends_the_session_on_every_replica() {
    let Some(redis) = RedisServer::start("front_channel_logout_redis") else {
        return;
    };
    let stack = Stack::start(redis_options(&redis)).await;
    let replica = stack.replica(redis_options(&redis)).await;
    let alice = Browser::signed_in(&stack, ALICE).await;
    let sid = stack.emulator.sign_in_sessions(ALICE).pop().unwrap();

    let logout = Browser::new()
        .get(&replica.url(&format!("/oauth2/frontchannel_logout?sid={sid}")))
        .await;
    assert_eq!(logout.status, 200, "{logout}");
    let reply = alice.get(&stack.url("/anything")).await;
    assert_sends_to_sign_in(&stack, &reply);
}

#[tokio::test]
async fn revoking_a_user_ends_all_their_sessions_and_no_one_else_s() {
    let Some(redis) = RedisServer::start("revoke_user") else {
        return;
    };
    let stack = Stack::start(redis_options(&redis)).await;
    let laptop = Browser::signed_in(&stack, ALICE).await;
    let phone = Browser::signed_in(&stack, ALICE).await;
    let bob = Browser::signed_in(&stack, BOB).await;
    let alice_oid = laptop.get(&stack.url("/oauth2/userinfo")).await.json()["oid"]
        .as_str()
        .unwrap()
        .to_string();

    let output = revoke_command(&stack, &alice_oid);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("ended 2 session(s)"), "{stdout}");

    for (name, browser) in [("laptop", &laptop), ("phone", &phone)] {
        let reply = browser.get(&stack.url("/anything")).await;
        assert_eq!(reply.status, 302, "{name} still signed in\n{reply}");
    }
    let reply = bob.get(&stack.url("/anything")).await;
    assert_eq!(reply.status, 200, "Bob was signed out too\n{reply}");
}

/// Runs `entrance sessions revoke --user OID` with the stack's config file.
fn revoke_command(stack: &Stack, oid: &str) -> std::process::Output {
    let dir = TempDir::new();
    let config = dir.write("config.yaml", &stack.yaml);
    std::process::Command::new(env!("CARGO_BIN_EXE_entrance"))
        .args(["sessions", "revoke", "--config"])
        .arg(&config)
        .args(["--user", oid])
        .env("TEST_CLIENT_SECRET", stack.options.resolved_client_secret())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn revoking_needs_a_server_side_store_and_says_so() {
    let stack = Stack::default().await;
    let output = revoke_command(&stack, "00000000-0000-0000-0000-000000000001");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("session.store: redis"), "{stderr}");
}

#[tokio::test]
async fn two_replicas_renewing_one_session_at_once_make_one_token_call() {
    let Some(redis) = RedisServer::start("renewal_across_replicas") else {
        return;
    };
    let stack = Stack::start(redis_options(&redis)).await;
    let replica = stack.replica(redis_options(&redis)).await;
    stack.emulator.set_access_token_lifetime(4);
    let on_a = Browser::signed_in(&stack, ALICE).await;
    let on_b = carry_cookies(&on_a, &stack.cookie_origin(), &replica.cookie_origin());
    tokio::time::sleep(Duration::from_millis(3200)).await;

    let urls: Vec<(&Browser, String)> = (0..10)
        .map(|i| {
            if i % 2 == 0 {
                (&on_a, stack.url("/anything"))
            } else {
                (&on_b, replica.url("/anything"))
            }
        })
        .collect();
    let requests = urls.iter().map(|(browser, url)| browser.get(url));
    for (i, reply) in futures_util::future::join_all(requests)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(reply.status, 200, "request {i} failed\n{reply}");
    }
    assert_eq!(
        stack.emulator.refresh_requests(),
        1,
        "two replicas renewing one session must make one token call"
    );
}

#[tokio::test]
async fn redis_going_away_answers_503_and_entrance_recovers_by_itself() {
    let Some(mut redis) = RedisServer::start("redis_restart") else {
        return;
    };
    let stack = Stack::start(redis_options(&redis)).await;
    let browser = Browser::signed_in(&stack, ALICE).await;

    redis.kill();
    let page = browser.get(&stack.url("/anything")).await;
    assert_eq!(page.status, 503, "{page}");
    assert!(page.is_html() && page.body.contains("try again"), "{page}");
    let api = api_get(&browser, &stack.url("/anything")).await;
    assert_eq!(api.status, 503, "{api}");
    assert_eq!(api.json()["error"], "unavailable", "{api}");
    let ready = Browser::new().get(&stack.url("/readyz")).await;
    assert_eq!(ready.status, 503, "{ready}");
    assert!(ready.body.contains("session store"), "{ready}");
    let health = Browser::new().get(&stack.url("/healthz")).await;
    assert_eq!(
        health.status, 200,
        "liveness must not fail with Redis: {health}"
    );
    // Public routes do not need sessions.
    let public = Browser::new().get(&stack.url("/public/x")).await;
    assert_eq!(public.status, 200, "{public}");

    redis.restart();
    // The same browser, the same cookie: the session survived (Redis persisted it).
    let mut last = None;
    for _ in 0..50 {
        let reply = browser.get(&stack.url("/anything")).await;
        if reply.status == 200 {
            last = None;
            break;
        }
        last = Some(reply);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(reply) = last {
        panic!("entrance did not recover after Redis came back\n{reply}");
    }
    stack.upstream.last().assert_alice_identity();
    let ready = Browser::new().get(&stack.url("/readyz")).await;
    assert_eq!(ready.status, 200, "{ready}");
}
