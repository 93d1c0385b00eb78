//! A private `nats-server` (never the shared one) for tests that stop,
//! kill or restart NATS under the system. Killed on drop, so a failing test
//! leaves no server behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug)]
pub struct PrivateNats {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl PrivateNats {
    /// Starts JetStream on `port` with its store in `dir` (reuse both to
    /// restart "the same" server). Panics when nats-server cannot be
    /// spawned: the tests that use it need it (CI installs it), and a test
    /// that cannot run must not pass.
    pub fn start(port: u16, dir: &Path) -> PrivateNats {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("this test needs nats-server on PATH: {e}"));
        PrivateNats {
            child: Some(child),
            port,
            dir: dir.to_owned(),
        }
    }

    /// A server on a free port with a fresh store directory.
    pub fn start_fresh() -> PrivateNats {
        let dir = std::env::temp_dir().join(format!("orderflow-nats-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        PrivateNats::start(free_port(), &dir)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Waits until the server accepts connections (at most 5 s).
    pub async fn wait_ready(&self) {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("private nats-server did not start");
    }

    /// Stops it the way an operator does (SIGTERM: JetStream flushes what
    /// it acknowledged), cutting every client connection. Returns the port
    /// and store directory for a restart.
    pub fn stop(mut self) -> (u16, PathBuf) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        (self.port, self.dir.clone())
    }

    /// Kills it (SIGKILL), as a crash would.
    pub fn kill(mut self) -> (u16, PathBuf) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        (self.port, self.dir.clone())
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port nothing listens on right now (the kernel's choice for port 0).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}
