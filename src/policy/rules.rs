//! Authorization rules: whether an identity passes a [`Rules`] set, why not, and how rule values
//! are read (shared by the config loader and `/oauth2/auth` query parameters).
//!
//! Pure: values in, decisions out. Must not know about routes, requests or responses.

use crate::config::{DomainRule, Rules, TenantRule, PERSONAL_ACCOUNTS_TENANT};
use crate::identity::Identity;
use crate::names::is_domain;

/// Why an identity was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    TenantNotAllowed,
    /// A personal Microsoft account, and personal accounts are not admitted.
    PersonalAccountNotAllowed,
    EmailDomainNotAllowed,
    /// An email rule applies and the identity has no `email` claim.
    EmailMissing,
    EmailNotAllowed,
    UserNotAllowed,
    GroupRequired,
    RoleRequired,
    /// A bearer caller lacks a delegated scope the route requires.
    ScopeRequired,
    /// An application calling as itself, where the rules name users (emails, domains, users,
    /// groups): there is no user to check.
    UserRequired,
    /// The route is `deny: true`.
    RouteDenied,
}

/// Whether a tenant rule is the one that decides who may sign in at all (`Primary`: the
/// defaults, or a route that replaces them with its own tenants), or only narrows it further
/// (`Narrowing`: add-mode routes and query rules, where an unset rule says nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TenantGate {
    Primary,
    Narrowing,
}

/// One `allowed_tenants` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TenantEntry {
    Any,
    Guid(String),
}

/// Why an `allowed_email_domains` entry is not valid. The value is never part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadDomain {
    /// `user@example.com` or `@example.com`.
    HasAt,
    NotADomain,
}

impl DenyReason {
    /// Stable code for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::TenantNotAllowed => "tenant_not_allowed",
            Self::PersonalAccountNotAllowed => "personal_account_not_allowed",
            Self::EmailDomainNotAllowed => "email_domain_not_allowed",
            Self::EmailMissing => "email_missing",
            Self::EmailNotAllowed => "email_not_allowed",
            Self::UserNotAllowed => "user_not_allowed",
            Self::GroupRequired => "group_required",
            Self::RoleRequired => "role_required",
            Self::ScopeRequired => "scope_required",
            Self::UserRequired => "user_required",
            Self::RouteDenied => "route_denied",
        }
    }

    /// Sentence for the 403 page: says the reason without revealing the configuration.
    pub fn user_message(self) -> &'static str {
        match self {
            Self::TenantNotAllowed => {
                "Your organisation's accounts are not allowed to use this application."
            }
            Self::PersonalAccountNotAllowed => {
                "Personal Microsoft accounts are not allowed to use this application; sign in \
                 with a work or school account."
            }
            Self::EmailDomainNotAllowed => {
                "Accounts with your email domain are not allowed to use this application."
            }
            Self::EmailMissing => {
                "Your account has no email address, and this application only admits certain \
                 email addresses or domains."
            }
            Self::EmailNotAllowed => "Your email address is not allowed to use this application.",
            Self::UserNotAllowed => "Your account is not allowed to use this application.",
            Self::GroupRequired => {
                "You are not a member of a group that is allowed to use this application."
            }
            Self::RoleRequired => "You do not have an application role this page requires.",
            Self::ScopeRequired => {
                "The access token does not carry a permission (scope) this API requires."
            }
            Self::UserRequired => {
                "This resource needs a signed-in user; an application calling as itself is not \
                 allowed."
            }
            Self::RouteDenied => "This page is not available.",
        }
    }
}

/// Whether `who` passes `rules`: the tenant rule, then (for applications calling as
/// themselves) whether any rule needs a user, then users, emails, email domains, groups and
/// roles. The first failing rule gives the reason.
///
/// Emails and domains are checked on the `email` claim only, never on `preferred_username`:
/// Microsoft documents that one as mutable and not for authorisation decisions.
pub(crate) fn check(
    rules: &Rules,
    who: &Identity,
    consumers_authority: bool,
    gate: TenantGate,
) -> Result<(), DenyReason> {
    check_tenant(&rules.allowed_tenants, &who.tid, consumers_authority, gate)?;
    check_identity(rules, who)
}

/// Every rule but the tenant rule, in the order [`check`] documents.
pub(crate) fn check_identity(rules: &Rules, who: &Identity) -> Result<(), DenyReason> {
    let app_only = who.caller.as_ref().is_some_and(|c| c.app_only);
    if app_only && names_users(rules) {
        return Err(DenyReason::UserRequired);
    }
    if !rules.allowed_users.is_empty()
        && !rules
            .allowed_users
            .iter()
            .any(|u| u.eq_ignore_ascii_case(&who.oid))
    {
        return Err(DenyReason::UserNotAllowed);
    }
    check_email(rules, who)?;
    if !rules.allowed_groups.is_empty()
        && !who.groups.iter().any(|g| {
            rules
                .allowed_groups
                .iter()
                .any(|a| a.eq_ignore_ascii_case(g))
        })
    {
        return Err(DenyReason::GroupRequired);
    }
    if !rules.allowed_roles.is_empty() && !who.roles.iter().any(|r| rules.allowed_roles.contains(r))
    {
        return Err(DenyReason::RoleRequired);
    }
    Ok(())
}

