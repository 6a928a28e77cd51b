//! A real nginx in front of entrance and the recording upstream, for the forward-auth tests. It
//! runs `deploy/nginx/entrance.conf` as shipped, with only its placeholders filled in, so the
//! documented example is what the tests exercise.
//!
//! Must not: touch the system nginx (its config, logs, pid file or temp dirs: everything lives in
//! a temp dir), daemonise, or leave a process behind (killed on drop).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpListener;

use super::TempDir;
use super::{Options, Stack};

/// When set to `1` (CI sets it, having installed nginx), a missing nginx fails the test instead
/// of skipping it.
pub const REQUIRE_SERVERS: &str = "ENTRANCE_REQUIRE_SERVERS";

/// The example site config the tests run, relative to the crate root.
pub const SITE_CONFIG: &str = "deploy/nginx/entrance.conf";

/// How long nginx may take to accept connections; a hang guard, not a speed claim.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The nginx binary: `nginx` on `PATH`, else `/usr/sbin/nginx`.
pub fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nginx"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let sbin = PathBuf::from("/usr/sbin/nginx");
        sbin.is_file().then_some(sbin)
    })
}

/// The nginx binary, or `None` after printing that `test` is skipped. Panics instead when
/// [`REQUIRE_SERVERS`] is `1`: there a skipped test would hide a broken setup.
pub fn binary_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(binary) = binary() {
        return Some(binary);
    }
    if std::env::var(REQUIRE_SERVERS).is_ok_and(|v| v == "1") {
        panic!(
            "{test}: nginx is not installed (not on PATH, not /usr/sbin/nginx) and \
             {REQUIRE_SERVERS}=1 says it must be; install Debian's nginx-light"
        );
    }
    eprintln!(
        "SKIPPED {test}: nginx is not installed (not on PATH, not /usr/sbin/nginx); \
         install Debian's nginx-light to run it"
    );
    None
}

/// What the placeholders of [`SITE_CONFIG`] stand for.
#[derive(Debug, Clone)]
pub struct Site {
    /// `@LISTEN@` and `@SERVER_NAME@`: where nginx listens (the browser's origin).
    pub listen: SocketAddr,
    /// `@ENTRANCE@`
    pub entrance: SocketAddr,
    /// `@APP@`
    pub app: SocketAddr,
    /// More nginx directives for the end of the `server` block (the file's last `}`), e.g. a
    /// location with rules of its own as the example's comments describe. Usually empty.
    pub extra: String,
}

impl Site {
    /// [`SITE_CONFIG`] with every placeholder replaced; panics if one is left, so a new
    /// placeholder in the example cannot go untested.
    pub fn render(&self) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SITE_CONFIG);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => panic!("cannot read {}: {error}", path.display()),
        };
        let rendered = text
            .replace("@LISTEN@", &self.listen.to_string())
            .replace("@SERVER_NAME@", &self.listen.ip().to_string())
            .replace("@ENTRANCE@", &self.entrance.to_string())
            .replace("@APP@", &self.app.to_string());
        let rendered = match rendered.rfind('}') {
            Some(end) => format!("{}{}\n{}", &rendered[..end], self.extra, &rendered[end..]),
            None => panic!("{SITE_CONFIG} has no server block"),
        };
        let left = placeholders(&rendered);
        assert!(
            left.is_empty(),
            "{SITE_CONFIG} has placeholders the test does not fill: {left:?}"
        );
        rendered
    }
}

/// Every `@NAME@` (capitals and `_`) outside comments.
fn placeholders(config: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in config.lines() {
        let code = line.split('#').next().unwrap_or("");
        let mut rest = code;
        while let Some(start) = rest.find('@') {
            let after = &rest[start + 1..];
            let len = after
                .bytes()
                .take_while(|b| b.is_ascii_uppercase() || *b == b'_')
                .count();
            if len > 0 && after[len..].starts_with('@') {
                found.push(format!("@{}@", &after[..len]));
            }
            rest = after;
        }
    }
    found
}

/// A running nginx; killed when dropped.
pub struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
}

