//! The `admin` section: where the admin listener (`/metrics`, `/status`) binds, or `off`.
//!
//! Must not: let the admin endpoints share the gateway's public address.

use std::net::SocketAddr;

use super::{Problems, RawAdmin, Text};
use crate::config::AdminConfig;

/// The value that switches the admin listener off.
const OFF: &str = "off";

/// Check the `admin` section; `gateway_listen` is the already checked top-level `listen`.
pub(super) fn admin(
    raw: RawAdmin,
    gateway_listen: Option<SocketAddr>,
    problems: &mut Problems,
) -> Option<AdminConfig> {
    let Some(Text(text)) = raw.listen else {
        return Some(AdminConfig::default());
    };
    if text.trim() == OFF {
        return Some(AdminConfig { listen: None });
    }
    let Ok(addr) = text.trim().parse::<SocketAddr>() else {
        let shown = problems.quote("admin.listen", &text);
        problems.push(
            "admin.listen",
            format!(
                "{shown} is not an address; write an IP address and port like 127.0.0.1:9180 \
                 (host names are not accepted), or off to serve no metrics or status"
            ),
        );
        return None;
    };
    if gateway_listen.is_some_and(|gateway| overlaps(gateway, addr)) {
        problems.push(
            "admin.listen",
            "must differ from listen: metrics and the status page must never be served on the \
             public port; pick another port such as 127.0.0.1:9180",
        );
        return None;
    }
    Some(AdminConfig { listen: Some(addr) })
}

/// Whether binding both would collide: same port (not 0) on the same or an unspecified IP.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}
