//! Loading the config: YAML text → `${VAR}` substitution → raw structs (`deny_unknown_fields`) →
//! a validated [`Config`], with every problem collected under its key path before failing.
//!
//! The only module that knows the file is YAML (serde_yaml is archived upstream; swapping it must
//! touch nothing else). It must not read the process environment except in [`load_file`], and must
//! never put a secret into a message.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_path_to_error::Segment;
use serde_yaml::Value;
use url::{Host, Url};

use super::{AuthorizationConfig, Config, ProviderConfig, RouteConfig, SessionConfig, TenantRule};
use crate::secret::Secret;

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file itself could not be read.
    // The OS error is part of the message (not a `source`) so a plain `{}` tells the whole story.
    #[error("cannot read config file {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The text was read but is not a valid config: every problem found, one per line.
    #[error("{}", lines(problems))]
    Invalid { problems: Vec<Problem> },
}

/// One thing wrong with a config, at a key path such as `routes[2].path` (empty for the whole
/// file). The message never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

/// Problems found so far. Only the first problem at a key (or at one of its parents) is kept:
/// a later one is a consequence (a missing variable makes the value empty; a key dropped for its
/// wrong type then looks missing) and would only add noise.
#[derive(Default)]
struct Problems(Vec<Problem>);

/// A scalar read as text. YAML numbers and booleans are accepted as written, so `timeout: 10`
/// reaches the duration check and its hint instead of a bare type error.
struct Text(String);

/// A boolean; also `"true"`/`"false"` strings, which is what `${VAR}` substitution produces.
struct Flag(bool);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of config keys")]
struct RawConfig {
    listen: Option<Text>,
    public_url: Option<Text>,
    upstream: Option<Text>,
    upstream_timeout: Option<Text>,
    provider: Option<RawProvider>,
    session: Option<RawSession>,
    authorization: Option<RawAuthorization>,
    routes: Option<Vec<RawRoute>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of provider keys")]
struct RawProvider {
    authority: Option<Text>,
    tenant: Option<Text>,
    client_id: Option<Text>,
    client_secret: Option<Text>,
    client_secret_file: Option<Text>,
    scopes: Option<Vec<Text>>,
    sign_out_at_microsoft: Option<Flag>,
    timeout: Option<Text>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of session keys")]
struct RawSession {
    secret: Option<Text>,
    secret_file: Option<Text>,
    cookie_name: Option<Text>,
    lifetime: Option<Text>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of authorization keys")]
struct RawAuthorization {
    allowed_tenants: Option<Vec<Text>>,
    allowed_email_domains: Option<Vec<Text>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a route: a mapping with path and public"
)]
struct RawRoute {
    path: Option<Text>,
    public: Option<Flag>,
}

/// A value read from `key` or from the file named by `key_file`, with the key it came from.
struct Sourced {
    key: String,
    value: String,
}

/// Why `${…}` could not be expanded.
enum ExpandError {
    Unset(String),
    Malformed,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:4180";
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
const DEFAULT_TENANT: &str = "organizations";
const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
const DEFAULT_COOKIE_NAME: &str = "_entrance";
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Browsers cap cookie lifetimes at 400 days; longer would also risk overflowing expiry maths.
const MAX_LIFETIME: Duration = Duration::from_secs(400 * 24 * 3600);
const MIN_SECRET_BYTES: usize = 32;
/// Keys whose value may instead come from `<key>_file`; named in the missing-variable hint.
const FILE_BACKED: [&str; 2] = ["provider.client_secret", "session.secret"];
/// Bounds the retry loop in [`deserialize`]; a file with more shape problems gets the first ones.
const MAX_SHAPE_PROBLEMS: usize = 32;
const SECRET_HINT: &str = "run 'entrance secret' to make one";

/// Accepts standard and url-safe base64 (after mapping `-_` to `+/`), padded or not.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Load the config file at `path`: `${VAR}` reads the process environment, and relative
/// `*_file` paths are relative to the config file's directory.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_owned(),
        error,
    })?;
    let base_dir = path.parent().unwrap_or(Path::new(""));
    load_str_in(&text, &|name| std::env::var(name).ok(), base_dir)
}

/// Load config text; `env` answers `${VAR}`; relative `*_file` paths are relative to the current
/// directory.
pub fn load_str(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    load_str_in(text, env, Path::new(""))
}

