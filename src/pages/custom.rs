//! The operator's page overrides from `ui.templates_dir`: plain HTML files read once at start,
//! with `{{name}}` placeholders that are filled per request, every value HTML-escaped.
//!
//! Deliberately not a template language (no logic, no raw output): an override can place
//! values but never inject markup through them. Unknown placeholders are refused at start.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::Path;

use super::{escape, usable_accent, Branding, Page, PageKind};

/// Every placeholder an override may use.
pub(super) const PLACEHOLDERS: [&str; 10] = [
    "title",
    "message",
    "operator_hint",
    "action_label",
    "action_href",
    "reference",
    "brand_title",
    "logo_url",
    "accent_color",
    "footer",
];
/// An override bigger than this is a mistake (a page is a few KB), not a page.
const MAX_SIZE: u64 = 256 * 1024;

/// Read the override files present in `dir`; an absent file is not an error.
pub(super) fn load(dir: &Path) -> Result<HashMap<PageKind, String>, String> {
    if !dir.is_dir() {
        return Err(format!(
            "ui.templates_dir: {} is not a directory",
            dir.display()
        ));
    }
    let mut overrides = HashMap::new();
    for kind in PageKind::ALL {
        let path = dir.join(kind.file_name());
        let unusable = |why: String| format!("ui.templates_dir: {}: {why}", path.display());
        match std::fs::metadata(&path) {
            Ok(meta) if meta.len() > MAX_SIZE => {
                return Err(unusable(format!("larger than {MAX_SIZE} bytes")));
            }
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::NotFound => continue,
            Err(error) => return Err(unusable(error.to_string())),
        }
        let text = std::fs::read_to_string(&path).map_err(|e| unusable(e.to_string()))?;
        check(&text).map_err(unusable)?;
        overrides.insert(kind, text);
    }
    Ok(overrides)
}

/// Refuse unknown placeholders (a typo would otherwise show `{{titel}}` to every user).
pub(super) fn check(template: &str) -> Result<(), String> {
    let mut unknown = Vec::new();
    walk(template, |piece| {
        if let Piece::Placeholder(name) = piece {
            if !PLACEHOLDERS.contains(&name) {
                unknown.push(format!("{{{{{name}}}}}"));
            }
        }
    });
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "unknown placeholder {}; known: {}",
            unknown.join(", "),
            PLACEHOLDERS.map(|p| format!("{{{{{p}}}}}")).join(", ")
        ))
    }
}

/// `template` with every placeholder replaced by its escaped value (empty when absent).
pub(super) fn fill(template: &str, page: &Page<'_>, brand: &Branding) -> String {
    let mut out = String::with_capacity(template.len() + 512);
    walk(template, |piece| match piece {
        Piece::Text(text) => out.push_str(text),
        Piece::Placeholder(name) => match value(name, page, brand) {
            Some(value) => out.push_str(&escape(value)),
            // Unreachable after `check`; keep the text visible rather than guess.
            None if !PLACEHOLDERS.contains(&name) => {
                out.push_str(&escape(&format!("{{{{{name}}}}}")));
            }
            None => {}
        },
    });
    out
}

/// A part of an override: literal text or a placeholder name (trimmed).
enum Piece<'t> {
    Text(&'t str),
    Placeholder(&'t str),
}

/// Split `template` at `{{ name }}`; a `{{` without a closing `}}` is text.
fn walk<'t>(template: &'t str, mut visit: impl FnMut(Piece<'t>)) {
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            break;
        };
        visit(Piece::Text(&rest[..open]));
        visit(Piece::Placeholder(after[..close].trim()));
        rest = &after[close + 2..];
    }
    visit(Piece::Text(rest));
}

fn value<'v>(name: &str, page: &Page<'v>, brand: &'v Branding) -> Option<&'v str> {
    match name {
        "title" => Some(page.title),
        "message" => Some(page.message),
        "operator_hint" => page.operator_hint,
        "action_label" => page.action.map(|(label, _)| label),
        "action_href" => page.action.map(|(_, href)| href),
        "reference" => page.reference,
        "brand_title" => Some(&brand.title),
        "logo_url" => brand.logo_url.as_deref(),
        "accent_color" => Some(usable_accent(brand)),
        "footer" => brand.footer.as_deref(),
        _ => None,
    }
}
