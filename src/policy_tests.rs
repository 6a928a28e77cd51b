#![allow(clippy::unwrap_used)]

use rand::{Rng, SeedableRng};

use super::*;

const CONTOSO_TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const FABRIKAM_TID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

fn route(path: &str, public: bool) -> RouteConfig {
    RouteConfig {
        path: path.to_owned(),
        public,
    }
}

fn who(tid: &str, email: Option<&str>) -> Identity {
    Identity {
        oid: "00000000-0000-0000-0000-000000000001".to_owned(),
        tid: tid.to_owned(),
        sub: "sub".to_owned(),
        name: Some("Alice".to_owned()),
        preferred_username: Some("alice@contoso.com".to_owned()),
        email: email.map(str::to_owned),
        groups: Vec::new(),
        roles: Vec::new(),
        caller: None,
    }
}

fn rules(tenants: TenantRule, domains: &[&str]) -> AuthorizationConfig {
    AuthorizationConfig {
        allowed_tenants: tenants,
        allowed_email_domains: domains.iter().map(|d| (*d).to_owned()).collect(),
    }
}

// ---- routes ----

#[test]
fn prefix_routes_match_below_them_and_exact_routes_only_themselves() {
    let routes = Routes::new(&[route("/static/", true), route("/healthz", true)]);
    assert_eq!(routes.access("/static/"), Access::Public);
    assert_eq!(routes.access("/static/app.js"), Access::Public);
    assert_eq!(routes.access("/static/a/b/c"), Access::Public);
    assert_eq!(routes.access("/static"), Access::Protected);
    assert_eq!(routes.access("/staticx/app.js"), Access::Protected);
    assert_eq!(routes.access("/healthz"), Access::Public);
    assert_eq!(routes.access("/healthz/"), Access::Protected);
    assert_eq!(routes.access("/healthzz"), Access::Protected);
    assert_eq!(routes.access("/healthz/x"), Access::Protected);
}

#[test]
fn no_match_is_protected() {
    assert_eq!(Routes::new(&[]).access("/"), Access::Protected);
    let routes = Routes::new(&[route("/public/", true)]);
    assert_eq!(routes.access("/"), Access::Protected);
    assert_eq!(routes.access("/admin"), Access::Protected);
    assert_eq!(routes.access(""), Access::Protected);
}

#[test]
fn first_matching_route_wins() {
    let routes = Routes::new(&[
        route("/public/secret/", false),
        route("/public/", true),
        route("/public/other/", false),
    ]);
    assert_eq!(routes.access("/public/secret/x"), Access::Protected);
    assert_eq!(routes.access("/public/other/x"), Access::Public);
    assert_eq!(routes.access("/public/x"), Access::Public);

    let reversed = Routes::new(&[route("/", true), route("/admin/", false)]);
    assert_eq!(reversed.access("/admin/x"), Access::Public);
}

#[test]
fn root_prefix_makes_everything_public() {
    let routes = Routes::new(&[route("/", true)]);
    assert_eq!(routes.access("/"), Access::Public);
    assert_eq!(routes.access("/anything/at/all"), Access::Public);
}

#[test]
fn route_paths_are_normalised_like_request_paths() {
    let routes = Routes::new(&[route("/%7euser/", true), route("/a//b", true)]);
    assert_eq!(routes.access("/~user/x"), Access::Public);
    assert_eq!(routes.access("/a/b"), Access::Public);
}

#[test]
fn dot_segment_tricks_do_not_reach_public_routes_once_normalised() {
    let routes = Routes::new(&[route("/public/", true)]);
    for raw in [
        "/public/../secret",
        "/public/%2e%2e/secret",
        "/public/.%2E/secret",
    ] {
        let path = normalize_path(raw).unwrap();
        assert_eq!(path, "/secret", "{raw}");
        assert_eq!(routes.access(&path), Access::Protected, "{raw}");
    }
    assert!(normalize_path("/public/..%2fsecret").is_err());
    assert!(normalize_path("/public/..;/secret").is_err());
}

// ---- normalize_path ----

