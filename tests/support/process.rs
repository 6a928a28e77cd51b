//! `entrance run` as a child process (the real binary, signals and all), its stdout and stderr
//! captured by two reader threads.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct EntranceProcess {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl EntranceProcess {
    /// `entrance run --config <config>` with `RUST_LOG=<log>` and the client secret the test
    /// configs read from `${TEST_CLIENT_SECRET}`.
    pub fn run(config: &std::path::Path, log: &str) -> EntranceProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_entrance"))
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", log)
            .env(
                "TEST_CLIENT_SECRET",
                entrance::emulator::defaults::CLIENT_SECRET,
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
        for mut stream in [stdout, stderr] {
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }));
        }
        EntranceProcess {
            child,
            output,
            readers,
        }
    }

    /// Send `signal` (`TERM`, `HUP`, ...) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Everything written to stdout and stderr so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Wait until the output contains `text`; panics with the output after `timeout`.
    pub async fn wait_for_output(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.output().contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "entrance never wrote {text:?}; it wrote:\n{}",
            self.output()
        );
    }

    /// The exit status once the process ends by itself; `None` if it is still running after
    /// `timeout` (a hang guard).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Stop the process (SIGKILL) and return everything it wrote.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        self.output()
    }
}

impl Drop for EntranceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
