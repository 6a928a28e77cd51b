//! The `entrance` command: run the gateway, the demo, the emulator, or make a secret.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use entrance::config::{Config, LogConfig};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(
    name = "entrance",
    version,
    about = "Microsoft sign-in in front of any web app"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Run {
        /// The YAML config file (see config.example.yaml).
        #[arg(long, env = "ENTRANCE_CONFIG")]
        config: PathBuf,
    },
    /// Check a config against the identity provider: discovery, keys, the redirect URI to
    /// register, and the client credential. Exit code 0 only when all is well.
    Check {
        #[arg(long, env = "ENTRANCE_CONFIG")]
        config: PathBuf,
    },
    /// Run a self-contained demo: the local Microsoft emulator, a sample app, and entrance in
    /// front of it, all on loopback. No Azure account needed.
    Demo {
        /// Where the gateway listens (the URL to open).
        #[arg(long, default_value = "127.0.0.1:4180")]
        listen: SocketAddr,
    },
    /// Run the local Microsoft identity emulator alone (development and tests only).
    Emulator {
        /// Tenants, users and app registrations (YAML); built-in defaults when absent.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:4181")]
        listen: SocketAddr,
        /// Allow binding a non-loopback address. The emulator signs anyone in: never expose it.
        #[arg(long)]
        allow_non_loopback: bool,
    },
    /// Print a new random session secret (base64, 32 bytes) for session.secret.
    Secret,
    /// Manage server-side sessions (`session.store: redis`).
    Sessions {
        #[command(subcommand)]
        action: SessionsAction,
    },
}

#[derive(Subcommand)]
enum SessionsAction {
    /// End every session of a user at once, on every replica.
    Revoke {
        #[arg(long, env = "ENTRANCE_CONFIG")]
        config: PathBuf,
        /// The user's object id (`oid`, as in X-Auth-Request-Oid and the access log).
        #[arg(long = "user", value_name = "OID")]
        user: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // `run` and `check` log as their config says, so the config is loaded before logging starts
    // (its problems go to stderr directly); the other commands log with the defaults.
    match cli.command {
        Command::Secret => {
            println!("{}", entrance::secret::generate_session_secret());
            Ok(())
        }
        Command::Run { config: path } => {
            let config = load_config_or_exit(&path);
            init_logging(&config.log)?;
            let result = runtime()?.block_on(run(config, path));
            // After the runtime is gone: the exporter's blocking client must not run inside it.
            #[cfg(feature = "otel")]
            entrance::telemetry::shutdown();
            result
        }
        Command::Check { config } => {
            let config = load_config_or_exit(&config);
            init_logging(&config.log)?;
            runtime()?.block_on(check(config))
        }
        Command::Sessions {
            action: SessionsAction::Revoke { config, user },
        } => {
            let config = load_config_or_exit(&config);
            init_logging(&config.log)?;
            runtime()?.block_on(revoke(config, user))
        }
        Command::Demo { listen } => {
            init_logging(&LogConfig::default())?;
            runtime()?.block_on(entrance::demo::run(listen))
        }
        Command::Emulator {
            config,
            listen,
            allow_non_loopback,
        } => {
            init_logging(&LogConfig::default())?;
            runtime()?.block_on(emulator(config, listen, allow_non_loopback))
        }
    }
}

fn init_logging(config: &LogConfig) -> anyhow::Result<()> {
    entrance::logging::init(config).map_err(|error| anyhow!("cannot start logging: {error}"))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The config at `path`, or exit 2 with every problem listed (key path, what, and the fix).
fn load_config_or_exit(path: &std::path::Path) -> Config {
    match entrance::config::load_file(path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!(
                "entrance: the config {} has problems:\n{error}",
                path.display()
            );
            std::process::exit(2);
        }
    }
}

/// How long SIGTERM waits for in-flight requests and WebSockets before closing them.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);
/// How often the config file is checked for changes.
const CONFIG_CHECK_INTERVAL: Duration = Duration::from_secs(2);

async fn run(config: Config, path: PathBuf) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listen: cannot bind {}", config.listen))?;
    let admin = match config.admin.listen {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("admin.listen: cannot bind {addr}; set another address or admin.listen: off")
        })?),
        None => None,
    };
    if let Some(addr) = admin.as_ref().and_then(|l| l.local_addr().ok()) {
        tracing::info!(%addr, "admin listener: /metrics and /status");
    }
    let redirect_http = match config.redirect_http {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listen.redirect_http: cannot bind {addr}"))?,
        ),
        None => None,
    };
    let serving = entrance::gateway::serve(
        config.clone(),
        entrance::gateway::Listeners {
            gateway: listener,
            admin,
            redirect_http,
        },
    )
    .await?;
    let mut running = config;
    let mut seen = file_stamp(&path);
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut check = tokio::time::interval(CONFIG_CHECK_INTERVAL);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = hangup.recv() => {
                tracing::info!(config = %path.display(), "SIGHUP: reloading the config and certificate");
                if let Some(certificate) = &serving.certificate {
                    if let Err(error) = certificate.reload_now().await {
                        tracing::error!(%error, "certificate reload failed; the current certificate keeps serving");
                    }
                }
                seen = file_stamp(&path);
                reload(&serving, &path, &mut running).await;
            }
            _ = check.tick() => {
                let stamp = file_stamp(&path);
                if stamp != seen {
                    seen = stamp;
                    tracing::info!(config = %path.display(), "the config file changed: reloading");
                    reload(&serving, &path, &mut running).await;
                }
            }
        }
    }
    tracing::info!(
        deadline = %humantime::format_duration(DRAIN_DEADLINE),
        "shutting down: no new connections; finishing in-flight requests"
    );
    let entrance::gateway::Serving {
        gateway,
        admin,
        redirect_http,
        ..
    } = serving;
    if let Some(redirect) = redirect_http {
        redirect.shutdown().await;
    }
    gateway.drain(DRAIN_DEADLINE).await;
    if let Some(admin) = admin {
        admin.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Put the config file's current content into service, or keep the running one (saying why).
async fn reload(
    serving: &entrance::gateway::Serving,
    path: &std::path::Path,
    running: &mut Config,
) {
    let config = match entrance::config::load_file(path) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(
                config = %path.display(),
                problems = %error,
                "config reload refused: the new config has problems; the running config keeps serving"
            );
            return;
        }
    };
    for key in needs_restart(running, &config) {
        tracing::warn!(
            key,
            "this key changed, but takes effect only after a restart"
        );
    }
    match serving.sites.reload(&config).await {
        Ok(()) => {
            tracing::info!(config = %path.display(), "config reloaded");
            *running = config;
        }
        Err(error) => tracing::error!(
            %error,
            "config reload failed; the running config keeps serving"
        ),
    }
}

