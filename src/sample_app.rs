//! The demo's sample upstream: a tiny web app that shows what entrance sent it, as a page or, for
//! `Accept: application/json`, as JSON (which tests read too).
//!
//! It has no sign-in code of its own and trusts the identity headers blindly, which is safe only
//! because it is reachable through entrance alone. It must not grow real features.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response};
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::body::{self, Body};
use crate::server::{self, Running};

/// The identity headers entrance may send, in the order the page lists them.
static IDENTITY_HEADERS: [(HeaderName, &str); 9] = [
    (
        HeaderName::from_static("x-auth-request-user"),
        "X-Auth-Request-User",
    ),
    (
        HeaderName::from_static("x-auth-request-email"),
        "X-Auth-Request-Email",
    ),
    (
        HeaderName::from_static("x-auth-request-preferred-username"),
        "X-Auth-Request-Preferred-Username",
    ),
    (
        HeaderName::from_static("x-auth-request-groups"),
        "X-Auth-Request-Groups",
    ),
    (
        HeaderName::from_static("x-auth-request-roles"),
        "X-Auth-Request-Roles",
    ),
    (
        HeaderName::from_static("x-auth-request-oid"),
        "X-Auth-Request-Oid",
    ),
    (
        HeaderName::from_static("x-auth-request-tid"),
        "X-Auth-Request-Tid",
    ),
    (
        HeaderName::from_static("x-forwarded-user"),
        "X-Forwarded-User",
    ),
    (
        HeaderName::from_static("x-forwarded-email"),
        "X-Forwarded-Email",
    ),
];

