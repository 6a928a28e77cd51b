//! Single sign-out through Microsoft's front-channel logout, end to end against the emulator:
//! signing out at Microsoft's end_session endpoint loads, in hidden iframes, the front-channel
//! logout URL of every app that browser signed into (with the sign-in's `sid`), and entrance,
//! reached there without any cookie, ends exactly the sessions of that `sid`.
#![allow(clippy::unwrap_used)]
mod support;

use entrance::emulator::{defaults, AppConfig, EmulatorConfig};
use support::*;

/// A second app registration, for a second entrance in front of another app.
const APP_TWO: &str = "2b2b2b2b-8f1a-4e3b-a5c7-2d9e0f1a3b5c";
const APP_TWO_SECRET: &str = "second-app-secret-for-tests";

/// The `src` of every iframe on an HTML page, HTML entities undone.
fn iframe_sources(html: &str) -> Vec<String> {
    html.split("<iframe")
        .skip(1)
        .map(|tag| {
            let src = tag.split("src=\"").nth(1).unwrap();
            src[..src.find('"').unwrap()]
                .replace("&amp;", "&")
                .replace("&quot;", "\"")
        })
        .collect()
}

/// The emulator's end_session endpoint for the stack's tenant, as discovery names it.
async fn end_session_endpoint(stack: &Stack) -> String {
    let discovery = Browser::new()
        .get(&format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            stack.emulator.authority(),
            stack.options.tenant
        ))
        .await;
    assert_eq!(discovery.status, 200, "{discovery}");
    discovery.json()["end_session_endpoint"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Entrance's front-channel logout URL as the registration holds it.
fn frontchannel_url(origin: &str) -> String {
    format!("{origin}/oauth2/frontchannel_logout")
}

/// Loads every frame as the hidden iframe would: a third-party request, so no cookie of
/// entrance comes with it. Each must answer 200.
async fn load_frames(frames: &[String]) {
    for frame in frames {
        let reply = Browser::new().get(frame).await;
        assert_eq!(reply.status, 200, "front-channel logout {frame}\n{reply}");
    }
}

/// Signs `user` in at `replica` in `browser`, the whole round trip, and checks the app answers.
async fn sign_in_at_replica(browser: &Browser, stack: &Stack, replica: &Replica, user: &str) {
    let reply = browser.get(&replica.url("/anything")).await;
    let authorize = expect_authorize_redirect(stack, &reply);
    let callback = browser.authorize(&authorize, user).await;
    assert!(
        callback.starts_with(&replica.url("/oauth2/callback")),
        "the emulator sent the browser to {callback}"
    );
    let back = browser.get(&callback).await;
    let landing = browser
        .get(&resolve(&callback, &back.expect_redirect()))
        .await;
    assert_eq!(
        landing.status, 200,
        "{user} not signed in at the replica\n{landing}"
    );
}

#[tokio::test]
async fn signing_out_at_microsoft_ends_that_browsers_entrance_session_and_no_other() {
    let stack = Stack::default().await;
    stack
        .emulator
        .set_frontchannel_logout_url(
            defaults::CLIENT_ID,
            Some(&frontchannel_url(&stack.origin())),
        )
        .unwrap();
    let alice = Browser::signed_in(&stack, ALICE).await;
    let alice_elsewhere = Browser::signed_in(&stack, ALICE).await;
    let bob = Browser::signed_in(&stack, BOB).await;
    let sids = stack.emulator.sign_in_sessions(ALICE);
    assert_eq!(sids.len(), 2, "{sids:?}");

    // Alice signs out at Microsoft itself (say from another Microsoft app) in her first browser.
    let page = alice.get(&end_session_endpoint(&stack).await).await;
    assert_eq!(page.status, 200, "{page}");
    let frames = iframe_sources(&page.body);
    assert_eq!(
        frames,
        [format!(
            "{}?sid={}",
            frontchannel_url(&stack.origin()),
            sids[0]
        )],
        "the sign-out page must frame entrance's URL with this browser's sid only\n{page}"
    );
    load_frames(&frames).await;

    let ended = alice.get(&stack.url("/anything")).await;
    assert_sends_to_sign_in(&stack, &ended);
    let other = alice_elsewhere.get(&stack.url("/anything")).await;
    assert_eq!(
        other.status, 200,
        "Alice's other browser was signed out\n{other}"
    );
    let bobs = bob.get(&stack.url("/anything")).await;
    assert_eq!(bobs.status, 200, "Bob was signed out\n{bobs}");
}

#[tokio::test]
async fn signing_out_through_entrance_signs_the_browser_out_of_the_other_app_too() {
    let mut directory = EmulatorConfig::default();
    directory.apps.push(AppConfig {
        client_id: APP_TWO.into(),
        client_secret: APP_TWO_SECRET.into(),
        name: "second app".into(),
        redirect_uris: defaults::REDIRECT_URIS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..AppConfig::default()
    });
    let stack = Stack::start(Options {
        emulator: Some(directory),
        credential_yaml: Some(
            "client_secret: ${TEST_CLIENT_SECRET}\nsign_out_at_microsoft: true".into(),
        ),
        ..Options::default()
    })
    .await;
    let second = stack
        .replica(Options {
            client_id: Some(APP_TWO.into()),
            client_secret: Some(APP_TWO_SECRET.into()),
            ..Options::default()
        })
        .await;
    let emulator = &stack.emulator;
    emulator
        .set_frontchannel_logout_url(
            defaults::CLIENT_ID,
            Some(&frontchannel_url(&stack.origin())),
        )
        .unwrap();
    emulator
        .set_frontchannel_logout_url(APP_TWO, Some(&frontchannel_url(&second.origin())))
        .unwrap();

    // Alice uses both apps in one browser; she and Bob also use the second app elsewhere.
    let alice = Browser::signed_in(&stack, ALICE).await;
    sign_in_at_replica(&alice, &stack, &second, ALICE).await;
    let alice_elsewhere = Browser::new();
    sign_in_at_replica(&alice_elsewhere, &stack, &second, ALICE).await;
    let bob = Browser::new();
    sign_in_at_replica(&bob, &stack, &second, BOB).await;
    let sids = emulator.sign_in_sessions(ALICE);
    assert_eq!(sids.len(), 3, "{sids:?}");

    let out = alice.get(&stack.url("/oauth2/sign_out")).await;
    let end_session = out.expect_redirect();
    assert!(
        end_session.starts_with(&emulator.authority()),
        "sign-out did not go to Microsoft: {end_session}"
    );
    let page = alice.get(&end_session).await;
    assert_eq!(page.status, 200, "{page}");
    let frames = iframe_sources(&page.body);
    assert_eq!(
        frames,
        [
            format!("{}?sid={}", frontchannel_url(&stack.origin()), sids[0]),
            format!("{}?sid={}", frontchannel_url(&second.origin()), sids[1]),
        ],
        "every app of this browser, each with its own sid\n{page}"
    );
    let back = query_param(
        &url::Url::parse(&end_session).unwrap(),
        "post_logout_redirect_uri",
    )
    .unwrap();
    assert!(
        page.body.contains(&format!("href=\"{back}\"")),
        "the sign-out page does not continue to {back}\n{page}"
    );
    let emulator_origin = emulator.addr().to_string();
    assert!(
        !alice.cookies(&emulator_origin).contains_key("ESTSAUTH"),
        "the emulator kept its session cookie after signing the browser out"
    );
    load_frames(&frames).await;

    let ended = alice.get(&second.url("/anything")).await;
    assert_sends_to_sign_in(&stack, &ended);
    let other = alice_elsewhere.get(&second.url("/anything")).await;
    assert_eq!(
        other.status, 200,
        "Alice's other browser was signed out\n{other}"
    );
    let bobs = bob.get(&second.url("/anything")).await;
    assert_eq!(bobs.status, 200, "Bob was signed out\n{bobs}");
}
