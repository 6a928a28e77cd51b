#![allow(clippy::unwrap_used)]
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use entrance::emulator::defaults::{CLIENT_SECRET, CONTOSO_TID};
use support::*;

/// What `entrance check` printed and how it ended.
struct CheckRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl CheckRun {
    /// stdout and stderr together.
    fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for CheckRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "exit code: {:?}", self.code)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        writeln!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// Runs `entrance check --config FILE` with `yaml` in FILE and `secret` as the variable the YAML
/// takes the client secret from. The process environment is cleared of Azure's variables.
async fn check(yaml: &str, secret: &str) -> CheckRun {
    let files = TempDir::new();
    let config = files.write("entrance.yaml", yaml);
    let stdout_path = files.path.join("stdout");
    let stderr_path = files.path.join("stderr");
    let mut command = Command::new(env!("CARGO_BIN_EXE_entrance"));
    command
        .arg("check")
        .arg("--config")
        .arg(&config)
        .env("TEST_CLIENT_SECRET", secret)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    for name in [
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_AUTHORITY_HOST",
        "AZURE_FEDERATED_TOKEN_FILE",
        "ENTRANCE_CONFIG",
    ] {
        command.env_remove(name);
    }
    let mut child = command.spawn().unwrap();
    // Polled, not waited on, so the emulator on this runtime keeps answering the child.
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if waited > HANG_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "entrance check did not finish within {HANG_TIMEOUT:?}\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    };
    CheckRun {
        code: status.code(),
        stdout: std::fs::read_to_string(&stdout_path).unwrap(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap(),
    }
}

/// A config for the emulator's Contoso tenant (client credentials are refused on `common`).
fn contoso(options: Options) -> Options {
    Options {
        tenant: CONTOSO_TID.to_string(),
        ..options
    }
}

/// The YAML for `options` against `authority`, with `public_url` on `port`.
fn yaml_for(options: &Options, port: u16, upstream: &Upstream, authority: &str) -> String {
    options.yaml(
        port,
        &format!("http://{}", upstream.addr),
        authority,
        &random_session_secret(),
    )
}

/// Whether `text` tells the operator to use the secret's value (not its ID).
fn explains_secret_value(text: &str) -> bool {
    let text = text.to_lowercase().replace('\u{2019}', "'");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text.contains("secret value") || text.contains("secret's value")
}

#[tokio::test]
async fn good_config_passes_and_prints_the_redirect_uri() {
    let emulator = start_emulator().await;
    let upstream = Upstream::start().await;
    let port = closed_port().await;
    let options = contoso(Options::default());
    let yaml = yaml_for(&options, port, &upstream, &emulator.authority());

    let run = check(&yaml, CLIENT_SECRET).await;
    assert_eq!(run.code, Some(0), "a good config must pass\n{run}");
    let redirect_uri = format!("http://127.0.0.1:{port}/oauth2/callback");
    assert!(
        run.stdout.contains(&redirect_uri),
        "stdout does not show the redirect URI {redirect_uri}\n{run}"
    );
    assert!(
        emulator.token_requests() > 0,
        "check did not prove the credential at the token endpoint"
    );
    assert!(
        !run.output().contains(CLIENT_SECRET),
        "check printed the client secret\n{run}"
    );
    let frontchannel = format!("http://127.0.0.1:{port}/oauth2/frontchannel_logout");
    assert!(run.stdout.contains(&frontchannel), "{run}");
    assert!(run.stdout.contains("session store (cookie): ok"), "{run}");
}

#[tokio::test]
async fn an_unreachable_redis_session_store_fails_the_check_without_showing_its_password() {
    let emulator = start_emulator().await;
    let upstream = Upstream::start().await;
    let port = closed_port().await;
    let redis_port = closed_port().await;
    let options = contoso(Options {
        session_yaml: vec![
            "store: redis".into(),
            format!(
                "redis: {{url: \"redis://:redis-password-never-shown@127.0.0.1:{redis_port}\", connect_timeout: 1s}}"
            ),
        ],
        ..Options::default()
    });
    let yaml = yaml_for(&options, port, &upstream, &emulator.authority());
    let run = check(&yaml, CLIENT_SECRET).await;
    assert_eq!(
        run.code,
        Some(1),
        "an unreachable Redis must fail the check\n{run}"
    );
    assert!(run.stdout.contains("FAIL session store (redis)"), "{run}");
    assert!(
        !run.output().contains("redis-password-never-shown"),
        "{run}"
    );
}

#[tokio::test]
async fn wrong_client_secret_is_pinpointed() {
    let emulator = start_emulator().await;
    let upstream = Upstream::start().await;
    let port = closed_port().await;
    let wrong = "8c1e0f4a-secret-id-not-value";
    let options = contoso(Options::default());
    let yaml = yaml_for(&options, port, &upstream, &emulator.authority());

    let run = check(&yaml, wrong).await;
    assert_ne!(
        run.code,
        Some(0),
        "a wrong secret must fail the check\n{run}"
    );
    assert!(run.code.is_some(), "check was killed\n{run}");
    let output = run.output();
    assert!(
        output.contains("AADSTS7000215"),
        "the output does not name AADSTS7000215\n{run}"
    );
    assert!(
        explains_secret_value(&output),
        "the output does not explain the fix (use the secret's value)\n{run}"
    );
    assert!(
        !output.contains(wrong),
        "check printed the configured secret\n{run}"
    );
}

#[tokio::test]
async fn unknown_client_id_is_pinpointed() {
    let emulator = start_emulator().await;
    let upstream = Upstream::start().await;
    let port = closed_port().await;
    let options = contoso(Options {
        client_id: Some("0badc0de-0000-4000-8000-000000000000".to_string()),
        ..Options::default()
    });
    let yaml = yaml_for(&options, port, &upstream, &emulator.authority());

    let run = check(&yaml, CLIENT_SECRET).await;
    assert_ne!(
        run.code,
        Some(0),
        "an unknown app must fail the check\n{run}"
    );
    assert!(run.code.is_some(), "check was killed\n{run}");
    assert!(
        run.output().contains("AADSTS700016"),
        "the output does not name AADSTS700016\n{run}"
    );
}

#[tokio::test]
async fn unreachable_authority_fails_at_discovery() {
    let upstream = Upstream::start().await;
    let port = closed_port().await;
    let authority = format!("http://127.0.0.1:{}", closed_port().await);
    let options = contoso(Options::default());
    let yaml = yaml_for(&options, port, &upstream, &authority);

    let run = check(&yaml, CLIENT_SECRET).await;
    assert_ne!(
        run.code,
        Some(0),
        "an unreachable authority must fail\n{run}"
    );
    assert!(run.code.is_some(), "check was killed\n{run}");
    assert!(
        run.output().to_lowercase().contains("discovery"),
        "the output does not say discovery failed\n{run}"
    );
}

#[tokio::test]
async fn invalid_config_fails_and_names_the_key() {
    let emulator = start_emulator().await;
    let upstream = Upstream::start().await;
    let port = closed_port().await;
    let options = contoso(Options {
        lifetime: "forever".to_string(),
        ..Options::default()
    });
    let yaml = yaml_for(&options, port, &upstream, &emulator.authority());

    let run = check(&yaml, CLIENT_SECRET).await;
    assert_ne!(run.code, Some(0), "an invalid config must fail\n{run}");
    assert!(run.code.is_some(), "check was killed\n{run}");
    assert!(
        run.output().contains("session.lifetime"),
        "the output does not name the bad key\n{run}"
    );
    assert_eq!(emulator.token_requests(), 0);
}

#[tokio::test]
async fn unregistered_redirect_uri_is_pinpointed() {
    let emulator = start_emulator().await;
    let upstream = Upstream::start().await;
    let port = closed_port().await;
    let options = contoso(Options::default());
    // The emulator's app registers http://127.0.0.1/oauth2/callback (any port) and localhost;
    // another loopback address is not registered.
    let yaml = yaml_for(&options, port, &upstream, &emulator.authority()).replace(
        &format!("public_url: http://127.0.0.1:{port}"),
        &format!("public_url: http://127.0.0.2:{port}"),
    );
    assert!(yaml.contains("127.0.0.2"), "{yaml}");
    let run = check(&yaml, CLIENT_SECRET).await;
    assert_ne!(
        run.code,
        Some(0),
        "an unregistered redirect URI must fail\n{run}"
    );
    assert!(run.stdout.contains("AADSTS50011"), "{run}");
    assert!(
        run.stdout.contains("http://127.0.0.2:"),
        "the redirect URI to register is shown\n{run}"
    );
}
