//! Microsoft Graph, for the one thing entrance needs from it: a signed-in user's transitive
//! group ids when the ID token's `groups` claim overflowed (MICROSOFT.md C.3, C.4).
//!
//! Must not: call the retired Azure AD Graph (`graph.windows.net`, which is what the overage
//! claim points to), return a partial list, follow links off the Graph host, or log the token.

use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde::Deserialize;
use url::{Host, Url};

use super::cloud::is_azure_ad_graph_host;

/// The call entrance makes, relative to the Graph base: transitive memberships cast to groups,
/// ids only, Graph's maximum page size.
const TRANSITIVE_GROUPS: &str =
    "v1.0/me/transitiveMemberOf/microsoft.graph.group?$select=id&$top=999";
/// For naming the call in errors (no host, no token).
const CALL: &str = "GET /v1.0/me/transitiveMemberOf/microsoft.graph.group";
/// 100 pages of 999 groups is far beyond any real membership; more means a link loop.
const MAX_PAGES: usize = 100;
/// A page of 999 ids is about 60 KB; anything far larger is not a Graph page.
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Microsoft Graph at the host discovery named.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Timeouts and redirect policy are the client's: it must not follow redirects.
    http: reqwest::Client,
    /// `https://{msgraph_host}/` (http only for loopback hosts), always ending in `/`.
    base: Url,
}

/// Why Graph could not be used or answered unusably. Names the call and the status; never
/// carries the access token.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The `msgraph_host` entrance was given cannot be used.
    #[error("Microsoft Graph host {host:?}: {reason}")]
    Host { host: String, reason: String },
    /// No answer (connection failure, timeout, broken body).
    #[error("Microsoft Graph {CALL} (page {page}) failed: {reason}")]
    Unreachable { page: usize, reason: String },
    /// An HTTP error status, with Graph's error code when it sent one.
    #[error("Microsoft Graph {CALL} (page {page}) answered {status}{}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        page: usize,
        status: reqwest::StatusCode,
        code: Option<String>,
    },
    /// A 2xx answer that is not a page of directory objects.
    #[error("Microsoft Graph {CALL} (page {page}) answered something that is not a group list: {reason}")]
    Unreadable { page: usize, reason: String },
    /// An `@odata.nextLink` that leaves the Graph host (or is not a URL).
    #[error("Microsoft Graph {CALL} (page {page}): refusing @odata.nextLink to {link_host} (not {graph_host})")]
    ForeignLink {
        page: usize,
        link_host: String,
        graph_host: String,
    },
    /// More than [`MAX_PAGES`] pages.
    #[error("Microsoft Graph {CALL}: more than {MAX_PAGES} pages; giving up rather than returning a partial list")]
    TooManyPages,
}

/// One page of `transitiveMemberOf`.
#[derive(Deserialize)]
struct Page {
    value: Vec<DirectoryObject>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

#[derive(Deserialize)]
struct DirectoryObject {
    id: String,
}

/// Graph's error body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
}

impl Graph {
    /// Graph at `msgraph_host` from discovery (`graph.microsoft.com`, or `127.0.0.1:PORT` for
    /// the local emulator): https, except http for loopback hosts. The retired Azure AD Graph
    /// (`graph.windows.net`) is refused.
    pub fn new(http: reqwest::Client, msgraph_host: &str) -> Result<Self, GraphError> {
        let refuse = |reason: &str| GraphError::Host {
            host: msgraph_host.to_owned(),
            reason: reason.to_owned(),
        };
        let host = msgraph_host.trim();
        if host.is_empty()
            || host
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '/' | '\\' | '@' | '?' | '#'))
        {
            return Err(refuse("is not a host name (with an optional port)"));
        }
        let mut base = Url::parse(&format!("https://{host}/"))
            .map_err(|_| refuse("is not a host name (with an optional port)"))?;
        if is_azure_ad_graph_host(base.host_str().unwrap_or_default()) {
            return Err(refuse(
                "is the retired Azure AD Graph; entrance only calls Microsoft Graph",
            ));
        }
        if is_loopback(&base) {
            base.set_scheme("http")
                .map_err(|()| refuse("cannot be used over http"))?;
        }
        Ok(Graph { http, base })
    }

    /// Where Graph is called (for logs and `entrance check`).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The signed-in user's transitive group ids, every page of them, in Graph's order.
    /// `access_token` is a delegated token for Graph (`User.Read` is enough for ids). Any
    /// failure is an error naming the call, the page and the status: never a partial list.
    pub async fn transitive_group_ids(
        &self,
        access_token: &str,
    ) -> Result<Vec<String>, GraphError> {
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {access_token}")).map_err(|_| {
                GraphError::Unreachable {
                    page: 1,
                    reason: "the access token is not a valid header value".to_owned(),
                }
            })?;
        bearer.set_sensitive(true);
        let mut url = self
            .base
            .join(TRANSITIVE_GROUPS)
            .map_err(|e| GraphError::Host {
                host: self.base.to_string(),
                reason: e.to_string(),
            })?;
        let mut ids = Vec::new();
        for page in 1..=MAX_PAGES {
            let body = self.fetch(url, &bearer, page).await?;
            let parsed: Page =
                serde_json::from_slice(&body).map_err(|e| GraphError::Unreadable {
                    page,
                    reason: e.to_string(),
                })?;
            ids.extend(parsed.value.into_iter().map(|object| object.id));
            match parsed.next_link {
                None => return Ok(ids),
                Some(link) => url = self.same_host(&link, page)?,
            }
        }
        Err(GraphError::TooManyPages)
    }

    /// One page's body, or the error naming the page.
    async fn fetch(
        &self,
        url: Url,
        bearer: &HeaderValue,
        page: usize,
    ) -> Result<Vec<u8>, GraphError> {
        let unreachable = |e: reqwest::Error| GraphError::Unreachable {
            page,
            reason: describe(&e),
        };
        let mut response = self
            .http
            .get(url)
            .header(AUTHORIZATION, bearer.clone())
            // The OData cast is an advanced query (C.4); eventual consistency is Graph's
            // requirement for it, and harmless where it is not needed.
            .header("ConsistencyLevel", "eventual")
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(GraphError::Unreadable {
                    page,
                    reason: format!("the answer is larger than {MAX_PAGE_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let code = serde_json::from_slice::<ErrorBody>(&body)
                .ok()
                .map(|b| b.error.code)
                // Graph codes are short identifiers; anything else is not worth echoing.
                .filter(|c| {
                    c.len() <= 64
                        && c.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                });
            return Err(GraphError::Status { page, status, code });
        }
        Ok(body)
    }

    /// The next page's URL, if it stays on the Graph host (scheme, host and port).
    fn same_host(&self, link: &str, page: usize) -> Result<Url, GraphError> {
        let foreign = |link_host: String| GraphError::ForeignLink {
            page,
            link_host,
            graph_host: self.base.host_str().unwrap_or_default().to_owned(),
        };
        let url =
            Url::parse(link).map_err(|_| foreign("something that is not a URL".to_owned()))?;
        let same = url.scheme() == self.base.scheme()
            && url.host() == self.base.host()
            && url.port_or_known_default() == self.base.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none();
        if same {
            Ok(url)
        } else {
            Err(foreign(url.host_str().map_or_else(
                || "a URL without a host".to_owned(),
                str::to_owned,
            )))
        }
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

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        // reqwest errors carry the URL (no token: that is a header) but never bodies.
        e.to_string()
    }
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
