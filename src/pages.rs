//! The pages people see: errors, 403, signed-out. One small layout; every dynamic value is
//! HTML-escaped here, so callers cannot forget.

/// A page to render.
pub struct Page<'a> {
    pub title: &'a str,
    /// One paragraph for the person in front of the browser.
    pub message: &'a str,
    /// Extra lines for the operator (what went wrong and what to change); never secrets.
    pub operator_hint: Option<&'a str>,
    /// A link offered to continue ("Try again", "Sign in again").
    pub action: Option<(&'a str, &'a str)>,
    /// Quoted by users when they report a problem; matches the log line.
    pub reference: Option<&'a str>,
}

impl Page<'_> {
    pub fn render(&self) -> String {
        let mut html = String::with_capacity(2048);
        html.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        html.push_str("<title>");
        html.push_str(&escape(self.title));
        html.push_str("</title><style>");
        html.push_str(STYLE);
        html.push_str("</style></head><body><main><h1>");
        html.push_str(&escape(self.title));
        html.push_str("</h1><p>");
        html.push_str(&escape(self.message));
        html.push_str("</p>");
        if let Some(hint) = self.operator_hint {
            html.push_str(
                "<section aria-label=\"For the administrator\"><h2>For the administrator</h2><p>",
            );
            html.push_str(&escape(hint));
            html.push_str("</p></section>");
        }
        if let Some((label, href)) = self.action {
            html.push_str("<p><a class=\"button\" href=\"");
            html.push_str(&escape(href));
            html.push_str("\">");
            html.push_str(&escape(label));
            html.push_str("</a></p>");
        }
        if let Some(reference) = self.reference {
            html.push_str("<p class=\"ref\">Reference: <code>");
            html.push_str(&escape(reference));
            html.push_str("</code></p>");
        }
        html.push_str("</main><footer>entrance</footer></body></html>\n");
        html
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f5f5f5;color:#1b1b1b}\
main{max-width:40rem;margin:4rem auto;background:#fff;padding:2rem 2.5rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15)}\
h1{font-size:1.5rem;margin-top:0}h2{font-size:1rem;margin-bottom:.25rem}\
section{border-left:4px solid #0063b1;padding-left:1rem;margin:1.5rem 0;color:#333}\
a.button{display:inline-block;background:#0063b1;color:#fff;padding:.6rem 1.2rem;border-radius:4px;text-decoration:none}\
a.button:focus{outline:3px solid #1b1b1b;outline-offset:2px}.ref{color:#555;font-size:.85rem}\
footer{text-align:center;color:#555;font-size:.8rem}";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_escaped() {
        let html = Page {
            title: "<t>",
            message: "<script>alert(1)</script>",
            operator_hint: Some("a & b"),
            action: Some(("go", "/x?a=1&b=\"2\"")),
            reference: Some("'r'"),
        }
        .render();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("a &amp; b"));
        assert!(html.contains("href=\"/x?a=1&amp;b=&quot;2&quot;\""));
        assert!(html.contains("&#39;r&#39;"));
    }
}
