//! A payment provider for tests: real HTTP on a free local port, taking
//! `POST /refunds` as a provider would. Tests switch its behaviour while it
//! runs (answer, fail with 500, hang past the client's timeout, flap) and
//! read back which refunds it accepted: it is idempotent on the
//! `Idempotency-Key` header, so "accepted once" can be asserted however
//! often a refund was sent.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

/// How the provider answers from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderBehaviour {
    /// Accept every (well-formed, authentic) refund.
    Answer,
    /// 500 to everything.
    Fail,
    /// Wait this long, then answer as [`ProviderBehaviour::Answer`] (the
    /// refund happens, late: a timed-out client must not pay it twice).
    Hang(Duration),
    /// Alternate: fail, answer, fail, answer… (counted per request).
    Flap,
}

/// Checks a request's headers and body (e.g. the HMAC signature); a
/// request it refuses is answered 401 and has no effect.
pub type RequestCheck = Arc<dyn Fn(&HeaderMap, &[u8]) -> bool + Send + Sync>;

struct Shared {
    behaviour: Mutex<ProviderBehaviour>,
    /// Failures to answer before `behaviour` applies again.
    fail_next: AtomicUsize,
    requests: AtomicUsize,
    flap: AtomicUsize,
    /// Accepted refund id → provider reference, in acceptance order.
    accepted: Mutex<BTreeMap<String, (usize, String)>>,
    check: Option<RequestCheck>,
}

impl Shared {
    fn accepted(&self) -> MutexGuard<'_, BTreeMap<String, (usize, String)>> {
        self.accepted.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running fake provider; stops accepting connections when dropped.
pub struct FakePaymentProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    serve: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakePaymentProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePaymentProvider")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FakePaymentProvider {
    fn drop(&mut self) {
        self.serve.abort();
    }
}

impl FakePaymentProvider {
    /// A provider that accepts every request it gets.
    pub async fn start() -> FakePaymentProvider {
        Self::start_inner(None).await
    }

    /// A provider that answers 401 to requests `check` refuses (give it
    /// the client's signature verification).
    pub async fn start_with_check(check: RequestCheck) -> FakePaymentProvider {
        Self::start_inner(Some(check)).await
    }

    async fn start_inner(check: Option<RequestCheck>) -> FakePaymentProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind the fake payment provider: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake payment provider address: {e}"));
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(ProviderBehaviour::Answer),
            fail_next: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            flap: AtomicUsize::new(0),
            accepted: Mutex::new(BTreeMap::new()),
            check,
        });
        let app = axum::Router::new()
            .route("/refunds", post(refund))
            .with_state(shared.clone());
        let serve = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                panic!("fake payment provider stopped: {e}");
            }
        });
        FakePaymentProvider {
            addr,
            shared,
            serve,
        }
    }

    /// The base URL (refunds go to `{url}/refunds`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_behaviour(&self, behaviour: ProviderBehaviour) {
        *self
            .shared
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = behaviour;
    }

    /// The next `n` requests fail with 500, whatever the behaviour.
    pub fn fail_next(&self, n: usize) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    /// Requests received so far (refused, failed and accepted alike).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The refund ids accepted, each once, in the order first accepted.
    pub fn refunds(&self) -> Vec<String> {
        let accepted = self.shared.accepted();
        let mut ids: Vec<(usize, String)> = accepted
            .iter()
            .map(|(id, (order, _))| (*order, id.clone()))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }
}

async fn refund(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(check) = &shared.check
        && !check(&headers, &body)
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "bad signature"})),
        )
            .into_response();
    }
    let forced_failure = shared
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if forced_failure {
        return failure();
    }
    let behaviour = *shared
        .behaviour
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    match behaviour {
        ProviderBehaviour::Answer => {}
        ProviderBehaviour::Fail => return failure(),
        ProviderBehaviour::Hang(wait) => tokio::time::sleep(wait).await,
        ProviderBehaviour::Flap => {
            if shared.flap.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
                return failure();
            }
        }
    }
    let Some(refund_id) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "Idempotency-Key is required"})),
        )
            .into_response();
    };
    if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "not JSON"}))).into_response();
    }
    let mut accepted = shared.accepted();
    let next = accepted.len();
    let (_, reference) = accepted
        .entry(refund_id.to_owned())
        .or_insert_with(|| (next, format!("re_{}", next + 1)));
    Json(json!({
        "refund_id": refund_id,
        "provider_refund_id": reference,
        "status": "succeeded",
    }))
    .into_response()
}

fn failure() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"error": "provider failure (simulated)"})),
    )
        .into_response()
}
