//! The `{tenant}` path segment and who may sign in where: Microsoft's rules for `common`,
//! `organizations`, `consumers` and concrete tenants, and for an app's sign-in audience.
//!
//! Pure decisions over the config; no I/O.

use super::config::{AppConfig, EmulatorConfig, SignInAudience, TenantConfig, UserConfig};
use super::defaults::CONSUMERS_TID;
use super::protocol::AadError;

/// Which accounts a path admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Work/school and personal accounts.
    Common,
    /// Work/school accounts only.
    Organizations,
    /// One tenant (the consumers tenant included), by GUID.
    Tenant(String),
}

/// A resolved `{tenant}` segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TenantPath {
    /// The segment to put in endpoint URLs: as asked for `common`, `organizations` and
    /// `consumers`; the GUID when a domain was asked for, as Microsoft answers.
    pub segment: String,
    pub scope: Scope,
}

impl TenantPath {
    /// Resolve a path segment (case-insensitively); `None` is AADSTS90002.
    pub fn resolve(config: &EmulatorConfig, segment: &str) -> Option<TenantPath> {
        let lower = segment.to_ascii_lowercase();
        let (segment, scope) = match lower.as_str() {
            "common" => (lower.clone(), Scope::Common),
            "organizations" => (lower.clone(), Scope::Organizations),
            "consumers" => {
                let t = config.tenant(CONSUMERS_TID)?;
                (lower.clone(), Scope::Tenant(t.id.clone()))
            }
            _ => {
                let t = config.tenant_by_name(&lower)?;
                (t.id.clone(), Scope::Tenant(t.id.clone()))
            }
        };
        Some(TenantPath { segment, scope })
    }

    /// The discovery `issuer`: the `{tenantid}` template for the multi-tenant paths.
    pub fn issuer(&self, authority: &str) -> String {
        match &self.scope {
            Scope::Common | Scope::Organizations => format!("{authority}/{{tenantid}}/v2.0"),
            Scope::Tenant(tid) => format!("{authority}/{tid}/v2.0"),
        }
    }

    /// Is the app registered for use on this path? Unknown-here apps get the error page
    /// (700016); apps the path's account type does not suit get an error redirect.
    pub fn app_available(&self, app: &AppConfig) -> Result<(), Unavailable> {
        let personal_path = self.scope == Scope::Tenant(CONSUMERS_TID.to_string());
        match (app.sign_in_audience, &self.scope) {
            (SignInAudience::AzureADMyOrg, Scope::Tenant(tid)) => {
                if app.home_tenant.as_deref() == Some(tid.as_str()) {
                    Ok(())
                } else {
                    Err(Unavailable::NotInTenant)
                }
            }
            (SignInAudience::AzureADMyOrg, _) => Err(Unavailable::Redirect(AadError::new(
                "invalid_request",
                50194,
                format!(
                    "Application '{}'({}) is not configured as a multi-tenant application. \
                     Usage of the /common endpoint is not supported for such applications. \
                     Use a tenant-specific endpoint or configure the application to be multi-tenant.",
                    app.client_id, app.name
                ),
            ))),
            (SignInAudience::AzureADMultipleOrgs, _) if personal_path => {
                Err(Unavailable::Redirect(AadError::new(
                    "invalid_request",
                    9002332,
                    format!(
                        "Application '{}'({}) is configured for use by Microsoft Entra users only. \
                         Please do not use the /consumers endpoint to serve this request.",
                        app.client_id, app.name
                    ),
                )))
            }
            (SignInAudience::PersonalMicrosoftAccount, Scope::Organizations) => {
                Err(Unavailable::Redirect(personal_only(app)))
            }
            (SignInAudience::PersonalMicrosoftAccount, Scope::Tenant(_)) if !personal_path => {
                Err(Unavailable::Redirect(personal_only(app)))
            }
            _ => Ok(()),
        }
    }

    /// May `user` sign in to `app` through this path? The error is Microsoft's AADSTS50020
    /// (user from another tenant or identity provider).
    pub fn admits(
        &self,
        config: &EmulatorConfig,
        app: &AppConfig,
        user: &UserConfig,
    ) -> Result<(), AadError> {
        let personal = user.tenant == CONSUMERS_TID;
        let path_ok = match &self.scope {
            Scope::Common => true,
            Scope::Organizations => !personal,
            Scope::Tenant(tid) => &user.tenant == tid,
        };
        let app_ok = match app.sign_in_audience {
            SignInAudience::AzureADMyOrg => {
                app.home_tenant.as_deref() == Some(user.tenant.as_str())
            }
            SignInAudience::AzureADMultipleOrgs => !personal,
            SignInAudience::AzureADandPersonalMicrosoftAccount => true,
            SignInAudience::PersonalMicrosoftAccount => personal,
        };
        if path_ok && app_ok {
            return Ok(());
        }
        let idp = if personal {
            "live.com".to_string()
        } else {
            format!("https://sts.windows.net/{}/", user.tenant)
        };
        let tenant_name = match &self.scope {
            Scope::Tenant(tid) => config
                .tenant(tid)
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            Scope::Common | Scope::Organizations => "the application's tenant".to_string(),
        };
        Err(AadError::new(
            "access_denied",
            50020,
            format!(
                "User account '{}' from identity provider '{idp}' does not exist in tenant \
                 '{tenant_name}' and cannot access the application '{}'({}) in that tenant.",
                user.username, app.client_id, app.name
            ),
        ))
    }

