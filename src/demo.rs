//! `entrance demo`: the local Microsoft emulator, the sample app, and entrance in front of it,
//! all on loopback in one process, configured through the same YAML loader operators use.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::emulator::{self, defaults, EmulatorConfig};
use crate::{config, gateway, sample_app, secret};

/// The demo's config: the emulator as the authority, the sample app as the upstream.
pub fn config_yaml(public_url: &str, upstream: &str, authority: &str) -> String {
    format!(
        r#"listen: 127.0.0.1:0
public_url: {public_url}
upstream: {upstream}
provider:
  authority: {authority}
  tenant: common
  client_id: {client_id}
  client_secret: ${{DEMO_CLIENT_SECRET}}
  sign_out_at_microsoft: true
session:
  secret: ${{DEMO_SESSION_SECRET}}
  lifetime: 8h
authorization:
  allowed_tenants: ["*", "9188040d-6c67-4c5b-b112-36a304b66dad"]  # any organisation, and personal accounts
routes:
  - path: /public/
    public: true
"#,
        client_id = defaults::CLIENT_ID,
    )
}

/// The built-in directory, with entrance's front-channel logout URL registered on the demo app,
/// so signing out at the emulator ends the entrance session too, as it would at Microsoft.
pub fn emulator_config(public_url: &str) -> EmulatorConfig {
    let mut config = EmulatorConfig::default();
    let url = format!(
        "{}/oauth2/frontchannel_logout",
        public_url.trim_end_matches('/')
    );
    for app in &mut config.apps {
        if app.client_id == defaults::CLIENT_ID {
            app.frontchannel_logout_url = Some(url.clone());
        }
    }
    config
}

/// Run the demo until Ctrl-C.
pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let gateway_listener = match TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(error) => {
            eprintln!("entrance demo: {listen} is busy ({error}); using a free port instead");
            TcpListener::bind((listen.ip(), 0))
                .await
                .context("cannot bind a loopback port")?
        }
    };
    let gateway_addr = gateway_listener.local_addr()?;
    let public_url = format!("http://{gateway_addr}");
    let emulator = emulator::start(
        emulator_config(&public_url),
        TcpListener::bind("127.0.0.1:0")
            .await
            .context("emulator: cannot bind")?,
    )
    .await?;
    let app = sample_app::spawn(
        TcpListener::bind("127.0.0.1:0")
            .await
            .context("sample app: cannot bind")?,
    )?;

    let yaml = config_yaml(
        &public_url,
        &format!("http://{}", app.addr()),
        &emulator.authority(),
    );
    let session_secret = secret::generate_session_secret();
    let env = |name: &str| match name {
        "DEMO_CLIENT_SECRET" => Some(defaults::CLIENT_SECRET.to_owned()),
        "DEMO_SESSION_SECRET" => Some(session_secret.clone()),
        _ => None,
    };
    let config = config::load_str(&yaml, &env).map_err(|e| anyhow::anyhow!("demo config: {e}"))?;
    let admin_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("admin: cannot bind")?;
    let admin_addr = admin_listener.local_addr()?;
    let (server, admin) =
        gateway::start_with_admin(config, gateway_listener, Some(admin_listener)).await?;

    println!();
    println!("  entrance demo is running.");
    println!();
    println!("  Open  {public_url}/  in a browser and pick a test user:");
    for user in emulator.users() {
        println!(
            "    {:<22} {:<16} {}",
            user.username, user.name, user.tenant
        );
    }
    println!();
    println!("  Sample app (upstream):          http://{}", app.addr());
    println!(
        "  Microsoft identity EMULATOR:    {}  (development only, never production)",
        emulator.authority()
    );
    println!("  Your identity as JSON:          {public_url}/oauth2/userinfo");
    println!("  Sign out:                       {public_url}/oauth2/sign_out");
    println!(
        "  Status page and metrics:        http://{admin_addr}/status  http://{admin_addr}/metrics"
    );
    println!();
    println!("  Press Ctrl-C to stop.");

    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    if let Some(admin) = admin {
        admin.shutdown().await;
    }
    app.shutdown().await;
    emulator.shutdown().await;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_app_registers_entrance_front_channel_logout_url() {
        let config = emulator_config("http://127.0.0.1:4180/");
        let app = config
            .apps
            .iter()
            .find(|a| a.client_id == defaults::CLIENT_ID)
            .unwrap();
        assert_eq!(
            app.frontchannel_logout_url.as_deref(),
            Some("http://127.0.0.1:4180/oauth2/frontchannel_logout")
        );
        config.validate().unwrap();
    }
}