#[test]
fn normalize_path_examples() {
    for (raw, want) in [
        ("/", "/"),
        ("/a/./b/../c", "/a/c"),
        ("/%2e%2e/admin", "/admin"),
        ("/%2E%2E/admin", "/admin"),
        ("//a///b", "/a/b"),
        ("/../../etc", "/etc"),
        ("/a%20b", "/a%20b"),
        ("/%7euser", "/~user"),
        ("/%7Euser", "/~user"),
        ("/app/", "/app/"),
        ("/app//", "/app/"),
        ("/public/%2e%2e/secret", "/secret"),
        ("/%41%62%2D%5f", "/Ab-_"),
        ("/a%3fb", "/a%3Fb"),
        ("/a%3Fb", "/a%3Fb"),
        ("/a%25b", "/a%25b"),
        ("/a%252e%252e/x", "/a%252e%252e/x"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/café", "/café"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/a/b/%2e", "/a/b/"),
        ("/..", "/"),
        ("/.", "/"),
        ("//", "/"),
        ("/./", "/"),
        ("/a/..", "/"),
        ("/.../x", "/.../x"),
        ("/..a/x", "/..a/x"),
        ("/a;b/c", "/a;b/c"),
        ("/.well-known/x", "/.well-known/x"),
        ("/a/b/../../../../c/", "/c/"),
    ] {
        assert_eq!(normalize_path(raw).as_deref(), Ok(want), "{raw:?}");
    }
}

#[test]
fn normalize_path_refusals() {
    for (raw, why) in [
        ("/healthz/..%2fadmin", BadPath::EncodedSeparator),
        ("/a%2Fb", BadPath::EncodedSeparator),
        ("/a%5cb", BadPath::EncodedSeparator),
        ("/a%5Cb", BadPath::EncodedSeparator),
        ("/a\\b", BadPath::Backslash),
        ("/..\\admin", BadPath::Backslash),
        ("/a%00b", BadPath::ControlCharacter),
        ("/a\0b", BadPath::ControlCharacter),
        ("/a%0d%0ab", BadPath::ControlCharacter),
        ("/a\nb", BadPath::ControlCharacter),
        ("/a%09b", BadPath::ControlCharacter),
        ("/a%7fb", BadPath::ControlCharacter),
        ("/a\u{7f}b", BadPath::ControlCharacter),
        ("/a%", BadPath::InvalidEscape),
        ("/a%2", BadPath::InvalidEscape),
        ("/a%zz", BadPath::InvalidEscape),
        ("/a%2g", BadPath::InvalidEscape),
        ("/a%%41", BadPath::InvalidEscape),
        ("/%é", BadPath::InvalidEscape),
        ("", BadPath::NotAbsolute),
        ("a/b", BadPath::NotAbsolute),
        ("*", BadPath::NotAbsolute),
        ("http://evil/", BadPath::NotAbsolute),
        ("/..;/admin", BadPath::DotSegmentWithParameters),
        (
            "/public/..;jsessionid=x/admin",
            BadPath::DotSegmentWithParameters,
        ),
        ("/.;/admin", BadPath::DotSegmentWithParameters),
        ("/%2e%2e;/admin", BadPath::DotSegmentWithParameters),
    ] {
        assert_eq!(normalize_path(raw), Err(why), "{raw:?}");
    }
}

#[test]
fn bad_path_messages_do_not_echo_the_path() {
    let err = normalize_path("/secret%2Fthing").unwrap_err();
    assert!(!err.to_string().contains("secret"));
    assert!(!err.to_string().is_empty());
}

fn random_path(rng: &mut impl Rng) -> String {
    const PIECES: &[&str] = &[
        "/", "/", "/", ".", "..", "%2e", "%2E", "%2f", "%5c", "%41", "%7e", "%20", "%25", "%", "a",
        "b", ";", "\\", "\0", "é", "%c3%a9", "~", "%0a", "?", "#",
    ];
    let mut s = String::new();
    if rng.gen_bool(0.9) {
        s.push('/');
    }
    for _ in 0..rng.gen_range(0..20) {
        s.push_str(PIECES[rng.gen_range(0..PIECES.len())]);
    }
    s
}

#[test]
fn normalize_path_never_panics_and_is_idempotent() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut ok = 0;
    for _ in 0..50_000 {
        let raw = random_path(&mut rng);
        if let Ok(norm) = normalize_path(&raw) {
            ok += 1;
            assert!(norm.starts_with('/'), "{raw:?} -> {norm:?}");
            assert!(!norm.contains("//"), "{raw:?} -> {norm:?}");
            assert!(
                !norm.split('/').any(|s| s == "." || s == ".."),
                "{raw:?} -> {norm:?}"
            );
            assert_eq!(
                normalize_path(&norm).as_deref(),
                Ok(norm.as_str()),
                "{raw:?}"
            );
        }
    }
    assert!(ok > 1000, "only {ok} normalised");
    for _ in 0..2_000 {
        let s: String = (0..rng.gen_range(0..30))
            .map(|_| rng.gen::<char>())
            .collect();
        let _ = normalize_path(&s);
    }
}

// ---- authorize ----

#[test]
fn unrestricted_and_any_tenant_allow_everyone() {
    for rule in [TenantRule::Unrestricted, TenantRule::Any] {
        let r = rules(rule, &[]);
        assert_eq!(authorize(&r, &who(CONTOSO_TID, None)), Decision::Allow);
        assert_eq!(authorize(&r, &who("", None)), Decision::Allow);
    }
}

