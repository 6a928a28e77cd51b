//! Behaviour tests for sign-out with front-channel logout, over real sockets: the emulator's
//! cookie tells browsers apart, and the sign-out page frames exactly the apps the browser signed
//! into that registered a front-channel logout URL.
#![allow(clippy::unwrap_used)]

use reqwest::redirect::Policy;
use tokio::net::TcpListener;

use super::defaults as d;
use super::id_token::login_hint;
use super::{start, AppConfig, Emulator, EmulatorConfig};

/// A second app, whose front-channel URL already has a query.
const APP_TWO: &str = "2b2b2b2b-8f1a-4e3b-a5c7-2d9e0f1a3b5c";
const APP_TWO_LOGOUT: &str = "https://two.example/signout?from=ms&x=1";
/// A third app without a front-channel URL.
const APP_THREE: &str = "3c3c3c3c-8f1a-4e3b-a5c7-2d9e0f1a3b5c";
const ONE_LOGOUT: &str = "http://127.0.0.1:8443/oauth2/frontchannel_logout";
const REDIRECT: &str = "http://127.0.0.1:8443/oauth2/callback";

async fn emulator() -> Emulator {
    let mut config = EmulatorConfig::default();
    for (client_id, url) in [(APP_TWO, Some(APP_TWO_LOGOUT)), (APP_THREE, None)] {
        config.apps.push(AppConfig {
            client_id: client_id.into(),
            client_secret: "s".into(),
            name: format!("app {client_id}"),
            redirect_uris: vec![REDIRECT.into()],
            frontchannel_logout_url: url.map(str::to_string),
            ..AppConfig::default()
        });
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let em = start(config, listener).await.unwrap();
    em.set_frontchannel_logout_url(d::CLIENT_ID, Some(ONE_LOGOUT))
        .unwrap();
    em
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The `ESTSAUTH=…` pair a response sets, if any (`Some("")` when it deletes it).
fn emulator_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("ESTSAUTH="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// Sign `user` in to `client_id` with the browser's `cookie`; returns the sid and the cookie
/// the browser holds afterwards.
async fn sign_in(
    em: &Emulator,
    client_id: &str,
    user: &str,
    cookie: Option<&str>,
) -> (String, String) {
    let url = format!("{}/common/oauth2/v2.0/authorize", em.authority());
    let mut req = client().get(url).query(&[
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile"),
        ("login_hint", user),
    ]);
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let sid = location
        .query_pairs()
        .find(|(k, _)| k == "session_state")
        .unwrap()
        .1
        .into_owned();
    let set = emulator_cookie(&resp).expect("a sign-in sets the emulator cookie");
    if let Some(cookie) = cookie {
        assert_eq!(set, cookie, "the browser keeps its session cookie");
    }
    (sid, set)
}

async fn sign_out(
    em: &Emulator,
    cookie: Option<&str>,
    params: &[(&str, &str)],
) -> reqwest::Response {
    let url = format!("{}/common/oauth2/v2.0/logout", em.authority());
    let mut req = client().get(url).query(params);
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    req.send().await.unwrap()
}

/// The `src` of every iframe, HTML entities undone.
fn iframe_sources(html: &str) -> Vec<String> {
    html.split("<iframe")
        .skip(1)
        .map(|tag| {
            let src = tag.split("src=\"").nth(1).unwrap();
            src[..src.find('"').unwrap()].replace("&amp;", "&")
        })
        .collect()
}

#[tokio::test]
async fn sign_out_frames_the_apps_this_browser_signed_into_that_have_a_url() {
    let em = emulator().await;
    let (one, cookie) = sign_in(&em, d::CLIENT_ID, d::ALICE, None).await;
    let (two, _) = sign_in(&em, APP_TWO, d::ALICE, Some(&cookie)).await;
    sign_in(&em, APP_THREE, d::ALICE, Some(&cookie)).await;
    let (bob, bob_cookie) = sign_in(&em, d::CLIENT_ID, d::BOB, None).await;
    assert_ne!(bob_cookie, cookie, "two browsers share a session cookie");

    let target = "http://127.0.0.1:8443/oauth2/signed_out";
    let resp = sign_out(&em, Some(&cookie), &[("post_logout_redirect_uri", target)]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(emulator_cookie(&resp).as_deref(), Some("ESTSAUTH="));
    let html = resp.text().await.unwrap();
    assert_eq!(
        iframe_sources(&html),
        [
            format!("{ONE_LOGOUT}?sid={one}"),
            format!("{APP_TWO_LOGOUT}&sid={two}"),
        ],
        "{html}"
    );
    assert!(!html.contains(&bob), "another browser's sign-in was framed");
    assert!(html.contains("https://two.example/signout?from=ms&amp;x=1&amp;sid="));
    assert!(html.contains(&format!("data-next=\"{target}\"")), "{html}");
    assert!(html.contains(&format!("href=\"{target}\"")), "{html}");

    // Signed out already: nothing left to notify, so straight on to the target.
    let again = sign_out(&em, Some(&cookie), &[("post_logout_redirect_uri", target)]).await;
    assert_eq!(again.status(), 302);
    assert_eq!(again.headers()["location"], target);

    let bobs = sign_out(&em, Some(&bob_cookie), &[]).await;
    assert_eq!(
        iframe_sources(&bobs.text().await.unwrap()),
        [format!("{ONE_LOGOUT}?sid={bob}")]
    );
    em.shutdown().await;
}

#[tokio::test]
async fn a_logout_hint_signs_out_one_account_and_works_without_the_cookie() {
    let em = emulator().await;
    let (alice, cookie) = sign_in(&em, d::CLIENT_ID, d::ALICE, None).await;
    let (bob, _) = sign_in(&em, APP_TWO, d::BOB, Some(&cookie)).await;

    let resp = sign_out(&em, None, &[("logout_hint", &login_hint(&bob))]).await;
    assert_eq!(
        emulator_cookie(&resp),
        None,
        "no cookie came, none to clear"
    );
    let html = resp.text().await.unwrap();
    assert_eq!(
        iframe_sources(&html),
        [format!("{APP_TWO_LOGOUT}&sid={bob}")]
    );

    let resp = sign_out(&em, Some(&cookie), &[("logout_hint", &login_hint(&alice))]).await;
    assert_eq!(emulator_cookie(&resp).as_deref(), Some("ESTSAUTH="));
    let html = resp.text().await.unwrap();
    assert_eq!(iframe_sources(&html), [format!("{ONE_LOGOUT}?sid={alice}")]);

    let stranger = sign_out(&em, None, &[("logout_hint", "O.unknown")]).await;
    let html = stranger.text().await.unwrap();
    assert!(html.contains("You signed out") && iframe_sources(&html).is_empty());
    em.shutdown().await;
}

#[tokio::test]
async fn front_channel_urls_change_at_run_time_and_bad_ones_are_refused() {
    let em = emulator().await;
    assert!(em
        .set_frontchannel_logout_url("00000000-0000-4000-8000-000000000000", Some(ONE_LOGOUT))
        .is_err());
    let err = em
        .set_frontchannel_logout_url(d::CLIENT_ID, Some("not a url"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("frontchannel_logout_url"), "{err}");
    em.set_frontchannel_logout_url(d::CLIENT_ID, None).unwrap();
    let (_, cookie) = sign_in(&em, d::CLIENT_ID, d::ALICE, None).await;
    let resp = sign_out(&em, Some(&cookie), &[]).await;
    assert!(iframe_sources(&resp.text().await.unwrap()).is_empty());
    let home = client()
        .get(format!("{}/", em.authority()))
        .send()
        .await
        .unwrap();
    assert!(home
        .text()
        .await
        .unwrap()
        .contains("https://two.example/signout?from=ms&amp;x=1"));
    em.shutdown().await;
}
