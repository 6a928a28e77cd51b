//! The `ui` section: branding of the pages people see, checked and turned into [`UiConfig`].
//!
//! What an accent colour may be is owned by [`crate::pages::check_accent`]; this file adds key
//! paths. Must not read the override files (that is [`crate::pages::Branding::from_config`], at
//! start-up) or quote a value that came from the environment.

use std::path::Path;

use url::Url;

use super::{Flag, Problems, RawUi, Text};
use crate::config::UiConfig;
use crate::pages;

/// Longer titles and footers break the layout; they are a line of text, not a paragraph.
const MAX_TEXT: usize = 200;

pub(super) fn ui(raw: RawUi, base_dir: &Path, problems: &mut Problems) -> Option<UiConfig> {
    let defaults = UiConfig::default();
    let title = match raw.title {
        Some(Text(text)) => line("ui.title", text, problems),
        None => Some(defaults.title),
    };
    let footer = raw
        .footer
        .map(|Text(text)| line("ui.footer", text, problems));
    let logo_url = raw.logo_url.map(|Text(text)| logo_url(text, problems));
    let accent_color = match raw.accent_color {
        Some(Text(text)) => match pages::check_accent(text.trim()) {
            Ok(colour) => Some(colour),
            Err(why) => {
                let shown = problems.quote("ui.accent_color", text.trim());
                problems.push("ui.accent_color", format!("{shown} {why}"));
                None
            }
        },
        None => Some(defaults.accent_color),
    };
    let templates_dir = match raw.templates_dir {
        Some(Text(text)) if text.trim().is_empty() => {
            problems.push(
                "ui.templates_dir",
                "must not be empty; remove the key instead",
            );
            return None;
        }
        Some(Text(text)) => Some(base_dir.join(text.trim())),
        None => None,
    };
    Some(UiConfig {
        title: title?,
        logo_url: optional(logo_url)?,
        accent_color: accent_color?,
        footer: optional(footer)?,
        sign_in_page: raw.sign_in_page.is_some_and(|Flag(on)| on),
        templates_dir,
    })
}

/// An optional key's outcome: `Some(None)` when absent, `None` when given but refused.
fn optional(checked: Option<Option<String>>) -> Option<Option<String>> {
    match checked {
        None => Some(None),
        Some(value) => value.map(Some),
    }
}

/// One line of visible text: trimmed, not empty, no control characters, not too long.
fn line(key: &str, text: String, problems: &mut Problems) -> Option<String> {
    let text = text.trim();
    let problem = if text.is_empty() {
        Some("must not be empty; remove the key for the default".to_owned())
    } else if text.chars().any(char::is_control) {
        Some("must be one line of text without control characters".to_owned())
    } else if text.chars().count() > MAX_TEXT {
        Some(format!("must be at most {MAX_TEXT} characters"))
    } else {
        None
    };
    problems.verdict(key, problem, text.to_owned())
}

/// An absolute http(s) URL or a path on this site (`/static/logo.svg`, served through a public
/// route); never `javascript:`, `data:` or a protocol-relative `//host`.
fn logo_url(text: String, problems: &mut Problems) -> Option<String> {
    let key = "ui.logo_url";
    let text = text.trim();
    let ok = if text.starts_with('/') {
        !text.starts_with("//")
            && !text
                .chars()
                .any(|c| c.is_control() || c == '\\' || c == ' ')
    } else {
        Url::parse(text)
            .is_ok_and(|url| matches!(url.scheme(), "https" | "http") && url.host().is_some())
    };
    if ok {
        Some(text.to_owned())
    } else {
        problems.push(
            key,
            "must be an https:// URL or a path on this site starting with /, \
             e.g. /public/logo.svg",
        );
        None
    }
}
