//! Unit tests for Graph paging, routing and token bookkeeping.
#![allow(clippy::unwrap_used)]

use super::*;

fn params(pairs: &[(&str, &str)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn groups(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("g{i}")).collect()
}

#[test]
fn pages_follow_top_and_skiptoken() {
    let all = groups(250);
    let mut page = Page::from_query(&params(&[("$select", "id")])).unwrap();
    assert_eq!((page.top, page.offset), (DEFAULT_TOP, 0));
    let mut sizes = Vec::new();
    loop {
        let body = page.render("http://e", "/v1.0/me/transitiveMemberOf", true, &all);
        sizes.push(body["value"].as_array().unwrap().len());
        let Some(link) = body["@odata.nextLink"].as_str() else {
            break;
        };
        let url = url::Url::parse(link).unwrap();
        assert_eq!(url.path(), "/v1.0/me/transitiveMemberOf");
        let q: Params = url.query_pairs().into_owned().collect();
        assert_eq!(q["$select"], "id");
        assert!(!q.contains_key("$top"));
        page = Page::from_query(&q).unwrap();
    }
    assert_eq!(sizes, [100, 100, 50]);
    let exact = Page::from_query(&params(&[("$top", "125")])).unwrap();
    let body = exact.render("http://e", "/p", false, &groups(250));
    assert!(body["@odata.nextLink"]
        .as_str()
        .unwrap()
        .contains("$top=125"));
    assert!(body["value"][0]["displayName"].is_null());
    assert!(body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("#directoryObjects"));
    let empty = Page::from_query(&params(&[]))
        .unwrap()
        .render("http://e", "/p", true, &[]);
    assert_eq!(empty["value"], serde_json::json!([]));
    assert!(empty.get("@odata.nextLink").is_none());
}

#[test]
fn bad_paging_parameters_are_400() {
    for q in [
        [("$top", "0")],
        [("$top", "1000")],
        [("$top", "ten")],
        [("$skiptoken", "!!")],
        [("$skiptoken", "b2Zmc2V0Ong")],
    ] {
        let err = Page::from_query(&params(&q)).unwrap_err();
        assert_eq!(
            (err.0, err.1),
            (StatusCode::BAD_REQUEST, "BadRequest"),
            "{q:?}"
        );
    }
    assert_eq!(decode_skiptoken(&encode_skiptoken(300)), Some(300));
    // A skiptoken past the end yields an empty last page, not a panic.
    let far = Page::from_query(&params(&[("$skiptoken", &encode_skiptoken(9999))])).unwrap();
    assert_eq!(
        far.render("http://e", "/p", true, &groups(3))["value"],
        serde_json::json!([])
    );
}

#[test]
fn routes_cover_me_and_users() {
    assert_eq!(
        route(&["me", "transitiveMemberOf", "microsoft.graph.group"]).unwrap(),
        (None, Operation::TransitiveMemberOf(true))
    );
    assert_eq!(
        route(&["users", "x", "getMemberObjects"]).unwrap(),
        (Some("x"), Operation::GetMemberObjects)
    );
    for bad in [&["me"][..], &["groups", "x"], &["me", "memberOf"], &[]] {
        assert_eq!(
            route(bad).unwrap_err().0,
            StatusCode::BAD_REQUEST,
            "{bad:?}"
        );
    }
}

#[test]
fn tokens_expire_after_an_hour() {
    let graph = GraphService::default();
    let t0 = Instant::now();
    let grant = GraphGrant {
        username: None,
        tid: "t".into(),
        client_id: "c".into(),
    };
    let token = graph.issue(grant.clone(), t0);
    assert_eq!(graph.lookup(&token, t0), Ok(grant));
    assert_eq!(
        graph.lookup(&token, t0 + Duration::from_secs(3601)),
        Err(true)
    );
    assert_eq!(graph.lookup("other", t0), Err(false));
}
