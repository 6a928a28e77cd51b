//! Unit tests for loading and validating the emulator config.
#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn built_in_config_is_valid() {
    EmulatorConfig::default().validate().unwrap();
}

#[test]
fn yaml_loads_and_normalises_domains() {
    let yaml = r#"
tenants:
  - { id: 6E5F1D2C-3B4A-4C5D-8E7F-0A1B2C3D4E5F, name: Contoso, domains: [Contoso.com] }
users:
  - { oid: a11ce000-1b2c-4d3e-8f40-5a6b7c8d9e0f, name: A, username: a@contoso.com, tenant: contoso.com }
apps:
  - client_id: 4d2b9c6e-8f1a-4e3b-a5c7-2d9e0f1a3b5c
    client_secret: s
    name: app
    sign_in_audience: AzureADMyOrg
    home_tenant: 6e5f1d2c-3b4a-4c5d-8e7f-0a1b2c3d4e5f
    redirect_uris: [http://127.0.0.1/cb]
"#;
    let c = EmulatorConfig::from_yaml_str(yaml).unwrap();
    assert_eq!(c.users[0].tenant, d::CONTOSO_TID);
    assert_eq!(c.apps[0].sign_in_audience, SignInAudience::AzureADMyOrg);
}

#[test]
fn yaml_unknown_key_names_its_path() {
    let err = EmulatorConfig::from_yaml_str(
        "tenants: []\nusers: []\napps: [{client_id: x, colour: red}]",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("apps[0]") && err.contains("colour"), "{err}");
}

#[test]
fn credentials_and_token_versions_are_validated() {
    let (cert, _) = crate::emulator::testing::self_signed_certificate("yaml");
    let cert = cert.trim_end().replace('\n', "\n        ");
    let yaml = format!(
        r#"
tenants: []
users: []
apps:
  - client_id: 4d2b9c6e-8f1a-4e3b-a5c7-2d9e0f1a3b5c
    name: ok
    sign_in_audience: AzureADMultipleOrgs
    access_token_version: 1
    certificates:
      - |
        {cert}
    federated_credentials:
      - issuer: https://issuer.example
        subject: system:serviceaccount:a:b
        jwks: {{"keys": [{{"kty": "RSA", "kid": "k", "n": "AQAB", "e": "AQAB"}}]}}
  - client_id: 5d2b9c6e-8f1a-4e3b-a5c7-2d9e0f1a3b5c
    name: bad
    access_token_version: 1
    certificates: [nope]
    federated_credentials: [{{issuer: "", subject: s, audiences: [], jwks: {{}}}}]
  - {{client_id: 6d2b9c6e-8f1a-4e3b-a5c7-2d9e0f1a3b5c, name: none, access_token_version: 3}}
"#
    );
    let err = EmulatorConfig::from_yaml_str(&yaml)
        .unwrap_err()
        .to_string();
    assert!(!err.contains("apps[0]"), "{err}");
    for part in [
        "apps[1].access_token_version: must be 2",
        "apps[1].certificates[0]",
        "apps[1].federated_credentials[0]: issuer and subject",
        "apps[1].federated_credentials[0].audiences",
        "apps[1].federated_credentials[0].jwks",
        "apps[2]: needs a client_secret",
        "apps[2].access_token_version: 3 is not 1 or 2",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
}

#[test]
fn yaml_validation_collects_every_problem() {
    let yaml = "tenants: [{id: nope, name: T}]\nusers: [{oid: x, name: U, username: u, tenant: t}]\napps: []";
    let err = EmulatorConfig::from_yaml_str(yaml).unwrap_err().to_string();
    for part in ["tenants[0].id", "users[0].oid", "users[0].tenant"] {
        assert!(err.contains(part), "{err}");
    }
}

#[test]
fn frontchannel_logout_urls_are_validated_with_their_path() {
    let mut config = EmulatorConfig::default();
    config.apps[0].frontchannel_logout_url = Some("https://app.example/logout".into());
    config.validate().unwrap();
    for bad in [
        "/oauth2/frontchannel_logout",
        "javascript:alert(1)",
        "https://app.example/logout#top",
        "https://user:pw@app.example/logout",
    ] {
        config.apps[0].frontchannel_logout_url = Some(bad.into());
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("apps[0].frontchannel_logout_url"),
            "{bad}: {err}"
        );
    }
}
