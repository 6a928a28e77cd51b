#![allow(clippy::unwrap_used)]

use http::{HeaderMap, HeaderName, HeaderValue};

use super::*;

fn full_identity() -> Identity {
    Identity {
        oid: "00000000-0000-0000-0000-0000000000a1".to_owned(),
        tid: "72f988bf-86f1-41af-91ab-2d7cd011db47".to_owned(),
        sub: "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ".to_owned(),
        name: Some("Alice Example".to_owned()),
        preferred_username: Some("alice@contoso.com".to_owned()),
        email: Some("alice@contoso.com".to_owned()),
        groups: vec!["g1".to_owned(), "g2".to_owned()],
        roles: vec!["Admin".to_owned(), "Reader".to_owned()],
        caller: None,
    }
}

fn minimal_identity() -> Identity {
    Identity {
        oid: "oid-1".to_owned(),
        tid: "tid-1".to_owned(),
        sub: "sub-1".to_owned(),
        name: None,
        preferred_username: None,
        email: None,
        groups: Vec::new(),
        roles: Vec::new(),
        caller: None,
    }
}

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    h.get(name).map(HeaderValue::as_bytes)
}

const ALL_NAMES: &[&str] = &[
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-preferred-username",
    "x-auth-request-groups",
    "x-auth-request-roles",
    "x-auth-request-oid",
    "x-auth-request-tid",
    "x-forwarded-user",
    "x-forwarded-email",
];

// ---- strip_client_identity_headers ----

#[test]
fn strips_every_spelling_of_identity_headers() {
    let forged = [
        "X-Auth-Request-User",
        "x-auth-request-user",
        "X_Auth_Request_User",
        "x_AUTH_request_user",
        "X-Auth-Request-Email",
        "x-auth-request-access-token",
        "X-Auth-Request-Anything-New",
        "X-Forwarded-User",
        "X-Forwarded-Email",
        "x_forwarded_email",
        "X-Forwarded-Preferred-Username",
        "X-Forwarded-Groups",
        "X-Forwarded-Access-Token",
        "X-MS-CLIENT-PRINCIPAL",
        "X-MS-CLIENT-PRINCIPAL-ID",
        "X-MS-CLIENT-PRINCIPAL-NAME",
        "x-ms-client-principal-idp",
        "X_MS_CLIENT_PRINCIPAL_ID",
        "x-ms-token-aad-id-token",
        "X-MS-TOKEN-AAD-ACCESS-TOKEN",
        "gap-auth",
        "GAP_AUTH",
        "X-Remote-User",
        "Remote-User",
        "remote_user",
    ];
    let kept = [
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "cookie",
        "authorization",
        "x-authentic",
        "x-auth-request",
        "x-forwarded-users",
        "x-remote-user-agent",
        "remote-users",
        "x-ms-tokens",
        "gap-authx",
        "user-agent",
    ];
    let mut h = HeaderMap::new();
    for name in forged.iter().chain(kept.iter()) {
        h.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_static("v"),
        );
    }
    // A forged header sent twice goes entirely.
    h.append("x-auth-request-user", HeaderValue::from_static("again"));

    strip_client_identity_headers(&mut h);

    for name in forged {
        assert!(h.get(name).is_none(), "{name} survived");
    }
    for name in kept {
        assert_eq!(get(&h, name), Some(&b"v"[..]), "{name} was removed");
    }
    assert_eq!(h.len(), kept.len());
}

#[test]
fn stripping_a_map_without_identity_headers_changes_nothing() {
    let mut h = map(&[("cookie", "a=b"), ("accept", "*/*")]);
    let before = h.clone();
    strip_client_identity_headers(&mut h);
    assert_eq!(h, before);
    let mut empty = HeaderMap::new();
    strip_client_identity_headers(&mut empty);
    assert!(empty.is_empty());
}

// ---- set_identity_headers ----

