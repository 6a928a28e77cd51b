//! A real browser: Debian's headless Chromium signs in through entrance and the emulator by
//! clicking the test user, sees the identity, hits a 403, signs out and is asked to sign in
//! again. Screenshots land in `target/screenshots/` for a person to look at.
//!
//! Chromium is driven over the DevTools protocol with the WebSocket client the tests already
//! use (a WebDriver crate would pull a second TLS stack and ICU into the build). Skipped, with a
//! visible message, when Chromium is not installed; `.ci/run` installs it so CI never skips.
#![allow(clippy::unwrap_used)]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var("CHROMIUM").ok(),
        Some("/usr/bin/chromium".into()),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A headless Chromium with one page, driven over the DevTools protocol.
struct Chromium {
    child: Child,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    _profile: TempDir,
}

impl Chromium {
    async fn launch(binary: &Path) -> Chromium {
        let profile = TempDir::new();
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1100,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // Chromium writes the port and browser path it chose into the profile.
        let port_file = profile.path.join("DevToolsActivePort");
        let mut contents = String::new();
        for _ in 0..300 {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                if text.lines().count() >= 2 {
                    contents = text;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut lines = contents.lines();
        let port = lines.next().expect("DevToolsActivePort has a port");
        let path = lines.next().expect("DevToolsActivePort has a path");
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{path}"))
            .await
            .expect("connect to chromium's DevTools");
        let mut browser = Chromium {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let target = browser
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let target_id = target["targetId"].as_str().unwrap().to_owned();
        let attached = browser
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await;
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser
    }

    /// Send one DevTools command and wait for its answer (events in between are skipped).
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(frame) = self.ws.next().await {
                let Ok(Message::Text(text)) = frame else {
                    continue;
                };
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["id"] == json!(id) {
                    return value;
                }
            }
            panic!("chromium closed the DevTools connection");
        })
        .await
        .unwrap_or_else(|_| panic!("chromium did not answer {method}"));
        assert!(answer.get("error").is_none(), "{method} failed: {answer}");
        answer["result"].clone()
    }

    async fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params).await
    }

    async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .page(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        r["result"]["value"].clone()
    }

    async fn goto(&mut self, url: &str) {
        self.page("Page.navigate", json!({"url": url})).await;
        self.settle().await;
    }

    /// Wait until the page finished loading (after navigations and form posts).
    async fn settle(&mut self) {
        tokio::time::sleep(Duration::from_millis(150)).await;
        for _ in 0..200 {
            if self.eval("document.readyState").await == json!("complete") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page never finished loading");
    }

    async fn url(&mut self) -> String {
        self.eval("location.href")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn text(&mut self) -> String {
        self.eval("document.body ? document.body.innerText : ''")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Click the first button whose text contains `label`, as a user would.
    async fn click_button(&mut self, label: &str) {
        let script = format!(
            "(() => {{ const b = [...document.querySelectorAll('button')].find(b => b.innerText.includes({label:?})); if (!b) return false; b.click(); return true; }})()"
        );
        assert_eq!(
            self.eval(&script).await,
            json!(true),
            "no button {label:?} on {}",
            self.url().await
        );
        self.settle().await;
        // The click submits a form: give the redirects time to land.
        for _ in 0..100 {
            if !self.url().await.contains("/authorize") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.settle().await;
    }

    async fn screenshot(&mut self, name: &str) {
        let shot = self
            .page("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_real_browser_signs_in_sees_its_identity_and_signs_out() {
    let Some(binary) = chromium() else {
        println!(
            "SKIPPED: chromium is not installed (apt-get install chromium); .ci/run installs it"
        );
        return;
    };
    let stack = Stack::start(Options {
        routes: vec!["{path: /forbidden/, deny: true}".to_owned()],
        ..Options::default()
    })
    .await;
    let mut browser = Chromium::launch(&binary).await;

    // A protected page sends the browser to the emulator's sign-in page.
    browser.goto(&stack.url("/anything/report?year=2026")).await;
    let at = browser.url().await;
    assert!(
        at.starts_with(&stack.emulator.authority()),
        "not at the sign-in page: {at}"
    );
    assert!(
        browser.text().await.contains("Alice"),
        "the emulator lists its users"
    );
    browser.screenshot("1-sign-in.png").await;

    // Clicking the user lands on the page first asked for, with the identity headers.
    browser.click_button("Alice").await;
    let at = browser.url().await;
    assert_eq!(
        at,
        stack.url("/anything/report?year=2026"),
        "did not land on the original page"
    );
    let text = browser.text().await;
    assert!(
        text.contains(ALICE),
        "the upstream did not see Alice:\n{text}"
    );
    assert_eq!(
        stack.upstream.last().expect_header("x-auth-request-user"),
        ALICE
    );
    browser.screenshot("2-app.png").await;

    // A forbidden route shows entrance's 403 page.
    browser.goto(&stack.url("/forbidden/x")).await;
    let text = browser.text().await;
    assert!(text.contains("Access denied"), "no 403 page:\n{text}");
    assert!(
        text.contains("Reference"),
        "the 403 page carries a reference:\n{text}"
    );
    browser.screenshot("3-forbidden.png").await;

    // Sign out, then the protected page asks for sign-in again.
    browser.goto(&stack.url("/oauth2/sign_out")).await;
    assert!(
        browser.text().await.contains("signed out"),
        "no signed-out page"
    );
    browser.screenshot("4-signed-out.png").await;
    browser.goto(&stack.url("/anything/again")).await;
    let at = browser.url().await;
    assert!(
        at.starts_with(&stack.emulator.authority()),
        "after sign-out the app stayed open: {at}"
    );
}
