#![allow(clippy::unwrap_used)]
mod support;

use support::*;

/// Request targets that try to reach `/admin` (a denied or protected route) by a path an
/// upstream would resolve to `/admin…` while a naive gateway matches something else. Each is
/// sent byte for byte (no URL library in between) with every method in [`METHODS`] for the
/// first few and GET for the rest.
const CORPUS: &[&str] = &[
    "/admin",
    "/admin/",
    "/admin/x",
    "/admin?x=1",
    "/admin/?next=/public/",
    "//admin/x",
    "///admin/x",
    "/./admin/x",
    "/././admin/x",
    "/admin/./x",
    "/admin//x",
    "/x/../admin/x",
    "/x/y/../../admin/x",
    "/../admin/x",
    "/../../admin/x",
    "/%2e/admin/x",
    "/%2E/admin/x",
    "/%2e%2e/admin/x",
    "/%2E%2E/admin/x",
    "/.%2e/admin/x",
    "/%2e./admin/x",
    "/x/%2e%2e/admin/x",
    "/x/%2E%2e/admin/x",
    "/admin/%2e/x",
    "/admin/%2e%2e/admin/x",
    "/admin%2fx",
    "/admin%2Fx",
    "/%2fadmin/x",
    "/%2e%2e%2fadmin/x",
    "/admin%5cx",
    "/admin\\x",
    "/x\\..\\admin\\x",
    "/adm%69n/x",
    "/%61dmin/x",
    "/%61%64%6d%69%6e/x",
    "/%61%64%6D%69%6E",
    "/admin;x/y",
    "/admin;/x",
    "/admin;jsessionid=1/x",
    "/;x/admin/x",
    "/admin/..;/admin/x",
    "/admin/x/%2e%2e",
    "/public/../admin/x",
    "/public/./../admin/x",
    "/public//../admin/x",
    "/public/%2e%2e/admin/x",
    "/public/%2E%2E/admin/x",
    "/public/.%2e/admin/x",
    "/public%2f..%2fadmin/x",
    "/public/..%2fadmin/x",
    "/public/..%5cadmin/x",
    "/public\\..\\admin\\x",
    "/public/..;/admin/x",
    "/public/;/../admin/x",
    "/public/x/../../admin/x",
    "/%23/../admin/x",
    "/admin#/x",
    "/public/#/../admin/x",
    "/admin%00/x",
    "/admin%09/x",
    "/%c0%ae%c0%ae/admin/x",
    "/ADMIN/x",
    "/Admin/x",
];

/// Methods every one of the first [`ALL_METHODS_FOR`] corpus entries is sent with.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
const ALL_METHODS_FOR: usize = 5;

fn percent_decode(text: &str) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Whether an upstream that decodes percent-escapes once, reads `\` as `/`, resolves dot
/// segments, merges slashes and drops `;parameters` (as servlet containers do) would serve
/// `target` from `/admin` or below.
fn reaches_admin(target: &str) -> bool {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if path.starts_with("/admin") && !path.starts_with("/administrator") {
        let rest = &path["/admin".len()..];
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with(';') {
            return true;
        }
    }
    let decoded = String::from_utf8_lossy(&percent_decode(path)).replace('\\', "/");
    let mut segments: Vec<String> = Vec::new();
    for segment in decoded.split('/') {
        let segment = segment.split(';').next().unwrap_or("");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s.to_string()),
        }
    }
    segments.first().is_some_and(|s| s == "admin")
}

/// Sends the corpus as the signed-in `browser` and returns every failure: an answer other than
/// 400/403 for a request that did not reach the upstream, a 400/403 that still reached it, or a
/// request that reached the upstream at `/admin…`.
async fn probe(stack: &Stack, browser: &Browser) -> (Vec<String>, usize) {
    let cookie = browser.cookie_header(&stack.url("/")).unwrap();
    let mut failures = Vec::new();
    let mut sent = 0;
    for (index, target) in CORPUS.iter().enumerate() {
        let methods: &[&str] = if index < ALL_METHODS_FOR {
            METHODS
        } else {
            &["GET"]
        };
        for method in methods {
            sent += 1;
            let before = stack.upstream.count();
            let reply = raw_request(stack.addr(), method, target, &[("Cookie", &cookie)]).await;
            let reached: Vec<Recorded> = stack.upstream.requests()[before..].to_vec();
            let mut problems = Vec::new();
            for seen in &reached {
                if reaches_admin(&seen.target) {
                    problems.push(format!("the upstream was reached at {}", seen.target));
                }
            }
            match reply.status {
                400 | 403 if !reached.is_empty() => problems.push(format!(
                    "answered {} but the upstream saw {:?}",
                    reply.status,
                    reached.iter().map(|r| &r.target).collect::<Vec<_>>()
                )),
                400 | 403 => {}
                200 if !reached.is_empty() => {}
                status => problems.push(format!("unexpected status {status}")),
            }
            if !problems.is_empty() {
                // The whole exchange for the first few; one line each for the rest.
                let detail = if failures.len() < 3 {
                    format!("\n{reply}")
                } else {
                    String::new()
                };
                failures.push(format!(
                    "{method} {target} -> {}: {}{detail}",
                    reply.status,
                    problems.join("; ")
                ));
            }
        }
    }
    (failures, sent)
}

async fn assert_no_bypass(stack: &Stack, user: &str) {
    let browser = Browser::signed_in(stack, user).await;

    // The raw client reaches the upstream with the session, so a 200 below means something.
    let cookie = browser.cookie_header(&stack.url("/")).unwrap();
    let control = raw_request(
        stack.addr(),
        "GET",
        "/x/../anything",
        &[("Cookie", &cookie)],
    )
    .await;
    assert_eq!(control.status, 200, "{control}");
    assert_eq!(stack.upstream.last().target, "/anything");

    let (failures, sent) = probe(stack, &browser).await;
    assert!(sent >= 40, "the corpus must hold at least 40 requests");
    assert!(
        failures.is_empty(),
        "{} of {sent} requests got around the /admin route:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn no_path_trick_reaches_a_denied_route() {
    let stack = Stack::start(Options {
        routes: vec![
            "{path: /admin/, deny: true}".to_string(),
            "{path: /admin, deny: true}".to_string(),
        ],
        ..Options::default()
    })
    .await;
    assert_no_bypass(&stack, ALICE).await;
}

#[tokio::test]
async fn no_path_trick_gets_a_user_without_the_role_into_a_protected_route() {
    let stack = Stack::start(Options {
        routes: vec!["{regex: '^/admin(/|$)', allowed_roles: [Admin]}".to_string()],
        ..Options::default()
    })
    .await;
    assert_no_bypass(&stack, BOB).await;

    // Alice has the role: the same route lets her in, so the refusals above are the rule's.
    let alice = Browser::signed_in(&stack, ALICE).await;
    let reply = alice.get(&stack.url("/admin/x")).await;
    assert_eq!(reply.status, 200, "{reply}");
}

#[test]
fn the_bypass_oracle_reads_paths_as_an_upstream_would() {
    for target in [
        "/admin",
        "/admin/x",
        "/admin;x/y",
        "/x/../admin/x",
        "/%61dmin/x",
        "/public/%2e%2e/admin/x",
        "//admin",
        "/public\\..\\admin",
    ] {
        assert!(reaches_admin(target), "{target}");
    }
    for target in [
        "/",
        "/anything",
        "/public/admin/x",
        "/administrator",
        "/ADMIN/x",
    ] {
        assert!(!reaches_admin(target), "{target}");
    }
}
