#![allow(clippy::unwrap_used)]

use http::HeaderValue;
use rand::{Rng, SeedableRng};

use super::*;

const OWN_HOST: &str = "gate.example.com";
/// The proxy networks most tests trust.
const PROXIES: [&str; 2] = ["10.0.0.0/8", "2001:db8:ffff::/48"];
/// A trusted peer (the proxy in front of entrance).
const PROXY: &str = "10.0.0.1";
/// Someone on the internet, not a proxy.
const STRANGER: &str = "198.51.100.7";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn peer(s: &str) -> SocketAddr {
    SocketAddr::new(ip(s), 40_000)
}

fn trusted(entries: &[&str]) -> TrustedProxies {
    TrustedProxies::parse(entries).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    map
}

/// The view entrance (public at https://gate.example.com) gets from `from` sending `pairs`.
fn view_from(from: &str, pairs: &[(&str, &str)]) -> ClientView {
    client_view(
        peer(from),
        &headers(pairs),
        &trusted(&PROXIES),
        Proto::Https,
        OWN_HOST,
    )
}

fn host_via_proxy(pairs: &[(&str, &str)]) -> String {
    view_from(PROXY, pairs).host
}

fn original(from: &str, pairs: &[(&str, &str)]) -> Option<OriginalRequest> {
    original_request(peer(from), &headers(pairs), &trusted(&PROXIES))
}

/// Every forwarding header a spoofer might try, all claiming something else.
const SPOOF: [(&str, &str); 9] = [
    ("forwarded", "for=203.0.113.66;proto=http;host=evil.example"),
    ("x-forwarded-for", "203.0.113.66"),
    ("x-forwarded-proto", "http"),
    ("x-forwarded-host", "evil.example"),
    ("x-forwarded-port", "8080"),
    ("x-original-uri", "/admin"),
    ("x-original-method", "DELETE"),
    ("x-forwarded-uri", "/admin"),
    ("x-forwarded-method", "DELETE"),
];

// --- TrustedProxies -----------------------------------------------------------------------

#[test]
fn an_empty_list_trusts_nobody_not_even_loopback() {
    let nobody = TrustedProxies::default();
    assert!(nobody.is_empty());
    for addr in ["127.0.0.1", "::1", "10.0.0.1"] {
        assert!(!nobody.contains(ip(addr)), "{addr}");
    }
    assert!(TrustedProxies::parse(&[]).unwrap().is_empty());
}

#[test]
fn networks_contain_their_addresses_and_nothing_else() {
    let list = trusted(&["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32"]);
    for inside in [
        "10.0.0.1",
        "10.255.255.255",
        "192.168.1.200",
        "2001:db8:1::5",
    ] {
        assert!(list.contains(ip(inside)), "{inside}");
    }
    for outside in ["11.0.0.1", "192.168.2.1", "2001:db9::1", "::1", "::a00:1"] {
        assert!(!list.contains(ip(outside)), "{outside}");
    }
}

#[test]
fn an_ipv4_mapped_peer_is_matched_as_ipv4() {
    let list = trusted(&["10.0.0.0/8"]);
    assert!(list.contains(ip("::ffff:10.0.0.1")));
    assert!(!list.contains(ip("::ffff:11.0.0.1")));
}

#[test]
fn a_mapped_network_in_the_list_matches_ipv4_peers_both_ways() {
    let list = trusted(&["::ffff:10.0.0.0/104"]);
    assert!(list.contains(ip("10.1.2.3")));
    assert!(list.contains(ip("::ffff:10.1.2.3")));
    assert!(!list.contains(ip("11.1.2.3")));
    assert_eq!(list.nets(), &["10.0.0.0/8".parse::<IpNet>().unwrap()]);
}

#[test]
fn plain_addresses_trust_exactly_one_host() {
    let list = trusted(&["192.0.2.10", "2001:db8::10"]);
    assert!(list.contains(ip("192.0.2.10")));
    assert!(!list.contains(ip("192.0.2.11")));
    assert!(list.contains(ip("2001:db8::10")));
    assert!(!list.contains(ip("2001:db8::11")));
    assert_eq!(
        list.nets(),
        &[
            "192.0.2.10/32".parse::<IpNet>().unwrap(),
            "2001:db8::10/128".parse().unwrap()
        ]
    );
}

