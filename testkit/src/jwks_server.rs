//! An in-process JWKS endpoint, as an OIDC provider serves its `jwks_uri`:
//! real HTTP on a free local port, so verifiers fetch keys exactly as they
//! do in production. Tests swap the key set (rotation), make it fail
//! (provider down) and count the fetches (refetch rate limits).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

#[derive(Debug)]
struct Shared {
    jwks: Mutex<Value>,
    failing: AtomicBool,
    requests: AtomicUsize,
}

/// A running JWKS server; stops when dropped.
#[derive(Debug)]
pub struct JwksServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    serve: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.serve.abort();
    }
}

async fn serve_jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if shared.failing.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let jwks = shared
        .jwks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Json(jwks).into_response()
}

impl JwksServer {
    /// Serves `jwks` (a `{"keys": [...]}` document) at [`JwksServer::url`].
    pub async fn start(jwks: Value) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind the JWKS server: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("JWKS server address: {e}"));
        let shared = Arc::new(Shared {
            jwks: Mutex::new(jwks),
            failing: AtomicBool::new(false),
            requests: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route("/jwks.json", get(serve_jwks))
            .with_state(shared.clone());
        let serve = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                panic!("JWKS server stopped: {e}");
            }
        });
        JwksServer {
            addr,
            shared,
            serve,
        }
    }

    /// The `jwks_uri`.
    pub fn url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    /// Serves `jwks` from now on (key rotation).
    pub fn set_jwks(&self, jwks: Value) {
        *self
            .shared
            .jwks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = jwks;
    }

    /// While true, every request is answered 503.
    pub fn set_failing(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    /// Requests served so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
}
