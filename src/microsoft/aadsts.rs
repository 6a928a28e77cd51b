//! AADSTS codes: reading them out of Microsoft's error descriptions and explaining them to the
//! operator with the fix (MICROSOFT.md D.7). Pure: no I/O, never echoes attacker text.

/// An operator-facing explanation of an AADSTS code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explanation {
    pub code: u32,
    /// What happened, in one sentence.
    pub meaning: &'static str,
    /// What to change.
    pub fix: &'static str,
}

/// The first `AADSTSnnnn` code in Microsoft's `error_description`, if any.
pub fn aadsts_code(description: &str) -> Option<u32> {
    let at = description.find("AADSTS")?;
    let digits: String = description[at + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .take(9)
        .collect();
    digits.parse().ok()
}

/// The explanation of `code`, when entrance knows it.
pub fn explain(code: u32) -> Option<Explanation> {
    let (meaning, fix) = match code {
        50011 => (
            "The redirect URI entrance sent is not registered on the app registration.",
            "In the Entra admin center, open the app registration > Authentication and add the exact redirect URI entrance uses (public_url + /oauth2/callback): scheme, host, port and path must match.",
        ),
        500113 => (
            "The app registration has no redirect URI at all.",
            "Add public_url + /oauth2/callback as a Web redirect URI on the app registration.",
        ),
        7000215 => (
            "The client secret is wrong.",
            "Set provider.client_secret to the secret value (the Value column, shown only once when the secret is created), not the Secret ID; check it belongs to this client_id.",
        ),
        7000222 => (
            "The client secret has expired.",
            "Create a new client secret on the app registration and update provider.client_secret.",
        ),
        7000218 => (
            "The token request carried no client credential.",
            "Set exactly one of provider.client_secret, client_secret_file, client_certificate or federated_token_file.",
        ),
        700016 => (
            "No application with this client id exists in the tenant.",
            "Check provider.client_id and provider.tenant; a single-tenant app must use its own tenant, and a multi-tenant app must be consented in the user's tenant.",
        ),
        700011 | 90002 => (
            "The tenant or application was not found.",
            "Check provider.tenant for typos and that provider.authority is the cloud the tenant lives in.",
        ),
        65001 => (
            "The user or administrator has not consented to this application.",
            "Grant consent: have an administrator grant admin consent for the app's permissions, or let the user consent interactively.",
        ),
        65004 => (
            "The user declined to consent to the application.",
            "Nothing to change in entrance; the user must accept the consent prompt to sign in.",
        ),
        650056 | 650057 => (
            "The requested permissions are not configured on the app registration.",
            "Add the permissions to the app registration (API permissions), or remove the extra scopes from provider.scopes.",
        ),
        90094 | 90095 => (
            "Administrator consent is required.",
            "An administrator must grant admin consent to the app in the Entra admin center.",
        ),
        50020 => (
            "The user's account is from another tenant and is not a guest of this one.",
            "Invite the user as a B2B guest, or use provider.tenant: organizations (or common) with authorization.allowed_tenants.",
        ),
        50034 | 50014 | 51004 => (
            "The user account does not exist in this tenant.",
            "Check that the user signs in to the right tenant (provider.tenant).",
        ),
        50105 => (
            "The user is not assigned to the application, and assignment is required.",
            "Assign the user (or a group) to the enterprise application, or turn off 'Assignment required'.",
        ),
        50076 | 50079 | 50074 => (
            "Multi-factor authentication is required or failed.",
            "The user must complete MFA; sign in again.",
        ),
        53003 | 530032 | 530035 => (
            "Sign-in was blocked by Conditional Access or security defaults.",
            "Review the Conditional Access policies that apply to this app and user.",
        ),
        50058 => (
            "There is no signed-in session at Microsoft.",
            "Sign in again interactively.",
        ),
        54005 => (
            "The authorization code was already redeemed.",
            "Usually a double submit or a retried callback; start sign-in again. If it repeats, check that nothing replays the callback URL.",
        ),
        70008 | 700082 => (
            "The authorization code or refresh token has expired.",
            "Sign in again. If codes expire before redemption, check entrance's clock and its reachability of the token endpoint.",
        ),
        700084 => (
            "The refresh token reached the 24 hour limit for single-page apps.",
            "Register the redirect URI as type Web, not SPA.",
        ),
        50173 | 70043 => (
            "The grant was revoked or the sign-in frequency policy requires a new sign-in.",
            "Sign in again.",
        ),
        501481 => (
            "The PKCE code verifier did not match the challenge.",
            "Start sign-in again; if it repeats, something rewrites the sign-in cookies between entrance and the browser.",
        ),
        90014 | 900144 => (
            "A required field was missing from the request.",
            "Check provider.client_id and the redirect URI; report this to the entrance maintainers if the config is right.",
        ),
        70011 | 700022 | 28002 => (
            "A requested scope is invalid or scopes of several resources were mixed.",
            "Fix provider.scopes: OpenID scopes plus scopes of at most one resource.",
        ),
        700054 => (
            "The id_token response type is not enabled for the app.",
            "entrance uses the code flow; check provider settings, or enable ID tokens on the registration if you changed response types.",
        ),
        50194 => (
            "A single-tenant application was used with the common endpoint.",
            "Set provider.tenant to your tenant GUID or domain, or make the app multi-tenant.",
        ),
        9002326 => (
            "Cross-origin token redemption is only allowed for SPA redirect URIs.",
            "Register the redirect URI under the Web platform, not Single-page application.",
        ),
        700025 => (
            "The app is registered as a public client but sent a secret.",
            "Turn off 'Allow public client flows' or register a Web platform redirect URI.",
        ),
        700027 | 50012 => (
            "The client assertion or certificate was not accepted.",
            "Check that the certificate in provider.client_certificate.cert_file is uploaded to this app registration (Certificates & secrets), is not expired, and that key_file is its key.",
        ),
        70021 | 700024 => (
            "The federated credential did not match or the assertion expired.",
            "Check the federated identity credential's issuer, subject (system:serviceaccount:<namespace>:<name>) and audience (api://AzureADTokenExchange) on the app registration; for AADSTS700024, check that the kubelet still refreshes provider.federated_token_file.",
        ),
        50196 => (
            "Microsoft detected a sign-in loop.",
            "Something keeps restarting sign-in; check that the session cookie survives (cookie domain, https, clock).",
        ),
        90038 | 900432 => (
            "The tenant is in another cloud than the authority.",
            "Set provider.authority to the tenant's cloud (global, US Government or China).",
        ),
        _ => return None,
    };
    Some(Explanation { code, meaning, fix })
}

/// OAuth `error` values Microsoft uses, so an error page may name them without echoing
/// attacker-chosen text.
pub fn known_error(error: &str) -> Option<&'static str> {
    const KNOWN: &[&str] = &[
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "server_error",
        "temporarily_unavailable",
        "invalid_resource",
        "login_required",
        "interaction_required",
        "consent_required",
        "invalid_client",
        "invalid_grant",
        "unsupported_grant_type",
        "invalid_scope",
    ];
    KNOWN.iter().copied().find(|k| *k == error)
}