#[test]
fn parse_reports_every_bad_entry_by_index_and_says_what_to_write() {
    let problems = TrustedProxies::parse(&[
        "10.0.0.0/8",
        "10.0.0.1/8",
        "proxy.internal",
        " 192.0.2.1 ",
        "2001:db8::1/32",
        "10.0.0.0/33",
        "",
    ])
    .unwrap_err();
    let indexes: Vec<usize> = problems.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, [1, 2, 4, 5, 6]);
    assert!(problems[0].1.contains("host bits"), "{}", problems[0].1);
    assert!(problems[0].1.contains("`10.0.0.0/8`"), "{}", problems[0].1);
    assert!(problems[0].1.contains("`10.0.0.1`"), "{}", problems[0].1);
    assert!(
        problems[1].1.contains("`proxy.internal`"),
        "{}",
        problems[1].1
    );
    assert!(
        problems[2].1.contains("`2001:db8::/32`"),
        "{}",
        problems[2].1
    );
}

// --- client_view: untrusted peers ----------------------------------------------------------

#[test]
fn an_untrusted_peer_is_the_client_whatever_its_headers_say() {
    let view = view_from(STRANGER, &SPOOF);
    assert_eq!(view.client_ip, ip(STRANGER));
    assert_eq!(view.proto, Proto::Https);
    assert_eq!(view.host, OWN_HOST);
    assert!(!view.via_trusted_proxy);
    assert_eq!(view.forwarded_for_upstream(), STRANGER);
}

#[test]
fn with_no_trusted_proxies_even_a_private_peer_cannot_spoof() {
    let view = client_view(
        peer(PROXY),
        &headers(&SPOOF),
        &TrustedProxies::default(),
        Proto::Http,
        OWN_HOST,
    );
    assert_eq!(view.client_ip, ip(PROXY));
    assert_eq!(view.proto, Proto::Http);
    assert_eq!(view.host, OWN_HOST);
    assert!(!view.via_trusted_proxy);
}

#[test]
fn an_untrusted_peer_cannot_forge_a_forward_auth_request() {
    assert_eq!(original(STRANGER, &SPOOF), None);
    assert_eq!(
        original_request(peer(PROXY), &headers(&SPOOF), &TrustedProxies::default()),
        None
    );
}

#[test]
fn an_untrusted_peers_forwarded_for_is_replaced_not_extended() {
    let sent = headers(&[("x-forwarded-for", "203.0.113.66, 10.0.0.2")]);
    assert_eq!(
        forwarded_for_upstream(peer(STRANGER), &sent, &trusted(&PROXIES)),
        STRANGER
    );
}

#[test]
fn a_mapped_peer_is_reported_as_ipv4() {
    let view = view_from("::ffff:198.51.100.7", &[]);
    assert_eq!(view.client_ip, ip(STRANGER));
    assert_eq!(view.forwarded_for_upstream(), STRANGER);
    let view = view_from("::ffff:10.0.0.1", &[("x-forwarded-for", "203.0.113.9")]);
    assert!(view.via_trusted_proxy);
    assert_eq!(view.client_ip, ip("203.0.113.9"));
    assert_eq!(view.forwarded_for_upstream(), "203.0.113.9, 10.0.0.1");
}

// --- client_view: X-Forwarded-For ---------------------------------------------------------

#[test]
fn a_trusted_peer_without_headers_is_the_client() {
    let view = view_from(PROXY, &[]);
    assert_eq!(view.client_ip, ip(PROXY));
    assert_eq!((view.proto, view.host.as_str()), (Proto::Https, OWN_HOST));
    assert!(view.via_trusted_proxy);
    assert_eq!(view.chain(), &[ip(PROXY)]);
}

#[test]
fn the_first_untrusted_address_from_the_right_is_the_client() {
    let view = view_from(
        PROXY,
        &[("x-forwarded-for", "203.0.113.66, 203.0.113.9, 10.0.0.2")],
    );
    assert_eq!(view.client_ip, ip("203.0.113.9"));
    assert_eq!(
        view.chain(),
        &[ip("203.0.113.9"), ip("10.0.0.2"), ip(PROXY)]
    );
    // What the client wrote itself (203.0.113.66) does not reach the upstream.
    assert_eq!(
        view.forwarded_for_upstream(),
        "203.0.113.9, 10.0.0.2, 10.0.0.1"
    );
}

