//! Who a GraphQL WebSocket speaks for. Browsers cannot set headers on a
//! WebSocket, so the token may come in two places: the upgrade request's
//! `Authorization: Bearer …` (checked before the upgrade), or the
//! `connection_init` payload `{"Authorization": "Bearer …"}` (graphql-ws
//! clients' `connectionParams`). Without a valid one the connection is
//! refused: graphql-transport-ws closes with 4401 Unauthorized (which
//! graphql-ws clients do not retry), the legacy protocol answers
//! `connection_error`. The principal is the connection's data, so every
//! subscription on it runs as that caller, until the token's `exp`: then
//! its subscriptions end with `UNAUTHENTICATED` and new ones are refused
//! (the executor reads [`TokenExpiry`]); the client reconnects with a new
//! token.

use std::sync::Arc;

use async_graphql::Data;
use axum::Error;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::{Ready, ready};
use futures::stream::{SplitSink, SplitStream};
use futures::{Sink, SinkExt, StreamExt};
use orderflow_auth::{AuthError, Principal, Verifier};

/// The close code for a refused `connection_init`.
pub const UNAUTHORIZED_CLOSE: u16 = 4401;
/// How our refusal's reason starts; async-graphql closes a refused
/// `connection_init` with 1002 and the callback's message, which
/// [`split`]'s sink turns into [`UNAUTHORIZED_CLOSE`].
const REASON: &str = "Unauthorized";

/// The socket's halves, the sending one relabelling our refusal's close.
pub(crate) fn split(
    socket: WebSocket,
) -> (
    impl Sink<Message, Error = Error> + Send,
    SplitStream<WebSocket>,
) {
    let (sink, stream): (SplitSink<WebSocket, Message>, _) = socket.split();
    let relabel: fn(Message) -> Ready<Result<Message, Error>> = |m| ready(Ok(relabel_close(m)));
    (sink.with(relabel), stream)
}

fn relabel_close(message: Message) -> Message {
    match message {
        Message::Close(Some(frame)) if frame.reason.as_str().starts_with(REASON) => {
            Message::Close(Some(CloseFrame {
                code: UNAUTHORIZED_CLOSE,
                reason: frame.reason,
            }))
        }
        other => other,
    }
}

/// When the connection's token expires (Unix seconds, its `exp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenExpiry(pub u64);

/// The `exp` of a token the verifier has accepted (so its payload is
/// trusted here; `None` only for a token without a whole-number `exp`).
fn expiry_of(token: &str) -> Option<TokenExpiry> {
    let payload = token.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    claims.get("exp")?.as_u64().map(TokenExpiry)
}

/// The expiry of the upgrade request's bearer token, once the `Principal`
/// extractor has accepted it.
pub(crate) fn upgrade_expiry(headers: &HeaderMap) -> Option<TokenExpiry> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    expiry_of(value.split_once(' ')?.1.trim())
}

/// The token of a `connection_init` payload: its `Authorization` entry
/// (any case), `Bearer <token>`.
fn payload_token(payload: &serde_json::Value) -> Result<&str, AuthError> {
    let value = payload
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        })
        .map(|(_, v)| v)
        .ok_or(AuthError::Missing)?;
    let text = value.as_str().ok_or(AuthError::MalformedHeader)?;
    let (scheme, token) = text.split_once(' ').ok_or(AuthError::MalformedHeader)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token)
}

/// `connection_init`: the upgrade's principal if it had one, else the
/// payload's token verified; an error refuses the connection.
pub(crate) async fn connection_init(
    verifier: Arc<Verifier>,
    from_upgrade: Option<(Principal, Option<TokenExpiry>)>,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let (principal, expiry) = match from_upgrade {
        Some(p) => p,
        None => {
            let verified = match payload_token(&payload) {
                Ok(token) => verifier.verify(token).await.map(|p| (p, expiry_of(token))),
                Err(e) => Err(e),
            };
            verified.map_err(|e| {
                metrics::counter!("orderflow_query_ws_unauthorized_total").increment(1);
                // Short: a close reason holds at most 123 bytes.
                async_graphql::Error::new(format!("{REASON} ({})", e.code()))
            })?
        }
    };
    let mut data = Data::default();
    data.insert(principal);
    if let Some(expiry) = expiry {
        data.insert(expiry);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_payload_carries_a_bearer_token() {
        let ok = json!({ "Authorization": "Bearer abc.def.ghi" });
        assert_eq!(payload_token(&ok), Ok("abc.def.ghi"));
        let lower = json!({ "authorization": "bearer abc.def.ghi" });
        assert_eq!(payload_token(&lower), Ok("abc.def.ghi"));
        assert_eq!(payload_token(&json!({})), Err(AuthError::Missing));
        assert_eq!(payload_token(&json!(null)), Err(AuthError::Missing));
        for bad in [
            json!({ "Authorization": 1 }),
            json!({ "Authorization": "abc" }),
            json!({ "Authorization": "Basic abc" }),
            json!({ "Authorization": "Bearer " }),
            json!({ "Authorization": "Bearer a b" }),
        ] {
            assert_eq!(
                payload_token(&bad),
                Err(AuthError::MalformedHeader),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_expiry_is_the_tokens_exp() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"a","exp":1700000000}"#);
        let token = format!("e30.{payload}.sig");
        assert_eq!(expiry_of(&token), Some(TokenExpiry(1_700_000_000)));
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        assert_eq!(upgrade_expiry(&headers), Some(TokenExpiry(1_700_000_000)));
        assert_eq!(expiry_of("e30.e30.sig"), None);
        assert_eq!(expiry_of("garbage"), None);
    }

    #[test]
    fn only_our_refusal_is_relabelled() {
        let ours = Message::Close(Some(CloseFrame {
            code: 1002,
            reason: "Unauthorized (token.expired)".into(),
        }));
        let Message::Close(Some(frame)) = relabel_close(ours) else {
            panic!("still a close")
        };
        assert_eq!(frame.code, UNAUTHORIZED_CLOSE);
        let theirs = Message::Close(Some(CloseFrame {
            code: 1002,
            reason: "invalid type".into(),
        }));
        let Message::Close(Some(frame)) = relabel_close(theirs) else {
            panic!("still a close")
        };
        assert_eq!(frame.code, 1002);
    }
}