/// A page with inline CSS only: nothing to load, nothing to run.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const STYLE: &str = "body{font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;\
margin:0;background:#f5f6f8;color:#1b1f24}main{max-width:60rem;margin:2rem auto;padding:0 1rem}\
h1{font-size:1.6rem;margin-bottom:.25rem}h2{font-size:1.15rem;margin-top:2rem}\
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}\
th,td{text-align:left;vertical-align:top;padding:.45rem .75rem;border-bottom:1px solid #e3e6ea}\
th{width:18rem;font-weight:600;white-space:nowrap}td{word-break:break-all}\
code,td{font-family:ui-monospace,'Cascadia Code',Menlo,monospace;font-size:.9rem}\
.absent{color:#8a929b;font-style:italic}.note{background:#fff8e1;border-left:4px solid #f2b600;\
padding:.6rem .9rem}nav a{margin-right:1.25rem;color:#0b63c5}";

/// Serve the sample app on `listener`.
pub fn spawn(listener: TcpListener) -> std::io::Result<Running> {
    server::spawn(listener, |req: Request<Incoming>, _peer| async move {
        respond(&req)
    })
}

/// Any method, any path: describe the request. The body is never read.
fn respond<B>(req: &Request<B>) -> Response<Body> {
    let (content_type, body) = if wants_json(req.headers()) {
        ("application/json", describe_json(req).to_string())
    } else {
        ("text/html; charset=utf-8", describe_html(req))
    };
    let mut response = Response::new(body::full(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The page shows who is signed in: never let a shared cache keep it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|range| range.split(';').next())
        .any(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn describe_json<B>(req: &Request<B>) -> Value {
    let headers = req.headers();
    let one = |index: usize| header_text(headers, &IDENTITY_HEADERS[index].0);
    let list = |index: usize| {
        one(index).map_or_else(Vec::new, |value| {
            value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        })
    };
    let all: BTreeMap<&str, String> = headers
        .keys()
        .filter_map(|name| Some((name.as_str(), shown_value(headers, name)?)))
        .collect();
    json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "identity": {
            "user": one(0),
            "email": one(1),
            "preferred_username": one(2),
            "groups": list(3),
            "roles": list(4),
            "oid": one(5),
            "tid": one(6),
        },
        "headers": all,
    })
}

fn describe_html<B>(req: &Request<B>) -> String {
    let headers = req.headers();
    let mut page = String::with_capacity(8 * 1024);
    page.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    page.push_str("<title>Sample app behind entrance</title><style>");
    page.push_str(STYLE);
    page.push_str("</style></head><body><main><h1>Sample app behind entrance</h1>");
    page.push_str(
        "<p>A plain web app with no sign-in code of its own. entrance signed you in with \
         Microsoft and told this app who you are in request headers.</p>",
    );

    page.push_str("<h2>Who entrance says you are</h2><table>");
    for (name, label) in &IDENTITY_HEADERS {
        row(&mut page, label, header_text(headers, name).as_deref());
    }
    page.push_str(
        "</table><p class=\"note\">These headers are trustworthy only because entrance removes \
         any copies the browser sends and sets them itself. Reached directly, without entrance, \
         this app would believe anyone.</p>",
    );

    page.push_str("<h2>Everything else entrance sent</h2><table>");
    row(&mut page, "Method", Some(req.method().as_str()));
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    row(&mut page, "Path", Some(path));
    let mut names: Vec<&HeaderName> = headers
        .keys()
        .filter(|name| !IDENTITY_HEADERS.iter().any(|(id, _)| id == *name))
        .collect();
    names.sort_by_key(|name| name.as_str());
    for name in names {
        row(
            &mut page,
            name.as_str(),
            shown_value(headers, name).as_deref(),
        );
    }
    page.push_str("</table>");

    page.push_str(
        "<h2>Try</h2><nav><a href=\"/oauth2/userinfo\">/oauth2/userinfo</a> \
         <a href=\"/oauth2/sign_out\">/oauth2/sign_out</a></nav></main></body></html>",
    );
    page
}

/// One table row; `None` renders as "(not sent)".
fn row(page: &mut String, label: &str, value: Option<&str>) {
    let _ = write!(page, "<tr><th><code>{}</code></th><td>", escape_html(label));
    match value {
        Some(value) => page.push_str(&escape_html(value)),
        None => page.push_str("<span class=\"absent\">(not sent)</span>"),
    }
    page.push_str("</td></tr>");
}

/// All values of a header joined with ", "; bytes that are not UTF-8 shown as U+FFFD.
fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let mut text = String::from_utf8_lossy(first.as_bytes()).into_owned();
    for value in values {
        text.push_str(", ");
        text.push_str(&String::from_utf8_lossy(value.as_bytes()));
    }
    Some(text)
}

/// A header's value as shown on the page and in JSON. Credentials are cut down to what is safe
/// on a screenshot: cookie names and the authorization scheme.
fn shown_value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let text = header_text(headers, name)?;
    if name == header::COOKIE {
        let names: Vec<String> = text
            .split(';')
            .filter_map(|pair| pair.split('=').next())
            .map(|cookie| format!("{}=…", cookie.trim()))
            .collect();
        return Some(names.join("; "));
    }
    if name == header::AUTHORIZATION || name == header::PROXY_AUTHORIZATION {
        let scheme = text.split(' ').next().unwrap_or_default();
        return Some(format!("{scheme} …"));
    }
    Some(text)
}

/// Escape text for HTML element content and quoted attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_text(response: Response<Body>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn escape_html_neutralises_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<script>alert("x's")</script> & more"#),
            "&lt;script&gt;alert(&quot;x&#x27;s&quot;)&lt;/script&gt; &amp; more"
        );
        assert_eq!(escape_html("plain ünïcode"), "plain ünïcode");
    }

    #[tokio::test]
    async fn json_describes_identity_and_headers() {
        let req = Request::builder()
            .uri("/reports/1?x=2")
            .header("accept", "text/html;q=0.5, Application/JSON")
            .header("x-auth-request-user", "ada")
            .header("x-auth-request-email", "ada@example.com")
            .header("x-auth-request-groups", "admins, ops,")
            .header("x-forwarded-for", "203.0.113.7")
            .header("cookie", "entrance=sealed-secret; theme=dark")
            .body(())
            .unwrap();
        let response = respond(&req);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let json: Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(json["method"], "GET");
        assert_eq!(json["path"], "/reports/1");
        assert_eq!(json["query"], "x=2");
        let identity = &json["identity"];
        assert_eq!(identity["user"], "ada");
        assert_eq!(identity["email"], "ada@example.com");
        assert_eq!(identity["preferred_username"], Value::Null);
        assert_eq!(identity["groups"], json!(["admins", "ops"]));
        assert_eq!(identity["roles"], json!([]));
        assert_eq!(identity["oid"], Value::Null);
        assert_eq!(json["headers"]["x-forwarded-for"], "203.0.113.7");
        assert_eq!(json["headers"]["cookie"], "entrance=…; theme=…");
    }

    #[tokio::test]
    async fn html_escapes_every_value() {
        let req = Request::builder()
            .uri("/it's?q='x'")
            .header("x-auth-request-user", "<script>alert('u')</script>")
            .header("x-custom", "\"><img src=x>")
            .body(())
            .unwrap();
        let response = respond(&req);
        let page = body_text(response).await;
        assert!(page.contains("<title>Sample app behind entrance</title>"));
        assert!(page.contains("&lt;script&gt;alert(&#x27;u&#x27;)&lt;/script&gt;"));
        assert!(page.contains("&quot;&gt;&lt;img src=x&gt;"));
        assert!(!page.contains("<script"));
        assert!(!page.contains("<img"));
        assert!(page.contains("/it&#x27;s?q=&#x27;x&#x27;"));
        assert!(page.contains("(not sent)"));
        assert!(page.contains("href=\"/oauth2/sign_out\""));
    }

    #[tokio::test]
    async fn serves_on_a_socket() {
        let running = spawn(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
        let url = format!("http://{}/x", running.addr());
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("Who entrance says you are"));
        running.shutdown().await;
    }
}