#[test]
fn several_forwarded_for_headers_are_one_list_in_order() {
    let view = view_from(
        PROXY,
        &[
            ("x-forwarded-for", "203.0.113.66"),
            ("x-forwarded-for", "203.0.113.9,10.0.0.3"),
            ("x-forwarded-for", " 10.0.0.2 "),
        ],
    );
    assert_eq!(view.client_ip, ip("203.0.113.9"));
    assert_eq!(
        view.forwarded_for_upstream(),
        "203.0.113.9, 10.0.0.3, 10.0.0.2, 10.0.0.1"
    );
}

#[test]
fn when_every_address_is_trusted_the_leftmost_is_the_client() {
    let view = view_from(PROXY, &[("x-forwarded-for", "10.9.9.9, 10.0.0.2")]);
    assert_eq!(view.client_ip, ip("10.9.9.9"));
}

#[test]
fn garbage_ends_the_walk_at_the_last_good_address() {
    let cases = [
        ("203.0.113.9, not-an-ip, 10.0.0.2", "10.0.0.2"),
        ("203.0.113.9, unknown, 10.0.0.2", "10.0.0.2"),
        ("203.0.113.9, _hidden", PROXY),
        ("203.0.113.9, 10.0.0.2 10.0.0.3", PROXY),
        ("203.0.113.9, 300.1.1.1", PROXY),
        ("203.0.113.9, fe80::1%eth0", PROXY),
        ("203.0.113.9, \"10.0.0.2\"", PROXY),
    ];
    for (list, client) in cases {
        let view = view_from(PROXY, &[("x-forwarded-for", list)]);
        assert_eq!(view.client_ip, ip(client), "{list}");
        assert_eq!(view.chain()[0], ip(client), "{list}");
    }
}

#[test]
fn an_unreadable_forwarded_for_header_ends_the_walk() {
    let mut map = headers(&[("x-forwarded-for", "203.0.113.9")]);
    map.append(
        X_FORWARDED_FOR.clone(),
        HeaderValue::from_bytes(b"10.0.0.2, caf\xc3\xa9").unwrap(),
    );
    let view = client_view(
        peer(PROXY),
        &map,
        &trusted(&PROXIES),
        Proto::Https,
        OWN_HOST,
    );
    assert_eq!(view.client_ip, ip(PROXY));
}

#[test]
fn empty_list_items_are_skipped() {
    let view = view_from(PROXY, &[("x-forwarded-for", ", 203.0.113.9,, 10.0.0.2 ,")]);
    assert_eq!(view.client_ip, ip("203.0.113.9"));
}

#[test]
fn forwarded_for_entries_may_carry_ports() {
    let cases = [
        ("203.0.113.9:5555", "203.0.113.9"),
        ("[2001:db8::9]:443", "2001:db8::9"),
        ("[2001:db8::9]", "2001:db8::9"),
        ("2001:db8::9", "2001:db8::9"),
    ];
    for (entry, client) in cases {
        let view = view_from(PROXY, &[("x-forwarded-for", entry)]);
        assert_eq!(view.client_ip, ip(client), "{entry}");
    }
    for bad in [
        "203.0.113.9:",
        "203.0.113.9:123456",
        "[2001:db8::9]x",
        "[2001:db8::9",
    ] {
        let view = view_from(PROXY, &[("x-forwarded-for", bad)]);
        assert_eq!(view.client_ip, ip(PROXY), "{bad}");
    }
}

#[test]
fn ipv6_proxies_and_clients_walk_like_ipv4() {
    let view = view_from(
        "2001:db8:ffff::1",
        &[("x-forwarded-for", "2001:db8::9, 2001:db8:ffff::2")],
    );
    assert!(view.via_trusted_proxy);
    assert_eq!(view.client_ip, ip("2001:db8::9"));
    assert_eq!(
        view.forwarded_for_upstream(),
        "2001:db8::9, 2001:db8:ffff::2, 2001:db8:ffff::1"
    );
}

