#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use super::*;

const SCRIPT: &str = "<script>alert(1)</script>";

fn nasty_page() -> Page<'static> {
    Page {
        title: "<script>alert('t')</script>",
        message: SCRIPT,
        operator_hint: Some("<script>hint</script> a & b"),
        action: Some(("<b>go</b>", "/x?a=1&b=\"2\"")),
        reference: Some("<script>'r'</script>"),
    }
}

fn brand() -> Branding {
    Branding {
        title: "Contoso <Intranet>".to_owned(),
        logo_url: Some("/public/logo.svg?a=1&b=2".to_owned()),
        accent_color: "#123456".to_owned(),
        footer: Some("Run by IT & friends".to_owned()),
        overrides: HashMap::new(),
    }
}

/// A fresh directory no other test (or test run) uses.
fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "entrance-pages-{}-{nanos}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ui_with_dir(dir: PathBuf) -> UiConfig {
    UiConfig {
        templates_dir: Some(dir),
        ..UiConfig::default()
    }
}

// askama writes numeric character references (&#60;); `escape` and overrides named ones.
#[test]
fn no_field_ever_appears_raw_on_any_page() {
    for kind in PageKind::ALL {
        for brand in [Branding::default(), brand()] {
            let html = nasty_page().render_with(kind, &brand);
            assert!(!html.contains("<script>"), "{kind:?}: {html}");
            assert!(!html.contains("<b>go"), "{kind:?}");
            assert!(!html.contains("<Intranet>"), "{kind:?}");
            assert!(!html.contains("a=1&b"), "{kind:?}: raw & in an attribute");
            assert!(
                html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
                "{kind:?}"
            );
        }
    }
}

#[test]
fn error_pages_show_message_hint_action_and_reference_escaped() {
    let html = nasty_page().render();
    assert!(html.contains("&#60;script&#62;hint&#60;/script&#62; a &#38; b"));
    assert!(html.contains("href=\"/x?a=1&#38;b=&#34;2&#34;\""));
    assert!(html.contains("&#60;b&#62;go&#60;/b&#62;"));
    assert!(html.contains("<code>&#60;script&#62;&#39;r&#39;&#60;/script&#62;</code>"));
}

#[test]
fn every_error_and_forbidden_page_carries_the_reference() {
    let page = Page {
        title: "Access denied",
        message: "Not for you.",
        operator_hint: None,
        action: None,
        reference: Some("req-7f3a"),
    };
    for kind in [PageKind::Error, PageKind::Forbidden] {
        let html = page.render_with(kind, &brand());
        assert!(
            html.contains("Reference: <code>req-7f3a</code>"),
            "{kind:?}"
        );
    }
}

#[test]
fn pages_are_accessible_without_javascript() {
    for kind in PageKind::ALL {
        let html = nasty_page().render_with(kind, &brand());
        assert!(html.contains("<html lang=\"en\">"), "{kind:?}");
        assert!(
            html.contains("<main>") && html.contains("</main>"),
            "{kind:?}"
        );
        assert!(!html.contains("<script"), "{kind:?}");
        assert!(html.contains(":focus-visible{outline"), "{kind:?}");
        // Headings in order: exactly one h1, and any h2 after it.
        assert_eq!(html.matches("<h1").count(), 1, "{kind:?}");
        let h1 = html.find("<h1").unwrap();
        assert!(html.find("<h2").is_none_or(|h2| h2 > h1), "{kind:?}");
    }
}

#[test]
fn branding_values_appear() {
    let html = nasty_page().render_with(PageKind::Error, &brand());
    assert!(html
        .contains("<img src=\"/public/logo.svg?a=1&#38;b=2\" alt=\"Contoso &#60;Intranet&#62;\">"));
    assert!(html.contains("--accent:#123456"));
    assert!(html.contains("<footer><p>Run by IT &#38; friends</p></footer>"));
    assert!(html.contains("· Contoso &#60;Intranet&#62;</title>"));

    let plain = nasty_page().render();
    assert!(plain.contains("<p class=\"brand\">entrance</p>"));
    assert!(plain.contains("--accent:#0063b1"));
    assert!(!plain.contains("<footer>"));
}

#[test]
fn a_bad_accent_never_reaches_the_css() {
    let mut brand = brand();
    brand.accent_color = "red}body{display:none".to_owned();
    let html = nasty_page().render_with(PageKind::Error, &brand);
    assert!(html.contains("--accent:#0063b1"));
    assert!(!html.contains("display:none"));
}