/// [`load_str`], with relative `*_file` paths resolved against `base_dir`.
pub fn load_str_in(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    base_dir: &Path,
) -> Result<Config, ConfigError> {
    let mut problems = Problems::default();
    let config = parse(text, env, base_dir, &mut problems);
    match config {
        Some(config) if problems.0.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid {
            problems: problems.0,
        }),
    }
}

impl ConfigError {
    /// The problems found (none when the file could not be read).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { problems } => problems,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl Problems {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        if self.0.iter().any(|known| covers(&known.path, &path)) {
            return;
        }
        self.0.push(Problem {
            path,
            message: message.into(),
        });
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl Visitor<'_> for FlagVisitor {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                match v.trim() {
                    "true" => Ok(Flag(true)),
                    "false" => Ok(Flag(false)),
                    // No `Unexpected::Str`: it would quote the value into the message.
                    _ => Err(E::custom("expected true or false")),
                }
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

fn lines(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    lines.join("\n")
}

/// Whether a problem already reported at `known` makes one at `path` redundant.
fn covers(known: &str, path: &str) -> bool {
    if known.is_empty() {
        return true;
    }
    match path.strip_prefix(known) {
        Some(rest) => rest.is_empty() || rest.starts_with('.') || rest.starts_with('['),
        None => false,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The whole pipeline; `None` when the text could not even be turned into raw structs.
fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Config> {
    let mut tree = match serde_yaml::from_str::<Value>(text) {
        Ok(tree) => tree,
        Err(error) => {
            problems.push("", format!("not valid YAML: {error}"));
            return None;
        }
    };
    // An empty file is an empty mapping: report the missing required keys, not a type error.
    if tree.is_null() {
        tree = Value::Mapping(serde_yaml::Mapping::new());
    }
    substitute(&mut tree, "", env, problems);
    let raw = deserialize(tree, problems)?;
    validate(raw, base_dir, problems)
}

/// Replace `${VAR}` in every string scalar (`$${` is a literal `${`).
fn substitute(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) {
    match value {
        Value::String(text) => match expand(text, env) {
            Ok(expanded) => *text = expanded,
            Err(ExpandError::Unset(name)) => {
                let alternative = if FILE_BACKED.contains(&path) {
                    format!("use {path}_file")
                } else {
                    "write the value in the config".to_owned()
                };
                problems.push(
                    path,
                    format!("environment variable {name} is not set; export it or {alternative}"),
                );
            }
            Err(ExpandError::Malformed) => problems.push(
                path,
                "'${' must be followed by a variable name and '}', like ${NAME}; \
                 write $${ for a literal ${",
            ),
        },
        Value::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                substitute(item, &format!("{path}[{index}]"), env, problems);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = key.as_str().unwrap_or("?");
                substitute(item, &join(path, key), env, problems);
            }
        }
        Value::Tagged(tagged) => substitute(&mut tagged.value, path, env, problems),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let at = &rest[dollar..];
        if let Some(tail) = at.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = at.strip_prefix("${") {
            let end = tail.find('}').ok_or(ExpandError::Malformed)?;
            let name = &tail[..end];
            if !is_variable_name(name) {
                return Err(ExpandError::Malformed);
            }
            out.push_str(&env(name).ok_or_else(|| ExpandError::Unset(name.to_owned()))?);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &at[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Deserialize into raw structs. Serde stops at the first unknown key or wrong type, so each one
/// is reported, removed from the tree, and the rest retried: one run names them all.
fn deserialize(mut tree: Value, problems: &mut Problems) -> Option<RawConfig> {
    for _ in 0..MAX_SHAPE_PROBLEMS {
        let error = match serde_path_to_error::deserialize::<_, RawConfig>(&tree) {
            Ok(raw) => return Some(raw),
            Err(error) => error,
        };
        let segments: Vec<&Segment> = error.path().iter().collect();
        problems.push(render_path(&segments), shape_message(error.inner()));
        if !remove(&mut tree, &segments) {
            return None;
        }
    }
    None
}

fn render_path(segments: &[&Segment]) -> String {
    let mut path = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key } => path = join(&path, key),
            Segment::Enum { variant } => path = join(&path, variant),
            Segment::Unknown => path = join(&path, "?"),
        }
    }
    path
}

/// Remove the innermost mapping entry on `segments` (a sequence element would shift the indexes
/// of later problems, so a bad element drops its whole list). False when nothing was removed.
fn remove(tree: &mut Value, segments: &[&Segment]) -> bool {
    let Some(last) = segments
        .iter()
        .rposition(|s| matches!(s, Segment::Map { .. }))
    else {
        return false;
    };
    let mut node = tree;
    for segment in &segments[..last] {
        let next = match segment {
            Segment::Seq { index } => node.get_mut(*index),
            Segment::Map { key } => node.get_mut(key.as_str()),
            Segment::Enum { .. } | Segment::Unknown => None,
        };
        match next {
            Some(next) => node = next,
            None => return false,
        }
    }
    match (segments[last], node.as_mapping_mut()) {
        (Segment::Map { key }, Some(map)) => map.remove(key.as_str()).is_some(),
        _ => false,
    }
}

/// Serde's message, reworded for config keys, with any quoted string value removed (serde quotes
/// the offending value, which may be a secret substituted in the wrong place).
fn shape_message(error: &serde_yaml::Error) -> String {
    let message = error.to_string();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        // "unknown field `x`, expected one of `a`, `b`" or "…, there are no fields".
        let expected = rest.split_once("`, ").map(|(_, e)| e).unwrap_or_default();
        return format!("unknown key; {}", expected.replace('`', ""));
    }
    match message.find("string \"") {
        Some(start) => match message.rfind("\", expected") {
            Some(end) if end > start => {
                format!("{}a string{}", &message[..start], &message[end + 1..])
            }
            _ => format!("{}a string", &message[..start]),
        },
        None => message,
    }
}

