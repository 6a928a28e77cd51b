//! The life of the `entrance run` process: SIGTERM lets in-flight requests finish and exits 0;
//! SIGHUP or a change of the config file reloads it atomically, and a bad new config is refused
//! with the running one kept serving.
#![allow(clippy::unwrap_used)]
mod support;

use std::time::{Duration, Instant};

use support::process::EntranceProcess;
use support::*;

/// The emulator and upstream in this process, entrance as a child on a fixed port.
struct Deployment {
    _emulator: entrance::emulator::Emulator,
    upstream: Upstream,
    dir: TempDir,
    port: u16,
    options: Options,
    secret: String,
    authority: String,
}

impl Deployment {
    async fn new(routes: &[&str]) -> Deployment {
        let emulator = start_emulator().await;
        let upstream = Upstream::start().await;
        let deployment = Deployment {
            authority: emulator.authority(),
            _emulator: emulator,
            upstream,
            dir: TempDir::new(),
            port: closed_port().await,
            options: Options {
                extra_yaml: "admin:\n  listen: \"off\"\n".into(),
                ..Options::default()
            },
            secret: random_session_secret(),
        };
        deployment.write_config(routes);
        deployment
    }

    /// (Re)write the config file with these extra routes.
    fn write_config(&self, routes: &[&str]) -> std::path::PathBuf {
        let options = Options {
            routes: routes.iter().map(|r| r.to_string()).collect(),
            ..self.options.clone()
        };
        self.write_raw(&options.yaml(
            self.port,
            &format!("http://{}", self.upstream.addr),
            &self.authority,
            &self.secret,
        ))
    }

    fn write_raw(&self, yaml: &str) -> std::path::PathBuf {
        let yaml = yaml.replace(
            "listen: 127.0.0.1:0\n",
            &format!("listen: 127.0.0.1:{}\n", self.port),
        );
        // Written aside and renamed: the process never reads half a file.
        let staged = self.dir.write("entrance.yaml.new", &yaml);
        let path = self.dir.path.join("entrance.yaml");
        std::fs::rename(staged, &path).unwrap();
        path
    }

    fn config(&self) -> std::path::PathBuf {
        self.dir.path.join("entrance.yaml")
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn start(&self) -> EntranceProcess {
        let process = EntranceProcess::run(&self.config(), "info");
        wait_ready(&self.url("/readyz")).await;
        process
    }

    /// The status of an anonymous API request for `path`.
    async fn status(&self, path: &str) -> u16 {
        reqwest::Client::new()
            .get(self.url(path))
            .header("accept", "application/json")
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// Poll until `path` answers `want` (a reload takes effect); panics after `timeout`.
    async fn until_status(
        &self,
        path: &str,
        want: u16,
        timeout: Duration,
        process: &EntranceProcess,
    ) {
        let deadline = Instant::now() + timeout;
        let mut last = 0;
        while Instant::now() < deadline {
            last = self.status(path).await;
            if last == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{path} answered {last}, not {want}, within {timeout:?}\n{}",
            process.output()
        );
    }
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let deployment = Deployment::new(&["{path: /slow, public: true}"]).await;
    let mut process = deployment.start().await;
    let slow = tokio::spawn(reqwest::Client::new().get(deployment.url("/slow")).send());
    // Let the request reach the upstream before the signal.
    let deadline = Instant::now() + HANG_TIMEOUT;
    while deployment.upstream.count() == 0 {
        assert!(
            Instant::now() < deadline,
            "/slow never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    process.signal("TERM");
    process
        .wait_for_output("shutting down", Duration::from_secs(30))
        .await;
    // New connections are refused once draining started.
    let refused = reqwest::Client::new()
        .get(deployment.url("/healthz"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a new connection was served while draining: {refused:?}"
    );

    let response = slow.await.unwrap().expect("the in-flight request failed");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "slow answer");
    let status = process
        .wait_exit(Duration::from_secs(60))
        .await
        .expect("entrance did not exit after SIGTERM");
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        process.output()
    );
}

#[tokio::test]
async fn sighup_and_file_changes_reload_the_config_and_a_bad_one_is_refused() {
    let deployment = Deployment::new(&[]).await;
    let process = deployment.start().await;
    assert_eq!(
        deployment.status("/open/a").await,
        401,
        "protected before the reload"
    );

    // A good config on SIGHUP: /open/ becomes public.
    deployment.write_config(&["{path: /open/, public: true}"]);
    process.signal("HUP");
    deployment
        .until_status("/open/a", 200, Duration::from_secs(30), &process)
        .await;
    process
        .wait_for_output("config reloaded", Duration::from_secs(10))
        .await;

    // A broken config: refused, logged with the key, and the running config keeps serving.
    deployment.write_raw("listen: 127.0.0.1:0\npublic_url: not a url\n");
    process.signal("HUP");
    process
        .wait_for_output("config reload refused", Duration::from_secs(10))
        .await;
    assert!(
        process.output().contains("public_url"),
        "{}",
        process.output()
    );
    assert_eq!(
        deployment.status("/open/a").await,
        200,
        "the bad config was applied"
    );
    assert_eq!(deployment.status("/healthz").await, 200);

    // A change of the file alone (no signal), as a ConfigMap update does: /open/ protected again.
    deployment.write_config(&[]);
    deployment
        .until_status("/open/a", 401, Duration::from_secs(30), &process)
        .await;
    let output = process.stop();
    assert!(!output.contains("panicked"), "{output}");
}
