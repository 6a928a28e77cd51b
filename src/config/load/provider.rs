//! The `provider` section: which Microsoft cloud and authority, the tenant, the app's client id
//! and its one client credential (secret, certificate or federated token file), scopes and
//! timeout. Azure Workload Identity's environment (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
//! `AZURE_AUTHORITY_HOST`, `AZURE_FEDERATED_TOKEN_FILE`) fills keys the file leaves out.
//!
//! Must not: read the process environment (only the loader's injected lookup), write a
//! Microsoft host (they come from [`crate::microsoft::cloud`]), or quote a secret or key.

use std::path::Path;
use std::time::Duration;

use url::Url;

use super::secrets::{non_empty, sourced};
use super::validate::{checked, duration, is_loopback, url};
use super::{Problems, RawCertificate, RawProvider, Text};
use crate::config::ProviderConfig;
use crate::microsoft::cloud::{cloud_of_host, is_ciam_host, retired_host};
use crate::microsoft::{ClientCredential, Cloud, CredentialError};
use crate::names::{is_domain, is_guid};
use crate::secret::Secret;

const DEFAULT_TENANT: &str = "organizations";
const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The credential keys, of which exactly one must be set.
const CREDENTIAL_KEYS: [&str; 4] = [
    "client_secret",
    "client_secret_file",
    "client_certificate",
    "federated_token_file",
];

/// Fill what the config leaves out from Azure Workload Identity's variables (MICROSOFT.md D.5),
/// read through the loader's `env`. `AZURE_AUTHORITY_HOST` only when neither `authority` nor
/// `cloud` is set; `AZURE_FEDERATED_TOKEN_FILE` only when no credential is set, so a pod that
/// has the webhook's variables can still use a secret or certificate. Empty values are unset.
pub(super) fn fill_from_env(
    raw: &mut RawProvider,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) {
    let mut fill = |slot: &mut Option<Text>, key: &str, variable: &str| {
        if slot.is_some() {
            return false;
        }
        let Some(value) = env(variable).filter(|v| !v.trim().is_empty()) else {
            return false;
        };
        *slot = Some(Text(value.trim().to_owned()));
        problems.from_env.push(format!("provider.{key}"));
        true
    };
    fill(&mut raw.client_id, "client_id", "AZURE_CLIENT_ID");
    fill(&mut raw.tenant, "tenant", "AZURE_TENANT_ID");
    if raw.cloud.is_none() {
        fill(&mut raw.authority, "authority", "AZURE_AUTHORITY_HOST");
    }
    if credential_keys(raw).is_empty() {
        raw.federated_token_file_from_env = fill(
            &mut raw.federated_token_file,
            "federated_token_file",
            "AZURE_FEDERATED_TOKEN_FILE",
        );
    }
}

