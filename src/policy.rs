//! Pure decisions: which route a request is on, and whether an identity (or nobody) may use it.
//!
//! No I/O, no clock, no globals: values in, values out. Responses, logging and the order of the
//! steps belong to the gateway. Path normalisation lives in `policy::path`, the rules
//! themselves in `policy::rules`.
//!
//! Routes are matched case-sensitively against the normalised path, with `;parameters` removed
//! from each segment (see `path::match_view`); a request path that could be read two ways is
//! refused by [`normalize_path`] before any route is looked at.

mod path;
mod rules;

use http::Method;

pub use path::{normalize_path, BadPath};
pub(crate) use rules::{domain_rule, email, guid, tenant_entry, tenant_rule, word, BadDomain};
pub use rules::{rules_from_query, DenyReason};

use crate::config::{
    AuthorizationConfig, PathMatcher, RouteAction, RouteConfig, Rules, RulesMode, TenantRule,
};
use crate::identity::Identity;
use rules::TenantGate;

/// The compiled routes and default rules: everything a decision needs besides the request.
#[derive(Debug, Clone)]
pub struct Policy {
    /// In configuration order; the first match wins.
    routes: Vec<RouteConfig>,
    defaults: Rules,
    /// What a request matching no route gets: sign-in and the defaults.
    fallback: RouteAction,
    /// provider.tenant is `consumers`: personal accounts pass without their tenant listed.
    consumers_authority: bool,
}

/// The route a request is on: a configured one (by index) or the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    /// Index into the configured routes; `None` for the defaults.
    index: Option<usize>,
    action: &'a RouteAction,
    required_scopes: &'a [String],
    required_roles: &'a [String],
}

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// A protected route and nobody signed in.
    SignIn,
    Deny(DenyReason),
}

impl Policy {
    /// `consumers_authority`: provider.tenant is `consumers` (then personal accounts are
    /// admitted without listing their tenant).
    pub fn new(
        authorization: &AuthorizationConfig,
        routes: &[RouteConfig],
        consumers_authority: bool,
    ) -> Self {
        Policy {
            routes: routes.to_vec(),
            defaults: authorization.rules.clone(),
            fallback: RouteAction::Protect {
                mode: RulesMode::Add,
                rules: Rules::default(),
            },
            consumers_authority,
        }
    }

    /// The first route matching the method and the normalised path (from [`normalize_path`]),
    /// or the defaults.
    pub fn route(&self, method: &Method, path: &str) -> Route<'_> {
        let view = path::match_view(path);
        let found =
            self.routes.iter().enumerate().find(|(_, r)| {
                method_matches(&r.methods, method) && path_matches(&r.matcher, &view)
            });
        match found {
            Some((index, r)) => Route {
                index: Some(index),
                action: &r.action,
                required_scopes: &r.required_scopes,
                required_roles: &r.required_roles,
            },
            None => Route {
                index: None,
                action: &self.fallback,
                required_scopes: &[],
                required_roles: &[],
            },
        }
    }

    /// The defaults, as if no route matched (for `/oauth2/auth`, which has no request path).
    pub fn defaults(&self) -> Route<'_> {
        Route {
            index: None,
            action: &self.fallback,
            required_scopes: &[],
            required_roles: &[],
        }
    }

    /// Decide for `who` (None = nobody signed in) on `route`, plus optional extra rules (from
    /// `/oauth2/auth` query parameters, always added to whatever the route applies).
    ///
    /// Public routes always allow; deny routes always deny, signed in or not; protected routes
    /// ask nobody to sign in, and check everyone else against the rules (the defaults and the
    /// route's, or only the route's in replace mode), the extra rules, then the route's
    /// `required_roles` (everyone) and `required_scopes` (bearer callers only).
    pub fn decide(
        &self,
        route: &Route<'_>,
        who: Option<&Identity>,
        extra: Option<&Rules>,
    ) -> Verdict {
        let (mode, rules) = match route.action {
            RouteAction::Public => return Verdict::Allow,
            RouteAction::Deny => return Verdict::Deny(DenyReason::RouteDenied),
            RouteAction::Protect { mode, rules } => (*mode, rules),
        };
        let Some(who) = who else {
            return Verdict::SignIn;
        };
        match self.check(route, mode, rules, who, extra) {
            Ok(()) => Verdict::Allow,
            Err(reason) => Verdict::Deny(reason),
        }
    }

    fn check(
        &self,
        route: &Route<'_>,
        mode: RulesMode,
        rules: &Rules,
        who: &Identity,
        extra: Option<&Rules>,
    ) -> Result<(), DenyReason> {
        let ca = self.consumers_authority;
        match mode {
            RulesMode::Add => {
                rules::check(&self.defaults, who, ca, TenantGate::Primary)?;
                rules::check(rules, who, ca, TenantGate::Narrowing)?;
            }
            // A route that replaces the rules but names no tenants keeps the default tenant
            // rule: replacing "who in Contoso" with "role Admin" must not admit every tenant's
            // admins.
            RulesMode::Replace if rules.allowed_tenants == TenantRule::Unrestricted => {
                rules::check_tenant(
                    &self.defaults.allowed_tenants,
                    &who.tid,
                    ca,
                    TenantGate::Primary,
                )?;
                rules::check_identity(rules, who)?;
            }
            RulesMode::Replace => rules::check(rules, who, ca, TenantGate::Primary)?,
        }
        if let Some(extra) = extra {
            rules::check(extra, who, ca, TenantGate::Narrowing)?;
        }
        if !route.required_roles.iter().all(|r| who.roles.contains(r)) {
            return Err(DenyReason::RoleRequired);
        }
        if let Some(caller) = &who.caller {
            // App-only callers carry no scopes, so any scope requirement refuses them.
            if !route
                .required_scopes
                .iter()
                .all(|s| caller.scopes.contains(s))
            {
                return Err(DenyReason::ScopeRequired);
            }
        }
        Ok(())
    }
}

impl Route<'_> {
    /// No sign-in needed.
    pub fn is_public(&self) -> bool {
        matches!(self.action, RouteAction::Public)
    }

    /// Index of the configured route, `None` for the defaults.
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// `routes[2]` or `default`, for logs.
    pub fn label(&self) -> String {
        match self.index {
            Some(index) => format!("routes[{index}]"),
            None => "default".to_owned(),
        }
    }
}

/// Empty = any method. Compared ignoring ASCII case (some servers read `get` as GET), and GET
/// covers HEAD (servers answer HEAD with the GET handler).
fn method_matches(methods: &[Method], method: &Method) -> bool {
    methods.is_empty()
        || methods.iter().any(|m| {
            m.as_str().eq_ignore_ascii_case(method.as_str())
                || (*m == Method::GET && method.as_str().eq_ignore_ascii_case("HEAD"))
        })
}

fn path_matches(matcher: &PathMatcher, view: &str) -> bool {
    match matcher {
        PathMatcher::Exact(path) => view == path,
        PathMatcher::Prefix(prefix) => view.starts_with(prefix.as_str()),
        PathMatcher::Regex(regex) => regex.is_match(view),
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