#[test]
fn mapped_addresses_in_the_list_are_read_as_ipv4() {
    let view = view_from(
        PROXY,
        &[("x-forwarded-for", "::ffff:203.0.113.9, ::ffff:10.0.0.2")],
    );
    assert_eq!(view.client_ip, ip("203.0.113.9"));
    assert_eq!(
        view.forwarded_for_upstream(),
        "203.0.113.9, 10.0.0.2, 10.0.0.1"
    );
}

#[test]
fn a_long_chain_of_trusted_addresses_is_cut_off() {
    let list = vec!["10.1.1.1"; 500].join(", ");
    let view = view_from(PROXY, &[("x-forwarded-for", &list)]);
    assert_eq!(view.chain().len(), MAX_HOPS);
    assert_eq!(view.client_ip, ip("10.1.1.1"));
}

// --- client_view: scheme and host from X-Forwarded-* ---------------------------------------

#[test]
fn the_scheme_comes_from_x_forwarded_proto_http_or_https_only() {
    let cases = [
        ("http", Proto::Http),
        ("HTTPS", Proto::Https),
        ("https, http", Proto::Http),
        ("ftp", Proto::Https),
        ("", Proto::Https),
        ("https x", Proto::Https),
        ("ws", Proto::Https),
    ];
    for (value, proto) in cases {
        let view = client_view(
            peer(PROXY),
            &headers(&[("x-forwarded-proto", value)]),
            &trusted(&PROXIES),
            Proto::Https,
            OWN_HOST,
        );
        assert_eq!(view.proto, proto, "{value:?}");
    }
    let view = client_view(
        peer(PROXY),
        &headers(&[("x-forwarded-proto", "https")]),
        &trusted(&PROXIES),
        Proto::Http,
        OWN_HOST,
    );
    assert_eq!(view.proto, Proto::Https);
}

#[test]
fn the_host_comes_from_x_forwarded_host() {
    assert_eq!(
        host_via_proxy(&[("x-forwarded-host", "App.Example.COM")]),
        "app.example.com"
    );
    assert_eq!(
        host_via_proxy(&[("x-forwarded-host", "app.example.com:8443")]),
        "app.example.com:8443"
    );
    assert_eq!(
        host_via_proxy(&[("x-forwarded-host", "[2001:DB8::1]:8443")]),
        "[2001:db8::1]:8443"
    );
    assert_eq!(
        host_via_proxy(&[("x-forwarded-host", "192.0.2.1")]),
        "192.0.2.1"
    );
    assert_eq!(
        host_via_proxy(&[("x-forwarded-host", "evil.example, app.example.com")]),
        "app.example.com"
    );
}

#[test]
fn x_forwarded_port_is_added_to_a_host_without_one_unless_it_is_the_default() {
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[
                ("x-forwarded-host", "app.example.com"),
                ("x-forwarded-port", "8443"),
            ],
            "app.example.com:8443",
        ),
        (
            &[
                ("x-forwarded-host", "app.example.com"),
                ("x-forwarded-port", "443"),
            ],
            "app.example.com",
        ),
        (
            &[
                ("x-forwarded-host", "app.example.com"),
                ("x-forwarded-port", "443"),
                ("x-forwarded-proto", "http"),
            ],
            "app.example.com:443",
        ),
        (
            &[
                ("x-forwarded-host", "app.example.com"),
                ("x-forwarded-port", "80"),
                ("x-forwarded-proto", "http"),
            ],
            "app.example.com",
        ),
        (
            &[
                ("x-forwarded-host", "app.example.com:9000"),
                ("x-forwarded-port", "8443"),
            ],
            "app.example.com:9000",
        ),
        // A port alone does not change our own host.
        (&[("x-forwarded-port", "8443")], OWN_HOST),
    ];
    for (pairs, host) in cases {
        assert_eq!(host_via_proxy(pairs), host, "{pairs:?}");
    }
}

