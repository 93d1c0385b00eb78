//! A private three-server NATS cluster with JetStream, for tests of what
//! only a cluster does (stream replicas). Every server is killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::free_port;

#[derive(Debug)]
pub struct NatsCluster {
    servers: Vec<Child>,
    client_ports: Vec<u16>,
    dir: PathBuf,
}

impl NatsCluster {
    /// Starts three routed servers, each with its own store directory.
    /// Panics when nats-server cannot be spawned (a test that cannot run
    /// must not pass).
    pub fn start() -> NatsCluster {
        let dir =
            std::env::temp_dir().join(format!("orderflow-nats-cluster-{}", uuid::Uuid::now_v7()));
        let client_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let route_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes = route_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let servers = (0..3)
            .map(|i| {
                let store = dir.join(format!("n{i}"));
                std::fs::create_dir_all(&store)
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", store.display()));
                Command::new("nats-server")
                    .args(["-a", "127.0.0.1", "-p", &client_ports[i].to_string()])
                    .args(["-n", &format!("n{i}"), "-js", "-sd"])
                    .arg(&store)
                    .args(["--cluster_name", "orderflow-test"])
                    .args(["--cluster", &format!("nats://127.0.0.1:{}", route_ports[i])])
                    .args(["--routes", &routes])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("this test needs nats-server on PATH: {e}"))
            })
            .collect();
        NatsCluster {
            servers,
            client_ports,
            dir,
        }
    }

    /// The first server; a client learns the others from it.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_ports[0])
    }

    /// Waits until JetStream answers with a meta leader elected (at most
    /// 20 s): `$JS.API.INFO` fails until the cluster has one.
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(client) = async_nats::connect(self.url()).await {
                let reply = client
                    .request("$JS.API.INFO", "".into())
                    .await
                    .ok()
                    .and_then(|m| serde_json::from_slice::<serde_json::Value>(&m.payload).ok());
                if reply.is_some_and(|r| r.get("error").is_none()) {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the private NATS cluster elected no JetStream leader within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for child in &mut self.servers {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