/// Keys of the listeners and the process, which a reload cannot change.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.listen != new.listen {
        keys.push("listen");
    }
    if old.tls != new.tls {
        keys.push("listen.tls");
    }
    if old.redirect_http != new.redirect_http {
        keys.push("listen.redirect_http");
    }
    if old.limits != new.limits {
        keys.push("limits");
    }
    let certificates = |c: &Config| -> Vec<_> {
        c.hosts
            .iter()
            .map(|h| (h.names.clone(), h.tls.clone()))
            .collect()
    };
    if certificates(old) != certificates(new) {
        keys.push("hosts[].tls");
    }
    if old.admin != new.admin {
        keys.push("admin.listen");
    }
    keys
}

/// What tells a changed config file: its modification time, size and content hash.
fn file_stamp(path: &std::path::Path) -> Option<(std::time::SystemTime, u64, [u8; 32])> {
    use sha2::Digest as _;
    let metadata = std::fs::metadata(path).ok()?;
    let content = std::fs::read(path).ok()?;
    Some((
        metadata.modified().ok()?,
        metadata.len(),
        sha2::Sha256::digest(&content).into(),
    ))
}

/// `entrance sessions revoke --user OID`.
async fn revoke(config: Config, oid: String) -> anyhow::Result<()> {
    if !entrance::names::is_guid(&oid) {
        bail!("--user {oid}: expected the user's object id, a GUID like 00000000-0000-0000-0000-000000000000");
    }
    let secure = config.public_url.scheme() == "https";
    let sessions = entrance::session::Sessions::new(&config.session, secure)?;
    let ended = sessions.end_user(&oid).await?;
    entrance::logging::audit::revoked(&oid, "operator", "cli");
    println!("ended {ended} session(s) of user {oid}");
    Ok(())
}

async fn check(config: Config) -> anyhow::Result<()> {
    let report = entrance::check::run(&config).await;
    print!("{}", report.text);
    std::process::exit(if report.ok { 0 } else { 1 });
}

async fn emulator(
    config: Option<PathBuf>,
    listen: SocketAddr,
    allow_non_loopback: bool,
) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() && !allow_non_loopback {
        bail!(
            "--listen {listen}: the emulator signs anyone in, so it only binds loopback addresses; pass --allow-non-loopback if you really mean it"
        );
    }
    let config = match config {
        Some(path) => entrance::emulator::EmulatorConfig::from_yaml_file(&path)
            .with_context(|| format!("--config {}", path.display()))?,
        None => entrance::emulator::EmulatorConfig::default(),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("--listen: cannot bind {listen}"))?;
    let emulator = entrance::emulator::start(config, listener).await?;
    println!(
        "Microsoft identity EMULATOR (development and tests only) at {}",
        emulator.authority()
    );
    println!("Use provider.authority: {}", emulator.authority());
    for user in emulator.users() {
        println!("  {:<24} {} ({})", user.username, user.name, user.tenant);
    }
    shutdown_signal().await;
    emulator.shutdown().await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
