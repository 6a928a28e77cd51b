#![allow(clippy::unwrap_used)]
mod support;

use entrance::emulator::testing::{self_signed_certificate, FederatedIssuer};
use entrance::emulator::EmulatorConfig;
use support::*;

const SUBJECT: &str = "system:serviceaccount:default:entrance";
const AUDIENCE: &str = "api://AzureADTokenExchange";

/// The built-in directory, with the app's client secret removed: only assertions can work.
fn emulator_without_secret() -> EmulatorConfig {
    let mut config = EmulatorConfig::default();
    config.apps[0].client_secret = String::new();
    config
}

fn certificate_options(
    emulator: EmulatorConfig,
    files: &TempDir,
    cert: &str,
    key: &str,
) -> Options {
    let cert_file = files.write("tls.crt", cert);
    let key_file = files.write("tls.key", key);
    Options {
        emulator: Some(emulator),
        credential_yaml: Some(format!(
            "client_certificate: {{cert_file: {}, key_file: {}}}",
            yaml_path(&cert_file),
            yaml_path(&key_file)
        )),
        ..Options::default()
    }
}

/// The callback answer for `user`, not followed.
async fn callback_reply(stack: &Stack, browser: &Browser, user: &str) -> Reply {
    let authorize = browser.begin_sign_in(stack, "/anything").await;
    let callback = browser.authorize(&authorize, user).await;
    browser.get(&callback).await
}

/// A sign-in that ends on an error page naming `code`, with no session.
async fn assert_sign_in_fails_with(stack: &Stack, code: &str) {
    let browser = Browser::new();
    let reply = callback_reply(stack, &browser, ALICE).await;
    assert!(
        reply.status >= 400,
        "sign-in should fail with {code}\n{reply}"
    );
    assert!(reply.is_html(), "{reply}");
    assert!(
        reply.body.contains(code),
        "the page does not name {code}\n{reply}"
    );
    assert!(reply.session_cookies_set().is_empty(), "{reply}");
    let next = browser.get(&stack.url("/anything")).await;
    assert_sends_to_sign_in(stack, &next);
}

#[tokio::test]
async fn sign_in_works_with_a_registered_client_certificate() {
    let (cert, key) = self_signed_certificate("entrance-test");
    let mut emulator = emulator_without_secret();
    emulator.apps[0].certificates.push(cert.clone());
    let files = TempDir::new();
    let stack = Stack::start(certificate_options(emulator, &files, &cert, &key)).await;

    let _alice = Browser::signed_in(&stack, ALICE).await;
    stack.upstream.last().assert_alice_identity();
    // Each token call signs a new assertion (the emulator refuses a replayed one).
    let _bob = Browser::signed_in(&stack, BOB).await;
    assert_eq!(
        stack.upstream.last().expect_header("x-auth-request-user"),
        BOB
    );
}

#[tokio::test]
async fn unregistered_client_certificate_fails_with_aadsts700027() {
    let (registered, _) = self_signed_certificate("entrance-registered");
    let (cert, key) = self_signed_certificate("entrance-other");
    let mut emulator = emulator_without_secret();
    emulator.apps[0].certificates.push(registered);
    let files = TempDir::new();
    let stack = Stack::start(certificate_options(emulator, &files, &cert, &key)).await;
    assert_sign_in_fails_with(&stack, "AADSTS700027").await;
    assert_eq!(stack.upstream.count(), 0);
}

#[tokio::test]
async fn federated_token_file_is_read_for_every_token_call() {
    let issuer = FederatedIssuer::new("https://oidc.cluster.example");
    let mut emulator = emulator_without_secret();
    emulator.apps[0]
        .federated_credentials
        .push(issuer.credential(SUBJECT));
    let files = TempDir::new();
    let token_file = files.write(
        "azure-identity-token",
        &issuer.token(SUBJECT, AUDIENCE, 3600),
    );
    let stack = Stack::start(Options {
        emulator: Some(emulator),
        credential_yaml: Some(format!("federated_token_file: {}", yaml_path(&token_file))),
        ..Options::default()
    })
    .await;

    let _first = Browser::signed_in(&stack, ALICE).await;
    stack.upstream.last().assert_alice_identity();

    // The kubelet's file went stale: the next token call presents the expired token.
    files.write(
        "azure-identity-token",
        &issuer.token(SUBJECT, AUDIENCE, -3600),
    );
    assert_sign_in_fails_with(&stack, "AADSTS700024").await;

    // Refreshed again: sign-in works without restarting entrance.
    files.write(
        "azure-identity-token",
        &issuer.token(SUBJECT, AUDIENCE, 3600),
    );
    let _again = Browser::signed_in(&stack, BOB).await;
    assert_eq!(
        stack.upstream.last().expect_header("x-auth-request-user"),
        BOB
    );
}