/// Whether any rule is about users (and so cannot be met by an application calling as itself).
fn names_users(rules: &Rules) -> bool {
    !(rules.allowed_users.is_empty()
        && rules.allowed_emails.is_empty()
        && rules.allowed_email_domains.is_empty()
        && rules.allowed_groups.is_empty())
}

/// The tenant rule. Personal accounts pass only when their tenant is listed (alone or next to
/// `"*"`) or the authority is `consumers`; an unset rule admits work and school accounts only
/// when the authority is a single tenant (config requires a rule for common/organizations).
pub(crate) fn check_tenant(
    rule: &TenantRule,
    tid: &str,
    consumers_authority: bool,
    gate: TenantGate,
) -> Result<(), DenyReason> {
    let personal = tid.eq_ignore_ascii_case(PERSONAL_ACCOUNTS_TENANT);
    let refused = if personal {
        DenyReason::PersonalAccountNotAllowed
    } else {
        DenyReason::TenantNotAllowed
    };
    let allowed = match rule {
        TenantRule::Unrestricted if gate == TenantGate::Narrowing => true,
        // A consumers authority signs in personal accounts only; anything else is unexpected.
        TenantRule::Unrestricted => personal == consumers_authority,
        TenantRule::Any { personal: listed } => !personal || *listed || consumers_authority,
        TenantRule::Only(tenants) => {
            tenants.iter().any(|t| t.eq_ignore_ascii_case(tid)) || (personal && consumers_authority)
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(refused)
    }
}

fn check_email(rules: &Rules, who: &Identity) -> Result<(), DenyReason> {
    if rules.allowed_emails.is_empty() && rules.allowed_email_domains.is_empty() {
        return Ok(());
    }
    let email = match who.email.as_deref() {
        Some(e) if !e.is_empty() => e,
        _ => return Err(DenyReason::EmailMissing),
    };
    if !rules.allowed_emails.is_empty() {
        let ok = split_email(email).is_some()
            && rules
                .allowed_emails
                .iter()
                .any(|a| a.eq_ignore_ascii_case(email));
        if !ok {
            return Err(DenyReason::EmailNotAllowed);
        }
    }
    if !rules.allowed_email_domains.is_empty() {
        let domain = split_email(email).map(|(_, domain)| domain);
        let ok = domain.is_some_and(|domain| {
            let domain = domain.strip_suffix('.').unwrap_or(domain);
            rules
                .allowed_email_domains
                .iter()
                .any(|rule| domain_matches(rule, domain))
        });
        if !ok {
            return Err(DenyReason::EmailDomainNotAllowed);
        }
    }
    Ok(())
}

/// `domain` (without a trailing dot, any case) against one rule.
fn domain_matches(rule: &DomainRule, domain: &str) -> bool {
    match rule {
        DomainRule::Exact(want) => domain.eq_ignore_ascii_case(want),
        DomainRule::AnySubdomainOf(parent) => {
            // "eu.contoso.com" for "contoso.com": a non-empty label, a dot, then the parent.
            // `get` rather than slicing: a claim may put a multi-byte character anywhere.
            let Some(cut) = domain.len().checked_sub(parent.len() + 1) else {
                return false;
            };
            match (
                domain.get(..cut),
                domain.get(cut..=cut),
                domain.get(cut + 1..),
            ) {
                (Some(head), Some("."), Some(tail)) => {
                    !head.is_empty() && !head.ends_with('.') && tail.eq_ignore_ascii_case(parent)
                }
                _ => false,
            }
        }
    }
}

/// Local part and domain of an address with exactly one `@` and both sides non-empty.
fn split_email(email: &str) -> Option<(&str, &str)> {
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty() && !domain.is_empty() && !domain.contains('@')).then_some((local, domain))
}

// ---- reading rule values (config and query parameters) ----

/// A tenant GUID or `*`, trimmed; GUIDs lower-cased (tokens carry lower-case GUIDs).
pub(crate) fn tenant_entry(text: &str) -> Option<TenantEntry> {
    let text = text.trim();
    if text == "*" {
        Some(TenantEntry::Any)
    } else {
        guid(text).map(TenantEntry::Guid)
    }
}

