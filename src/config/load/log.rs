//! The `log` section: the log format and the filter. Checks values only; installing the
//! subscriber is [`crate::logging`]'s job, and whether stdout is a terminal is decided there, at
//! start-up, not here.

use tracing_subscriber::EnvFilter;
use url::Url;

use super::{Problems, RawLog, Text};
use crate::config::{LogConfig, LogFormat};

/// The `log` section, or `None` after pushing its problems.
pub(super) fn log(raw: RawLog, problems: &mut Problems) -> Option<LogConfig> {
    let format = format(raw.format, problems);
    let level = level(raw.level, problems);
    let otlp_endpoint = otlp_endpoint(raw.otlp_endpoint, problems);
    Some(LogConfig {
        format: format?,
        level: level?,
        otlp_endpoint: otlp_endpoint?,
    })
}

/// `json`, `text` or `auto` (case-insensitive); absent is `auto` (`None`).
fn format(raw: Option<Text>, problems: &mut Problems) -> Option<Option<LogFormat>> {
    let Some(Text(text)) = raw else {
        return Some(None);
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "json" => Some(Some(LogFormat::Json)),
        "text" => Some(Some(LogFormat::Text)),
        "auto" => Some(None),
        _ => {
            let shown = problems.quote("log.format", &text);
            problems.push(
                "log.format",
                format!(
                    "{shown} is not a log format; write json, text, or auto (JSON when stdout \
                     is not a terminal, the default)"
                ),
            );
            None
        }
    }
}

/// A `tracing` filter, parsed now so a typo fails at load rather than silently logging nothing.
fn level(raw: Option<Text>, problems: &mut Problems) -> Option<Option<String>> {
    let Some(Text(text)) = raw else {
        return Some(None);
    };
    let text = text.trim();
    if text.is_empty() {
        return Some(None);
    }
    let problem = match EnvFilter::try_new(text) {
        Err(error) => Some(error.to_string()),
        // A bare word is a valid directive (every level of that target), so `inf` or `verbose`
        // would parse and log almost nothing; only level names may stand alone.
        Ok(_) => text
            .split(',')
            .map(str::trim)
            .any(|d| !d.is_empty() && !d.contains(['=', '[']) && !is_level(d))
            .then(|| "a directive without = must be a level name".to_owned()),
    };
    match problem {
        None => Some(Some(text.to_owned())),
        Some(why) => {
            let shown = problems.quote("log.level", text);
            problems.push(
                "log.level",
                format!(
                    "{shown} is not a log filter ({why}); write a level (error, warn, info, \
                     debug, trace, off) or directives like entrance=debug,info"
                ),
            );
            None
        }
    }
}

/// The OTLP/HTTP collector: an http(s) URL with a host, without query or credentials. Parsed
/// in every build so a build without the `otel` feature says why it cannot honour the key
/// instead of calling it unknown.
fn otlp_endpoint(raw: Option<Text>, problems: &mut Problems) -> Option<Option<Url>> {
    let key = "log.otlp_endpoint";
    let Some(Text(text)) = raw else {
        return Some(None);
    };
    let text = text.trim();
    if text.is_empty() {
        return Some(None);
    }
    if !cfg!(feature = "otel") {
        problems.push(
            key,
            "this build has no OpenTelemetry support; build with --features otel, or remove \
             the key",
        );
        return None;
    }
    match Url::parse(text) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.query().is_none()
                && url.username().is_empty()
                && url.password().is_none() =>
        {
            Some(Some(url))
        }
        _ => {
            let shown = problems.quote(key, text);
            problems.push(
                key,
                format!(
                    "{shown} is not an OTLP/HTTP collector URL; write the collector's base URL, \
                     e.g. http://collector:4318 (spans go to its /v1/traces)"
                ),
            );
            None
        }
    }
}

fn is_level(word: &str) -> bool {
    ["error", "warn", "info", "debug", "trace", "off"]
        .iter()
        .any(|level| word.eq_ignore_ascii_case(level))
}