/// Whether a token-endpoint refusal of a refresh token means the user must sign in again (the
/// grant is revoked, expired or now needs interaction such as MFA), rather than a passing fault.
pub fn ends_session(error: &str, codes: &[u32]) -> bool {
    const GRANT_GONE: [u32; 7] = [50076, 50079, 70008, 700082, 50173, 50078, 50133];
    matches!(
        error,
        "invalid_grant" | "interaction_required" | "login_required" | "consent_required"
    ) || codes.iter().any(|c| GRANT_GONE.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_from_microsoft_descriptions() {
        assert_eq!(
            aadsts_code("AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"),
            Some(7000215)
        );
        assert_eq!(aadsts_code("no code here"), None);
        assert_eq!(aadsts_code("AADSTS"), None);
        assert_eq!(aadsts_code("AADSTS99999999999999999"), Some(999_999_999));
    }

    #[test]
    fn refused_grants_end_sessions_and_passing_faults_do_not() {
        assert!(ends_session("invalid_grant", &[70008]));
        assert!(ends_session("interaction_required", &[50076]));
        assert!(ends_session("invalid_request", &[50173]));
        assert!(!ends_session("temporarily_unavailable", &[]));
        assert!(!ends_session("server_error", &[90100]));
        assert!(!ends_session("invalid_client", &[7000215]));
    }

    #[test]
    fn the_common_codes_are_explained() {
        for code in [50011, 7000215, 700016, 65001, 65004, 50020, 54005, 70008] {
            let e = explain(code).unwrap_or_else(|| panic!("{code} unexplained"));
            assert_eq!(e.code, code);
            assert!(!e.fix.is_empty());
        }
        assert!(explain(7000215).is_some_and(|e| e.fix.contains("secret value")));
        assert_eq!(explain(1), None);
    }

    #[test]
    fn only_known_error_values_are_named() {
        assert_eq!(known_error("invalid_client"), Some("invalid_client"));
        assert_eq!(known_error("<script>"), None);
    }
}
