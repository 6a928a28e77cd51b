#![allow(clippy::unwrap_used)]

use super::*;
use crate::config::{DomainRule, GroupsSource};
use crate::identity::ApiCaller;

const CONTOSO_TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const FABRIKAM_TID: &str = "2b1f0a1c-3d4e-4f5a-8b6c-7d8e9f0a1b2c";
const MSA_TID: &str = crate::config::PERSONAL_ACCOUNTS_TENANT;
const ADMINS: &str = "aaaaaaaa-0000-0000-0000-000000000001";

fn route(matcher: PathMatcher, action: RouteAction) -> RouteConfig {
    RouteConfig {
        matcher,
        methods: Vec::new(),
        action,
        required_scopes: Vec::new(),
        required_roles: Vec::new(),
    }
}

fn exact(path: &str) -> PathMatcher {
    PathMatcher::Exact(path.to_owned())
}

fn prefix(path: &str) -> PathMatcher {
    PathMatcher::Prefix(path.to_owned())
}

fn regex(pattern: &str) -> PathMatcher {
    PathMatcher::Regex(regex::Regex::new(pattern).unwrap())
}

fn protect(mode: RulesMode, rules: Rules) -> RouteAction {
    RouteAction::Protect { mode, rules }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn defaults(tenants: TenantRule) -> AuthorizationConfig {
    AuthorizationConfig {
        rules: Rules {
            allowed_tenants: tenants,
            ..Rules::default()
        },
        groups_source: GroupsSource::Claim,
    }
}

fn contoso_only() -> AuthorizationConfig {
    defaults(TenantRule::Only(strings(&[CONTOSO_TID])))
}

fn who(tid: &str) -> Identity {
    Identity {
        oid: "00000000-0000-0000-0000-000000000001".to_owned(),
        tid: tid.to_owned(),
        sub: "sub".to_owned(),
        name: Some("Alice".to_owned()),
        preferred_username: Some("alice@contoso.com".to_owned()),
        email: Some("alice@contoso.com".to_owned()),
        groups: Vec::new(),
        roles: Vec::new(),
        caller: None,
    }
}

fn bearer(tid: &str, scopes: &[&str], roles: &[&str]) -> Identity {
    Identity {
        roles: strings(roles),
        caller: Some(ApiCaller {
            client_id: "client-app".to_owned(),
            scopes: strings(scopes),
            app_only: false,
        }),
        ..who(tid)
    }
}

fn app_only(tid: &str, roles: &[&str]) -> Identity {
    Identity {
        email: None,
        preferred_username: None,
        roles: strings(roles),
        caller: Some(ApiCaller {
            client_id: "daemon".to_owned(),
            scopes: Vec::new(),
            app_only: true,
        }),
        ..who(tid)
    }
}

/// The label of the route `method path` lands on.
fn on(policy: &Policy, method: &str, path: &str) -> String {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    policy.route(&method, path).label()
}

/// Decide `GET path` for `who`.
fn decide(policy: &Policy, path: &str, who: Option<&Identity>) -> Verdict {
    policy.decide(&policy.route(&Method::GET, path), who, None)
}

// ---- route matching ----

#[test]
fn exact_prefix_and_regex_routes_match_what_they_say() {
    let policy = Policy::new(
        &contoso_only(),
        &[
            route(prefix("/static/"), RouteAction::Public),
            route(exact("/healthz"), RouteAction::Public),
            route(regex("^/api/v[0-9]+/admin(/|$)"), RouteAction::Deny),
        ],
        false,
    );
    for (path, want) in [
        ("/static/", "routes[0]"),
        ("/static/app.js", "routes[0]"),
        ("/static/a/b/c", "routes[0]"),
        ("/static", "default"),
        ("/staticx/app.js", "default"),
        ("/healthz", "routes[1]"),
        ("/healthz/", "default"),
        ("/healthzz", "default"),
        ("/healthz/x", "default"),
        ("/api/v1/admin", "routes[2]"),
        ("/api/v22/admin/users", "routes[2]"),
        ("/api/v1/administrator", "default"),
        ("/api/vx/admin", "default"),
        ("/x/api/v1/admin", "default"),
        ("/", "default"),
    ] {
        assert_eq!(on(&policy, "GET", path), want, "{path}");
    }
}

#[test]
fn methods_restrict_a_route_get_covers_head_and_case_is_ignored() {
    let mut write = route(prefix("/items/"), RouteAction::Deny);
    write.methods = vec![Method::POST, Method::DELETE];
    let mut read = route(prefix("/items/"), RouteAction::Public);
    read.methods = vec![Method::GET];
    let policy = Policy::new(&contoso_only(), &[write, read], false);
    assert_eq!(on(&policy, "POST", "/items/1"), "routes[0]");
    assert_eq!(on(&policy, "DELETE", "/items/1"), "routes[0]");
    assert_eq!(on(&policy, "delete", "/items/1"), "routes[0]");
    assert_eq!(on(&policy, "GET", "/items/1"), "routes[1]");
    assert_eq!(on(&policy, "HEAD", "/items/1"), "routes[1]");
    assert_eq!(on(&policy, "get", "/items/1"), "routes[1]");
    assert_eq!(on(&policy, "PUT", "/items/1"), "default");
    assert_eq!(on(&policy, "PATCH", "/items/1"), "default");
}

#[test]
fn a_get_only_deny_route_is_not_escaped_with_head() {
    let mut deny = route(exact("/export"), RouteAction::Deny);
    deny.methods = vec![Method::GET];
    let policy = Policy::new(&contoso_only(), &[deny], false);
    assert_eq!(
        policy.decide(&policy.route(&Method::HEAD, "/export"), None, None),
        Verdict::Deny(DenyReason::RouteDenied)
    );
}

#[test]
fn the_first_matching_route_wins() {
    let policy = Policy::new(
        &contoso_only(),
        &[
            route(
                prefix("/public/secret/"),
                protect(RulesMode::Add, Rules::default()),
            ),
            route(prefix("/public/"), RouteAction::Public),
            route(prefix("/public/other/"), RouteAction::Deny),
        ],
        false,
    );
    assert_eq!(on(&policy, "GET", "/public/secret/x"), "routes[0]");
    assert_eq!(on(&policy, "GET", "/public/other/x"), "routes[1]");
    assert_eq!(on(&policy, "GET", "/public/x"), "routes[1]");

    let reversed = Policy::new(
        &contoso_only(),
        &[
            route(prefix("/"), RouteAction::Public),
            route(prefix("/admin/"), RouteAction::Deny),
        ],
        false,
    );
    assert!(reversed.route(&Method::GET, "/admin/x").is_public());
}

#[test]
fn path_parameters_do_not_escape_a_route() {
    let policy = Policy::new(
        &contoso_only(),
        &[route(exact("/admin"), RouteAction::Deny)],
        false,
    );
    for path in ["/admin;x", "/admin;jsessionid=1", "/;x/admin"] {
        assert_eq!(on(&policy, "GET", path), "routes[0]", "{path}");
    }
}

#[test]
fn route_labels_and_indexes() {
    let policy = Policy::new(
        &contoso_only(),
        &[route(exact("/a"), RouteAction::Public)],
        false,
    );
    let a = policy.route(&Method::GET, "/a");
    assert_eq!(
        (a.index(), a.label(), a.is_public()),
        (Some(0), "routes[0]".into(), true)
    );
    let other = policy.route(&Method::GET, "/b");
    assert_eq!(
        (other.index(), other.label(), other.is_public()),
        (None, "default".into(), false)
    );
}

// ---- actions ----

#[test]
fn public_routes_allow_everyone_deny_routes_nobody_and_protected_ones_ask_to_sign_in() {
    let policy = Policy::new(
        &contoso_only(),
        &[
            route(prefix("/public/"), RouteAction::Public),
            route(prefix("/closed/"), RouteAction::Deny),
        ],
        false,
    );
    let alice = who(CONTOSO_TID);
    let carol = who(FABRIKAM_TID);
    assert_eq!(decide(&policy, "/public/x", None), Verdict::Allow);
    assert_eq!(decide(&policy, "/public/x", Some(&carol)), Verdict::Allow);
    let denied = Verdict::Deny(DenyReason::RouteDenied);
    assert_eq!(decide(&policy, "/closed/x", None), denied);
    assert_eq!(decide(&policy, "/closed/x", Some(&alice)), denied);
    assert_eq!(decide(&policy, "/app", None), Verdict::SignIn);
    assert_eq!(decide(&policy, "/app", Some(&alice)), Verdict::Allow);
    assert_eq!(
        decide(&policy, "/app", Some(&carol)),
        Verdict::Deny(DenyReason::TenantNotAllowed)
    );
}

#[test]
fn add_mode_applies_the_defaults_and_the_route_rules() {
    let admins = Rules {
        allowed_groups: strings(&[ADMINS]),
        ..Rules::default()
    };
    let policy = Policy::new(
        &contoso_only(),
        &[route(prefix("/admin/"), protect(RulesMode::Add, admins))],
        false,
    );
    let mut alice = who(CONTOSO_TID);
    assert_eq!(
        decide(&policy, "/admin/x", Some(&alice)),
        Verdict::Deny(DenyReason::GroupRequired)
    );
    alice.groups = strings(&[ADMINS]);
    assert_eq!(decide(&policy, "/admin/x", Some(&alice)), Verdict::Allow);
    let mut carol = who(FABRIKAM_TID);
    carol.groups = strings(&[ADMINS]);
    assert_eq!(
        decide(&policy, "/admin/x", Some(&carol)),
        Verdict::Deny(DenyReason::TenantNotAllowed)
    );
    assert_eq!(decide(&policy, "/admin/x", None), Verdict::SignIn);
}

#[test]
fn replace_mode_drops_the_default_rules_but_keeps_the_default_tenant_unless_it_names_tenants() {
    let mut config = contoso_only();
    config.rules.allowed_email_domains = vec![DomainRule::Exact("contoso.com".into())];
    let partners = Rules {
        allowed_roles: strings(&["Partner"]),
        ..Rules::default()
    };
    let guests = Rules {
        allowed_tenants: TenantRule::Any { personal: true },
        ..Rules::default()
    };
    let policy = Policy::new(
        &config,
        &[
            route(prefix("/partners/"), protect(RulesMode::Replace, partners)),
            route(prefix("/guests/"), protect(RulesMode::Replace, guests)),
        ],
        false,
    );
    // The default email domain rule is gone on /partners/, the role rule applies.
    let mut partner = who(CONTOSO_TID);
    partner.email = Some("pat@partner.example".to_owned());
    assert_eq!(
        decide(&policy, "/app", Some(&partner)),
        Verdict::Deny(DenyReason::EmailDomainNotAllowed)
    );
    assert_eq!(
        decide(&policy, "/partners/x", Some(&partner)),
        Verdict::Deny(DenyReason::RoleRequired)
    );
    partner.roles = strings(&["Partner"]);
    assert_eq!(
        decide(&policy, "/partners/x", Some(&partner)),
        Verdict::Allow
    );
    // The default tenant rule still holds there: another tenant's "Partner" is not ours.
    let mut foreign = partner.clone();
    foreign.tid = FABRIKAM_TID.to_owned();
    assert_eq!(
        decide(&policy, "/partners/x", Some(&foreign)),
        Verdict::Deny(DenyReason::TenantNotAllowed)
    );
    // A replacing route that names tenants uses its own.
    assert_eq!(decide(&policy, "/guests/x", Some(&foreign)), Verdict::Allow);
    assert_eq!(
        decide(&policy, "/guests/x", Some(&who(MSA_TID))),
        Verdict::Allow
    );
    assert_eq!(
        decide(&policy, "/app", Some(&who(MSA_TID))),
        Verdict::Deny(DenyReason::PersonalAccountNotAllowed)
    );
}

#[test]
fn extra_rules_are_always_added() {
    let policy = Policy::new(
        &contoso_only(),
        &[route(prefix("/public/"), RouteAction::Public)],
        false,
    );
    let extra = Rules {
        allowed_groups: strings(&[ADMINS]),
        ..Rules::default()
    };
    let route = policy.route(&Method::GET, "/app");
    let mut alice = who(CONTOSO_TID);
    assert_eq!(
        policy.decide(&route, Some(&alice), Some(&extra)),
        Verdict::Deny(DenyReason::GroupRequired)
    );
    alice.groups = strings(&[ADMINS]);
    assert_eq!(
        policy.decide(&route, Some(&alice), Some(&extra)),
        Verdict::Allow
    );
    assert_eq!(policy.decide(&route, None, Some(&extra)), Verdict::SignIn);
    // Extra rules narrow; they never widen the defaults.
    let every_tenant = Rules {
        allowed_tenants: TenantRule::Any { personal: true },
        ..Rules::default()
    };
    assert_eq!(
        policy.decide(&route, Some(&who(FABRIKAM_TID)), Some(&every_tenant)),
        Verdict::Deny(DenyReason::TenantNotAllowed)
    );
    let query_tenant = Rules {
        allowed_tenants: TenantRule::Only(strings(&[FABRIKAM_TID])),
        ..Rules::default()
    };
    assert_eq!(
        policy.decide(&route, Some(&who(CONTOSO_TID)), Some(&query_tenant)),
        Verdict::Deny(DenyReason::TenantNotAllowed)
    );
}

// ---- personal accounts at the policy level ----

#[test]
fn personal_accounts_need_their_tenant_listed_or_a_consumers_authority() {
    let msa = who(MSA_TID);
    let star = defaults(TenantRule::Any { personal: false });
    let star_msa = defaults(TenantRule::Any { personal: true });
    let unrestricted = defaults(TenantRule::Unrestricted);
    let listed = defaults(TenantRule::Only(strings(&[CONTOSO_TID, MSA_TID])));
    let refused = Verdict::Deny(DenyReason::PersonalAccountNotAllowed);
    for (config, consumers, want) in [
        (&star, false, refused),
        (&star, true, Verdict::Allow),
        (&star_msa, false, Verdict::Allow),
        (&unrestricted, false, refused),
        (&unrestricted, true, Verdict::Allow),
        (&listed, false, Verdict::Allow),
        (&contoso_only(), false, refused),
    ] {
        let policy = Policy::new(config, &[], consumers);
        assert_eq!(
            decide(&policy, "/", Some(&msa)),
            want,
            "{config:?} {consumers}"
        );
    }
}

// ---- bearer callers ----

#[test]
fn required_scopes_apply_to_bearer_callers_only_and_need_all_of_them() {
    let mut api = route(prefix("/api/"), protect(RulesMode::Add, Rules::default()));
    api.required_scopes = strings(&["Files.Read", "Files.Write"]);
    let policy = Policy::new(&contoso_only(), &[api], false);
    let scope = Verdict::Deny(DenyReason::ScopeRequired);
    assert_eq!(
        decide(
            &policy,
            "/api/x",
            Some(&bearer(CONTOSO_TID, &["Files.Read"], &[]))
        ),
        scope
    );
    assert_eq!(
        decide(
            &policy,
            "/api/x",
            Some(&bearer(CONTOSO_TID, &["files.read", "files.write"], &[]))
        ),
        scope
    );
    assert_eq!(
        decide(
            &policy,
            "/api/x",
            Some(&bearer(
                CONTOSO_TID,
                &["Files.Write", "Files.Read", "User.Read"],
                &[]
            ))
        ),
        Verdict::Allow
    );
    // App-only callers have no delegated scopes.
    assert_eq!(
        decide(
            &policy,
            "/api/x",
            Some(&app_only(CONTOSO_TID, &["Files.Read"]))
        ),
        scope
    );
    // A browser session is not asked for scopes.
    assert_eq!(
        decide(&policy, "/api/x", Some(&who(CONTOSO_TID))),
        Verdict::Allow
    );
    // The tenant still comes first.
    assert_eq!(
        decide(
            &policy,
            "/api/x",
            Some(&bearer(FABRIKAM_TID, &["Files.Read", "Files.Write"], &[]))
        ),
        Verdict::Deny(DenyReason::TenantNotAllowed)
    );
}

#[test]
fn required_roles_need_all_of_them_for_every_kind_of_caller() {
    let mut jobs = route(prefix("/jobs/"), protect(RulesMode::Add, Rules::default()));
    jobs.required_roles = strings(&["Jobs.Run", "Jobs.Read"]);
    let policy = Policy::new(&contoso_only(), &[jobs], false);
    let role = Verdict::Deny(DenyReason::RoleRequired);
    for caller in [
        app_only(CONTOSO_TID, &["Jobs.Run"]),
        bearer(CONTOSO_TID, &[], &["Jobs.Read"]),
        Identity {
            roles: strings(&["jobs.run", "jobs.read"]),
            ..who(CONTOSO_TID)
        },
    ] {
        assert_eq!(
            decide(&policy, "/jobs/1", Some(&caller)),
            role,
            "{caller:?}"
        );
    }
    for caller in [
        app_only(CONTOSO_TID, &["Jobs.Read", "Jobs.Run"]),
        bearer(CONTOSO_TID, &[], &["Jobs.Run", "Jobs.Read", "Other"]),
        Identity {
            roles: strings(&["Jobs.Run", "Jobs.Read"]),
            ..who(CONTOSO_TID)
        },
    ] {
        assert_eq!(
            decide(&policy, "/jobs/1", Some(&caller)),
            Verdict::Allow,
            "{caller:?}"
        );
    }
}

#[test]
fn app_only_callers_are_refused_where_rules_name_users_and_admitted_where_they_do_not() {
    let users = Rules {
        allowed_groups: strings(&[ADMINS]),
        ..Rules::default()
    };
    let mut machines = route(
        prefix("/machines/"),
        protect(RulesMode::Add, Rules::default()),
    );
    machines.required_roles = strings(&["Jobs.Run"]);
    let policy = Policy::new(
        &contoso_only(),
        &[
            route(prefix("/people/"), protect(RulesMode::Add, users)),
            machines,
        ],
        false,
    );
    let daemon = app_only(CONTOSO_TID, &["Jobs.Run"]);
    assert_eq!(
        decide(&policy, "/people/x", Some(&daemon)),
        Verdict::Deny(DenyReason::UserRequired)
    );
    assert_eq!(
        decide(&policy, "/machines/x", Some(&daemon)),
        Verdict::Allow
    );
    assert_eq!(decide(&policy, "/other", Some(&daemon)), Verdict::Allow);
}