/// Turn raw values into the typed config, pushing every problem.
fn validate(raw: RawConfig, base_dir: &Path, problems: &mut Problems) -> Option<Config> {
    let listen = listen(raw.listen, problems);
    let public_url = public_url(raw.public_url, problems);
    let upstream = upstream(raw.upstream, problems);
    let upstream_timeout = duration(
        "upstream_timeout",
        raw.upstream_timeout,
        UPSTREAM_TIMEOUT,
        problems,
    );
    let provider = provider(raw.provider.unwrap_or_default(), base_dir, problems);
    let session = session(raw.session.unwrap_or_default(), base_dir, problems);
    let tenant = provider.as_ref().map(|p| p.tenant.as_str());
    let authorization = authorization(raw.authorization.unwrap_or_default(), tenant, problems);
    let routes = routes(raw.routes.unwrap_or_default(), problems);
    Some(Config {
        listen: listen?,
        public_url: public_url?,
        upstream: upstream?,
        upstream_timeout: upstream_timeout?,
        provider: provider?,
        session: session?,
        authorization: authorization?,
        routes: routes?,
    })
}

fn listen(raw: Option<Text>, problems: &mut Problems) -> Option<SocketAddr> {
    let text = raw.map_or_else(|| DEFAULT_LISTEN.to_owned(), |t| t.0);
    match text.trim().parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            problems.push(
                "listen",
                format!(
                    "{text:?} is not an address; write an IP address and port like \
                     127.0.0.1:4180 or 0.0.0.0:4180 (host names are not accepted)"
                ),
            );
            None
        }
    }
}

fn public_url(raw: Option<Text>, problems: &mut Problems) -> Option<Url> {
    let Some(Text(text)) = raw else {
        problems.push(
            "public_url",
            "required; the URL browsers use to reach entrance, e.g. https://app.example.com",
        );
        return None;
    };
    let url = url("public_url", &text, problems)?;
    let problem = if !matches!(url.scheme(), "http" | "https") {
        Some("must start with http:// or https://".to_owned())
    } else if url.path() != "/" {
        Some(format!(
            "must have no path (found {:?}); entrance needs the whole origin, e.g. \
             https://app.example.com",
            url.path()
        ))
    } else {
        None
    };
    checked("public_url", url, problem, problems)
}

fn upstream(raw: Option<Text>, problems: &mut Problems) -> Option<Url> {
    let Some(Text(text)) = raw else {
        problems.push(
            "upstream",
            "required; the URL of the app behind entrance, e.g. http://127.0.0.1:8080",
        );
        return None;
    };
    let url = url("upstream", &text, problems)?;
    let problem = match url.scheme() {
        "http" => None,
        "https" => Some(
            "https upstreams are not supported yet; use http:// to an app on the same host or \
             a private network"
                .to_owned(),
        ),
        _ => Some("must be an http:// URL, e.g. http://127.0.0.1:8080".to_owned()),
    };
    checked("upstream", url, problem, problems)
}

