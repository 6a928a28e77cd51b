//! The `authorization`, `routes` and `api` sections: rule lists, per-route policy and bearer
//! settings, checked and turned into their typed form.
//!
//! What a rule value may be is owned by [`crate::policy`] (the same readers serve `/oauth2/auth`
//! query parameters); this file adds key paths and the config-only checks. Must not quote a
//! value that came from the environment ([`Problems::quote`]).

use http::Method;

use super::{Flag, Problems, RawApi, RawAuthorization, RawHostAuthorization, RawRoute, Text};
use crate::config::{
    ApiConfig, AuthorizationConfig, DomainRule, GroupsSource, PathMatcher, RouteAction,
    RouteConfig, Rules, RulesMode, TenantRule,
};
use crate::policy::{self, BadDomain};

/// Methods a route may list; others are typos more often than real extension methods.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];
/// Compiled size bound for a route regex: generous for paths, small enough to refuse a pattern
/// that would make start-up (or memory) blow up.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The six `allowed_*` lists, as written in `authorization` or in a route.
#[derive(Default)]
struct RawRules {
    allowed_tenants: Option<Vec<Text>>,
    allowed_email_domains: Option<Vec<Text>>,
    allowed_emails: Option<Vec<Text>>,
    allowed_users: Option<Vec<Text>>,
    allowed_groups: Option<Vec<Text>>,
    allowed_roles: Option<Vec<Text>>,
}

impl RawRules {
    fn is_empty(&self) -> bool {
        self.allowed_tenants.is_none()
            && self.allowed_email_domains.is_none()
            && self.allowed_emails.is_none()
            && self.allowed_users.is_none()
            && self.allowed_groups.is_none()
            && self.allowed_roles.is_none()
    }
}

/// The `authorization` section. `provider_tenant` is `None` when provider.tenant was invalid
/// (then the tenant requirement is not checked; that key already has its problem).
pub(super) fn authorization(
    raw: RawAuthorization,
    provider_tenant: Option<&str>,
    problems: &mut Problems,
) -> Option<AuthorizationConfig> {
    let key = "authorization";
    let lists = RawRules {
        allowed_tenants: raw.allowed_tenants,
        allowed_email_domains: raw.allowed_email_domains,
        allowed_emails: raw.allowed_emails,
        allowed_users: raw.allowed_users,
        allowed_groups: raw.allowed_groups,
        allowed_roles: raw.allowed_roles,
    };
    let rules = tenant_required(
        key,
        rules(key, lists, problems),
        provider_tenant,
        "",
        problems,
    );
    let groups_source = groups_source(raw.groups_source, problems);
    Some(AuthorizationConfig {
        rules: rules?,
        groups_source: groups_source?,
    })
}

/// A `hosts[i].authorization` section (`key`): the site's own rules, which replace the
/// top-level ones, so a multi-tenant provider needs their own `allowed_tenants`.
pub(super) fn host_rules(
    key: &str,
    raw: RawHostAuthorization,
    provider_tenant: Option<&str>,
    problems: &mut Problems,
) -> Option<Rules> {
    let lists = RawRules {
        allowed_tenants: raw.allowed_tenants,
        allowed_email_domains: raw.allowed_email_domains,
        allowed_emails: raw.allowed_emails,
        allowed_users: raw.allowed_users,
        allowed_groups: raw.allowed_groups,
        allowed_roles: raw.allowed_roles,
    };
    let rules = rules(key, lists, problems);
    let why = " (this site's rules replace the top-level authorization)";
    tenant_required(key, rules, provider_tenant, why, problems)
}

/// Refuse `rules` (under `key`) without a tenant rule when the provider lets any tenant sign in.
fn tenant_required(
    key: &str,
    rules: Option<Rules>,
    provider_tenant: Option<&str>,
    why: &str,
    problems: &mut Problems,
) -> Option<Rules> {
    let multi_tenant = matches!(provider_tenant, Some("common" | "organizations"));
    if multi_tenant
        && rules
            .as_ref()
            .is_some_and(|r| r.allowed_tenants == TenantRule::Unrestricted)
    {
        problems.push(
            format!("{key}.allowed_tenants"),
            format!(
                "required when provider.tenant is common/organizations (any Microsoft tenant \
                 could sign in){why}; list your tenant GUIDs, or [\"*\"] to allow every tenant"
            ),
        );
        return None;
    }
    rules
}

