#![allow(clippy::unwrap_used)]

use rand::{Rng, SeedableRng};

use super::*;

/// The project's own copy of the oauth2-proxy open-redirect corpus (first line empty).
const CORPUS: &str = include_str!("../tests/data/openredirects.txt");

fn assert_all_refused(corpus: &str, origin: &str) {
    let mut accepted = Vec::new();
    let mut count = 0;
    for line in corpus.split('\n') {
        // The file may have been checked out with CRLF; the payload is the line without it.
        let line = line.strip_suffix('\r').unwrap_or(line);
        count += 1;
        if let Some(path) = safe_path(line) {
            accepted.push(format!("{line:?} -> {path:?}"));
        }
    }
    assert!(count >= 559, "{origin}: only {count} lines");
    assert!(
        accepted.is_empty(),
        "{origin}: accepted {} payloads:\n{}",
        accepted.len(),
        accepted.join("\n")
    );
}

#[test]
fn refuses_every_line_of_the_project_corpus() {
    assert_all_refused(CORPUS, "tests/data/openredirects.txt");
}

#[test]
fn refuses_every_line_of_the_shared_corpus_when_present() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/openredirects.txt");
    match std::fs::read_to_string(&path) {
        Ok(text) => assert_all_refused(&text, &path.display().to_string()),
        Err(e) => println!("skipping shared corpus {}: {e}", path.display()),
    }
}

#[test]
fn accepts_ordinary_paths_and_returns_them_raw() {
    for ok in [
        "/",
        "/app",
        "/app/",
        "/app/page?x=1&y=%2F",
        "/a/b#frag",
        "/caf%C3%A9",
        "/a/b?c=d#e",
        "/%7Euser",
        "/a:b",
        "/100%25",
        "/a%zz",
    ] {
        assert_eq!(safe_path(ok).as_deref(), Some(ok), "{ok:?}");
    }
}

#[test]
fn refuses_the_classic_tricks() {
    for bad in [
        "//evil.com",
        "/\\evil.com",
        "/%2f%2fevil.com",
        "/%2F%2Fevil.com",
        "https://evil.com",
        "javascript:alert(1)",
        "/%09/evil.com",
        "/%5cevil.com",
        "",
        "evil.com",
        "/%252f%252fevil.com",
        "/%25252f%25252fevil.com",
        "/ /evil",
        "/search?q=a%20b",
        "/search?q=a+%2520b",
        "\\/\\/evil.com",
        "/\t/evil.com",
        "/\r\nLocation: https://evil.com",
        "/%0d%0aSet-Cookie:x=1",
        "/%00",
        "/\u{7f}",
        "/%7F",
        "/a\u{a0}b",
        "/a%C2%A0b",
        "/a%E2%80%A8b",
        "/a\u{3000}b",
        " /app",
        "/app ",
        "/http:/evil.com",
        "/x?next=https://evil.com",
        "/x?next=//evil.com",
        "/x?next=%2F%2Fevil.com",
        "/evil.com/%2f%2e%2e",
        "/%2e%2e//evil.com",
        "./app",
        "../app",
        "?x=1",
        "#frag",
        "///evil.com",
    ] {
        assert_eq!(safe_path(bad), None, "{bad:?}");
    }
}

#[test]
fn refuses_nesting_deeper_than_the_decode_budget() {
    // "%41" is "A" encoded once; each "25" adds a layer. Three layers decode within the budget,
    // four are refused rather than decoded forever.
    assert_eq!(safe_path("/%252541").as_deref(), Some("/%252541"));
    assert_eq!(safe_path("/%25252541"), None);
}

#[test]
fn refuses_over_long_targets_and_accepts_the_limit() {
    let at_limit = format!("/{}", "a".repeat(MAX_TARGET_LEN - 1));
    assert_eq!(safe_path(&at_limit).as_deref(), Some(at_limit.as_str()));
    let over = format!("/{}", "a".repeat(MAX_TARGET_LEN));
    assert_eq!(safe_path(&over), None);
}