/// The rule a list of tenant entries makes, or why the combination is refused: `*` may stand
/// alone or next to the personal-account tenant only.
pub(crate) fn tenant_rule(entries: Vec<TenantEntry>) -> Result<TenantRule, &'static str> {
    let any = entries.contains(&TenantEntry::Any);
    let mut guids: Vec<String> = Vec::new();
    for entry in entries {
        if let TenantEntry::Guid(guid) = entry {
            if !guids.contains(&guid) {
                guids.push(guid);
            }
        }
    }
    if !any {
        return Ok(if guids.is_empty() {
            TenantRule::Unrestricted
        } else {
            TenantRule::Only(guids)
        });
    }
    match guids.as_slice() {
        [] => Ok(TenantRule::Any { personal: false }),
        [only] if only == PERSONAL_ACCOUNTS_TENANT => Ok(TenantRule::Any { personal: true }),
        _ => Err(
            "\"*\" allows every tenant, so the only entry allowed next to it is the personal \
             Microsoft account tenant 9188040d-6c67-4c5b-b112-36a304b66dad",
        ),
    }
}

/// A GUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`), trimmed and lower-cased.
pub(crate) fn guid(text: &str) -> Option<String> {
    let text = text.trim();
    let ok = text.len() == 36
        && text.bytes().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    ok.then(|| text.to_ascii_lowercase())
}

/// `contoso.com` or `*.contoso.com`, trimmed and lower-cased.
pub(crate) fn domain_rule(text: &str) -> Result<DomainRule, BadDomain> {
    let text = text.trim().to_ascii_lowercase();
    if text.contains('@') {
        return Err(BadDomain::HasAt);
    }
    match text.strip_prefix("*.") {
        Some(parent) if is_domain(parent) => Ok(DomainRule::AnySubdomainOf(parent.to_owned())),
        None if is_domain(&text) => Ok(DomainRule::Exact(text)),
        _ => Err(BadDomain::NotADomain),
    }
}

/// An address with exactly one `@`, a local part without spaces and a valid domain; trimmed and
/// lower-cased (Microsoft treats addresses case-insensitively).
pub(crate) fn email(text: &str) -> Option<String> {
    let text = text.trim().to_ascii_lowercase();
    let (local, domain) = split_email(&text)?;
    let local_ok = local.bytes().all(|b| b.is_ascii_graphic() || !b.is_ascii());
    (local_ok && is_domain(domain)).then_some(text)
}

/// An app role value or scope: non-empty, no whitespace or commas (Entra forbids spaces in
/// role values, and commas would blur the comma-separated roles header). Case is kept.
pub(crate) fn word(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty() && !text.contains(|c: char| c.is_whitespace() || c == ','))
        .then(|| text.to_owned())
}

/// Rules from `/oauth2/auth` query parameters: `allowed_groups`, `allowed_roles`,
/// `allowed_users`, `allowed_emails`, `allowed_email_domains`, `allowed_tenants`, each
/// comma-separated; repeated parameters accumulate. `rd` is ignored (the sign-in redirect).
///
/// Fails closed, naming the parameter: an unknown name, an invalid value, and an empty value or
/// entry (`allowed_groups=` from an unset nginx variable must not silently mean "anyone").
pub fn rules_from_query(pairs: &[(String, String)]) -> Result<Rules, String> {
    let mut rules = Rules::default();
    let mut tenants: Vec<TenantEntry> = Vec::new();
    for (name, value) in pairs {
        if name == "rd" {
            continue;
        }
        let name = shown(name);
        for entry in value.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(format!(
                    "query parameter {name} has an empty value or entry; remove it or give a \
                     value"
                ));
            }
            let bad = |what: &str| format!("query parameter {name}: {what}");
            match name {
                "allowed_groups" => rules
                    .allowed_groups
                    .push(guid(entry).ok_or_else(|| bad("a group object id (GUID) expected"))?),
                "allowed_users" => rules
                    .allowed_users
                    .push(guid(entry).ok_or_else(|| bad("a user object id (GUID) expected"))?),
                "allowed_roles" => rules
                    .allowed_roles
                    .push(word(entry).ok_or_else(|| bad("an app role value expected"))?),
                "allowed_emails" => rules
                    .allowed_emails
                    .push(email(entry).ok_or_else(|| bad("an email address expected"))?),
                "allowed_email_domains" => rules.allowed_email_domains.push(
                    domain_rule(entry)
                        .map_err(|_| bad("a domain like example.com or *.example.com expected"))?,
                ),
                "allowed_tenants" => tenants
                    .push(tenant_entry(entry).ok_or_else(|| bad("a tenant GUID or * expected"))?),
                _ => {
                    return Err(format!(
                        "unknown query parameter {name}; expected allowed_groups, \
                         allowed_roles, allowed_users, allowed_emails, allowed_email_domains, \
                         allowed_tenants or rd"
                    ))
                }
            }
        }
    }
    rules.allowed_tenants =
        tenant_rule(tenants).map_err(|why| format!("query parameter allowed_tenants: {why}"))?;
    Ok(rules)
}

/// A parameter name as it may appear in a message: known-looking names as they are, anything
/// else (long, or with characters beyond letters, digits and `_`) replaced, so a crafted name
/// cannot put text into a page or a log line.
fn shown(name: &str) -> &str {
    if !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        name
    } else {
        "(unprintable name)"
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
