#![allow(clippy::unwrap_used)]

use super::*;
use crate::identity::ApiCaller;

const CONTOSO_TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const FABRIKAM_TID: &str = "2b1f0a1c-3d4e-4f5a-8b6c-7d8e9f0a1b2c";
const MSA_TID: &str = PERSONAL_ACCOUNTS_TENANT;
const ALICE_OID: &str = "00000000-0000-0000-0000-0000000000a1";
const GROUP_A: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const GROUP_B: &str = "bbbbbbbb-0000-0000-0000-000000000002";

fn who(tid: &str, email: Option<&str>) -> Identity {
    Identity {
        oid: ALICE_OID.to_owned(),
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

fn app_only() -> Identity {
    Identity {
        oid: "5e5e5e5e-0000-0000-0000-000000000001".to_owned(),
        email: None,
        preferred_username: None,
        name: None,
        caller: Some(ApiCaller {
            client_id: "client-app".to_owned(),
            scopes: Vec::new(),
            app_only: true,
        }),
        ..who(CONTOSO_TID, None)
    }
}

fn only(tenants: &[&str]) -> TenantRule {
    TenantRule::Only(tenants.iter().map(|t| (*t).to_owned()).collect())
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn domains(items: &[&str]) -> Vec<DomainRule> {
    items.iter().map(|d| domain_rule(d).unwrap()).collect()
}

fn primary(rules: &Rules, who: &Identity) -> Result<(), DenyReason> {
    check(rules, who, false, TenantGate::Primary)
}

// ---- tenants ----

#[test]
fn unrestricted_admits_work_accounts_and_refuses_personal_ones_unless_consumers() {
    let r = TenantRule::Unrestricted;
    let gate = TenantGate::Primary;
    assert_eq!(check_tenant(&r, CONTOSO_TID, false, gate), Ok(()));
    assert_eq!(
        check_tenant(&r, MSA_TID, false, gate),
        Err(DenyReason::PersonalAccountNotAllowed)
    );
    assert_eq!(check_tenant(&r, MSA_TID, true, gate), Ok(()));
    // A consumers authority signs in personal accounts only.
    assert_eq!(
        check_tenant(&r, CONTOSO_TID, true, gate),
        Err(DenyReason::TenantNotAllowed)
    );
}

#[test]
fn star_admits_every_work_tenant_but_personal_accounts_only_when_listed_or_consumers() {
    let gate = TenantGate::Primary;
    let star = TenantRule::Any { personal: false };
    assert_eq!(check_tenant(&star, CONTOSO_TID, false, gate), Ok(()));
    assert_eq!(check_tenant(&star, FABRIKAM_TID, false, gate), Ok(()));
    assert_eq!(
        check_tenant(&star, MSA_TID, false, gate),
        Err(DenyReason::PersonalAccountNotAllowed)
    );
    assert_eq!(
        check_tenant(&star, &MSA_TID.to_uppercase(), false, gate),
        Err(DenyReason::PersonalAccountNotAllowed)
    );
    assert_eq!(check_tenant(&star, MSA_TID, true, gate), Ok(()));
    let star_and_msa = TenantRule::Any { personal: true };
    assert_eq!(check_tenant(&star_and_msa, MSA_TID, false, gate), Ok(()));
    assert_eq!(
        check_tenant(&star_and_msa, FABRIKAM_TID, false, gate),
        Ok(())
    );
}

#[test]
fn a_tenant_list_admits_members_only_ignoring_case() {
    let gate = TenantGate::Primary;
    let r = only(&[CONTOSO_TID]);
    assert_eq!(check_tenant(&r, CONTOSO_TID, false, gate), Ok(()));
    assert_eq!(
        check_tenant(&r, &CONTOSO_TID.to_uppercase(), false, gate),
        Ok(())
    );
    for tid in [
        FABRIKAM_TID,
        "",
        " 72f988bf-86f1-41af-91ab-2d7cd011db47",
        "72f988bf",
    ] {
        assert_eq!(
            check_tenant(&r, tid, false, gate),
            Err(DenyReason::TenantNotAllowed),
            "{tid:?}"
        );
    }
    assert_eq!(
        check_tenant(&r, MSA_TID, false, gate),
        Err(DenyReason::PersonalAccountNotAllowed)
    );
    assert_eq!(check_tenant(&r, MSA_TID, true, gate), Ok(()));
    assert_eq!(
        check_tenant(&only(&[CONTOSO_TID, MSA_TID]), MSA_TID, false, gate),
        Ok(())
    );
    assert_eq!(
        check_tenant(&TenantRule::Only(Vec::new()), CONTOSO_TID, false, gate),
        Err(DenyReason::TenantNotAllowed)
    );
}

#[test]
fn a_narrowing_tenant_rule_that_says_nothing_admits_everyone() {
    let gate = TenantGate::Narrowing;
    for tid in [CONTOSO_TID, MSA_TID, ""] {
        assert_eq!(
            check_tenant(&TenantRule::Unrestricted, tid, false, gate),
            Ok(())
        );
    }
    assert_eq!(
        check_tenant(&only(&[CONTOSO_TID]), FABRIKAM_TID, false, gate),
        Err(DenyReason::TenantNotAllowed)
    );
}

#[test]
fn tenant_is_checked_before_everything_else() {
    let r = Rules {
        allowed_tenants: only(&[CONTOSO_TID]),
        allowed_email_domains: domains(&["contoso.com"]),
        allowed_groups: strings(&[GROUP_A]),
        ..Rules::default()
    };
    assert_eq!(
        primary(&r, &who(FABRIKAM_TID, None)),
        Err(DenyReason::TenantNotAllowed)
    );
}

// ---- email domains and emails ----

#[test]
fn exact_email_domains_match_ignoring_case_and_one_trailing_dot() {
    let r = Rules {
        allowed_email_domains: domains(&["contoso.com", "fabrikam.com"]),
        ..Rules::default()
    };
    for ok in [
        "alice@contoso.com",
        "alice@CONTOSO.COM",
        "Alice@Contoso.Com",
        "bob@fabrikam.com",
        "alice@contoso.com.",
        "a.b+tag@contoso.com",
    ] {
        assert_eq!(primary(&r, &who(CONTOSO_TID, Some(ok))), Ok(()), "{ok}");
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
        "alice@cöntoso.com",
    ] {
        assert_eq!(
            primary(&r, &who(CONTOSO_TID, Some(bad))),
            Err(DenyReason::EmailDomainNotAllowed),
            "{bad:?}"
        );
    }
}

#[test]
fn wildcard_email_domains_match_any_subdomain_but_not_the_apex() {
    let r = Rules {
        allowed_email_domains: domains(&["*.contoso.com"]),
        ..Rules::default()
    };
    for ok in [
        "a@eu.contoso.com",
        "a@EU.Contoso.COM",
        "a@a.b.contoso.com",
        "a@eu.contoso.com.",
    ] {
        assert_eq!(primary(&r, &who(CONTOSO_TID, Some(ok))), Ok(()), "{ok}");
    }
    for bad in [
        "a@contoso.com",
        "a@.contoso.com",
        "a@eu..contoso.com",
        "a@evilcontoso.com",
        "a@eu.contoso.com.evil.com",
        "a@xcontoso.com",
        "a@é.contoso.com.x",
        "a@écontoso.com",
        "a@",
    ] {
        assert_eq!(
            primary(&r, &who(CONTOSO_TID, Some(bad))),
            Err(DenyReason::EmailDomainNotAllowed),
            "{bad:?}"
        );
    }
}

#[test]
fn allowed_emails_match_exactly_ignoring_case() {
    let r = Rules {
        allowed_emails: strings(&["alice@contoso.com"]),
        ..Rules::default()
    };
    for ok in ["alice@contoso.com", "ALICE@Contoso.com"] {
        assert_eq!(primary(&r, &who(CONTOSO_TID, Some(ok))), Ok(()), "{ok}");
    }
    for bad in [
        "bob@contoso.com",
        "alice@contoso.com.",
        "alice@contoso.com ",
        "alice@contoso.com@x",
        "alice@eu.contoso.com",
        "xalice@contoso.com",
    ] {
        assert_eq!(
            primary(&r, &who(CONTOSO_TID, Some(bad))),
            Err(DenyReason::EmailNotAllowed),
            "{bad:?}"
        );
    }
}

#[test]
fn a_missing_email_is_its_own_reason_and_preferred_username_never_counts() {
    for r in [
        Rules {
            allowed_email_domains: domains(&["contoso.com"]),
            ..Rules::default()
        },
        Rules {
            allowed_emails: strings(&["alice@contoso.com"]),
            ..Rules::default()
        },
    ] {
        // preferred_username is alice@contoso.com in `who`, and must not count.
        assert_eq!(
            primary(&r, &who(CONTOSO_TID, None)),
            Err(DenyReason::EmailMissing)
        );
        assert_eq!(
            primary(&r, &who(CONTOSO_TID, Some(""))),
            Err(DenyReason::EmailMissing)
        );
    }
}

// ---- users, groups, roles ----

#[test]
fn allowed_users_match_the_oid_ignoring_case() {
    let r = Rules {
        allowed_users: strings(&[ALICE_OID]),
        ..Rules::default()
    };
    let mut alice = who(CONTOSO_TID, None);
    assert_eq!(primary(&r, &alice), Ok(()));
    alice.oid = ALICE_OID.to_uppercase();
    assert_eq!(primary(&r, &alice), Ok(()));
    alice.oid = "00000000-0000-0000-0000-0000000000b2".to_owned();
    assert_eq!(primary(&r, &alice), Err(DenyReason::UserNotAllowed));
    // The sub is not the oid.
    alice.sub = ALICE_OID.to_owned();
    assert_eq!(primary(&r, &alice), Err(DenyReason::UserNotAllowed));
}

#[test]
fn allowed_groups_need_any_one_of_them() {
    let r = Rules {
        allowed_groups: strings(&[GROUP_A, GROUP_B]),
        ..Rules::default()
    };
    let mut alice = who(CONTOSO_TID, None);
    assert_eq!(primary(&r, &alice), Err(DenyReason::GroupRequired));
    alice.groups = strings(&["cccccccc-0000-0000-0000-000000000003"]);
    assert_eq!(primary(&r, &alice), Err(DenyReason::GroupRequired));
    alice.groups.push(GROUP_B.to_uppercase());
    assert_eq!(primary(&r, &alice), Ok(()));
}

#[test]
fn allowed_roles_need_any_one_of_them_case_sensitively() {
    let r = Rules {
        allowed_roles: strings(&["Admin", "Writer"]),
        ..Rules::default()
    };
    let mut alice = who(CONTOSO_TID, None);
    assert_eq!(primary(&r, &alice), Err(DenyReason::RoleRequired));
    alice.roles = strings(&["admin", "ADMIN", "Reader"]);
    assert_eq!(primary(&r, &alice), Err(DenyReason::RoleRequired));
    alice.roles.push("Writer".to_owned());
    assert_eq!(primary(&r, &alice), Ok(()));
}

#[test]
fn any_of_within_a_list_all_of_across_lists() {
    let r = Rules {
        allowed_tenants: only(&[CONTOSO_TID, FABRIKAM_TID]),
        allowed_email_domains: domains(&["contoso.com", "*.fabrikam.com"]),
        allowed_groups: strings(&[GROUP_A, GROUP_B]),
        allowed_roles: strings(&["Admin", "Reader"]),
        ..Rules::default()
    };
    let mut alice = who(FABRIKAM_TID, Some("alice@eu.fabrikam.com"));
    alice.groups = strings(&[GROUP_B]);
    alice.roles = strings(&["Reader"]);
    assert_eq!(primary(&r, &alice), Ok(()));

    let mut no_role = alice.clone();
    no_role.roles.clear();
    assert_eq!(primary(&r, &no_role), Err(DenyReason::RoleRequired));
    let mut no_group = alice.clone();
    no_group.groups.clear();
    assert_eq!(primary(&r, &no_group), Err(DenyReason::GroupRequired));
    let mut wrong_domain = alice.clone();
    wrong_domain.email = Some("alice@fabrikam.com".to_owned());
    assert_eq!(
        primary(&r, &wrong_domain),
        Err(DenyReason::EmailDomainNotAllowed)
    );
}

#[test]
fn empty_rules_admit_any_identity_of_an_allowed_tenant() {
    assert_eq!(primary(&Rules::default(), &who(CONTOSO_TID, None)), Ok(()));
    assert_eq!(primary(&Rules::default(), &app_only()), Ok(()));
}

// ---- app-only callers ----

#[test]
fn app_only_callers_are_refused_by_user_rules_and_pass_rules_about_nothing_human() {
    let caller = app_only();
    for r in [
        Rules {
            allowed_users: strings(&[&caller.oid]),
            ..Rules::default()
        },
        Rules {
            allowed_emails: strings(&["alice@contoso.com"]),
            ..Rules::default()
        },
        Rules {
            allowed_email_domains: domains(&["contoso.com"]),
            ..Rules::default()
        },
        Rules {
            allowed_groups: strings(&[GROUP_A]),
            ..Rules::default()
        },
    ] {
        assert_eq!(primary(&r, &caller), Err(DenyReason::UserRequired), "{r:?}");
    }
    let tenant_and_role = Rules {
        allowed_tenants: only(&[CONTOSO_TID]),
        allowed_roles: strings(&["Jobs.Run"]),
        ..Rules::default()
    };
    assert_eq!(
        primary(&tenant_and_role, &caller),
        Err(DenyReason::RoleRequired)
    );
    let mut with_role = caller.clone();
    with_role.roles = strings(&["Jobs.Run"]);
    assert_eq!(primary(&tenant_and_role, &with_role), Ok(()));
    // The tenant still comes first.
    let mut foreign = with_role.clone();
    foreign.tid = FABRIKAM_TID.to_owned();
    assert_eq!(
        primary(&tenant_and_role, &foreign),
        Err(DenyReason::TenantNotAllowed)
    );
}

#[test]
fn a_delegated_bearer_caller_is_a_user_for_user_rules() {
    let mut alice = who(CONTOSO_TID, Some("alice@contoso.com"));
    alice.caller = Some(ApiCaller {
        client_id: "spa".to_owned(),
        scopes: strings(&["Files.Read"]),
        app_only: false,
    });
    let r = Rules {
        allowed_users: strings(&[ALICE_OID]),
        allowed_email_domains: domains(&["contoso.com"]),
        ..Rules::default()
    };
    assert_eq!(primary(&r, &alice), Ok(()));
}

// ---- reasons ----

#[test]
fn deny_reason_codes_are_stable_and_messages_leak_nothing() {
    let all = [
        (DenyReason::TenantNotAllowed, "tenant_not_allowed"),
        (
            DenyReason::PersonalAccountNotAllowed,
            "personal_account_not_allowed",
        ),
        (
            DenyReason::EmailDomainNotAllowed,
            "email_domain_not_allowed",
        ),
        (DenyReason::EmailMissing, "email_missing"),
        (DenyReason::EmailNotAllowed, "email_not_allowed"),
        (DenyReason::UserNotAllowed, "user_not_allowed"),
        (DenyReason::GroupRequired, "group_required"),
        (DenyReason::RoleRequired, "role_required"),
        (DenyReason::ScopeRequired, "scope_required"),
        (DenyReason::UserRequired, "user_required"),
        (DenyReason::RouteDenied, "route_denied"),
    ];
    let mut messages = Vec::new();
    for (reason, code) in all {
        assert_eq!(reason.code(), code);
        let msg = reason.user_message();
        assert!(msg.ends_with('.'), "{msg}");
        for leak in ["contoso", "{", "9188040d", "routes", "allowed_"] {
            assert!(!msg.contains(leak), "{msg}");
        }
        assert!(!messages.contains(&msg), "{msg} twice");
        messages.push(msg);
    }
    assert_eq!(
        DenyReason::TenantNotAllowed.user_message(),
        "Your organisation's accounts are not allowed to use this application."
    );
    assert!(DenyReason::EmailDomainNotAllowed
        .user_message()
        .contains("email domain"));
}

// ---- reading values ----

#[test]
fn tenant_lists_combine_star_only_with_the_personal_account_tenant() {
    let g = |t: &str| TenantEntry::Guid(t.to_owned());
    assert_eq!(tenant_rule(vec![]), Ok(TenantRule::Unrestricted));
    assert_eq!(
        tenant_rule(vec![TenantEntry::Any]),
        Ok(TenantRule::Any { personal: false })
    );
    assert_eq!(
        tenant_rule(vec![TenantEntry::Any, g(MSA_TID), g(MSA_TID)]),
        Ok(TenantRule::Any { personal: true })
    );
    assert!(tenant_rule(vec![TenantEntry::Any, g(CONTOSO_TID)]).is_err());
    assert!(tenant_rule(vec![TenantEntry::Any, g(MSA_TID), g(CONTOSO_TID)]).is_err());
    assert_eq!(
        tenant_rule(vec![g(CONTOSO_TID), g(CONTOSO_TID), g(MSA_TID)]),
        Ok(only(&[CONTOSO_TID, MSA_TID]))
    );
    assert_eq!(
        tenant_entry(" 72F988BF-86F1-41AF-91AB-2D7CD011DB47 "),
        Some(g(CONTOSO_TID))
    );
    for bad in ["contoso.com", "**", "", "72f988bf86f141af91ab2d7cd011db47"] {
        assert_eq!(tenant_entry(bad), None, "{bad:?}");
    }
}

#[test]
fn domain_rule_values() {
    assert_eq!(
        domain_rule(" Contoso.COM "),
        Ok(DomainRule::Exact("contoso.com".into()))
    );
    assert_eq!(
        domain_rule("*.Contoso.com"),
        Ok(DomainRule::AnySubdomainOf("contoso.com".into()))
    );
    assert_eq!(domain_rule("@contoso.com"), Err(BadDomain::HasAt));
    assert_eq!(domain_rule("a@contoso.com"), Err(BadDomain::HasAt));
    for bad in [
        "*",
        "*.",
        "*.com",
        "**.contoso.com",
        "x.*.com",
        "contoso",
        "bad domain",
        "",
    ] {
        assert_eq!(domain_rule(bad), Err(BadDomain::NotADomain), "{bad:?}");
    }
}

#[test]
fn email_and_word_values() {
    assert_eq!(
        email(" Alice@Contoso.com ").as_deref(),
        Some("alice@contoso.com")
    );
    for bad in [
        "alice",
        "@contoso.com",
        "a@b@contoso.com",
        "a b@contoso.com",
        "a@contoso",
    ] {
        assert_eq!(email(bad), None, "{bad:?}");
    }
    assert_eq!(word(" Admin ").as_deref(), Some("Admin"));
    for bad in ["", " ", "Tasks Admin", "a,b"] {
        assert_eq!(word(bad), None, "{bad:?}");
    }
}

// ---- rules_from_query ----

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn query_rules_are_read_comma_separated_and_accumulate() {
    let rules = rules_from_query(&pairs(&[
        ("rd", "/back/here?x=1"),
        (
            "allowed_groups",
            &format!("{GROUP_A}, {}", GROUP_B.to_uppercase()),
        ),
        ("allowed_groups", GROUP_A),
        ("allowed_roles", "Admin,Reader"),
        ("allowed_users", ALICE_OID),
        ("allowed_emails", "Alice@Contoso.com"),
        ("allowed_email_domains", "contoso.com,*.fabrikam.com"),
        ("allowed_tenants", CONTOSO_TID),
    ]))
    .unwrap();
    assert_eq!(rules.allowed_groups, [GROUP_A, GROUP_B, GROUP_A]);
    assert_eq!(rules.allowed_roles, ["Admin", "Reader"]);
    assert_eq!(rules.allowed_users, [ALICE_OID]);
    assert_eq!(rules.allowed_emails, ["alice@contoso.com"]);
    assert_eq!(
        rules.allowed_email_domains,
        [
            DomainRule::Exact("contoso.com".into()),
            DomainRule::AnySubdomainOf("fabrikam.com".into())
        ]
    );
    assert_eq!(rules.allowed_tenants, only(&[CONTOSO_TID]));

    let none = rules_from_query(&pairs(&[("rd", "/")])).unwrap();
    assert_eq!(none.allowed_tenants, TenantRule::Unrestricted);
    assert!(none.allowed_groups.is_empty() && none.allowed_roles.is_empty());
    assert!(rules_from_query(&[]).is_ok());
}

#[test]
fn query_rules_refuse_unknown_parameters_by_name() {
    let err = rules_from_query(&pairs(&[("allowed_group", GROUP_A)])).unwrap_err();
    assert!(
        err.contains("unknown query parameter allowed_group"),
        "{err}"
    );
    let err = rules_from_query(&pairs(&[("x<script>", "1")])).unwrap_err();
    assert!(!err.contains('<'), "{err}");
    assert!(err.contains("unknown query parameter"), "{err}");
}

#[test]
fn query_rules_fail_closed_on_empty_values_and_entries() {
    for (name, value) in [
        ("allowed_groups", ""),
        ("allowed_groups", " "),
        ("allowed_roles", "Admin,"),
        ("allowed_roles", ",Admin"),
        ("allowed_users", &format!("{ALICE_OID},,{ALICE_OID}")),
        ("allowed_tenants", ""),
    ] {
        let err = rules_from_query(&pairs(&[(name, value)])).unwrap_err();
        assert!(err.contains(name), "{err}");
        assert!(err.contains("empty"), "{err}");
    }
}

#[test]
fn query_rules_refuse_bad_values_naming_the_parameter() {
    for (name, value) in [
        ("allowed_groups", "Engineering"),
        ("allowed_users", "alice@contoso.com"),
        ("allowed_emails", "alice"),
        ("allowed_email_domains", "@contoso.com"),
        ("allowed_tenants", "contoso.com"),
        ("allowed_roles", "Tasks Admin"),
    ] {
        let err = rules_from_query(&pairs(&[(name, value)])).unwrap_err();
        assert!(err.starts_with(&format!("query parameter {name}")), "{err}");
        assert!(!err.contains(value), "{err}");
    }
    let err =
        rules_from_query(&pairs(&[("allowed_tenants", &format!("*,{CONTOSO_TID}"))])).unwrap_err();
    assert!(err.contains("allowed_tenants"), "{err}");
    let star = rules_from_query(&pairs(&[("allowed_tenants", &format!("*,{MSA_TID}"))])).unwrap();
    assert_eq!(star.allowed_tenants, TenantRule::Any { personal: true });
}