#[test]
fn escapes_raw_non_ascii_so_the_result_is_a_header_value() {
    assert_eq!(safe_path("/café").as_deref(), Some("/caf%C3%A9"));
    assert_eq!(safe_path("/Zoë?q=ë").as_deref(), Some("/Zo%C3%AB?q=%C3%AB"));
    let out = safe_path("/日本").unwrap();
    assert!(http::HeaderValue::from_str(&out).is_ok());
    // Look-alikes of '/' are not slashes to a URL parser: harmless path text.
    assert!(safe_path("/\u{ff0f}evil.com").is_some());
    // ... but Unicode text is never a way to start with something other than '/'.
    assert_eq!(safe_path("\u{3031}evil.com"), None);
    assert_eq!(safe_path("\u{ff0f}\u{ff0f}evil.com"), None);
}

#[test]
fn target_or_root_falls_back_to_root() {
    assert_eq!(target_or_root(None), "/");
    assert_eq!(target_or_root(Some("")), "/");
    assert_eq!(target_or_root(Some("//evil.com")), "/");
    assert_eq!(target_or_root(Some("https://evil.com/")), "/");
    assert_eq!(target_or_root(Some("/app?x=1")), "/app?x=1");
}

/// Characters that matter to the check, over-represented so that random strings hit edge cases.
const ALPHABET: &[&str] = &[
    "/",
    "/",
    "/",
    "\\",
    "%",
    "%2f",
    "%2F",
    "%5c",
    "%25",
    "%09",
    "%0a",
    "%00",
    "%",
    "2",
    "5",
    "f",
    "c",
    ":",
    "?",
    "#",
    "&",
    "=",
    ".",
    "..",
    "a",
    "z",
    "0",
    " ",
    "\t",
    "\r",
    "\n",
    "\u{0}",
    "\u{7f}",
    "é",
    "\u{a0}",
    "\u{2028}",
    "\u{ff0f}",
    "http:",
    "//",
    "@",
    "~",
    "%C3",
    "%A9",
    "%E2%80%A8",
];

fn random_target(rng: &mut impl Rng) -> String {
    let len = rng.gen_range(0..24);
    let mut s = String::new();
    if rng.gen_bool(0.7) {
        s.push('/');
    }
    for _ in 0..len {
        if rng.gen_bool(0.1) {
            s.push(rng.gen::<char>());
        } else {
            s.push_str(ALPHABET[rng.gen_range(0..ALPHABET.len())]);
        }
    }
    s
}

#[test]
fn random_inputs_never_panic_and_accepted_ones_are_paths() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x656e_7472_616e_6365);
    let mut accepted = 0;
    for _ in 0..50_000 {
        let raw = random_target(&mut rng);
        if let Some(out) = safe_path(&raw) {
            accepted += 1;
            assert!(out.starts_with('/'), "{raw:?} -> {out:?}");
            assert!(!out.starts_with("//"), "{raw:?} -> {out:?}");
            assert!(!out.starts_with("/\\"), "{raw:?} -> {out:?}");
            assert!(
                http::HeaderValue::from_str(&out).is_ok(),
                "{raw:?} -> {out:?}"
            );
            // Accepted means accepted again: the check is stable on its own output.
            assert_eq!(safe_path(&out).as_deref(), Some(out.as_str()), "{raw:?}");
            // Whatever a decoder does to it, it stays a same-origin path.
            let decoded = percent_encoding::percent_decode_str(&out).decode_utf8_lossy();
            assert!(
                decoded.starts_with('/') && !decoded.starts_with("//"),
                "{raw:?}"
            );
        }
    }
    // The generator must exercise the accepting side too, or the loop proves little.
    assert!(accepted > 100, "only {accepted} accepted");
}

#[test]
fn own_request_targets_keep_their_query_but_not_a_bad_path() {
    assert_eq!(
        own_request_target("/search", Some("q=a%20b")),
        "/search?q=a%20b"
    );
    assert_eq!(
        own_request_target("/x", Some("next=https://elsewhere.example/")),
        "/x?next=https://elsewhere.example/"
    );
    assert_eq!(own_request_target("/x", None), "/x");
    assert_eq!(own_request_target("//evil.com", Some("a=1")), "/");
    assert_eq!(own_request_target("/x", Some("a=\r\n")), "/x");
}