/// The provider keys other than `tenant`, which the caller has checked with [`tenant`].
pub(super) fn provider(
    mut raw: RawProvider,
    tenant: Option<String>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<ProviderConfig> {
    let located = authority(raw.cloud.take(), raw.authority.take(), problems);
    if let (Some((authority, _)), Some(tenant)) = (&located, &tenant) {
        external_id_tenant(authority, tenant, problems);
    }
    let client_id = client_id(raw.client_id.take(), problems);
    let sign_out_at_microsoft = raw.sign_out_at_microsoft.take().is_some_and(|f| f.0);
    let scopes = scopes(raw.scopes.take(), problems);
    let timeout = duration(
        "provider.timeout",
        raw.timeout.take(),
        PROVIDER_TIMEOUT,
        problems,
    );
    // Last: its "exactly one" problem sits at `provider` and hides later `provider.*` ones.
    let credential = credential(raw, base_dir, problems);
    let (authority, cloud) = located?;
    Some(ProviderConfig {
        authority,
        cloud,
        tenant: tenant?,
        client_id: client_id?,
        credential: credential?,
        scopes: scopes?,
        sign_out_at_microsoft,
        timeout: timeout?,
    })
}

/// `provider.tenant`: `common`, `organizations`, `consumers`, a GUID or a domain, lower-cased.
pub(super) fn tenant(raw: Option<Text>, problems: &mut Problems) -> Option<String> {
    // Tenant names and GUIDs are case-insensitive at Microsoft; tokens carry lower-case GUIDs.
    let tenant = raw.map_or_else(|| DEFAULT_TENANT.to_owned(), |t| t.0.trim().to_lowercase());
    if matches!(tenant.as_str(), "common" | "organizations" | "consumers")
        || is_guid(&tenant)
        || is_domain(&tenant)
    {
        return Some(tenant);
    }
    let shown = problems.quote("provider.tenant", &tenant);
    problems.push(
        "provider.tenant",
        format!(
            "{shown} is not a tenant; use common, organizations, consumers, your tenant GUID \
             or a domain like contoso.onmicrosoft.com"
        ),
    );
    None
}

/// `provider.cloud` and `provider.authority`: the authority URL and the cloud it is in (`None`
/// for External ID, custom domains and emulators).
fn authority(
    cloud: Option<Text>,
    authority: Option<Text>,
    problems: &mut Problems,
) -> Option<(Url, Option<Cloud>)> {
    let cloud = match cloud {
        None => None,
        Some(Text(name)) => match Cloud::from_name(&name.trim().to_ascii_lowercase()) {
            Some(cloud) => Some(cloud),
            None => {
                let shown = problems.quote("provider.cloud", &name);
                let message = format!("{shown} is not a cloud; use global, usgov or china");
                problems.push("provider.cloud", message);
                return None;
            }
        },
    };
    let given = authority.is_some();
    let text = authority.map_or_else(
        || cloud.unwrap_or(Cloud::Global).authority().to_owned(),
        |t| t.0,
    );
    let url = authority_url(&text, problems)?;
    let host = url.host_str().unwrap_or_default();
    let in_cloud = cloud_of_host(host);
    match cloud {
        Some(cloud) if given && in_cloud != Some(cloud) => {
            let actual = in_cloud.map_or_else(
                || "which is not a host of that cloud".to_owned(),
                |c| format!("which is in the {} cloud", c.name()),
            );
            problems.push(
                "provider.cloud",
                format!(
                    "{} does not match provider.authority ({host}, {actual}); give only one of \
                     them",
                    cloud.name()
                ),
            );
            None
        }
        _ => Some((url, cloud.or(in_cloud))),
    }
}

/// The authority URL: https (http on loopback), no path, not a retired cloud.
fn authority_url(text: &str, problems: &mut Problems) -> Option<Url> {
    let key = "provider.authority";
    let url = url(key, text, problems)?;
    let problem = match url.scheme() {
        "https" => None,
        "http" if is_loopback(&url) => None,
        "http" => Some(
            "must use https (http is allowed only for a loopback host such as 127.0.0.1 or \
             localhost, e.g. a local emulator)"
                .to_owned(),
        ),
        _ => Some(format!(
            "must be an https:// URL, e.g. {}",
            Cloud::Global.authority()
        )),
    };
    let problem = problem
        .or_else(|| {
            (url.path() != "/")
                .then(|| "must have no path; the tenant goes in provider.tenant".to_owned())
        })
        .or_else(|| url.host_str().and_then(retired_host).map(str::to_owned));
    checked(key, url, problem, problems)
}

/// External ID (`*.ciamlogin.com`) has no multi-tenant endpoints: the tenant must be named.
fn external_id_tenant(authority: &Url, tenant: &str, problems: &mut Problems) {
    let host = authority.host_str().unwrap_or_default();
    if is_ciam_host(host) && matches!(tenant, "common" | "organizations" | "consumers") {
        problems.push(
            "provider.tenant",
            format!(
                "{tenant} is not available with an External ID authority ({host}); use your \
                 tenant GUID or domain, e.g. contoso.onmicrosoft.com"
            ),
        );
    }
}

fn client_id(raw: Option<Text>, problems: &mut Problems) -> Option<String> {
    let key = "provider.client_id";
    match raw {
        Some(Text(id)) if id.chars().any(char::is_whitespace) => {
            problems.push(key, "must not contain spaces or line breaks");
            None
        }
        Some(Text(id)) if !id.is_empty() => Some(id),
        _ => {
            problems.push(
                key,
                "required; the Application (client) ID of your app registration (or set \
                 AZURE_CLIENT_ID)",
            );
            None
        }
    }
}

fn scopes(raw: Option<Vec<Text>>, problems: &mut Problems) -> Option<Vec<String>> {
    let key = "provider.scopes";
    let Some(raw) = raw else {
        return Some(DEFAULT_SCOPES.map(str::to_owned).to_vec());
    };
    let mut scopes: Vec<String> = Vec::new();
    let mut ok = true;
    for (index, Text(scope)) in raw.into_iter().enumerate() {
        if scope.is_empty() || scope.chars().any(char::is_whitespace) {
            let path = format!("{key}[{index}]");
            let message = format!(
                "{} is not a scope; list each scope as its own item",
                problems.quote(&path, &scope)
            );
            problems.push(path, message);
            ok = false;
        } else if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if ok && !scopes.iter().any(|s| s == "openid") {
        problems.push(
            key,
            "must contain openid; entrance signs users in with OpenID Connect",
        );
        ok = false;
    }
    ok.then_some(scopes)
}

/// The credential keys that are set, in [`CREDENTIAL_KEYS`] order.
fn credential_keys(raw: &RawProvider) -> Vec<&'static str> {
    let set = [
        raw.client_secret.is_some(),
        raw.client_secret_file.is_some(),
        raw.client_certificate.is_some(),
        raw.federated_token_file.is_some(),
    ];
    CREDENTIAL_KEYS
        .into_iter()
        .zip(set)
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
}

/// Exactly one of the credential keys, loaded and checked.
fn credential(
    raw: RawProvider,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<ClientCredential> {
    let keys = credential_keys(&raw);
    if keys.len() != 1 {
        let found = if keys.is_empty() {
            "none is set (a client secret, certificate or federated credential of your app \
             registration)"
                .to_owned()
        } else {
            format!("found {}", keys.join(" and "))
        };
        problems.push(
            "provider",
            format!(
                "give exactly one of {}; {found}",
                CREDENTIAL_KEYS.join(", ")
            ),
        );
        return None;
    }
    if let Some(certificate) = raw.client_certificate {
        return client_certificate(certificate, base_dir, problems);
    }
    if let Some(Text(file)) = raw.federated_token_file {
        return federated_token_file(&file, raw.federated_token_file_from_env, base_dir, problems);
    }
    sourced(
        "provider.client_secret",
        raw.client_secret,
        raw.client_secret_file,
        base_dir,
        "required",
        problems,
    )
    .and_then(|s| non_empty(s, problems))
    .map(|s| ClientCredential::Secret(Secret::new(s.value)))
}

/// `client_certificate: { cert_file, key_file }`: PEM certificate and its RSA key.
fn client_certificate(
    raw: RawCertificate,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<ClientCredential> {
    let cert_key = "provider.client_certificate.cert_file";
    let key_key = "provider.client_certificate.key_file";
    let cert = read_pem(
        cert_key,
        raw.cert_file,
        "the certificate registered on the app, PEM (e.g. tls.crt)",
        base_dir,
        problems,
    );
    let key = read_pem(
        key_key,
        raw.key_file,
        "the certificate's RSA private key, PEM (e.g. tls.key)",
        base_dir,
        problems,
    );
    let ((cert_path, cert), (key_path, key)) = (cert?, key?);
    match ClientCredential::certificate(&cert, &key) {
        Ok(credential) => Some(credential),
        Err(CredentialError::Certificate(why)) => {
            problems.push(cert_key, format!("{cert_path} {why}"));
            None
        }
        Err(error) => {
            problems.push(key_key, format!("{key_path} {error}"));
            None
        }
    }
}

/// The bytes of the file named at `key`, with the path as shown in messages.
fn read_pem(
    key: &str,
    raw: Option<Text>,
    what: &str,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<(String, Vec<u8>)> {
    let Some(Text(file)) = raw else {
        problems.push(key, format!("required; {what}"));
        return None;
    };
    let path = base_dir.join(file.trim());
    match std::fs::read(&path) {
        Ok(bytes) => Some((path.display().to_string(), bytes)),
        Err(error) => {
            problems.push(key, format!("cannot read {}: {error}", path.display()));
            None
        }
    }
}

/// `federated_token_file`: must be readable and non-empty now; it is read again for every
/// token request. A path from `AZURE_FEDERATED_TOKEN_FILE` is taken as it is.
fn federated_token_file(
    file: &str,
    from_env: bool,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<ClientCredential> {
    let key = "provider.federated_token_file";
    let path = if from_env {
        Path::new(file.trim()).to_owned()
    } else {
        base_dir.join(file.trim())
    };
    let origin = if from_env {
        " (the path comes from AZURE_FEDERATED_TOKEN_FILE)"
    } else {
        ""
    };
    let problem = match std::fs::read_to_string(&path) {
        Ok(token) if token.trim().is_empty() => format!("{} is empty{origin}", path.display()),
        Ok(_) => return Some(ClientCredential::FederatedTokenFile(path)),
        Err(error) => format!("cannot read {}: {error}{origin}", path.display()),
    };
    problems.push(key, problem);
    None
}