#[test]
fn an_invalid_forwarded_host_or_port_falls_back_to_our_own_host() {
    let bad_hosts = [
        "evil.example/path",
        "user@evil.example",
        "evil .example",
        "evil\t.example",
        "evil.example:",
        "evil.example:0",
        "evil.example:65536",
        "evil.example:80:80",
        "evil.example?x",
        "evil.example#x",
        "evil.example\\x",
        ".evil.example",
        "[::1",
        "[zz::1]:80",
        "[::1]80",
        "http://evil.example",
        "",
        "%65vil.example",
    ];
    for bad in bad_hosts {
        assert_eq!(
            host_via_proxy(&[("x-forwarded-host", bad)]),
            OWN_HOST,
            "{bad:?}"
        );
    }
    let too_long = format!("{}.example", "a".repeat(250));
    assert_eq!(host_via_proxy(&[("x-forwarded-host", &too_long)]), OWN_HOST);
    for bad_port in ["abc", "0", "70000", "-1", "+443", "4 43"] {
        let pairs = [
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-port", bad_port),
        ];
        assert_eq!(host_via_proxy(&pairs), OWN_HOST, "{bad_port:?}");
    }
    let mut map = HeaderMap::new();
    map.insert(
        X_FORWARDED_HOST.clone(),
        HeaderValue::from_bytes(b"caf\xc3\xa9.example").unwrap(),
    );
    let view = client_view(
        peer(PROXY),
        &map,
        &trusted(&PROXIES),
        Proto::Https,
        OWN_HOST,
    );
    assert_eq!(view.host, OWN_HOST);
}

// --- client_view: RFC 7239 Forwarded ------------------------------------------------------

#[test]
fn forwarded_gives_address_scheme_and_host() {
    let view = view_from(
        PROXY,
        &[(
            "forwarded",
            "for=203.0.113.9;proto=http;host=app.example.com",
        )],
    );
    assert_eq!(view.client_ip, ip("203.0.113.9"));
    assert_eq!(view.proto, Proto::Http);
    assert_eq!(view.host, "app.example.com");
    assert_eq!(view.forwarded_for_upstream(), "203.0.113.9, 10.0.0.1");
}

#[test]
fn forwarded_nodes_may_be_quoted_bracketed_and_carry_ports() {
    let cases = [
        ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
        ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
        ("for=\"192.0.2.43:47011\"", "192.0.2.43"),
        ("for=\"192.0.2.43:_port\"", "192.0.2.43"),
        ("For=192.0.2.43", "192.0.2.43"),
        ("for = 192.0.2.43 ; proto=https", "192.0.2.43"),
        ("by=10.0.0.1;for=192.0.2.43;ext=whatever", "192.0.2.43"),
        ("for=\"::ffff:192.0.2.43\"", "192.0.2.43"),
    ];
    for (value, client) in cases {
        let view = view_from(PROXY, &[("forwarded", value)]);
        assert_eq!(view.client_ip, ip(client), "{value}");
    }
}

#[test]
fn forwarded_walks_hops_and_takes_scheme_and_host_from_the_outermost_trusted_proxy() {
    let view = view_from(
        PROXY,
        &[(
            "forwarded",
            "for=203.0.113.66;host=evil.example;proto=http, \
             for=203.0.113.9;proto=https;host=app.example.com, \
             for=10.0.0.2;proto=http;host=internal.local",
        )],
    );
    assert_eq!(view.client_ip, ip("203.0.113.9"));
    assert_eq!(view.proto, Proto::Https);
    assert_eq!(view.host, "app.example.com");
    assert_eq!(
        view.forwarded_for_upstream(),
        "203.0.113.9, 10.0.0.2, 10.0.0.1"
    );
}

#[test]
fn several_forwarded_headers_are_one_list_in_order() {
    let view = view_from(
        PROXY,
        &[
            ("forwarded", "for=203.0.113.9;host=app.example.com"),
            ("forwarded", "for=10.0.0.2"),
        ],
    );
    assert_eq!(view.client_ip, ip("203.0.113.9"));
    assert_eq!(view.host, "app.example.com");
}

