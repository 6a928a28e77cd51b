//! Loading the config: YAML text → `${VAR}` substitution → raw structs (`deny_unknown_fields`) →
//! a validated [`Config`], with every problem collected under its key path before failing.
//!
//! The only module that knows the file is YAML (serde_yaml is archived upstream; swapping it must
//! touch nothing else). It must not read the process environment except in [`load_file`], and must
//! never put a secret into a message. [`validate`] runs the checks section by section (the front
//! door in [`serving`], [`upstreams`], [`hosts`], [`session`], ...); reading secrets from a value
//! or a file is [`secrets`], checking other configured files is [`files`].

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_path_to_error::Segment;
use serde_yaml::Value;

use super::Config;

mod admin;
mod authorization;
mod files;
mod hosts;
mod log;
mod provider;
mod redis;
mod secrets;
mod serving;
mod session;
mod ui;
mod upstreams;
mod validate;
mod values;

use values::{Flag, OneOrList, Text};

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
struct Problems {
    found: Vec<Problem>,
    /// Keys whose value came (partly) from the environment. Such values are never quoted back:
    /// the environment is where secrets live, and one may land under the wrong key.
    from_env: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of config keys")]
struct RawConfig {
    listen: Option<serving::RawListen>,
    public_url: Option<Text>,
    upstream: Option<Text>,
    upstreams: Option<Vec<upstreams::RawUpstream>>,
    upstream_timeout: Option<Text>,
    limits: Option<serving::RawLimits>,
    trusted_proxies: Option<Vec<Text>>,
    hosts: Option<Vec<hosts::RawHost>>,
    provider: Option<RawProvider>,
    session: Option<session::RawSession>,
    authorization: Option<RawAuthorization>,
    routes: Option<Vec<RawRoute>>,
    api: Option<RawApi>,
    admin: Option<RawAdmin>,
    ui: Option<RawUi>,
    log: Option<RawLog>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of provider keys")]
struct RawProvider {
    cloud: Option<Text>,
    authority: Option<Text>,
    tenant: Option<Text>,
    client_id: Option<Text>,
    client_secret: Option<Text>,
    client_secret_file: Option<Text>,
    client_certificate: Option<RawCertificate>,
    federated_token_file: Option<Text>,
    scopes: Option<Vec<Text>>,
    sign_out_at_microsoft: Option<Flag>,
    timeout: Option<Text>,
    /// `federated_token_file` came from `AZURE_FEDERATED_TOKEN_FILE`, not from the file.
    #[serde(skip)]
    federated_token_file_from_env: bool,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with cert_file and key_file"
)]
struct RawCertificate {
    cert_file: Option<Text>,
    key_file: Option<Text>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of authorization keys")]
struct RawAuthorization {
    allowed_tenants: Option<Vec<Text>>,
    allowed_email_domains: Option<Vec<Text>>,
    allowed_emails: Option<Vec<Text>>,
    allowed_users: Option<Vec<Text>>,
    allowed_groups: Option<Vec<Text>>,
    allowed_roles: Option<Vec<Text>>,
    groups_source: Option<Text>,
}

/// A `hosts[i].authorization`: the six rule lists (groups come from the top-level section).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of allowed_* rule lists")]
struct RawHostAuthorization {
    allowed_tenants: Option<Vec<Text>>,
    allowed_email_domains: Option<Vec<Text>>,
    allowed_emails: Option<Vec<Text>>,
    allowed_users: Option<Vec<Text>>,
    allowed_groups: Option<Vec<Text>>,
    allowed_roles: Option<Vec<Text>>,
}

// The six `allowed_*` keys are repeated rather than `#[serde(flatten)]`ed: serde ignores
// `deny_unknown_fields` on a struct with a flattened field.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a route: a mapping with path or regex, and public, deny or rules"
)]
struct RawRoute {
    path: Option<Text>,
    regex: Option<Text>,
    methods: Option<Vec<Text>>,
    public: Option<Flag>,
    deny: Option<Flag>,
    mode: Option<Text>,
    allowed_tenants: Option<Vec<Text>>,
    allowed_email_domains: Option<Vec<Text>>,
    allowed_emails: Option<Vec<Text>>,
    allowed_users: Option<Vec<Text>>,
    allowed_groups: Option<Vec<Text>>,
    allowed_roles: Option<Vec<Text>>,
    required_scopes: Option<Vec<Text>>,
    required_roles: Option<Vec<Text>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of api keys")]
struct RawApi {
    enabled: Option<Flag>,
    audiences: Option<Vec<Text>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of ui keys")]
struct RawUi {
    title: Option<Text>,
    logo_url: Option<Text>,
    accent_color: Option<Text>,
    footer: Option<Text>,
    sign_in_page: Option<Flag>,
    templates_dir: Option<Text>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of log keys")]
struct RawLog {
    format: Option<Text>,
    level: Option<Text>,
    otlp_endpoint: Option<Text>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a mapping of admin keys")]
struct RawAdmin {
    listen: Option<Text>,
}

/// Why `${…}` could not be expanded.
enum ExpandError {
    Unset(String),
    Malformed,
}

/// Keys whose value may instead come from `<key>_file`; named in the missing-variable hint.
const FILE_BACKED: [&str; 3] = [
    "provider.client_secret",
    "session.secret",
    "session.redis.password",
];
/// Bounds the retry loop in [`deserialize`]; a file with more shape problems gets the first ones.
const MAX_SHAPE_PROBLEMS: usize = 32;

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
        Some(config) if problems.found.is_empty() => Ok(config),
        _ => {
            // Every `None` pushes a problem first; this only guards an empty error.
            if problems.found.is_empty() {
                problems.push("", "the config is not valid");
            }
            Err(ConfigError::Invalid {
                problems: problems.found,
            })
        }
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
        if self.found.iter().any(|known| covers(&known.path, &path)) {
            return;
        }
        self.found.push(Problem {
            path,
            message: message.into(),
        });
    }

    /// `value` when `problem` is `None`; otherwise the problem is pushed at `key` and `None`
    /// returned. For checks written as "which problem, if any" chains.
    fn verdict<T, M: Into<String>>(
        &mut self,
        key: &str,
        problem: Option<M>,
        value: T,
    ) -> Option<T> {
        match problem {
            Some(message) => {
                self.push(key, message);
                None
            }
            None => Some(value),
        }
    }

    /// `value` quoted for a message about `key`, unless it came from the environment.
    fn quote(&self, key: &str, value: &str) -> String {
        if self.from_env.iter().any(|k| k == key) {
            "the value from the environment".to_owned()
        } else {
            format!("{value:?}")
        }
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
    let mut raw = deserialize(tree, problems)?;
    provider::fill_from_env(
        raw.provider.get_or_insert_with(Default::default),
        env,
        problems,
    );
    validate::validate(raw, base_dir, problems)
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
            Ok(expanded) => {
                if expanded != *text {
                    problems.from_env.push(path.to_owned());
                }
                *text = expanded;
            }
            Err(ExpandError::Unset(name)) => {
                // `session.secret[1]` is an entry of `session.secret`, which has a `_file` form.
                let base = path.split('[').next().unwrap_or(path);
                let alternative = if FILE_BACKED.contains(&base) {
                    format!("use {base}_file")
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

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
