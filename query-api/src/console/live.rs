//! `GET /console/live`: server-sent events, every 2 s the overview's live
//! part re-rendered (event `overview`), which the page's script swaps in.
//! The stream ends when the session's token no longer verifies.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;

use super::Console;
use super::auth;
use super::data;
use super::views::LiveFragment;

const EVERY: Duration = Duration::from_secs(2);

pub(crate) async fn live(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Err(refusal) = auth::session(&console, &headers).await {
        return refusal.page(&console, false);
    }
    console.start_sampling();
    Sse::new(updates(console, headers))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn updates(
    console: Arc<Console>,
    headers: HeaderMap,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(
        (console, headers, true),
        |(console, headers, first)| async move {
            if !first {
                tokio::time::sleep(EVERY).await;
            }
            // Signed out or expired: end the stream (the page's next load
            // shows the sign-in page).
            auth::session(&console, &headers).await.ok()?;
            let view = data::overview(&console).await;
            let html = LiveFragment { view: &view }.render().unwrap_or_default();
            // SSE data cannot hold a bare carriage return.
            let event = Event::default()
                .event("overview")
                .data(html.replace('\r', ""));
            Some((Ok(event), (console, headers, false)))
        },
    )
}