impl Nginx {
    /// Writes a top-level nginx.conf in a temp dir that includes the rendered [`SITE_CONFIG`]
    /// (pid, logs and temp files in the temp dir, one process, in the foreground), starts
    /// `binary` with it, and returns once `site.listen` accepts connections. Panics with nginx's
    /// error log when it does not start.
    pub async fn start(binary: &Path, site: Site) -> Nginx {
        let dir = TempDir::new();
        let root = dir.path.display().to_string();
        dir.write("entrance.conf", &site.render());
        dir.write(
            "nginx.conf",
            &format!(
                "daemon off;\n\
                 master_process off;\n\
                 worker_processes 1;\n\
                 pid {root}/nginx.pid;\n\
                 error_log {root}/error.log info;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n    \
                     access_log {root}/access.log;\n    \
                     client_body_temp_path {root}/client_body;\n    \
                     proxy_temp_path {root}/proxy;\n    \
                     fastcgi_temp_path {root}/fastcgi;\n    \
                     uwsgi_temp_path {root}/uwsgi;\n    \
                     scgi_temp_path {root}/scgi;\n    \
                     include {root}/entrance.conf;\n\
                 }}\n"
            ),
        );
        let stderr = match std::fs::File::create(dir.path.join("stderr.log")) {
            Ok(file) => file,
            Err(error) => panic!("cannot create nginx's stderr file in {root}: {error}"),
        };
        let child = Command::new(binary)
            .arg("-p")
            .arg(&dir.path)
            .arg("-c")
            .arg(dir.path.join("nginx.conf"))
            .arg("-e")
            .arg(dir.path.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(error) => panic!("cannot start {}: {error}", binary.display()),
        };
        let mut nginx = Nginx {
            child,
            addr: site.listen,
            dir,
        };
        nginx.wait_listening().await;
        nginx
    }

    async fn wait_listening(&mut self) {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited at start ({status})\n{}", self.logs());
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "nginx did not accept connections on {} within {START_TIMEOUT:?}\n{}",
                    self.addr,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Where nginx listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` of nginx.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Absolute URL of `path` (path and query) at nginx.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// The key the browser's jar files nginx's (that is, entrance's) cookies under.
    pub fn cookie_origin(&self) -> String {
        self.addr.to_string()
    }

    /// nginx's stderr and error log, for failure messages.
    pub fn logs(&self) -> String {
        let read = |name: &str| {
            std::fs::read_to_string(self.dir.path.join(name)).unwrap_or_else(|e| format!("<{e}>"))
        };
        format!(
            "--- nginx stderr ---\n{}\n--- nginx error.log ---\n{}",
            read("stderr.log"),
            read("error.log")
        )
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// entrance (with the emulator and the recording upstream) whose `public_url` is nginx's and
/// which trusts nginx (`trusted_proxies: [127.0.0.1/32]`), and nginx in front of both, running
/// the example site config.
pub struct Front {
    pub nginx: Nginx,
    pub stack: Stack,
}

impl Front {
    /// Starts everything, or returns `None` when nginx is absent (see [`binary_or_skip`]).
    ///
    /// nginx's port is reserved first (bound, then released) because entrance's `public_url`
    /// must name it before entrance starts, and nginx needs entrance's address to start.
    pub async fn start(test: &str, options: Options) -> Option<Front> {
        Front::start_with(test, options, "").await
    }

    /// [`Front::start`], with `extra` added to the end of nginx's server block (see
    /// [`Site::extra`]).
    pub async fn start_with(test: &str, mut options: Options, extra: &str) -> Option<Front> {
        let binary = binary_or_skip(test)?;
        // As deploy/README.md configures entrance behind nginx: nginx's forwarding headers are
        // believed.
        if !options.extra_yaml.is_empty() && !options.extra_yaml.ends_with('\n') {
            options.extra_yaml.push('\n');
        }
        options
            .extra_yaml
            .push_str("trusted_proxies: [127.0.0.1/32]\n");
        let reserved = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen = reserved.local_addr().unwrap();
        drop(reserved);
        options.public_port = Some(listen.port());
        let stack = Stack::start(options).await;
        let site = Site {
            listen,
            entrance: stack.addr(),
            app: stack.upstream.addr,
            extra: extra.to_string(),
        };
        let nginx = Nginx::start(&binary, site).await;
        Some(Front { nginx, stack })
    }
}