fn groups_source(raw: Option<Text>, problems: &mut Problems) -> Option<GroupsSource> {
    let key = "authorization.groups_source";
    let Some(Text(text)) = raw else {
        return Some(GroupsSource::default());
    };
    match text.trim() {
        "claim" => Some(GroupsSource::Claim),
        "graph" => Some(GroupsSource::Graph),
        _ => {
            let shown = problems.quote(key, &text);
            problems.push(
                key,
                format!(
                    "{shown} is not a groups source; use claim (the groups claim, Graph on \
                     overage) or graph (always ask Microsoft Graph)"
                ),
            );
            None
        }
    }
}

/// The six rule lists under `key` (`authorization` or `routes[i]`).
fn rules(key: &str, raw: RawRules, problems: &mut Problems) -> Option<Rules> {
    let allowed_tenants = tenants(key, raw.allowed_tenants, problems);
    let allowed_email_domains = each(
        &format!("{key}.allowed_email_domains"),
        raw.allowed_email_domains,
        problems,
        domain,
    );
    let allowed_emails = each(
        &format!("{key}.allowed_emails"),
        raw.allowed_emails,
        problems,
        |text| policy::email(text).ok_or("is not an email address like alice@example.com"),
    );
    let allowed_users = each(
        &format!("{key}.allowed_users"),
        raw.allowed_users,
        problems,
        |text| {
            policy::guid(text).ok_or(
                "is not a user object id (a GUID); copy the Object ID from the user's page in the \
             Entra admin center",
            )
        },
    );
    let allowed_groups = each(
        &format!("{key}.allowed_groups"),
        raw.allowed_groups,
        problems,
        |text| {
            policy::guid(text).ok_or(
                "is not a group object id (a GUID; tokens carry ids, not names); copy the Object \
             ID from the group's page in the Entra admin center",
            )
        },
    );
    let allowed_roles = each(
        &format!("{key}.allowed_roles"),
        raw.allowed_roles,
        problems,
        |text| {
            policy::word(text).ok_or(
                "is not an app role value; write the role's Value (no spaces or commas), as it \
             appears in the roles claim",
            )
        },
    );
    Some(Rules {
        allowed_tenants: allowed_tenants?,
        allowed_email_domains: allowed_email_domains?,
        allowed_emails: allowed_emails?,
        allowed_users: allowed_users?,
        allowed_groups: allowed_groups?,
        allowed_roles: allowed_roles?,
    })
}

fn domain(text: &str) -> Result<DomainRule, &'static str> {
    policy::domain_rule(text).map_err(|bad| match bad {
        BadDomain::HasAt => {
            "write the domain only, e.g. example.com (not user@example.com or @example.com)"
        }
        BadDomain::NotADomain => {
            "is not a domain name; write example.com, or *.example.com for its subdomains"
        }
    })
}

