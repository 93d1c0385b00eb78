//! `/graphql`: POST for queries (single or batched), GET for GraphiQL or a
//! graphql-ws WebSocket.

use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{BatchRequest, BatchResponse, Data, Executor, Response as GqlResponse};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, FromRef, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderflow_auth::{Principal, Verifier};
use orderflow_event_store::Position;
use tokio::sync::Semaphore;

use crate::consistency::PositionRequest;
use crate::error::ErrorCode;
use crate::executor::{QueryExecutor, SubscriptionSlots};
use crate::graphiql;
use crate::ws_auth;
use crate::ws_clients::WsClients;

/// The token from a command response (the wire contract's header).
pub use orderflow_wire::http::POSITION_HEADER;
/// `strict`: answer `STALE` rather than older data.
pub const CONSISTENCY_HEADER: &str = "x-orderflow-consistency";

#[derive(Clone)]
pub(crate) struct HttpState {
    pub executor: QueryExecutor,
    pub max_batch: usize,
    pub max_ws_message: usize,
    pub max_subscriptions: usize,
    pub ws_clients: Arc<WsClients>,
    /// Checks every operation's bearer token (the `Principal` extractor).
    pub verifier: Arc<Verifier>,
}

impl FromRef<HttpState> for Arc<Verifier> {
    fn from_ref(state: &HttpState) -> Arc<Verifier> {
        Arc::clone(&state.verifier)
    }
}

/// A request refused before any operation ran.
fn refused(status: StatusCode, message: impl Into<String>) -> Response {
    refused_with(status, ErrorCode::BadUserInput, message)
}

fn refused_with(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    let body = GqlResponse::from_errors(vec![code.server_error(message)]);
    (status, axum::Json(body)).into_response()
}

fn position_request(headers: &HeaderMap) -> Result<Option<PositionRequest>, String> {
    let strict = match headers.get(CONSISTENCY_HEADER).map(|v| v.to_str()) {
        None => false,
        Some(Ok(v)) if v.eq_ignore_ascii_case("strict") => true,
        Some(Ok(v)) if v.eq_ignore_ascii_case("eventual") => false,
        Some(_) => {
            return Err(format!(
                "{CONSISTENCY_HEADER} must be `strict` or `eventual`"
            ));
        }
    };
    let Some(value) = headers.get(POSITION_HEADER) else {
        return Ok(None);
    };
    let position: Position = value
        .to_str()
        .map_err(|_| format!("{POSITION_HEADER} is not text"))?
        .parse()
        .map_err(|e| format!("{POSITION_HEADER}: {e}"))?;
    Ok(Some(PositionRequest { position, strict }))
}

/// One operation (`{"query": …}`) or a batch of 1 to `max_batch`.
fn parse_body(body: &[u8], max_batch: usize) -> Result<BatchRequest, String> {
    fn operation(v: serde_json::Value) -> Result<async_graphql::Request, String> {
        let has_query = v.get("query").is_some_and(serde_json::Value::is_string);
        // APQ: a known document is sent by its hash alone.
        let by_hash = v.pointer("/extensions/persistedQuery").is_some();
        if !has_query && !by_hash {
            return Err("an operation is an object with a `query` string".into());
        }
        serde_json::from_value(v).map_err(|e| format!("not a GraphQL request: {e}"))
    }
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    match v {
        serde_json::Value::Array(list) => {
            if list.is_empty() || list.len() > max_batch {
                return Err(format!(
                    "a batch holds 1 to {max_batch} operations, not {}",
                    list.len()
                ));
            }
            list.into_iter()
                .map(operation)
                .collect::<Result<Vec<_>, _>>()
                .map(BatchRequest::Batch)
        }
        v => operation(v).map(BatchRequest::Single),
    }
}

/// Operations over HTTP: only with a valid bearer token (the extractor
/// answers anything else with the 401 problem), which every operation of
/// the request runs as.
pub(crate) async fn graphql_post(
    State(state): State<HttpState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let wanted = match position_request(&headers) {
        Ok(w) => w,
        Err(message) => return refused(StatusCode::BAD_REQUEST, message),
    };
    // Refused whole, before any operation runs.
    let batch = match parse_body(&body, state.max_batch) {
        Ok(b) => b,
        Err(message) => return refused(StatusCode::BAD_REQUEST, message),
    };
    let with_position = |r: async_graphql::Request| {
        let r = r.data(principal.clone());
        match wanted {
            Some(w) => r.data(w),
            None => r,
        }
    };
    let response = match batch {
        BatchRequest::Single(r) => {
            BatchResponse::Single(state.executor.execute(with_position(r)).await)
        }
        BatchRequest::Batch(list) => {
            state
                .executor
                .execute_batch(BatchRequest::Batch(
                    list.into_iter().map(with_position).collect(),
                ))
                .await
        }
    };
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(response)).into_response()
}

/// GraphiQL (a static page, see [`graphiql`]: its operations carry the
/// token), or a WebSocket. The socket's caller is the upgrade request's bearer token or,
/// without one, the token in `connection_init` (see [`ws_auth`]); a bad
/// `Authorization` header is a 401 before any upgrade. `peer` is there when
/// served through [`crate::serve_api`]; a router mounted without connection
/// info has no per-client cap (only the per-process subscription cap).
pub(crate) async fn graphql_get(
    State(state): State<HttpState>,
    principal: Option<Principal>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    protocol: Result<GraphQLProtocol, StatusCode>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return graphiql::page();
    };
    let Ok(protocol) = protocol else {
        return refused(
            StatusCode::BAD_REQUEST,
            "WebSocket subprotocol must be graphql-transport-ws or graphql-ws",
        );
    };
    let ip = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    // Taken before the upgrade, so a client at its limit gets a plain 429
    // rather than a socket that closes at once.
    let slot = match ip.map(|ip| state.ws_clients.open(ip)) {
        Some(None) => {
            metrics::counter!("orderflow_query_ws_refused_total").increment(1);
            return refused_with(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::LimitExceeded,
                format!(
                    "this address has {} WebSocket connections open, the most it may; \
                     close one or reuse it (one connection carries many subscriptions)",
                    state.ws_clients.max_per_client()
                ),
            );
        }
        Some(Some(slot)) => Some(slot),
        None => None,
    };
    let executor = state.executor.clone();
    let slots = state.max_subscriptions;
    let verifier = Arc::clone(&state.verifier);
    let from_upgrade = principal.map(|p| (p, ws_auth::upgrade_expiry(&headers)));
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(state.max_ws_message)
        .on_upgrade(move |socket| async move {
            let mut data = Data::default();
            data.insert(SubscriptionSlots(Arc::new(Semaphore::new(slots))));
            let (sink, stream) = ws_auth::split(socket);
            GraphQLWebSocket::new_with_pair(sink, stream, executor, protocol)
                .with_data(data)
                .on_connection_init(move |payload| {
                    ws_auth::connection_init(verifier, from_upgrade, payload)
                })
                .serve()
                .await;
            // Counted until the socket is done.
            drop(slot);
        })
        .into_response()
}