fn authority(raw: Option<Text>, problems: &mut Problems) -> Option<Url> {
    let text = raw.map_or_else(|| DEFAULT_AUTHORITY.to_owned(), |t| t.0);
    let key = "provider.authority";
    let url = url(key, &text, problems)?;
    let problem = match url.scheme() {
        "https" => None,
        "http" if is_loopback(&url) => None,
        "http" => Some(
            "must use https (http is allowed only for a loopback host such as 127.0.0.1 or \
             localhost, e.g. a local emulator)"
                .to_owned(),
        ),
        _ => Some("must be an https:// URL, e.g. https://login.microsoftonline.com".to_owned()),
    };
    let problem = problem.or_else(|| {
        (url.path() != "/").then(|| "must have no path; the tenant goes in provider.tenant".into())
    });
    checked(key, url, problem, problems)
}

/// Parse an absolute URL. The value is not quoted back: it could carry a password.
fn url(key: &str, text: &str, problems: &mut Problems) -> Option<Url> {
    match Url::parse(text.trim()) {
        Ok(url) => Some(url),
        Err(error) => {
            problems.push(
                key,
                format!("is not a URL ({error}); write it like http://host:port"),
            );
            None
        }
    }
}

/// Push `problem`, or the checks every configured URL shares; return the URL when all passed.
fn checked(key: &str, url: Url, problem: Option<String>, problems: &mut Problems) -> Option<Url> {
    let problem = problem.or_else(|| {
        if url.host().is_none() {
            Some("must name a host".to_owned())
        } else if !url.username().is_empty() || url.password().is_some() {
            Some("must not contain a user name or password".to_owned())
        } else if url.query().is_some() || url.fragment().is_some() {
            Some("must have no query (?…) or fragment (#…)".to_owned())
        } else {
            None
        }
    });
    match problem {
        Some(message) => {
            problems.push(key, message);
            None
        }
        None => Some(url),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn duration(
    key: &str,
    raw: Option<Text>,
    default: Duration,
    problems: &mut Problems,
) -> Option<Duration> {
    let Some(Text(text)) = raw else {
        return Some(default);
    };
    match humantime::parse_duration(text.trim()) {
        Ok(value) if value.is_zero() => {
            problems.push(key, "must be more than 0s");
            None
        }
        Ok(value) => Some(value),
        Err(_) => {
            problems.push(
                key,
                format!("{text:?} is not a duration; write it like 90s, 15m or 8h"),
            );
            None
        }
    }
}

fn provider(raw: RawProvider, base_dir: &Path, problems: &mut Problems) -> Option<ProviderConfig> {
    let authority = authority(raw.authority, problems);
    let tenant = tenant(raw.tenant, problems);
    let client_id = client_id(raw.client_id, problems);
    let client_secret = sourced(
        "provider.client_secret",
        raw.client_secret,
        raw.client_secret_file,
        base_dir,
        "required (or provider.client_secret_file); a client secret of your app registration \
         (Certificates & secrets)",
        problems,
    )
    .and_then(|s| non_empty(s, problems))
    .map(|s| Secret::new(s.value));
    let scopes = scopes(raw.scopes, problems);
    let timeout = duration("provider.timeout", raw.timeout, PROVIDER_TIMEOUT, problems);
    Some(ProviderConfig {
        authority: authority?,
        tenant: tenant?,
        client_id: client_id?,
        client_secret: client_secret?,
        scopes: scopes?,
        sign_out_at_microsoft: raw.sign_out_at_microsoft.is_some_and(|f| f.0),
        timeout: timeout?,
    })
}

fn tenant(raw: Option<Text>, problems: &mut Problems) -> Option<String> {
    // Tenant names and GUIDs are case-insensitive at Microsoft; tokens carry lower-case GUIDs.
    let tenant = raw.map_or_else(|| DEFAULT_TENANT.to_owned(), |t| t.0.trim().to_lowercase());
    if matches!(tenant.as_str(), "common" | "organizations" | "consumers")
        || is_guid(&tenant)
        || is_domain(&tenant)
    {
        return Some(tenant);
    }
    problems.push(
        "provider.tenant",
        format!(
            "{tenant:?} is not a tenant; use common, organizations, consumers, your tenant GUID \
             or a domain like contoso.onmicrosoft.com"
        ),
    );
    None
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
                "required; the Application (client) ID of your app registration",
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
            problems.push(
                format!("{key}[{index}]"),
                format!("{scope:?} is not a scope; list each scope as its own item"),
            );
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

fn session(raw: RawSession, base_dir: &Path, problems: &mut Problems) -> Option<SessionConfig> {
    let secret = sourced(
        "session.secret",
        raw.secret,
        raw.secret_file,
        base_dir,
        "required (or session.secret_file); base64 of at least 32 random bytes; \
         run 'entrance secret' to make one",
        problems,
    )
    .and_then(|s| session_secret(s, problems));
    let cookie_name = cookie_name(raw.cookie_name, problems);
    let lifetime = duration("session.lifetime", raw.lifetime, SESSION_LIFETIME, problems);
    let lifetime = lifetime.and_then(|value| {
        if value < Duration::from_secs(1) {
            problems.push("session.lifetime", "must be at least 1s");
            None
        } else if value > MAX_LIFETIME {
            problems.push(
                "session.lifetime",
                "must be at most 400d (browsers cap cookies at 400 days)",
            );
            None
        } else {
            Some(value)
        }
    });
    Some(SessionConfig {
        secret: secret?,
        cookie_name: cookie_name?,
        lifetime: lifetime?,
    })
}

fn session_secret(source: Sourced, problems: &mut Problems) -> Option<Secret<Vec<u8>>> {
    let source = non_empty(source, problems)?;
    let normalised: String = source
        .value
        .trim()
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    // The decode error is not shown: it quotes the offending character and its offset.
    match LENIENT_BASE64.decode(normalised) {
        Ok(bytes) if bytes.len() >= MIN_SECRET_BYTES => Some(Secret::new(bytes)),
        Ok(_) => {
            let message =
                format!("must decode to at least {MIN_SECRET_BYTES} bytes; {SECRET_HINT}");
            problems.push(source.key, message);
            None
        }
        Err(_) => {
            problems.push(source.key, format!("is not base64; {SECRET_HINT}"));
            None
        }
    }
}

fn cookie_name(raw: Option<Text>, problems: &mut Problems) -> Option<String> {
    let key = "session.cookie_name";
    let name = raw.map_or_else(|| DEFAULT_COOKIE_NAME.to_owned(), |t| t.0);
    let lower = name.to_ascii_lowercase();
    // Browsers match these prefixes case-insensitively.
    if lower.starts_with("__host-") || lower.starts_with("__secure-") {
        problems.push(
            key,
            "must not start with __Host- or __Secure-; entrance adds the prefix itself when \
             public_url is https",
        );
        return None;
    }
    if name.is_empty() || !name.chars().all(is_token_char) {
        problems.push(
            key,
            format!(
                "{name:?} is not a valid cookie name; use letters, digits and \
                 ! # $ % & ' * + - . ^ _ ` | ~"
            ),
        );
        return None;
    }
    Some(name)
}

/// RFC 9110 `tchar`: what a cookie name may contain.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// The value of `key` or the content of the file named by `<key>_file` (exactly one).
fn sourced(
    key: &str,
    value: Option<Text>,
    file: Option<Text>,
    base_dir: &Path,
    required: &str,
    problems: &mut Problems,
) -> Option<Sourced> {
    let file_key = format!("{key}_file");
    match (value, file) {
        (Some(_), Some(_)) => {
            problems.push(key, format!("set only one of {key} and {file_key}"));
            None
        }
        (None, None) => {
            problems.push(key, required);
            None
        }
        (Some(Text(value)), None) => Some(Sourced {
            key: key.to_owned(),
            value,
        }),
        (None, Some(Text(file))) => {
            let path = base_dir.join(file.trim());
            match std::fs::read_to_string(&path) {
                Ok(content) => Some(Sourced {
                    key: file_key,
                    value: content.trim_end_matches(['\n', '\r']).to_owned(),
                }),
                Err(error) => {
                    let message = format!("cannot read {}: {error}", path.display());
                    problems.push(file_key, message);
                    None
                }
            }
        }
    }
}

fn non_empty(source: Sourced, problems: &mut Problems) -> Option<Sourced> {
    if source.value.trim().is_empty() {
        let what = if source.key.ends_with("_file") {
            "the file is empty"
        } else {
            "is empty"
        };
        problems.push(source.key, what);
        return None;
    }
    Some(source)
}

fn authorization(
    raw: RawAuthorization,
    provider_tenant: Option<&str>,
    problems: &mut Problems,
) -> Option<AuthorizationConfig> {
    let allowed_tenants = allowed_tenants(
        raw.allowed_tenants.unwrap_or_default(),
        provider_tenant,
        problems,
    );
    let allowed_email_domains =
        email_domains(raw.allowed_email_domains.unwrap_or_default(), problems);
    Some(AuthorizationConfig {
        allowed_tenants: allowed_tenants?,
        allowed_email_domains: allowed_email_domains?,
    })
}

fn allowed_tenants(
    raw: Vec<Text>,
    provider_tenant: Option<&str>,
    problems: &mut Problems,
) -> Option<TenantRule> {
    let key = "authorization.allowed_tenants";
    let listed = !raw.is_empty();
    let (mut any, mut guids, mut ok) = (false, Vec::new(), true);
    for (index, Text(entry)) in raw.into_iter().enumerate() {
        let entry = entry.trim().to_ascii_lowercase();
        if entry == "*" {
            any = true;
        } else if is_guid(&entry) {
            if !guids.contains(&entry) {
                guids.push(entry);
            }
        } else {
            problems.push(
                format!("{key}[{index}]"),
                format!(
                    "{entry:?} is not a tenant GUID (tokens carry the GUID, not a name); copy \
                     the Tenant ID from the Entra admin center, or use \"*\""
                ),
            );
            ok = false;
        }
    }
    if any && !guids.is_empty() {
        problems.push(
            key,
            "\"*\" allows every tenant, so it must be the only entry",
        );
        ok = false;
    }
    let multi_tenant = matches!(provider_tenant, Some("common" | "organizations"));
    if !listed && multi_tenant {
        problems.push(
            key,
            "required when provider.tenant is common/organizations (any Microsoft tenant could \
             sign in); list your tenant GUIDs, or [\"*\"] to allow every tenant",
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(if any {
        TenantRule::Any
    } else if guids.is_empty() {
        TenantRule::Unrestricted
    } else {
        TenantRule::Only(guids)
    })
}

fn email_domains(raw: Vec<Text>, problems: &mut Problems) -> Option<Vec<String>> {
    let mut domains: Vec<String> = Vec::new();
    let mut ok = true;
    for (index, Text(entry)) in raw.into_iter().enumerate() {
        let domain = entry.trim().to_ascii_lowercase();
        let message = if domain.contains('@') {
            "write the domain only, e.g. example.com (not user@example.com or @example.com)"
                .to_owned()
        } else if !is_domain(&domain) {
            format!("{domain:?} is not a domain name, e.g. example.com")
        } else {
            if !domains.contains(&domain) {
                domains.push(domain);
            }
            continue;
        };
        problems.push(
            format!("authorization.allowed_email_domains[{index}]"),
            message,
        );
        ok = false;
    }
    ok.then_some(domains)
}

fn routes(raw: Vec<RawRoute>, problems: &mut Problems) -> Option<Vec<RouteConfig>> {
    let mut routes = Vec::new();
    let mut ok = true;
    for (index, route) in raw.into_iter().enumerate() {
        let key = format!("routes[{index}].path");
        let message = match route.path {
            None => "required; an exact path like /healthz, or a prefix ending in / like /static/",
            Some(Text(path)) if !path.starts_with('/') => "must start with /",
            Some(Text(path)) if path.contains(['?', '#']) => {
                "must be a path only; routes never match a query (?…) or fragment (#…)"
            }
            Some(Text(path)) => {
                routes.push(RouteConfig {
                    path,
                    public: route.public.is_some_and(|f| f.0),
                });
                continue;
            }
        };
        problems.push(key, message);
        ok = false;
    }
    ok.then_some(routes)
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits.
fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A dotted host name: at least two labels of letters, digits and inner hyphens. Requiring a dot
/// catches typos such as `organisations`, which would otherwise pass as a name.
fn is_domain(text: &str) -> bool {
    let labels: Vec<&str> = text.split('.').collect();
    text.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