#[test]
fn sets_every_contract_header_from_a_full_identity() {
    let mut h = HeaderMap::new();
    set_identity_headers(&mut h, &full_identity());
    let want: &[(&str, &str)] = &[
        ("X-Auth-Request-User", "alice@contoso.com"),
        ("X-Auth-Request-Email", "alice@contoso.com"),
        ("X-Auth-Request-Preferred-Username", "alice@contoso.com"),
        ("X-Auth-Request-Groups", "g1,g2"),
        ("X-Auth-Request-Roles", "Admin,Reader"),
        ("X-Auth-Request-Oid", "00000000-0000-0000-0000-0000000000a1"),
        ("X-Auth-Request-Tid", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ("X-Forwarded-User", "alice@contoso.com"),
        ("X-Forwarded-Email", "alice@contoso.com"),
    ];
    for (name, value) in want {
        assert_eq!(get(&h, name), Some(value.as_bytes()), "{name}");
        assert_eq!(h.get_all(*name).iter().count(), 1, "{name}");
    }
    assert_eq!(h.len(), want.len());
}

#[test]
fn minimal_identity_uses_oid_for_user_and_omits_the_rest() {
    let mut h = HeaderMap::new();
    set_identity_headers(&mut h, &minimal_identity());
    assert_eq!(get(&h, "x-auth-request-user"), Some(&b"oid-1"[..]));
    assert_eq!(get(&h, "x-forwarded-user"), Some(&b"oid-1"[..]));
    assert_eq!(get(&h, "x-auth-request-oid"), Some(&b"oid-1"[..]));
    assert_eq!(get(&h, "x-auth-request-tid"), Some(&b"tid-1"[..]));
    for absent in [
        "x-auth-request-email",
        "x-forwarded-email",
        "x-auth-request-preferred-username",
        "x-auth-request-groups",
        "x-auth-request-roles",
    ] {
        assert!(h.get(absent).is_none(), "{absent}");
    }
    assert_eq!(h.len(), 4);

    let mut empty_username = minimal_identity();
    empty_username.preferred_username = Some(String::new());
    let mut h = HeaderMap::new();
    set_identity_headers(&mut h, &empty_username);
    assert_eq!(get(&h, "x-auth-request-user"), Some(&b"oid-1"[..]));
    assert!(h.get("x-auth-request-preferred-username").is_none());
}

#[test]
fn replaces_and_removes_what_was_there_instead_of_appending() {
    let mut h = HeaderMap::new();
    for name in ALL_NAMES {
        h.append(*name, HeaderValue::from_static("forged"));
        h.append(*name, HeaderValue::from_static("forged-twice"));
    }
    h.append("accept", HeaderValue::from_static("*/*"));

    set_identity_headers(&mut h, &minimal_identity());

    for name in ALL_NAMES {
        let values: Vec<_> = h.get_all(*name).iter().collect();
        assert!(values.len() <= 1, "{name} doubled");
        assert!(
            values.iter().all(|v| !v.as_bytes().starts_with(b"forged")),
            "{name} kept a forged value"
        );
    }
    assert_eq!(get(&h, "accept"), Some(&b"*/*"[..]));
}

#[test]
fn crlf_in_a_claim_cannot_split_or_forge_a_header() {
    let mut who = full_identity();
    who.preferred_username = Some("alice\r\nX-Evil: 1".to_owned());
    who.email = Some("alice@contoso.com\r\nX-Evil: 2".to_owned());
    who.name = Some("Alice\r\nX-Evil: 3".to_owned());
    who.groups = vec![
        "g1\r\nX-Evil: 4".to_owned(),
        "\n".to_owned(),
        "g2".to_owned(),
    ];
    who.roles = vec!["\0Admin\u{7f}".to_owned()];
    who.oid = "oid\r\n\r\n<html>".to_owned();
    let mut h = HeaderMap::new();
    set_identity_headers(&mut h, &who);

    assert!(h.get("x-evil").is_none());
    for (name, value) in &h {
        let bytes = value.as_bytes();
        assert!(
            !bytes
                .iter()
                .any(|&b| b == b'\r' || b == b'\n' || b == 0 || b == 0x7f),
            "{name}: {bytes:?}"
        );
    }
    assert_eq!(get(&h, "x-auth-request-user"), Some(&b"aliceX-Evil: 1"[..]));
    assert_eq!(
        get(&h, "x-forwarded-email"),
        Some(&b"alice@contoso.comX-Evil: 2"[..])
    );
    assert_eq!(
        get(&h, "x-auth-request-groups"),
        Some(&b"g1X-Evil: 4,g2"[..])
    );
    assert_eq!(get(&h, "x-auth-request-roles"), Some(&b"Admin"[..]));
    assert_eq!(get(&h, "x-auth-request-oid"), Some(&b"oid<html>"[..]));
}

#[test]
fn non_ascii_claims_are_kept_as_utf8_bytes() {
    let mut who = minimal_identity();
    who.preferred_username = Some("Zoë".to_owned());
    who.email = Some("zoë@exämple.com".to_owned());
    who.groups = vec!["Équipe".to_owned(), "日本".to_owned()];
    let mut h = HeaderMap::new();
    set_identity_headers(&mut h, &who);
    assert_eq!(get(&h, "x-auth-request-user"), Some("Zoë".as_bytes()));
    assert_eq!(get(&h, "x-forwarded-user"), Some("Zoë".as_bytes()));
    assert_eq!(
        get(&h, "x-auth-request-email"),
        Some("zoë@exämple.com".as_bytes())
    );
    assert_eq!(
        get(&h, "x-auth-request-groups"),
        Some("Équipe,日本".as_bytes())
    );
}

#[test]
fn values_that_clean_to_nothing_are_left_out() {
    let mut who = minimal_identity();
    who.email = Some("\r\n".to_owned());
    who.preferred_username = Some("  \t ".to_owned());
    who.groups = vec!["\r".to_owned(), " ".to_owned()];
    who.roles = vec![String::new()];
    who.tid = "\0".to_owned();
    let mut h = map(&[
        ("x-auth-request-tid", "forged"),
        ("x-forwarded-email", "forged"),
    ]);
    set_identity_headers(&mut h, &who);
    assert!(h.get("x-auth-request-email").is_none());
    assert!(h.get("x-forwarded-email").is_none());
    assert!(h.get("x-auth-request-groups").is_none());
    assert!(h.get("x-auth-request-roles").is_none());
    assert!(h.get("x-auth-request-tid").is_none());
    // A username of only whitespace is present but empty once cleaned: the header is omitted,
    // and X-Auth-Request-User falls back to the oid as for an absent one.
    assert!(h.get("x-auth-request-preferred-username").is_none());
    assert_eq!(get(&h, "x-auth-request-user"), Some(&b"oid-1"[..]));
}

#[test]
fn tabs_and_inner_spaces_are_kept() {
    let mut who = minimal_identity();
    who.preferred_username = Some(" Alice\tB. Example ".to_owned());
    let mut h = HeaderMap::new();
    set_identity_headers(&mut h, &who);
    assert_eq!(
        get(&h, "x-auth-request-user"),
        Some(&b"Alice\tB. Example"[..])
    );
}

#[test]
fn strip_then_set_leaves_exactly_one_value_per_contract_header() {
    let mut h = map(&[
        ("x_auth_request_user", "mallory"),
        ("x-auth-request-user", "mallory"),
        ("x-forwarded-user", "mallory"),
        ("x-auth-request-groups", "admins"),
        ("cookie", "s=1"),
    ]);
    strip_client_identity_headers(&mut h);
    set_identity_headers(&mut h, &full_identity());
    assert!(h.get("x_auth_request_user").is_none());
    for name in ALL_NAMES {
        assert_eq!(h.get_all(*name).iter().count(), 1, "{name}");
    }
    assert_eq!(get(&h, "x-auth-request-groups"), Some(&b"g1,g2"[..]));
    assert_eq!(get(&h, "cookie"), Some(&b"s=1"[..]));
}

// ---- bearer callers ----

fn delegated_caller() -> Identity {
    Identity {
        caller: Some(ApiCaller {
            client_id: "11111111-aaaa-bbbb-cccc-000000000001".to_owned(),
            scopes: vec!["Files.Read".to_owned()],
            app_only: false,
        }),
        ..full_identity()
    }
}

fn app_only_caller() -> Identity {
    Identity {
        oid: "5e5e5e5e-0000-0000-0000-000000000001".to_owned(),
        preferred_username: None,
        email: None,
        name: None,
        groups: Vec::new(),
        roles: vec!["Jobs.Run".to_owned()],
        caller: Some(ApiCaller {
            client_id: "22222222-aaaa-bbbb-cccc-000000000002".to_owned(),
            scopes: Vec::new(),
            app_only: true,
        }),
        ..full_identity()
    }
}

#[test]
fn a_delegated_bearer_caller_gets_the_user_headers_and_the_client_id() {
    let mut h = HeaderMap::new();
    set_identity_headers(&mut h, &delegated_caller());
    assert_eq!(
        get(&h, "x-auth-request-client-id"),
        Some(&b"11111111-aaaa-bbbb-cccc-000000000001"[..])
    );
    assert_eq!(
        get(&h, "x-auth-request-user"),
        Some(&b"alice@contoso.com"[..])
    );
    assert_eq!(get(&h, "x-forwarded-user"), Some(&b"alice@contoso.com"[..]));
}

#[test]
fn an_app_only_caller_is_named_by_its_client_id() {
    let mut h = HeaderMap::new();
    set_identity_headers(&mut h, &app_only_caller());
    let client = &b"22222222-aaaa-bbbb-cccc-000000000002"[..];
    assert_eq!(get(&h, "x-auth-request-client-id"), Some(client));
    assert_eq!(get(&h, "x-auth-request-user"), Some(client));
    assert_eq!(get(&h, "x-forwarded-user"), Some(client));
    assert_eq!(
        get(&h, "x-auth-request-oid"),
        Some(&b"5e5e5e5e-0000-0000-0000-000000000001"[..])
    );
    assert_eq!(get(&h, "x-auth-request-roles"), Some(&b"Jobs.Run"[..]));
    for absent in [
        "x-auth-request-email",
        "x-forwarded-email",
        "x-auth-request-preferred-username",
        "x-auth-request-groups",
    ] {
        assert!(h.get(absent).is_none(), "{absent}");
    }
}

#[test]
fn an_app_only_caller_with_an_unusable_client_id_falls_back_to_the_oid() {
    let mut who = app_only_caller();
    if let Some(caller) = who.caller.as_mut() {
        caller.client_id = "\r\n".to_owned();
    }
    let mut h = HeaderMap::new();
    set_identity_headers(&mut h, &who);
    assert_eq!(
        get(&h, "x-auth-request-user"),
        Some(&b"5e5e5e5e-0000-0000-0000-000000000001"[..])
    );
    assert!(h.get("x-auth-request-client-id").is_none());
}

#[test]
fn a_client_sent_client_id_is_stripped_and_never_survives_a_session_identity() {
    let mut h = map(&[
        ("X-Auth-Request-Client-Id", "forged-app"),
        ("x_auth_request_client_id", "forged-app"),
        ("X_AUTH_REQUEST_CLIENT_ID", "forged-app"),
    ]);
    strip_client_identity_headers(&mut h);
    assert!(h.is_empty(), "{h:?}");

    // Even without stripping, a browser session's headers remove it.
    let mut h = map(&[("x-auth-request-client-id", "forged-app")]);
    set_identity_headers(&mut h, &full_identity());
    assert!(h.get("x-auth-request-client-id").is_none());
    let mut h = map(&[("x-auth-request-client-id", "forged-app")]);
    set_identity_headers(&mut h, &delegated_caller());
    assert_eq!(h.get_all("x-auth-request-client-id").iter().count(), 1);
    assert_eq!(
        get(&h, "x-auth-request-client-id"),
        Some(&b"11111111-aaaa-bbbb-cccc-000000000001"[..])
    );
}
