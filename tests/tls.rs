//! A `tls://` NATS URL whose server does not speak TLS is an error the
//! relay reports and retries, never a panic: the binary installs one rustls
//! crypto provider at start although two are compiled in (as in the
//! release build with the kurrentdb feature; here through a dev-dependency).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orderflow_testkit::TestDb;

/// A plain TCP server that greets like NATS, demanding TLS, then answers
/// the handshake with text.
fn plain_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut stream = stream;
            let _ = stream.write_all(
                b"INFO {\"server_id\":\"plain\",\"version\":\"2.10.0\",\"proto\":1,\
                  \"max_payload\":1048576,\"headers\":true,\"tls_required\":true}\r\n",
            );
            let _ = stream.write_all(b"-ERR 'this is not TLS'\r\n");
        }
    });
    port
}

#[tokio::test]
async fn a_tls_url_to_a_plain_server_is_an_error_not_a_panic() {
    let db = TestDb::new().await;
    let port = plain_listener();
    let mut child = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .arg("relay")
        .env_remove("RUST_LOG")
        .env("LOG", "info,sqlx=warn")
        .env("RUST_BACKTRACE", "0")
        .env("DATABASE_URL", db.url())
        .env("NATS_URL", format!("tls://127.0.0.1:{port}"))
        .env("EVENTS_STREAM", "TLS_TEST")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    for reader in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let lines = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
    }
    // Two failed rounds: the first error was survived and retried.
    let deadline = Instant::now() + Duration::from_secs(30);
    let outcome = loop {
        let seen = lines.lock().unwrap().clone();
        if seen.iter().any(|l| l.contains("panicked")) {
            break Err(seen);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break Err([seen, vec![format!("exited: {status}")]].concat());
        }
        if seen
            .iter()
            .filter(|l| l.contains("relay backing off"))
            .count()
            >= 2
        {
            break Ok(seen);
        }
        if Instant::now() > deadline {
            break Err([seen, vec!["no backing off within 30 s".into()]].concat());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    match outcome {
        Ok(seen) => {
            let error = seen
                .iter()
                .find(|l| l.contains("relay backing off"))
                .unwrap();
            assert!(error.contains("NATS: "), "{error}");
        }
        Err(seen) => panic!(
            "the relay did not survive a tls:// URL:\n{}",
            seen.join("\n")
        ),
    }
}
