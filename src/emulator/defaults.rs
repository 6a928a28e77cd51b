//! The emulator's built-in directory, as constants: tests, the demo and
//! [`EmulatorConfig::default`](super::EmulatorConfig) all read the same values.
//!
//! Every identifier here is made up; none belongs to a real Microsoft tenant or app.

/// The one built-in app registration (multi-tenant, work/school and personal accounts).
pub const CLIENT_ID: &str = "4d2b9c6e-8f1a-4e3b-a5c7-2d9e0f1a3b5c";
/// Its client secret. Public on purpose: the emulator is for development and tests only.
pub const CLIENT_SECRET: &str = "emulator-client-secret-not-for-production";
/// Redirect URIs registered on the built-in app. Loopback ports are ignored when matching.
pub const REDIRECT_URIS: [&str; 2] = [
    "http://127.0.0.1/oauth2/callback",
    "http://localhost/oauth2/callback",
];

/// Contoso: domains `contoso.onmicrosoft.com` and `contoso.com`.
pub const CONTOSO_TID: &str = "6e5f1d2c-3b4a-4c5d-8e7f-0a1b2c3d4e5f";
/// Fabrikam: domains `fabrikam.onmicrosoft.com` and `fabrikam.com`.
pub const FABRIKAM_TID: &str = "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d";
/// The tenant of personal Microsoft accounts; the same GUID Microsoft uses, because gateways
/// hard-code it to recognise personal accounts.
pub const CONSUMERS_TID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Contoso security group "Engineering" (Alice).
pub const ENGINEERING_GROUP: &str = "3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9";
/// Contoso security group "All Staff" (Alice and Bob).
pub const ALL_STAFF_GROUP: &str = "7c6b5a49-3827-4160-a5f4-e3d2c1b0a998";

/// Contoso; groups Engineering + All Staff; roles `["Admin"]`.
pub const ALICE: &str = "alice@contoso.com";
/// Contoso; group All Staff; roles `["Reader"]`.
pub const BOB: &str = "bob@contoso.com";
/// Fabrikam; no groups, no roles.
pub const CAROL: &str = "carol@fabrikam.com";
/// Personal Microsoft account (consumers tenant); no groups.
pub const DAVE: &str = "dave@outlook.com";
/// Contoso; in [`erin_groups`] (250 groups, Engineering and All Staff among them), so her tokens
/// carry the groups overage claim instead of `groups`; no roles.
pub const ERIN: &str = "erin@contoso.com";

/// Object ids (`oid`) of the built-in users.
pub const ALICE_OID: &str = "a11ce000-1b2c-4d3e-8f40-5a6b7c8d9e0f";
pub const BOB_OID: &str = "b0b00000-2c3d-4e4f-9a50-6b7c8d9e0f1a";
pub const CAROL_OID: &str = "ca201000-3d4e-4f5a-8b60-7c8d9e0f1a2b";
pub const ERIN_OID: &str = "e4100000-4e5f-4a6b-9c70-8d9e0f1a2b3c";
/// Personal accounts' oids start with zeros at Microsoft; this one imitates that shape.
pub const DAVE_OID: &str = "00000000-0000-0000-d4e5-f6a7b8c9d0e1";

/// How many groups Erin is in: more than the 200 a JWT may carry.
const ERIN_GROUP_COUNT: usize = 250;

/// Erin's 250 group object ids, in a fixed order: [`ENGINEERING_GROUP`], [`ALL_STAFF_GROUP`],
/// then 248 generated ones (`e5a00000-0000-4000-8000-0000000000NN`, same every run).
pub fn erin_groups() -> Vec<String> {
    let mut groups = vec![ENGINEERING_GROUP.to_string(), ALL_STAFF_GROUP.to_string()];
    groups.extend((1..=ERIN_GROUP_COUNT - 2).map(|i| format!("e5a00000-0000-4000-8000-{i:012x}")));
    groups
}