#[test]
fn unknown_or_hidden_clients_leave_the_last_trusted_hop_as_the_client() {
    for node in ["unknown", "_hidden", "UNKNOWN", "\"_x:_y\""] {
        let value = format!("for=203.0.113.66, for={node};proto=http, for=10.0.0.2");
        let view = view_from(PROXY, &[("forwarded", &value)]);
        assert_eq!(view.client_ip, ip("10.0.0.2"), "{node}");
        // That element was written by a trusted proxy: its scheme still counts.
        assert_eq!(view.proto, Proto::Http, "{node}");
    }
    let view = view_from(
        PROXY,
        &[(
            "forwarded",
            "for=203.0.113.66, proto=http;host=app.example.com",
        )],
    );
    assert_eq!(view.client_ip, ip(PROXY));
    assert_eq!(
        (view.proto, view.host.as_str()),
        (Proto::Http, "app.example.com")
    );
}

#[test]
fn quoted_commas_and_semicolons_do_not_split_elements() {
    let view = view_from(
        PROXY,
        &[(
            "forwarded",
            "for=203.0.113.9;ext=\"a, for=203.0.113.66; b\"",
        )],
    );
    assert_eq!(view.client_ip, ip("203.0.113.9"));
    let view = view_from(
        PROXY,
        &[("forwarded", "for=203.0.113.9;host=\"app\\.example.com\"")],
    );
    assert_eq!(view.host, "app.example.com");
}

#[test]
fn a_malformed_forwarded_element_ends_the_walk() {
    let malformed = [
        "for=203.0.113.9;for=203.0.113.66",
        "for=",
        "for=\"203.0.113.9",
        "for=\"203.0.113.9\"x",
        "for=\"a\"b\"",
        "203.0.113.9",
        "f r=203.0.113.9",
        "=203.0.113.9",
        "for=203.0.113.9;proto=https;proto=http",
        "for=\"ends in backslash\\\"",
    ];
    for value in malformed {
        let view = view_from(PROXY, &[("forwarded", value)]);
        assert_eq!(view.client_ip, ip(PROXY), "{value}");
        assert_eq!(view.host, OWN_HOST, "{value}");
    }
    // Behind a good element from a trusted proxy, that element still speaks.
    let view = view_from(
        PROXY,
        &[(
            "forwarded",
            "for=203.0.113.66;;junk, for=10.0.0.2;proto=http;host=app.example.com",
        )],
    );
    assert_eq!(view.client_ip, ip("10.0.0.2"));
    assert_eq!(
        (view.proto, view.host.as_str()),
        (Proto::Http, "app.example.com")
    );
}

#[test]
fn invalid_forwarded_scheme_or_host_falls_back_to_ours() {
    let view = view_from(
        PROXY,
        &[(
            "forwarded",
            "for=203.0.113.9;proto=gopher;host=\"evil.example/x\"",
        )],
    );
    assert_eq!(view.client_ip, ip("203.0.113.9"));
    assert_eq!((view.proto, view.host.as_str()), (Proto::Https, OWN_HOST));
}

// --- client_view: both dialects -----------------------------------------------------------

#[test]
fn x_forwarded_headers_win_over_forwarded_and_are_not_mixed_with_it() {
    // nginx appends X-Forwarded-For and passes the client's own Forwarded header through.
    let view = view_from(
        PROXY,
        &[
            ("forwarded", "for=203.0.113.66;proto=http;host=evil.example"),
            ("x-forwarded-for", "203.0.113.9"),
        ],
    );
    assert_eq!(view.client_ip, ip("203.0.113.9"));
    assert_eq!((view.proto, view.host.as_str()), (Proto::Https, OWN_HOST));

    let view = view_from(
        PROXY,
        &[
            ("forwarded", "for=203.0.113.66"),
            ("x-forwarded-proto", "http"),
        ],
    );
    assert_eq!(view.client_ip, ip(PROXY));
    assert_eq!(view.proto, Proto::Http);

    let view = view_from(
        PROXY,
        &[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "app.example.com"),
            (
                "forwarded",
                "for=203.0.113.66;proto=https;host=evil.example",
            ),
        ],
    );
    assert_eq!(view.client_ip, ip("203.0.113.9"));
    assert_eq!(
        (view.proto, view.host.as_str()),
        (Proto::Http, "app.example.com")
    );
}

