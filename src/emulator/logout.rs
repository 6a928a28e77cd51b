//! `/{tenant}/oauth2/v2.0/logout` (end_session): end the browser's sign-ins, load the
//! front-channel logout URL of every app they were for in hidden iframes, then continue to
//! `post_logout_redirect_uri` when it is registered. Also the apps' front-channel logout URLs,
//! which (as in the portal) may change while the emulator runs.
//!
//! As at Microsoft, the iframe URL is the registered URL with only `sid` appended (no `iss`,
//! although the OpenID Front-Channel Logout spec asks for it). Deliberate deviations: the
//! emulator mints a `sid` per sign-in where Microsoft shares one across the apps of a browser
//! session (so one app signed in twice gets two iframes), and with no `logout_hint` it signs
//! every account of the browser out instead of asking which.
//!
//! Must not: sign anyone in, or touch codes and refresh tokens (signing out at Microsoft does
//! not revoke them either).

use std::collections::HashMap;
use std::sync::Mutex;

use hyper::header::{HeaderValue, SET_COOKIE};
use hyper::{Response, StatusCode};

use crate::body::Body;

use super::config::{check_frontchannel_logout_url, EmulatorConfig};
use super::http::{self, Params};
use super::pages;
use super::protocol::{html_escape as esc, origin_matches};
use super::sso::{self, SignIn};
use super::State;

/// Every app's front-channel logout URL, by lower-case client id.
pub(crate) struct FrontChannelUrls(Mutex<HashMap<String, String>>);

impl FrontChannelUrls {
    /// The URLs the config registers (already validated).
    pub fn from_config(config: &EmulatorConfig) -> Self {
        let urls = config
            .apps
            .iter()
            .filter_map(|a| {
                let url = a.frontchannel_logout_url.as_ref()?;
                Some((a.client_id.to_ascii_lowercase(), url.clone()))
            })
            .collect();
        FrontChannelUrls(Mutex::new(urls))
    }

    /// Register (`Some`) or remove (`None`) an app's URL; the caller checked the app exists.
    pub fn set(&self, client_id: &str, url: Option<&str>) -> Result<(), String> {
        if let Some(url) = url {
            check_frontchannel_logout_url(url)?;
        }
        let mut urls = match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let key = client_id.to_ascii_lowercase();
        match url {
            Some(url) => urls.insert(key, url.to_owned()),
            None => urls.remove(&key),
        };
        Ok(())
    }

    pub fn get(&self, client_id: &str) -> Option<String> {
        let urls = match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        urls.get(&client_id.to_ascii_lowercase()).cloned()
    }
}

/// Handle end_session. `browser` is the emulator cookie's value, if the request carried one.
pub(crate) fn end_session(state: &State, params: &Params, browser: Option<&str>) -> Response<Body> {
    let hint = params
        .get("logout_hint")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let ended = state.sign_ins.end(browser, hint);
    let frames = frame_urls(&ended, |client_id| state.frontchannel.get(client_id));
    let next = post_logout_target(state, params);
    tracing::info!(
        sign_ins = ended.len(),
        frontchannel_urls = frames.len(),
        redirect = next.is_some(),
        "emulator: signed out"
    );
    let mut response = match (&next, frames.is_empty()) {
        (Some(next), true) => http::redirect(next),
        _ => http::html(StatusCode::OK, page(&frames, next.as_deref())),
    };
    if let Some(browser) = browser {
        if !state.sign_ins.has_live(browser) {
            if let Ok(v) = HeaderValue::from_str(&sso::clear_cookie()) {
                response.headers_mut().append(SET_COOKIE, v);
            }
        }
    }
    response
}

/// `post_logout_redirect_uri`, normalised, when it sits on the origin of a redirect URI
/// registered for the app (any app when no `client_id` is given); otherwise none, and the
/// browser stays on the "signed out" page, as at Microsoft.
fn post_logout_target(state: &State, params: &Params) -> Option<String> {
    let target = params
        .get("post_logout_redirect_uri")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())?;
    let client = params.get("client_id");
    let allowed = state
        .config
        .apps
        .iter()
        .filter(|a| client.is_none_or(|c| a.client_id.eq_ignore_ascii_case(c)))
        .flat_map(|a| &a.redirect_uris)
        .any(|r| origin_matches(r, target));
    if !allowed {
        tracing::info!("emulator: post_logout_redirect_uri not registered");
        return None;
    }
    // The parsed form: normalised, and it cannot carry header-breaking bytes.
    url::Url::parse(target).ok().map(|u| u.to_string())
}

/// The iframe URL of every ended sign-in whose app has a front-channel logout URL: that URL
/// with `sid` appended to its query. Each distinct URL once, in sign-in order.
pub(crate) fn frame_urls(
    ended: &[SignIn],
    frontchannel_url: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut frames: Vec<String> = Vec::new();
    for sign_in in ended {
        let Some(registered) = frontchannel_url(&sign_in.client_id) else {
            continue;
        };
        let Ok(mut url) = url::Url::parse(&registered) else {
            continue;
        };
        url.query_pairs_mut().append_pair("sid", &sign_in.sid);
        let url = url.to_string();
        if !frames.contains(&url) {
            frames.push(url);
        }
    }
    frames
}

