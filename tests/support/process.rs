//! Running `orderflow` subcommands as real processes in tests: their
//! output lines, the URLs they announce, SIGKILL and SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The development signing key of this test process's services (they run
/// without a JWKS), kept out of the repository's `.orderflow/`.
pub fn dev_key_file() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "orderflow-tests-{}/dev-signing-key.pem",
        std::process::id()
    ))
}

/// A token the services of this test process accept: `sub` is also the
/// customer id.
pub fn token(sub: &str, roles: &[orderflow_auth::Role]) -> String {
    let key = orderflow_auth::DevKey::load_or_create(&dev_key_file()).unwrap();
    let claims = orderflow_auth::TokenClaims::development(sub, roles, Duration::from_secs(3600));
    orderflow_auth::mint(&key.key, &claims).unwrap()
}

/// What the end-to-end tests send: the customer's own token, which may
/// also do staff's and finance's steps.
pub fn token_for(customer: &str) -> String {
    use orderflow_auth::Role;
    token(customer, &[Role::Customer, Role::Staff, Role::Finance])
}

/// Every line a process printed (stdout and stderr), with when it came.
type Lines = Arc<Mutex<Vec<(Instant, String)>>>;

pub struct Service {
    pub name: String,
    child: Child,
    lines: Lines,
}

impl Service {
    pub fn start(name: &str, args: &[&str], env: &[(&str, String)]) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .args(args)
            .env_remove("RUST_LOG")
            .env("LOG", "info,sqlx=warn")
            .env("LOG_FORMAT", "text")
            .env("AUTH_DEV_KEY_FILE", dev_key_file())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines: Lines = Arc::default();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        for reader in [
            Box::new(out) as Box<dyn std::io::Read + Send>,
            Box::new(err) as Box<dyn std::io::Read + Send>,
        ] {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push((Instant::now(), line));
                }
            });
        }
        Service {
            name: name.to_owned(),
            child,
            lines,
        }
    }

    /// Lines containing `needle`, with their times.
    pub fn found(&self, needle: &str) -> Vec<(Instant, String)> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, l)| l.contains(needle))
            .cloned()
            .collect()
    }

    pub async fn wait_for(&self, needle: &str, count: usize, within: Duration) -> Instant {
        let deadline = Instant::now() + within;
        loop {
            let found = self.found(needle);
            if found.len() >= count {
                return found[count - 1].0;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not print {count}× {needle:?} within {within:?}; it printed:\n{}",
                    self.name,
                    self.dump()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The URL after `prefix` in the line that announces the listener.
    pub async fn url(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        let line = loop {
            let found = self.found(prefix);
            if let Some((_, line)) = found.into_iter().find(|(_, l)| l.contains("http://")) {
                break line;
            }
            assert!(
                Instant::now() < deadline,
                "{} announced no {prefix:?} URL:\n{}",
                self.name,
                self.dump()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let at = line.find("http://").unwrap();
        line[at..].split_whitespace().next().unwrap().to_owned()
    }

    pub fn dump(&self) -> String {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn kill(&mut self) -> Instant {
        let at = Instant::now();
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        at
    }

    pub fn terminate(&self) -> Instant {
        let at = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        at
    }

    pub async fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still runs {within:?} after SIGTERM:\n{}",
                self.name,
                self.dump()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
