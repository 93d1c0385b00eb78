//! The query API in a process of its own, for `bench queries`: the load
//! generator then does not share the measured process, and the server's CPU
//! time and peak resident memory are read from `/proc` apart from the load
//! generator's.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use orderflow_auth::{DEV_AUDIENCE, DEV_ISSUER, SigningKey};
use tokio::process::{Child, Command};

use super::peak_memory;
use crate::rest_client::Tokens;

/// How long the child gets to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `orderflow query-api` child, killed when dropped.
pub struct ServerProcess {
    child: Child,
    pid: u32,
    /// Its `/graphql` URL.
    pub endpoint: String,
    dir: PathBuf,
}

impl ServerProcess {
    /// Starts this executable's `query-api` over `read_database_url`,
    /// trusting a key made for the run (rate limits off: load from one
    /// address is what is measured), and waits until it answers. Returns it
    /// and the tokens it accepts.
    pub async fn start(read_database_url: &str) -> anyhow::Result<(ServerProcess, Tokens)> {
        let key = SigningKey::generate_ed25519().context("generate the benchmark's signing key")?;
        let dir = std::env::temp_dir().join(format!("orderflow-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let jwks = dir.join("jwks.json");
        std::fs::write(&jwks, key.jwks().to_string())
            .with_context(|| format!("write {}", jwks.display()))?;
        // A free port: bound, read, released for the child to take.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let exe = std::env::current_exe().context("locate this executable")?;
        let child = Command::new(exe)
            .arg("query-api")
            .env("READ_DATABASE_URL", read_database_url)
            .env("QUERY_API_ADDR", format!("127.0.0.1:{port}"))
            .env("AUTH_JWKS_FILE", &jwks)
            .env("AUTH_ISSUER", DEV_ISSUER)
            .env("AUTH_AUDIENCE", DEV_AUDIENCE)
            .env("RATE_LIMIT_ENABLED", "false")
            .env("LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start `orderflow query-api`")?;
        let pid = child.id().context("the query API exited at once")?;
        let server = ServerProcess {
            child,
            pid,
            endpoint: format!("http://127.0.0.1:{port}/graphql"),
            dir,
        };
        server.wait_healthy(port).await?;
        Ok((server, Tokens::minted(key)))
    }

    async fn wait_healthy(&self, port: u16) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/healthz");
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < START_TIMEOUT,
                "the query API did not answer {url} within {START_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// CPU seconds the server has used so far (user and system).
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(&self.pid.to_string())
    }

    /// The server's peak resident memory so far.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        peak_memory::peak_rss_bytes_of(&self.pid.to_string())
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// CPU seconds (user + system, every thread) of process `pid` (`"self"`
/// for this one), from `/proc/<pid>/stat`; `None` where there is no such
/// file (not Linux).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_seconds(&stat)
}

/// CPU seconds of every process named `name` (a local Postgres server:
/// its postmaster and backends), or `None` when there is none. A process
/// that exits in between takes its time with it: measure over spans in
/// which the processes stay (a pool's backends do).
pub fn cpu_seconds_named(name: &str) -> Option<f64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let file_name = entry.file_name();
        let pid = file_name.to_string_lossy();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue; // gone since the listing
        };
        let comm = stat
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'))
            .map(|(comm, _)| comm);
        if comm == Some(name)
            && let Some(s) = parse_cpu_seconds(&stat)
        {
            *total.get_or_insert(0.0) += s;
        }
    }
    total
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times: `USER_HZ`, which
/// the kernel fixes at 100 for user space on every architecture it exports
/// to (whatever its internal tick rate).
const USER_HZ: f64 = 100.0;

fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (2nd field) may hold spaces; fields after its
    // closing parenthesis are plain. utime and stime are fields 14 and 15,
    // so the 12th and 13th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_time() {
        let stat = "4242 (query api) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 9 0 \
                    100 2000000 3000 18446744073709551615";
        assert_eq!(parse_cpu_seconds(stat), Some(3.0));
        assert_eq!(parse_cpu_seconds("garbage"), None);
        // This process has run, so its own figure reads.
        if let Some(own) = cpu_seconds("self") {
            assert!(own >= 0.0);
        }
        assert_eq!(cpu_seconds_named("no-such-process-name"), None);
    }
}
