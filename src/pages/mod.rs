//! The pages people see: errors, 403, signed-out and the optional sign-in page. Owns their
//! markup (askama templates under `templates/`, one layout and one template per [`PageKind`]),
//! the branding applied to them, the operator's override files, and what an accent colour may be.
//!
//! Every dynamic value is HTML-escaped here, so callers cannot forget. Must not: decide status
//! codes or which page an error gets (that is [`crate::respond`]), or read files after start-up.

mod custom;
mod view;

use std::collections::HashMap;

use crate::config::UiConfig;

/// The accent colour when none is configured: white text on it has a contrast of 6.1:1.
pub const DEFAULT_ACCENT: &str = "#0063b1";
/// WCAG 2 AA for normal text: white button text on the accent needs at least this contrast.
const MIN_CONTRAST: f64 = 4.5;

/// A page to render.
pub struct Page<'a> {
    pub title: &'a str,
    /// One paragraph for the person in front of the browser.
    pub message: &'a str,
    /// Extra lines for the operator (what went wrong and what to change); never secrets.
    pub operator_hint: Option<&'a str>,
    /// A link offered to continue: (label, href), e.g. ("Try again", "/oauth2/start").
    pub action: Option<(&'a str, &'a str)>,
    /// Quoted by users when they report a problem; matches the log line. Error and 403 pages
    /// always get one.
    pub reference: Option<&'a str>,
}

/// Which page template renders a [`Page`]; also names the override file in `ui.templates_dir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageKind {
    /// Any failure but a denial (`error.html`).
    Error,
    /// Signed in, but the rules refuse this user (`forbidden.html`).
    Forbidden,
    /// After sign-out (`signed_out.html`).
    SignedOut,
    /// The optional interstitial before going to Microsoft (`sign_in.html`).
    SignIn,
}

/// How pages look: the `ui` section, with override files already read. Built once at start.
#[derive(Debug, Clone)]
pub struct Branding {
    /// Shown in the header of every page and in `<title>`.
    pub title: String,
    /// Shown in the header instead of the title text, with the title as `alt`.
    pub logo_url: Option<String>,
    /// Background of buttons (white text on it) and colour of accents. Anything that is not
    /// `#rgb`/`#rrggbb` is replaced by [`DEFAULT_ACCENT`] when rendering (it goes into CSS).
    pub accent_color: String,
    /// One line at the foot of every page.
    pub footer: Option<String>,
    /// Override text per page, from `ui.templates_dir`; pages without one use the built-in.
    overrides: HashMap<PageKind, String>,
}

impl PageKind {
    /// Every kind, for loading overrides.
    pub const ALL: [PageKind; 4] = [
        PageKind::Error,
        PageKind::Forbidden,
        PageKind::SignedOut,
        PageKind::SignIn,
    ];

    /// The override file's name in `ui.templates_dir`.
    pub fn file_name(self) -> &'static str {
        match self {
            PageKind::Error => "error.html",
            PageKind::Forbidden => "forbidden.html",
            PageKind::SignedOut => "signed_out.html",
            PageKind::SignIn => "sign_in.html",
        }
    }
}

impl Branding {
    /// The branding the `ui` section asks for. Reads `templates_dir/{error,forbidden,
    /// signed_out,sign_in}.html` when present (a missing file means the built-in page); the
    /// error names the file and why it is unusable (unreadable, unknown `{{placeholder}}`).
    /// Call once at start-up: it does blocking file I/O.
    pub fn from_config(ui: &UiConfig) -> Result<Self, String> {
        let overrides = match &ui.templates_dir {
            Some(dir) => custom::load(dir)?,
            None => HashMap::new(),
        };
        Ok(Branding {
            title: ui.title.clone(),
            logo_url: ui.logo_url.clone(),
            accent_color: ui.accent_color.clone(),
            footer: ui.footer.clone(),
            overrides,
        })
    }

    /// Whether `ui.templates_dir` overrides this page.
    pub fn is_overridden(&self, kind: PageKind) -> bool {
        self.overrides.contains_key(&kind)
    }
}

impl Default for Branding {
    /// The look of [`UiConfig::default`], without override files.
    fn default() -> Self {
        let ui = UiConfig::default();
        Branding {
            title: ui.title,
            logo_url: ui.logo_url,
            accent_color: ui.accent_color,
            footer: ui.footer,
            overrides: HashMap::new(),
        }
    }
}

impl Page<'_> {
    /// The page with entrance's default look, as an error page.
    pub fn render(&self) -> String {
        self.render_with(PageKind::Error, &Branding::default())
    }

    /// The page as `kind`, branded; the operator's override for `kind` when there is one.
    pub fn render_with(&self, kind: PageKind, brand: &Branding) -> String {
        match brand.overrides.get(&kind) {
            Some(template) => custom::fill(template, self, brand),
            None => view::render(kind, self, brand),
        }
    }
}

/// The optional interstitial (`ui.sign_in_page`): a "Sign in with Microsoft" button, a link
/// styled as a button (no JavaScript), to `start_href`.
pub fn sign_in_page(brand: &Branding, start_href: &str) -> String {
    let message = format!(
        "Sign in with your Microsoft account to continue to {}.",
        brand.title
    );
    Page {
        title: "Sign in",
        message: &message,
        operator_hint: None,
        action: Some(("Sign in with Microsoft", start_href)),
        reference: None,
    }
    .render_with(PageKind::SignIn, brand)
}

/// Check an accent colour: `#rgb` or `#rrggbb` (any case), dark enough that white text on it
/// has a contrast of at least 4.5:1. Returns it lower-case, or why it is refused.
pub fn check_accent(text: &str) -> Result<String, String> {
    let Some((r, g, b)) = parse_hex_color(text) else {
        return Err("must be a colour written #rgb or #rrggbb, e.g. #0063b1".to_owned());
    };
    let ratio = contrast_with_white(r, g, b);
    if ratio < MIN_CONTRAST {
        return Err(format!(
            "is too light: white text on it has a contrast of {ratio:.1}:1, at least \
             {MIN_CONTRAST}:1 is needed (WCAG AA); pick a darker colour, e.g. #0063b1"
        ));
    }
    Ok(text.to_ascii_lowercase())
}

/// Escape text for HTML element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `#rgb` / `#rrggbb` as 8-bit channels.
fn parse_hex_color(text: &str) -> Option<(u8, u8, u8)> {
    let hex = text.strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |s: &str| u8::from_str_radix(s, 16).ok();
    match hex.len() {
        3 => {
            let d = |i: usize| channel(&hex[i..=i]).map(|v| v * 17);
            Some((d(0)?, d(1)?, d(2)?))
        }
        6 => Some((
            channel(&hex[0..2])?,
            channel(&hex[2..4])?,
            channel(&hex[4..6])?,
        )),
        _ => None,
    }
}

/// WCAG 2 contrast ratio of white against this colour.
fn contrast_with_white(r: u8, g: u8, b: u8) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    1.05 / (luminance + 0.05)
}

/// The accent to put into CSS: the configured one when it is a colour, else the default.
fn usable_accent(brand: &Branding) -> &str {
    if parse_hex_color(&brand.accent_color).is_some() {
        &brand.accent_color
    } else {
        DEFAULT_ACCENT
    }
}

#[cfg(test)]
mod tests;
