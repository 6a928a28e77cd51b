#![allow(clippy::unwrap_used)]

use http::Method;
use rand::{Rng, SeedableRng};

use super::*;
use crate::config::{AuthorizationConfig, PathMatcher, RouteAction, RouteConfig};
use crate::policy::Policy;

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

// ---- match_view ----

#[test]
fn match_view_drops_path_parameters_per_segment() {
    for (path, want) in [
        ("/admin", "/admin"),
        ("/admin;x", "/admin"),
        ("/admin;jsessionid=1/x", "/admin/x"),
        ("/a;x/b;y", "/a/b"),
        ("/;x/admin", "/admin"),
        ("/admin/;x", "/admin/"),
        ("/admin;x/", "/admin/"),
        ("/;x", "/"),
        ("/;", "/"),
        ("/a/;x/b", "/a/b"),
        ("/a%3Bb", "/a%3Bb"),
    ] {
        assert_eq!(match_view(path), want, "{path:?}");
    }
    assert!(matches!(match_view("/plain/path"), Cow::Borrowed(_)));
}

// ---- the bypass corpus ----

/// `/admin` (exact) and `/admin/` (prefix) denied, `/public/` public, everything else protected
/// by the defaults.
fn bypass_policy() -> Policy {
    let route = |matcher, action| RouteConfig {
        matcher,
        methods: Vec::new(),
        action,
        required_scopes: Vec::new(),
        required_roles: Vec::new(),
    };
    Policy::new(
        &AuthorizationConfig::default(),
        &[
            route(PathMatcher::Exact("/admin".into()), RouteAction::Deny),
            route(PathMatcher::Prefix("/admin/".into()), RouteAction::Deny),
            route(PathMatcher::Prefix("/public/".into()), RouteAction::Public),
        ],
        false,
    )
}

/// What entrance does with a raw request target: `None` when it is refused (hyper could not
/// parse it, or [`normalize_path`] refuses it), else the label of the route it lands on.
fn land(policy: &Policy, method: &Method, raw: &str) -> Option<String> {
    // The request line as hyper would hand it over: the path without query or fragment.
    let uri: http::Uri = raw.parse().ok()?;
    let path = normalize_path(uri.path()).ok()?;
    Some(policy.route(method, &path).label())
}

#[test]
fn no_path_trick_escapes_a_deny_route() {
    let policy = bypass_policy();
    // Every one of these could be read as /admin (or below it) by some upstream: nginx, Node,
    // Go, Tomcat/Spring (path parameters), or anything that decodes before routing.
    let tricks = [
        "/admin",
        "/./admin",
        "//admin",
        "///admin",
        "/x/../admin",
        "/../admin",
        "/a/b/../../admin",
        "/%2e/admin",
        "/%2e%2e/admin",
        "/%2E%2E/admin",
        "/.%2e/admin",
        "/%2e./admin",
        "/admin/",
        "/admin/.",
        "/admin/./",
        "/admin//",
        "/admin/%2e",
        "/admin/x/..",
        "/admin/x/../",
        "/admin/%2e%2e/admin",
        "//admin//x",
        "/admin%2f",
        "/admin%2F",
        "/%2fadmin",
        "/adm%69n",
        "/%61dmin",
        "/%61%64%6d%69%6e",
        "/%61%64%6D%69%6E/x",
        "/admin;x",
        "/admin;jsessionid=123",
        "/admin;/x",
        "/admin/;x",
        "/;/admin",
        "/;x/admin",
        "/admin/..;/admin",
        "/admin%00",
        "/admin%09",
        "/admin%0a",
        "/admin%0d%0a",
        "/admin\\",
        "/admin?x",
        "/admin?/public/",
        "/admin#x",
        "/public/../admin",
        "/public/./../admin",
        "/public//../admin",
        "/public/%2e%2e/admin",
        "/public/.%2e/admin",
        "/public/%2e%2e%2fadmin",
        "/public%2f..%2fadmin",
        "/public/..%2fadmin",
        "/public/..%5cadmin",
        "/public/..\\admin",
        "/public/..;/admin",
        "/public/%2e%2e;/admin",
        "/public;x/../admin",
        "/public/x/../../admin",
        "/%2e%2e%2fadmin",
    ];
    assert!(tricks.len() >= 40);
    for raw in tricks {
        if let Some(label) = land(&policy, &Method::GET, raw) {
            assert!(
                label == "routes[0]" || label == "routes[1]",
                "{raw:?} escaped the deny routes to {label}"
            );
        }
    }
    // And the plain spellings really are denied, not refused for some other reason.
    for raw in [
        "/admin",
        "/admin/",
        "/./admin",
        "/adm%69n",
        "/admin;x",
        "/public/../admin",
    ] {
        assert!(
            land(&policy, &Method::GET, raw).is_some(),
            "{raw:?} was refused"
        );
    }
}

#[test]
fn paths_entrance_reads_differently_from_admin_stay_protected_never_public() {
    let policy = bypass_policy();
    // Documented differences (config.example.yaml): matching is case-sensitive, and these name
    // other resources to any upstream entrance supports. They must not become public.
    for raw in [
        "/ADMIN",
        "/Admin",
        "/ADMIN/x",
        "/admin.",
        "/admin%20",
        "/admin%23",
        "/admin%3B",
        "/admin..;/",
        "/administrator",
        "/admin-panel",
        "/public",
        "/publicx/../admin/../x",
    ] {
        let label = land(&policy, &Method::GET, raw);
        assert_ne!(label.as_deref(), Some("routes[2]"), "{raw:?} became public");
    }
    assert_eq!(
        land(&policy, &Method::GET, "/ADMIN").as_deref(),
        Some("default")
    );
}

#[test]
fn no_trick_reaches_the_public_route_from_outside_it() {
    let policy = bypass_policy();
    for raw in [
        "/public",
        "/publicx/",
        "/x/public/",
        "/%70ublic/../secret",
        "/public/../secret",
        "/public/%2e%2e/secret",
        "/public;x/../secret",
    ] {
        let label = land(&policy, &Method::GET, raw);
        assert_ne!(label.as_deref(), Some("routes[2]"), "{raw:?} became public");
    }
    for raw in [
        "/public/",
        "/public/x",
        "/%70ublic/x",
        "/public;x/y",
        "/public/./x",
    ] {
        assert_eq!(
            land(&policy, &Method::GET, raw).as_deref(),
            Some("routes[2]"),
            "{raw:?}"
        );
    }
}