#[test]
fn forwarded_for_upstream_matches_the_view() {
    let pairs = [("x-forwarded-for", "203.0.113.66, 203.0.113.9, 10.0.0.2")];
    let via_fn = forwarded_for_upstream(peer(PROXY), &headers(&pairs), &trusted(&PROXIES));
    assert_eq!(via_fn, view_from(PROXY, &pairs).forwarded_for_upstream());
    assert_eq!(via_fn, "203.0.113.9, 10.0.0.2, 10.0.0.1");
    let pairs = [("forwarded", "for=\"[2001:db8::9]:1\", for=10.0.0.2")];
    assert_eq!(
        forwarded_for_upstream(peer(PROXY), &headers(&pairs), &trusted(&PROXIES)),
        "2001:db8::9, 10.0.0.2, 10.0.0.1"
    );
}

#[test]
fn strip_forwarding_headers_removes_every_spelling_and_keeps_the_rest() {
    let mut map = headers(&SPOOF);
    map.append("x-real-ip", HeaderValue::from_static("203.0.113.66"));
    map.append("x-original-url", HeaderValue::from_static("/admin"));
    map.append("x-forwarded-prefix", HeaderValue::from_static("/x"));
    map.append("accept", HeaderValue::from_static("text/html"));
    strip_forwarding_headers(&mut map);
    let left: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
    assert_eq!(left, ["accept"]);
}

// --- original_request ---------------------------------------------------------------------

#[test]
fn nginx_original_method_and_uri_are_read_from_a_trusted_proxy() {
    let got = original(
        PROXY,
        &[
            ("x-original-method", "POST"),
            ("x-original-uri", "/app/x?y=1&z"),
        ],
    )
    .unwrap();
    assert_eq!(got.method, Some(Method::POST));
    assert_eq!(got.uri, "/app/x?y=1&z");
}

#[test]
fn nginx_without_a_method_leaves_the_method_to_the_caller() {
    let got = original(PROXY, &[("x-original-uri", "/app")]).unwrap();
    assert_eq!(got.method, None);
    assert_eq!(got.uri, "/app");
}

#[test]
fn traefik_forwarded_method_and_uri_are_read_from_a_trusted_proxy() {
    let got = original(
        "::ffff:10.0.0.1",
        &[
            ("x-forwarded-method", "PROPFIND"),
            ("x-forwarded-uri", "/dav/"),
        ],
    )
    .unwrap();
    assert_eq!(got.method, Some(Method::from_bytes(b"PROPFIND").unwrap()));
    assert_eq!(got.uri, "/dav/");
}

#[test]
fn nginx_and_traefik_headers_are_never_mixed() {
    let got = original(
        PROXY,
        &[
            ("x-original-uri", "/app"),
            ("x-forwarded-method", "DELETE"),
            ("x-forwarded-uri", "/x"),
        ],
    )
    .unwrap();
    assert_eq!((got.method, got.uri.as_str()), (None, "/app"));
}

#[test]
fn no_original_uri_means_no_original_request() {
    assert_eq!(original(PROXY, &[]), None);
    assert_eq!(original(PROXY, &[("x-original-method", "GET")]), None);
}

#[test]
fn unsafe_original_uris_are_refused() {
    let refused = [
        "http://evil.example/x",
        "https://evil.example",
        "//evil.example/x",
        "/\\evil.example",
        "/a b",
        "/a\tb",
        "app/x",
        "",
        "*",
        "/x#frag",
        "/x?q=\"",
    ];
    for uri in refused {
        for (m, u) in [
            ("x-original-method", "x-original-uri"),
            ("x-forwarded-method", "x-forwarded-uri"),
        ] {
            assert_eq!(
                original(PROXY, &[(m, "GET"), (u, uri)]),
                None,
                "{u}: {uri:?}"
            );
        }
    }
    let mut map = HeaderMap::new();
    map.insert(
        X_ORIGINAL_URI.clone(),
        HeaderValue::from_bytes(b"/caf\xc3\xa9").unwrap(),
    );
    assert_eq!(
        original_request(peer(PROXY), &map, &trusted(&PROXIES)),
        None
    );
}

