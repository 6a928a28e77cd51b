#![allow(clippy::unwrap_used)]

use super::*;

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

fn same(authority: &str, endpoint: &str) -> Result<(), String> {
    check_same_cloud(&url(authority), &url(endpoint))
}

#[test]
fn names_round_trip_and_only_the_three_clouds_exist() {
    for cloud in CLOUDS {
        assert_eq!(Cloud::from_name(cloud.name()), Some(cloud));
    }
    assert_eq!(Cloud::from_name("usgov"), Some(Cloud::UsGov));
    for bad in ["", "Global", "germany", "us", "public", " global"] {
        assert_eq!(Cloud::from_name(bad), None, "{bad:?}");
    }
}

#[test]
fn each_cloud_has_its_authority_hosts_and_graph() {
    assert_eq!(
        Cloud::Global.authority(),
        "https://login.microsoftonline.com"
    );
    assert_eq!(Cloud::UsGov.authority(), "https://login.microsoftonline.us");
    assert_eq!(
        Cloud::China.authority(),
        "https://login.partner.microsoftonline.cn"
    );
    for cloud in CLOUDS {
        // The authority's host is the preferred (first) host, and every host maps back.
        let authority = url(cloud.authority());
        assert_eq!(authority.host_str(), Some(cloud.hosts()[0]));
        assert_eq!(authority.path(), "/");
        for host in cloud.hosts() {
            assert_eq!(cloud_of_host(host), Some(cloud), "{host}");
        }
    }
    assert_eq!(Cloud::Global.graph_host(), "graph.microsoft.com");
    assert_eq!(Cloud::UsGov.graph_host(), "graph.microsoft.us");
    assert_eq!(Cloud::China.graph_host(), "microsoftgraph.chinacloudapi.cn");
}

#[test]
fn aliases_belong_to_their_cloud_case_insensitively() {
    for (host, cloud) in [
        ("login.microsoft.com", Cloud::Global),
        ("login.windows.net", Cloud::Global),
        ("STS.Windows.NET", Cloud::Global),
        ("login.microsoftonline.com.", Cloud::Global),
        ("login.usgovcloudapi.net", Cloud::UsGov),
        ("login-us.microsoftonline.com", Cloud::UsGov),
        ("LOGIN.MICROSOFTONLINE.US", Cloud::UsGov),
        ("login.chinacloudapi.cn", Cloud::China),
        ("login.partner.microsoftonline.cn", Cloud::China),
    ] {
        assert_eq!(cloud_of_host(host), Some(cloud), "{host}");
    }
    for host in [
        "graph.microsoft.com",
        "graph.windows.net",
        "login.microsoftonline.com.evil.example",
        "evil-login.microsoftonline.com",
        "contoso.ciamlogin.com",
        "contoso.b2clogin.com",
        "login.microsoftonline.de",
        "127.0.0.1",
        "",
    ] {
        assert_eq!(cloud_of_host(host), None, "{host}");
    }
}

#[test]
fn ciam_hosts_are_recognised() {
    assert!(is_ciam_host("contoso.ciamlogin.com"));
    assert!(is_ciam_host("Contoso.CIAMLOGIN.com"));
    assert!(is_ciam_host(
        "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee.ciamlogin.com"
    ));
    assert!(!is_ciam_host("ciamlogin.com"));
    assert!(!is_ciam_host(".ciamlogin.com"));
    assert!(!is_ciam_host("contoso.ciamlogin.com.evil.example"));
    assert!(!is_ciam_host("contosociamlogin.com"));
    assert!(!is_ciam_host("login.microsoftonline.com"));
}

#[test]
fn endpoints_in_the_authoritys_cloud_pass() {
    let global = "https://login.microsoftonline.com/";
    for endpoint in [
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
        "https://login.windows.net/common/discovery/keys",
        "https://sts.windows.net/tid/",
    ] {
        assert_eq!(same(global, endpoint), Ok(()), "{endpoint}");
    }
    assert_eq!(
        same(
            "https://login.microsoftonline.us",
            "https://login.usgovcloudapi.net/t/oauth2/v2.0/token"
        ),
        Ok(())
    );
    assert_eq!(
        same(
            "https://login.chinacloudapi.cn",
            "https://login.partner.microsoftonline.cn/t/oauth2/v2.0/token"
        ),
        Ok(())
    );
}

#[test]
fn an_endpoint_in_another_cloud_is_refused_naming_both_hosts() {
    let error = same(
        "https://login.microsoftonline.com",
        "https://login.microsoftonline.us/t/oauth2/v2.0/token",
    )
    .unwrap_err();
    assert!(error.contains("login.microsoftonline.us"), "{error}");
    assert!(error.contains("login.microsoftonline.com"), "{error}");
    assert!(
        error.contains("usgov") && error.contains("global"),
        "{error}"
    );
    assert!(same(
        "https://login.partner.microsoftonline.cn",
        "https://login.microsoftonline.com/t/discovery/v2.0/keys"
    )
    .is_err());
}

#[test]
fn a_cloud_authority_may_not_point_to_an_unknown_host() {
    let error = same(
        "https://login.microsoftonline.com",
        "https://evil.example/t/oauth2/v2.0/token",
    )
    .unwrap_err();
    assert!(error.contains("evil.example"), "{error}");
    assert!(same(
        "https://login.microsoftonline.com",
        "http://127.0.0.1:9000/t/oauth2/v2.0/token"
    )
    .is_err());
}

#[test]
fn external_id_authorities_use_their_own_hosts() {
    // The issuer host of External ID is the tenant GUID, not the friendly name (A.4).
    for endpoint in [
        "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
        "https://aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee.ciamlogin.com/t/discovery/v2.0/keys",
    ] {
        assert_eq!(same("https://contoso.ciamlogin.com", endpoint), Ok(()));
    }
    assert!(same(
        "https://contoso.ciamlogin.com",
        "https://login.microsoftonline.us/t/oauth2/v2.0/token"
    )
    .is_err());
}

#[test]
fn a_loopback_emulator_passes_with_loopback_endpoints() {
    assert_eq!(
        same(
            "http://127.0.0.1:8443",
            "http://127.0.0.1:8443/tenant/oauth2/v2.0/token"
        ),
        Ok(())
    );
    assert_eq!(
        same("http://localhost:8443", "http://127.0.0.1:8443/keys"),
        Ok(())
    );
    assert!(same(
        "http://127.0.0.1:8443",
        "https://login.microsoftonline.com/t/oauth2/v2.0/token"
    )
    .is_err());
}

#[test]
fn germany_is_retired() {
    let message = retired_host("login.microsoftonline.de").unwrap();
    assert!(message.contains("2021"), "{message}");
    assert!(retired_host("LOGIN.microsoftonline.DE.").is_some());
    for host in CLOUDS.iter().flat_map(|c| c.hosts()) {
        assert_eq!(retired_host(host), None, "{host}");
    }
}

#[test]
fn azure_ad_graph_is_recognised() {
    assert!(is_azure_ad_graph_host("graph.windows.net"));
    assert!(is_azure_ad_graph_host("Graph.Windows.Net."));
    for cloud in CLOUDS {
        assert!(!is_azure_ad_graph_host(cloud.graph_host()));
    }
}
