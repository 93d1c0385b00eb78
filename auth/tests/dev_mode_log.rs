//! Development mode is announced with a warning when a verifier starts.
//! Its own test binary: `tracing` caches per-callsite interest process-wide,
//! so a test running the same callsite without a subscriber in parallel
//! could hide the line from this one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use orderflow_auth::{AuthSettings, Verifier};

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn development_mode_is_announced_with_a_warning() {
    let dir = std::env::temp_dir().join(format!("orderflow-auth-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let settings = AuthSettings {
        dev_key_file: dir.join("key.pem"),
        ..AuthSettings::default()
    };
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let verifier = runtime
            .block_on(Verifier::new(settings.resolve().unwrap()))
            .unwrap();
        assert!(verifier.is_development());
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("WARN") && log.contains("AUTH DEVELOPMENT MODE"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