/// Read every entry of the list at key path `list` with `read`, deduplicated, pushing a problem
/// (value quoted unless it came from the environment) for each bad one.
fn each<T: PartialEq>(
    list: &str,
    raw: Option<Vec<Text>>,
    problems: &mut Problems,
    read: impl Fn(&str) -> Result<T, &'static str>,
) -> Option<Vec<T>> {
    let mut out: Vec<T> = Vec::new();
    let mut ok = true;
    for (index, Text(entry)) in raw.unwrap_or_default().into_iter().enumerate() {
        match read(&entry) {
            Ok(value) => {
                if !out.contains(&value) {
                    out.push(value);
                }
            }
            Err(why) => {
                let path = format!("{list}[{index}]");
                // "write the domain only" reads better without the value in front.
                let message = if why.starts_with("is ") {
                    format!("{} {why}", problems.quote(&path, entry.trim()))
                } else {
                    why.to_owned()
                };
                problems.push(path, message);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn tenants(key: &str, raw: Option<Vec<Text>>, problems: &mut Problems) -> Option<TenantRule> {
    let key = format!("{key}.allowed_tenants");
    let mut entries = Vec::new();
    let mut ok = true;
    for (index, Text(text)) in raw.unwrap_or_default().into_iter().enumerate() {
        match policy::tenant_entry(&text) {
            Some(entry) => entries.push(entry),
            None => {
                let path = format!("{key}[{index}]");
                let message = format!(
                    "{} is not a tenant GUID (tokens carry the GUID, not a name); copy the \
                     Tenant ID from the Entra admin center, or use \"*\"",
                    problems.quote(&path, text.trim())
                );
                problems.push(path, message);
                ok = false;
            }
        }
    }
    // The combination is checked on the good entries too: one run reports both mistakes.
    match policy::tenant_rule(entries) {
        Ok(rule) => ok.then_some(rule),
        Err(why) => {
            problems.push(key, why);
            None
        }
    }
}

/// A `routes` list at key path `list` (`routes`, `hosts[0].routes`).
pub(super) fn routes(
    list: &str,
    raw: Vec<RawRoute>,
    problems: &mut Problems,
) -> Option<Vec<RouteConfig>> {
    let mut routes = Vec::new();
    let mut ok = true;
    for (index, route) in raw.into_iter().enumerate() {
        match self::route(&format!("{list}[{index}]"), route, problems) {
            Some(route) => routes.push(route),
            None => ok = false,
        }
    }
    ok.then_some(routes)
}

fn route(key: &str, raw: RawRoute, problems: &mut Problems) -> Option<RouteConfig> {
    let matcher = matcher(key, raw.path, raw.regex, problems);
    let methods = methods(key, raw.methods, problems);
    let lists = RawRules {
        allowed_tenants: raw.allowed_tenants,
        allowed_email_domains: raw.allowed_email_domains,
        allowed_emails: raw.allowed_emails,
        allowed_users: raw.allowed_users,
        allowed_groups: raw.allowed_groups,
        allowed_roles: raw.allowed_roles,
    };
    let public = raw.public.is_some_and(|Flag(f)| f);
    let deny = raw.deny.is_some_and(|Flag(f)| f);
    let carries_rules = !lists.is_empty()
        || raw.mode.is_some()
        || raw.required_scopes.is_some()
        || raw.required_roles.is_some();
    let action = match (public, deny) {
        (true, true) => {
            problems.push(key, "public and deny cannot both be set");
            None
        }
        (true, false) if carries_rules => {
            problems.push(
                key,
                "public routes cannot carry rules (allowed_*, mode, required_scopes, \
                 required_roles); nobody signs in there",
            );
            None
        }
        (false, true) if carries_rules => {
            problems.push(
                key,
                "deny routes cannot carry rules (allowed_*, mode, required_scopes, \
                 required_roles); everybody is refused there",
            );
            None
        }
        (true, false) => Some(RouteAction::Public),
        (false, true) => Some(RouteAction::Deny),
        (false, false) => {
            let mode = mode(key, raw.mode, problems);
            let rules = rules(key, lists, problems);
            Some(RouteAction::Protect {
                mode: mode?,
                rules: rules?,
            })
        }
    };
    let word = |text: &str| policy::word(text).ok_or("is not a single word (no spaces or commas)");
    let required_scopes = each(
        &format!("{key}.required_scopes"),
        raw.required_scopes,
        problems,
        word,
    );
    let required_roles = each(
        &format!("{key}.required_roles"),
        raw.required_roles,
        problems,
        word,
    );
    Some(RouteConfig {
        matcher: matcher?,
        methods: methods?,
        action: action?,
        required_scopes: required_scopes?,
        required_roles: required_roles?,
    })
}

fn matcher(
    key: &str,
    path: Option<Text>,
    regex: Option<Text>,
    problems: &mut Problems,
) -> Option<PathMatcher> {
    match (path, regex) {
        (Some(Text(path)), None) => path_matcher(&format!("{key}.path"), &path, problems),
        (None, Some(Text(pattern))) => regex_matcher(&format!("{key}.regex"), &pattern, problems),
        _ => {
            problems.push(
                key,
                "give exactly one of path (an exact path like /healthz, or a prefix ending in / \
                 like /static/) or regex",
            );
            None
        }
    }
}

fn path_matcher(key: &str, path: &str, problems: &mut Problems) -> Option<PathMatcher> {
    let message = if !path.starts_with('/') {
        "must start with /".to_owned()
    } else if path.contains(['?', '#']) {
        "must be a path only; routes never match a query (?…) or fragment (#…)".to_owned()
    } else if path.contains(';') {
        "must not contain ';': path parameters (;x) are ignored when matching, as servlet \
         containers ignore them"
            .to_owned()
    } else {
        // Stored normalised so it compares equal to normalised request paths (`/%7euser/` and
        // `/~user/` are one route).
        match policy::normalize_path(path) {
            Ok(path) if path.ends_with('/') => return Some(PathMatcher::Prefix(path)),
            Ok(path) => return Some(PathMatcher::Exact(path)),
            Err(bad) => format!("is refused like a request path would be: {bad}"),
        }
    };
    problems.push(key, message);
    None
}

fn regex_matcher(key: &str, pattern: &str, problems: &mut Problems) -> Option<PathMatcher> {
    if !pattern.starts_with('^') {
        problems.push(
            key,
            "must start with ^: unanchored patterns match more than intended (admin also \
             matches /public/admin-guide)",
        );
        return None;
    }
    match regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
    {
        Ok(regex) => Some(PathMatcher::Regex(regex)),
        Err(error) => {
            problems.push(key, format!("does not compile: {}", one_line(&error)));
            None
        }
    }
}

/// regex errors span several lines (a heading, the pattern, a caret, the reason); a problem is
/// one line, and the reason is the part worth reading.
fn one_line(error: &regex::Error) -> String {
    let text = error.to_string();
    let reason = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("error: "));
    match reason {
        Some(reason) => reason.to_owned(),
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn methods(key: &str, raw: Option<Vec<Text>>, problems: &mut Problems) -> Option<Vec<Method>> {
    let key = format!("{key}.methods");
    if raw.as_ref().is_some_and(Vec::is_empty) {
        problems.push(
            key,
            "lists no method; leave methods out to match every method",
        );
        return None;
    }
    each(&key, raw, problems, |text| {
        let name = text.trim().to_ascii_uppercase();
        if METHODS.contains(&name.as_str()) {
            Method::from_bytes(name.as_bytes()).map_err(|_| "is not an HTTP method")
        } else {
            Err(
                "is not an HTTP method; use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE \
                 or CONNECT",
            )
        }
    })
}

fn mode(key: &str, raw: Option<Text>, problems: &mut Problems) -> Option<RulesMode> {
    let key = format!("{key}.mode");
    match raw.map(|Text(t)| t) {
        None => Some(RulesMode::Add),
        Some(text) => match text.trim() {
            "add" => Some(RulesMode::Add),
            "replace" => Some(RulesMode::Replace),
            _ => {
                let shown = problems.quote(&key, &text);
                problems.push(
                    key,
                    format!(
                        "{shown} is not a mode; use add (the route's rules apply on top of \
                         authorization) or replace (instead of them)"
                    ),
                );
                None
            }
        },
    }
}

/// The `api` section.
pub(super) fn api(raw: RawApi, problems: &mut Problems) -> Option<ApiConfig> {
    let audiences = each("api.audiences", raw.audiences, problems, |text| {
        let text = text.trim();
        if text.is_empty() || text.contains(char::is_whitespace) {
            Err("is not an audience; write one aud value (an app id URI or client id) per item")
        } else {
            Ok(text.to_owned())
        }
    });
    Some(ApiConfig {
        enabled: raw.enabled.is_some_and(|Flag(f)| f),
        audiences: audiences?,
    })
}