#[test]
fn the_sign_in_page_is_a_link_styled_as_a_button() {
    let html = sign_in_page(&brand(), "/oauth2/start?rd=%2Fa&x=\"1\"");
    assert!(html.contains("<a class=\"button\" href=\"/oauth2/start?rd=%2Fa&#38;x=&#34;1&#34;\">"));
    assert!(html.contains("Sign in with Microsoft</a>"));
    assert!(html.contains("continue to Contoso &#60;Intranet&#62;."));
    assert!(html.contains("aria-hidden=\"true\""));
    assert!(!html.contains("<script"));
}

#[test]
fn accent_colours_are_checked_for_shape_and_contrast() {
    assert_eq!(check_accent("#0063B1").unwrap(), "#0063b1");
    assert_eq!(check_accent("#000").unwrap(), "#000");
    assert!(check_accent(DEFAULT_ACCENT).is_ok());
    for bad in [
        "0063b1",
        "#0063b",
        "#0063b1ff",
        "#ggg",
        "red",
        "",
        "#",
        "#é12",
    ] {
        assert!(check_accent(bad).unwrap_err().contains("#rgb"), "{bad}");
    }
    for light in ["#fff", "#ffff00", "#7fba00"] {
        assert!(
            check_accent(light).unwrap_err().contains("too light"),
            "{light}"
        );
    }
}

#[test]
fn override_files_replace_pages_and_escape_every_value() {
    let dir = temp_dir("override");
    std::fs::write(
        dir.join("error.html"),
        "<h1>{{title}}</h1><p>{{ message }}</p><i>{{operator_hint}}</i>\
         <a href=\"{{action_href}}\">{{action_label}}</a><code>{{reference}}</code>\
         <b>{{brand_title}}</b><s>{{footer}}</s><u>{{logo_url}}</u><q>{{accent_color}}</q>",
    )
    .unwrap();
    let mut ui = ui_with_dir(dir);
    ui.title = "Fabrikam & Co".to_owned();
    let brand = Branding::from_config(&ui).unwrap();
    assert!(brand.is_overridden(PageKind::Error));
    assert!(!brand.is_overridden(PageKind::Forbidden));

    let html = nasty_page().render_with(PageKind::Error, &brand);
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.starts_with("<h1>&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;</h1>"));
    assert!(html.contains("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"));
    assert!(html.contains("<a href=\"/x?a=1&amp;b=&quot;2&quot;\">&lt;b&gt;go&lt;/b&gt;</a>"));
    assert!(html.contains("<b>Fabrikam &amp; Co</b><s></s><u></u><q>#0063b1</q>"));
}

#[test]
fn a_page_without_an_override_file_falls_back_to_the_built_in_one() {
    let dir = temp_dir("fallback");
    std::fs::write(dir.join("forbidden.html"), "custom 403 {{reference}}").unwrap();
    let brand = Branding::from_config(&ui_with_dir(dir)).unwrap();
    let page = nasty_page();
    assert!(page
        .render_with(PageKind::Forbidden, &brand)
        .starts_with("custom 403 &lt;script&gt;"));
    let error = page.render_with(PageKind::Error, &brand);
    assert!(error.starts_with("<!doctype html>"));
    assert!(error.contains("<main>"));
}

#[test]
fn override_problems_are_refused_at_start() {
    let dir = temp_dir("unknown");
    std::fs::write(dir.join("sign_in.html"), "{{titel}} {{ message }}").unwrap();
    let error = Branding::from_config(&ui_with_dir(dir)).unwrap_err();
    assert!(error.starts_with("ui.templates_dir: "), "{error}");
    assert!(
        error.contains("sign_in.html: unknown placeholder {{titel}}"),
        "{error}"
    );

    let missing = temp_dir("missing").join("nope");
    let error = Branding::from_config(&ui_with_dir(missing)).unwrap_err();
    assert!(error.contains("is not a directory"), "{error}");
}

#[test]
fn unclosed_braces_in_an_override_are_text() {
    let page = nasty_page();
    let mut brand = Branding::default();
    brand
        .overrides
        .insert(PageKind::SignedOut, "a {{ b".to_owned());
    assert_eq!(page.render_with(PageKind::SignedOut, &brand), "a {{ b");
}