/// The "signed out" page: one hidden iframe per front-channel URL, then (after they have all
/// loaded, or five seconds) on to `next`. `next` travels in a data attribute, never inside the
/// script, so escaping it for HTML is enough.
pub(crate) fn page(frames: &[String], next: Option<&str>) -> String {
    let iframes: String = frames
        .iter()
        .map(|src| {
            format!(
                "<iframe class=\"frontchannel-logout\" src=\"{}\" hidden width=\"0\" \
                 height=\"0\" title=\"front-channel logout\"></iframe>",
                esc(src)
            )
        })
        .collect();
    let apps = match frames.len() {
        0 => String::new(),
        n => format!("<p>Signing you out of {n} app(s) you used in this browser.</p>"),
    };
    let (continue_link, script) = match next {
        Some(next) => (
            format!(
                "<p><a id=\"continue\" href=\"{}\">Continue</a></p>",
                esc(next)
            ),
            CONTINUE_SCRIPT,
        ),
        None => (String::new(), ""),
    };
    let body = format!(
        "<h1>You signed out of your account</h1>\
         <p>It's a good idea to close all browser windows.</p>{apps}\
         <div id=\"signout\" data-next=\"{}\">{iframes}</div>{continue_link}{script}",
        esc(next.unwrap_or(""))
    );
    pages::layout("Signed out", &body)
}

/// Go on to `data-next` once every iframe has loaded, or after five seconds at most.
const CONTINUE_SCRIPT: &str = "<script>(function(){\
    var box=document.getElementById('signout');var next=box.getAttribute('data-next');\
    if(!next){return;}var frames=box.getElementsByTagName('iframe');var left=frames.length;\
    var done=false;function go(){if(!done){done=true;window.location.replace(next);}}\
    for(var i=0;i<frames.length;i++){frames[i].addEventListener('load',function(){\
    left-=1;if(left<=0){go();}});}if(left===0){go();}setTimeout(go,5000);})();</script>";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sign_in(client_id: &str, sid: &str) -> SignIn {
        SignIn {
            browser: "b".into(),
            client_id: client_id.into(),
            username: "alice@contoso.com".into(),
            sid: sid.into(),
            ended: true,
        }
    }

    #[test]
    fn frames_carry_the_sid_and_skip_apps_without_a_url() {
        let urls = |c: &str| match c {
            "app-1" => Some("https://one.example/oauth2/frontchannel_logout".to_string()),
            "app-2" => Some("https://two.example/logout?tenant=a&x=1".to_string()),
            _ => None,
        };
        let ended = [
            sign_in("app-1", "s1"),
            sign_in("no-url", "s2"),
            sign_in("app-2", "s 3&x"),
            sign_in("app-1", "s1"),
        ];
        assert_eq!(
            frame_urls(&ended, urls),
            [
                "https://one.example/oauth2/frontchannel_logout?sid=s1",
                "https://two.example/logout?tenant=a&x=1&sid=s+3%26x",
            ]
        );
        assert!(frame_urls(&[], urls).is_empty());
    }

    #[test]
    fn the_page_escapes_every_url() {
        let nasty = "https://a.example/l?x=1&y=\"><script>alert(1)</script>'";
        let html = page(&[nasty.to_string()], Some(nasty));
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("\"><script>"), "{html}");
        let escaped = "https://a.example/l?x=1&amp;y=&quot;&gt;&lt;script&gt;alert(1)\
                       &lt;/script&gt;&#39;";
        assert!(
            html.contains(&format!(
                "<iframe class=\"frontchannel-logout\" src=\"{escaped}\""
            )),
            "{html}"
        );
        assert!(html.contains(&format!("data-next=\"{escaped}\"")), "{html}");
        assert!(html.contains(&format!("href=\"{escaped}\"")), "{html}");
        assert_eq!(html.matches("<iframe").count(), 1);
    }

    #[test]
    fn without_frames_or_target_the_page_is_plain() {
        let html = page(&[], None);
        assert!(html.contains("You signed out"));
        assert!(!html.contains("<iframe"));
        assert!(!html.contains("<script>"));
        assert!(!html.contains("id=\"continue\""));
    }

    #[test]
    fn urls_can_change_while_running_and_are_validated() {
        let urls = FrontChannelUrls::from_config(&EmulatorConfig::default());
        assert_eq!(urls.get(crate::emulator::defaults::CLIENT_ID), None);
        urls.set("APP", Some("http://127.0.0.1:9/oauth2/frontchannel_logout"))
            .unwrap();
        assert_eq!(
            urls.get("app").as_deref(),
            Some("http://127.0.0.1:9/oauth2/frontchannel_logout")
        );
        assert!(urls.set("app", Some("ftp://x/")).is_err());
        assert!(urls.set("app", Some("https://u:p@x.example/")).is_err());
        assert!(urls.set("app", Some("https://x.example/#f")).is_err());
        urls.set("app", None).unwrap();
        assert_eq!(urls.get("app"), None);
    }
}
