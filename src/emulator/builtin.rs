//! The built-in directory ([`EmulatorConfig::default`]): three tenants, five users and one app,
//! from the constants in [`super::defaults`].

use super::config::{
    default_region, AppConfig, EmulatorConfig, SignInAudience, TenantConfig, UserConfig,
};
use super::defaults as d;

impl Default for EmulatorConfig {
    fn default() -> Self {
        let tenant = |id: &str, name: &str, domains: &[&str]| TenantConfig {
            id: id.to_string(),
            name: name.to_string(),
            domains: domains.iter().map(|s| s.to_string()).collect(),
            region: default_region(),
        };
        let user = |oid: &str,
                    name: &str,
                    username: &str,
                    tenant: &str,
                    groups: &[&str],
                    roles: &[&str]| {
            UserConfig {
                oid: oid.to_string(),
                name: name.to_string(),
                username: username.to_string(),
                email: Some(username.to_string()),
                tenant: tenant.to_string(),
                groups: groups.iter().map(|s| s.to_string()).collect(),
                roles: roles.iter().map(|s| s.to_string()).collect(),
            }
        };
        EmulatorConfig {
            tenants: vec![
                tenant(
                    d::CONTOSO_TID,
                    "Contoso",
                    &["contoso.onmicrosoft.com", "contoso.com"],
                ),
                tenant(
                    d::FABRIKAM_TID,
                    "Fabrikam",
                    &["fabrikam.onmicrosoft.com", "fabrikam.com"],
                ),
                TenantConfig {
                    region: "WW".to_string(),
                    ..tenant(d::CONSUMERS_TID, "Microsoft personal accounts", &[])
                },
            ],
            users: vec![
                user(
                    d::ALICE_OID,
                    "Alice Admin",
                    d::ALICE,
                    d::CONTOSO_TID,
                    &[d::ENGINEERING_GROUP, d::ALL_STAFF_GROUP],
                    &["Admin"],
                ),
                user(
                    d::BOB_OID,
                    "Bob Reader",
                    d::BOB,
                    d::CONTOSO_TID,
                    &[d::ALL_STAFF_GROUP],
                    &["Reader"],
                ),
                user(
                    d::CAROL_OID,
                    "Carol Fabrikam",
                    d::CAROL,
                    d::FABRIKAM_TID,
                    &[],
                    &[],
                ),
                user(
                    d::DAVE_OID,
                    "Dave Personal",
                    d::DAVE,
                    d::CONSUMERS_TID,
                    &[],
                    &[],
                ),
                UserConfig {
                    groups: d::erin_groups(),
                    ..user(
                        d::ERIN_OID,
                        "Erin Manygroups",
                        d::ERIN,
                        d::CONTOSO_TID,
                        &[],
                        &[],
                    )
                },
            ],
            apps: vec![AppConfig {
                client_id: d::CLIENT_ID.to_string(),
                client_secret: d::CLIENT_SECRET.to_string(),
                name: "entrance (emulator app)".to_string(),
                sign_in_audience: SignInAudience::AzureADandPersonalMicrosoftAccount,
                home_tenant: Some(d::CONTOSO_TID.to_string()),
                redirect_uris: d::REDIRECT_URIS.iter().map(|s| s.to_string()).collect(),
                ..AppConfig::default()
            }],
        }
    }
}
