//! The `admin` section: where the admin listener (`/metrics`, `/status`) binds, or `off`.
//!
//! Must not: let the admin endpoints share the gateway's public address.

use std::net::SocketAddr;

use super::serving::overlaps;
use super::{Problems, RawAdmin, Text};
use crate::config::AdminConfig;

/// The value that switches the admin listener off.
const OFF: &str = "off";

/// Check the `admin` section; `taken` are the gateway's own (already checked) addresses, by the
/// key that names them (`listen`, `listen.redirect_http`).
pub(super) fn admin(
    raw: RawAdmin,
    taken: &[(&str, SocketAddr)],
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
    if let Some((key, _)) = taken.iter().find(|(_, gateway)| overlaps(*gateway, addr)) {
        problems.push(
            "admin.listen",
            format!(
                "must differ from {key}: metrics and the status page must never be served on \
                 a public port; pick another port such as 127.0.0.1:9180"
            ),
        );
        return None;
    }
    Some(AdminConfig { listen: Some(addr) })
}
