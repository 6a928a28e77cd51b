//! Trusted proxies, and what they say about the original request.

/// `trusted_proxies`: the peers whose forwarding headers are believed. Empty (the default)
/// trusts nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<ipnet::IpNet>,
}

impl TrustedProxies {
    pub fn new(nets: Vec<ipnet::IpNet>) -> Self {
        TrustedProxies { nets }
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}