#[test]
fn invalid_or_repeated_values_are_refused() {
    for method in ["", "GE T", "GET,POST", "G\"ET"] {
        let pairs = [("x-original-method", method), ("x-original-uri", "/app")];
        assert_eq!(original(PROXY, &pairs), None, "{method:?}");
    }
    let twice = [("x-original-uri", "/public"), ("x-original-uri", "/admin")];
    assert_eq!(original(PROXY, &twice), None);
    let twice = [
        ("x-forwarded-method", "GET"),
        ("x-forwarded-method", "DELETE"),
        ("x-forwarded-uri", "/app"),
    ];
    assert_eq!(original(PROXY, &twice), None);
}

// --- envoy_original_uri -------------------------------------------------------------------

#[test]
fn envoy_check_paths_give_the_original_uri_after_the_prefix() {
    let cases = [
        ("/oauth2/auth/app/x?y", "/oauth2/auth", "/app/x?y"),
        ("/oauth2/auth/app/x?y", "/oauth2/auth/", "/app/x?y"),
        ("/oauth2/auth/", "/oauth2/auth", "/"),
        ("/oauth2/auth/?q=1", "/oauth2/auth", "/?q=1"),
        ("/app", "/", "/app"),
    ];
    for (path, prefix, uri) in cases {
        assert_eq!(
            envoy_original_uri(path, prefix).as_deref(),
            Some(uri),
            "{path} {prefix}"
        );
    }
}

#[test]
fn envoy_paths_outside_the_prefix_or_unsafe_are_refused() {
    let refused = [
        "/oauth2/authx/app",
        "/oauth2/auth",
        "/oauth2/auth?q=1",
        "/other/app",
        "/oauth2/auth//evil.example",
        "/oauth2/auth/\\evil.example",
        "/oauth2/auth/a b",
        "",
    ];
    for path in refused {
        assert_eq!(envoy_original_uri(path, "/oauth2/auth"), None, "{path:?}");
    }
}

// --- never panics -------------------------------------------------------------------------

/// Characters that matter to these parsers, plus a few ordinary ones.
const ALPHABET: &[u8] = b"0123456789abcdefABCDEF:.[]_\"\\,;= /@%?#-\tunknowfrpthsy\x80\xff";

fn random_value(rng: &mut impl Rng) -> Vec<u8> {
    let len = rng.gen_range(0..40);
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
        .collect()
}

#[test]
fn random_headers_never_panic_and_keep_the_views_invariants() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7239);
    let names = [
        &FORWARDED,
        &X_FORWARDED_FOR,
        &X_FORWARDED_PROTO,
        &X_FORWARDED_HOST,
        &X_FORWARDED_PORT,
        &X_ORIGINAL_URI,
        &X_ORIGINAL_METHOD,
        &X_FORWARDED_URI,
    ];
    let list = trusted(&["0.0.0.0/1", "a000::/3"]);
    for _ in 0..20_000 {
        let mut map = HeaderMap::new();
        for _ in 0..rng.gen_range(0..5) {
            let name = names[rng.gen_range(0..names.len())];
            if let Ok(value) = HeaderValue::from_bytes(&random_value(&mut rng)) {
                map.append(name.clone(), value);
            }
        }
        for from in [PROXY, STRANGER, "a000::1"] {
            let view = client_view(peer(from), &map, &list, Proto::Https, OWN_HOST);
            assert_eq!(view.chain()[0], view.client_ip, "{map:?}");
            assert_eq!(view.chain().last(), Some(&ip(from)), "{map:?}");
            assert!(view.chain().len() <= MAX_HOPS);
            assert!(view.chain()[1..].iter().all(|hop| list.contains(*hop)));
            assert!(
                view.host == OWN_HOST || syntax::split_authority(&view.host).is_some(),
                "{map:?} -> {}",
                view.host
            );
            if !list.contains(ip(from)) {
                assert_eq!(view.client_ip, ip(from));
                assert_eq!(view.host, OWN_HOST);
            }
            if let Some(original) = original_request(peer(from), &map, &list) {
                assert!(original.uri.starts_with('/') && !original.uri.starts_with("//"));
            }
        }
        let path = String::from_utf8_lossy(&random_value(&mut rng)).into_owned();
        if let Some(uri) = envoy_original_uri(&format!("/oauth2/auth{path}"), "/oauth2/auth") {
            assert!(uri.starts_with('/') && !uri.starts_with("//"), "{uri:?}");
        }
    }
}
