//! A real redis-server (Debian's package) on an ephemeral loopback port, for the session-store
//! tests. Without the binary the tests skip with a visible message, unless
//! `ENTRANCE_REQUIRE_SERVERS=1` (CI) makes that a failure.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TempDir;

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
}

impl RedisServer {
    /// A fresh, empty Redis; `None` (after saying so on stderr) when redis-server is absent.
    pub fn start(test: &str) -> Option<RedisServer> {
        let binary = which("redis-server");
        let Some(binary) = binary else {
            if std::env::var("ENTRANCE_REQUIRE_SERVERS").as_deref() == Ok("1") {
                panic!("{test}: redis-server is not installed, and ENTRANCE_REQUIRE_SERVERS=1");
            }
            eprintln!(
                "SKIPPED {test}: redis-server is not installed (apt-get install redis-server)"
            );
            return None;
        };
        let _ = binary;
        let port = free_port();
        let mut server = RedisServer {
            child: None,
            port,
            dir: TempDir::new(),
        };
        server.spawn();
        Some(server)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kill the server (SIGKILL: nothing is flushed), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port and data directory (what was written is still there).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Keys currently stored (`DBSIZE`).
    pub fn key_count(&self) -> usize {
        let reply = self.command("DBSIZE\r\n");
        reply
            .trim()
            .trim_start_matches(':')
            .parse()
            .unwrap_or_else(|_| panic!("DBSIZE answered {reply:?}"))
    }

    /// Every key (`KEYS *`), as the raw RESP reply.
    pub fn keys_reply(&self) -> String {
        self.command("KEYS *\r\n")
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                // Every write on disk before it is acknowledged: a killed server comes back with
                // its sessions, like a production Redis with persistence.
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                self.dir.path.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server did not start");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut buf = [0u8; 64];
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream
                        .read(&mut buf)
                        .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "redis-server on port {} did not answer PING within 20s",
            self.port
        );
    }

    fn command(&self, command: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(command.as_bytes()).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let n = stream.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir.path);
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