#[test]
fn tenant_list_allows_members_only_ignoring_case() {
    let r = rules(TenantRule::Only(vec![CONTOSO_TID.to_owned()]), &[]);
    assert_eq!(authorize(&r, &who(CONTOSO_TID, None)), Decision::Allow);
    assert_eq!(
        authorize(&r, &who(&CONTOSO_TID.to_uppercase(), None)),
        Decision::Allow
    );
    for tid in [
        FABRIKAM_TID,
        "",
        " 72f988bf-86f1-41af-91ab-2d7cd011db47",
        "72f988bf",
    ] {
        assert_eq!(
            authorize(&r, &who(tid, Some("alice@contoso.com"))),
            Decision::Deny(DenyReason::TenantNotAllowed),
            "{tid:?}"
        );
    }
    let empty = rules(TenantRule::Only(Vec::new()), &[]);
    assert_eq!(
        authorize(&empty, &who(CONTOSO_TID, None)),
        Decision::Deny(DenyReason::TenantNotAllowed)
    );
}

#[test]
fn tenant_is_checked_before_email() {
    let r = rules(
        TenantRule::Only(vec![CONTOSO_TID.to_owned()]),
        &["contoso.com"],
    );
    assert_eq!(
        authorize(&r, &who(FABRIKAM_TID, None)),
        Decision::Deny(DenyReason::TenantNotAllowed)
    );
    assert_eq!(
        authorize(&r, &who(CONTOSO_TID, Some("alice@contoso.com"))),
        Decision::Allow
    );
}

#[test]
fn email_domains_exact_match_ignoring_case_and_trailing_dot() {
    let r = rules(TenantRule::Any, &["contoso.com", "fabrikam.com"]);
    for ok in [
        "alice@contoso.com",
        "alice@CONTOSO.COM",
        "Alice@Contoso.Com",
        "bob@fabrikam.com",
        "alice@contoso.com.",
        "a.b+tag@contoso.com",
    ] {
        assert_eq!(
            authorize(&r, &who(CONTOSO_TID, Some(ok))),
            Decision::Allow,
            "{ok}"
        );
    }
    for bad in [
        "a@b@contoso.com",
        "alice@contoso.com@evil.com",
        "alice@contoso.com.evil.com",
        "alice@eu.contoso.com",
        "alice@evilcontoso.com",
        "@contoso.com",
        "contoso.com",
        "alice@",
        "alice@.",
        "alice@contoso.com..",
        "alice@contoso.com ",
        " alice@contoso.com\n",
        "alice@contoso.co",
        "alice@contoso\u{0}.com",
    ] {
        assert_eq!(
            authorize(&r, &who(CONTOSO_TID, Some(bad))),
            Decision::Deny(DenyReason::EmailDomainNotAllowed),
            "{bad:?}"
        );
    }
}

#[test]
fn missing_email_is_its_own_reason_and_preferred_username_is_never_used() {
    let r = rules(TenantRule::Any, &["contoso.com"]);
    // preferred_username is alice@contoso.com in `who`, and must not count.
    assert_eq!(
        authorize(&r, &who(CONTOSO_TID, None)),
        Decision::Deny(DenyReason::EmailMissing)
    );
    assert_eq!(
        authorize(&r, &who(CONTOSO_TID, Some(""))),
        Decision::Deny(DenyReason::EmailMissing)
    );
}

#[test]
fn no_domain_rule_admits_any_email_or_none() {
    let r = rules(TenantRule::Any, &[]);
    assert_eq!(authorize(&r, &who(CONTOSO_TID, None)), Decision::Allow);
    assert_eq!(
        authorize(&r, &who(CONTOSO_TID, Some("x@anything.example"))),
        Decision::Allow
    );
}

#[test]
fn deny_reason_codes_and_messages() {
    let all = [
        DenyReason::TenantNotAllowed,
        DenyReason::EmailDomainNotAllowed,
        DenyReason::EmailMissing,
    ];
    let codes: Vec<_> = all.iter().map(|r| r.code()).collect();
    assert_eq!(
        codes,
        [
            "tenant_not_allowed",
            "email_domain_not_allowed",
            "email_missing"
        ]
    );
    for r in all {
        let msg = r.user_message();
        assert!(msg.ends_with('.'), "{msg}");
        assert!(!msg.contains("contoso"), "{msg}");
        assert!(!msg.contains('{'), "{msg}");
    }
    assert_eq!(
        DenyReason::TenantNotAllowed.user_message(),
        "Your organisation's accounts are not allowed to use this application."
    );
    assert_eq!(
        DenyReason::EmailMissing.user_message(),
        "Your account has no email address, and this application only admits certain email \
         domains."
    );
}