    /// The users who may sign in to `app` here, for the sign-in page.
    pub fn eligible<'c>(
        &self,
        config: &'c EmulatorConfig,
        app: &AppConfig,
    ) -> Vec<(&'c UserConfig, Option<&'c TenantConfig>)> {
        config
            .users
            .iter()
            .filter(|u| self.admits(config, app, u).is_ok())
            .map(|u| (u, config.tenant(&u.tenant)))
            .collect()
    }
}

/// Why an app cannot be used on a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// The app does not exist in this tenant: AADSTS700016, shown as a page.
    NotInTenant,
    /// The app exists but not for this kind of account: an error redirect.
    Redirect(AadError),
}

fn personal_only(app: &AppConfig) -> AadError {
    AadError::new(
        "invalid_request",
        9002331,
        format!(
            "Application '{}'({}) is configured for use by Microsoft Account users only. \
             Please use the /consumers endpoint to serve this request.",
            app.client_id, app.name
        ),
    )
}

/// The AADSTS90002 error for a segment that names no tenant.
pub(crate) fn unknown_tenant(segment: &str) -> AadError {
    AadError::new(
        "invalid_tenant",
        90002,
        format!(
            "Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and \
             are signing into the correct cloud. Check with your subscription administrator, this \
             may happen if there are no active subscriptions for the tenant."
        ),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::emulator::defaults as d;

    fn resolve(seg: &str) -> Option<TenantPath> {
        TenantPath::resolve(&EmulatorConfig::default(), seg)
    }

    #[test]
    fn segments_resolve_like_microsoft() {
        assert_eq!(resolve("Common").unwrap().scope, Scope::Common);
        assert_eq!(
            resolve("organizations").unwrap().scope,
            Scope::Organizations
        );
        let consumers = resolve("consumers").unwrap();
        assert_eq!(consumers.segment, "consumers");
        assert_eq!(consumers.scope, Scope::Tenant(d::CONSUMERS_TID.into()));
        let domain = resolve("CONTOSO.com").unwrap();
        assert_eq!(domain.segment, d::CONTOSO_TID);
        assert_eq!(
            resolve(d::FABRIKAM_TID).unwrap().scope,
            Scope::Tenant(d::FABRIKAM_TID.into())
        );
        assert!(resolve("nope.example").is_none());
        assert!(resolve("").is_none());
    }

    #[test]
    fn paths_admit_the_right_accounts() {
        let c = EmulatorConfig::default();
        let app = c.app(d::CLIENT_ID).unwrap();
        let who = |seg: &str| -> Vec<String> {
            resolve(seg)
                .unwrap()
                .eligible(&c, app)
                .iter()
                .map(|(u, _)| u.username.clone())
                .collect()
        };
        assert_eq!(
            who("common"),
            [d::ALICE, d::BOB, d::CAROL, d::DAVE, d::ERIN]
        );
        assert_eq!(who("organizations"), [d::ALICE, d::BOB, d::CAROL, d::ERIN]);
        assert_eq!(who("contoso.com"), [d::ALICE, d::BOB, d::ERIN]);
        assert_eq!(who("consumers"), [d::DAVE]);
        assert_eq!(who("fabrikam.com"), [d::CAROL]);
        let denied = resolve(d::CONTOSO_TID)
            .unwrap()
            .admits(&c, app, c.user(d::CAROL).unwrap());
        assert_eq!(denied.unwrap_err().code, 50020);
    }

    #[test]
    fn single_tenant_app_is_unknown_elsewhere() {
        let mut c = EmulatorConfig::default();
        c.apps[0].sign_in_audience = SignInAudience::AzureADMyOrg;
        let app = &c.apps[0];
        assert!(resolve(d::CONTOSO_TID).unwrap().app_available(app).is_ok());
        assert_eq!(
            resolve(d::FABRIKAM_TID).unwrap().app_available(app),
            Err(Unavailable::NotInTenant)
        );
        assert!(
            matches!(resolve("common").unwrap().app_available(app), Err(Unavailable::Redirect(e)) if e.code == 50194)
        );
    }
}
