//! The pages: overview, dead letters (list and detail), an order's
//! timeline, sign-in and messages. Every page is an askama template
//! extending `console/base.html`; what varies is precomputed in
//! [`super::views`].

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use orderflow_domain::OrderId;
use orderflow_event_store::StreamId;
use orderflow_subscriptions::operator;
use serde::Deserialize;
use sqlx::PgPool;

use super::Console;
use super::auth::{self, Session};
use super::data::{self, time};
use super::views::{
    DeadLetterRowView, DeadLetterView, DeadLettersView, OrderView, OverviewView, TimelineEntryView,
};

/// Dead letters per page.
const PAGE_SIZE: i64 = 25;
/// Most payload characters shown per timeline entry.
const TIMELINE_PAYLOAD: usize = 2048;

/// What every page's frame shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chrome {
    pub title: String,
    pub dev: bool,
    /// Empty when signed out.
    pub subject: String,
    pub csrf: String,
}

impl Chrome {
    pub fn new(console: &Console, title: &str, session: Option<&Session>) -> Chrome {
        Chrome {
            title: title.to_owned(),
            dev: console.verifier.is_development(),
            subject: session
                .map(|s| s.principal.subject.clone())
                .unwrap_or_default(),
            csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    message: String,
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage {
    chrome: Chrome,
    text: String,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage<'a> {
    chrome: Chrome,
    view: &'a OverviewView,
    notice: String,
}

#[derive(Template)]
#[template(path = "console/dead_letters.html")]
struct DeadLettersPage {
    chrome: Chrome,
    view: DeadLettersView,
}

#[derive(Template)]
#[template(path = "console/dead_letter.html")]
struct DeadLetterPage {
    chrome: Chrome,
    view: DeadLetterView,
}

#[derive(Template)]
#[template(path = "console/order.html")]
struct OrderPage {
    chrome: Chrome,
    view: OrderView,
}

/// An HTML response of `page`, never cached; a template that fails to
/// render (it cannot with the types it is given) is a plain 500.
pub(crate) fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

fn with_status(mut r: Response, status: StatusCode) -> Response {
    *r.status_mut() = status;
    r
}

pub(crate) fn sign_in(console: &Console, status: StatusCode, message: &str) -> Response {
    let page = SignInPage {
        chrome: Chrome::new(console, "Sign in", None),
        message: message.to_owned(),
    };
    with_status(render(&page), status)
}

/// A page saying `text` under `title`.
pub(crate) fn message(console: &Console, status: StatusCode, title: &str, text: &str) -> Response {
    let page = MessagePage {
        chrome: Chrome::new(console, title, None),
        text: text.to_owned(),
    };
    with_status(render(&page), status)
}

/// A signed-in page saying `text`.
pub(crate) fn message_for(
    console: &Console,
    session: &Session,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    let page = MessagePage {
        chrome: Chrome::new(console, title, Some(session)),
        text: text.to_owned(),
    };
    with_status(render(&page), status)
}

pub(crate) fn stale_form(console: &Console) -> Response {
    metrics::counter!("orderflow_console_refused_total", "why" => "csrf").increment(1);
    message(
        console,
        StatusCode::FORBIDDEN,
        "Form refused",
        "This form did not come from your console session (missing or stale CSRF token). \
         Reload the page and try again.",
    )
}

/// The session, or the refusal page (a navigation without a cookie is sent
/// to sign in).
pub(crate) async fn signed_in(console: &Console, headers: &HeaderMap) -> Result<Session, Response> {
    let s = auth::session(console, headers).await;
    s.map_err(|refusal| refusal.page(console, true))
}

pub(crate) async fn not_found(State(console): State<Arc<Console>>) -> Response {
    message(
        &console,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such console page.",
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct OverviewQuery {
    #[serde(default)]
    done: String,
}

/// `GET /console`.
pub(crate) async fn overview(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    query: Result<Query<OverviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let session = match signed_in(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    console.start_sampling();
    let view = data::overview(&console).await;
    // Only notices this console words itself: `<action>:<subscriber>`.
    let notice = query
        .ok()
        .and_then(|Query(q)| {
            let (action, name) = q.done.split_once(':')?;
            let names = data::subscriber_names(&console);
            let known = names.iter().any(|n| n == name);
            let verb = match action {
                "retry" => "Retried",
                "skip" => "Skipped the dead letter of",
                "rebuild" => "Started a rebuild of",
                _ => return None,
            };
            known.then(|| format!("{verb} {name}."))
        })
        .unwrap_or_default();
    render(&OverviewPage {
        chrome: Chrome::new(&console, "Overview", Some(&session)),
        view: &view,
        notice,
    })
}

/// The database holding `subscriber`'s dead letters, `None` for an unknown
/// subscriber.
pub(crate) fn pool_of<'a>(console: &'a Console, subscriber: &str) -> Option<&'a PgPool> {
    if subscriber == orderflow_fulfilment::NAME {
        return console.fulfilment.as_ref();
    }
    orderflow_projections::projection(subscriber).map(|_| console.services.db.pool())
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeadLettersQuery {
    #[serde(default)]
    subscriber: String,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    page: Option<i64>,
}

fn link(subscriber: &str, all: bool, page: i64) -> String {
    let mut q = vec![format!("page={page}")];
    if !subscriber.is_empty() {
        q.push(format!("subscriber={subscriber}"));
    }
    if all {
        q.push("all=true".into());
    }
    format!("/console/dead-letters?{}", q.join("&"))
}

/// `GET /console/dead-letters?subscriber=&all=&page=`: a page of one
/// subscriber's dead letters (or every projection's), newest first.
pub(crate) async fn dead_letters(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    query: Result<Query<DeadLettersQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let session = match signed_in(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(Query(q)) = query else {
        return message_for(
            &console,
            &session,
            StatusCode::BAD_REQUEST,
            "Bad request",
            "subscriber is a name, all is true or false, page a number from 1.",
        );
    };
    let page = q.page.unwrap_or(1);
    if !(1..=100_000).contains(&page) {
        return message_for(
            &console,
            &session,
            StatusCode::BAD_REQUEST,
            "Bad request",
            "page is a number from 1 to 100000.",
        );
    }
    // Projections share the read database; the process manager has its own.
    let (pool, filter) = if q.subscriber.is_empty() {
        (Some(console.services.db.pool()), None)
    } else {
        (
            pool_of(&console, &q.subscriber),
            Some(q.subscriber.as_str()),
        )
    };
    let Some(pool) = pool else {
        return message_for(
            &console,
            &session,
            StatusCode::NOT_FOUND,
            "Unknown subscriber",
            &format!("No subscriber is called {:?} here.", q.subscriber),
        );
    };
    let listed =
        operator::dead_letters(pool, filter, q.all, PAGE_SIZE, (page - 1) * PAGE_SIZE).await;
    let (rows, total) = match listed {
        Ok(r) => r,
        Err(e) => {
            return message_for(
                &console,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "Dead letters unavailable",
                &e.to_string(),
            );
        }
    };
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let view = DeadLettersView {
        prev: if page > 1 {
            link(&q.subscriber, q.all, page - 1)
        } else {
            String::new()
        },
        next: if page < pages {
            link(&q.subscriber, q.all, page + 1)
        } else {
            String::new()
        },
        subscriber: q.subscriber,
        all: q.all,
        rows: rows
            .into_iter()
            .map(|r| DeadLetterRowView {
                id: r.id,
                subscriber: r.subscriber,
                position: r.position,
                stream_id: r.stream_id,
                event_type: r.event_type,
                error: r.error,
                attempts: r.attempts,
                at: time(r.created_at),
                resolution: r.resolution.unwrap_or_else(|| "open".into()),
            })
            .collect(),
        total,
        page,
        pages,
        subscribers: data::subscriber_names(&console),
    };
    render(&DeadLettersPage {
        chrome: Chrome::new(&console, "Dead letters", Some(&session)),
        view,
    })
}

/// `GET /console/dead-letters/{subscriber}/{id}`.
pub(crate) async fn dead_letter(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path((subscriber, id)): Path<(String, String)>,
) -> Response {
    let session = match signed_in(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (Some(pool), Ok(id)) = (pool_of(&console, &subscriber), id.parse::<i64>()) else {
        return message_for(
            &console,
            &session,
            StatusCode::NOT_FOUND,
            "No such dead letter",
            "Dead letters are addressed by subscriber name and number.",
        );
    };
    let letter = match operator::dead_letter(pool, id).await {
        Ok(Some(l)) if l.subscriber == subscriber => l,
        Ok(_) => {
            return message_for(
                &console,
                &session,
                StatusCode::NOT_FOUND,
                "No such dead letter",
                &format!("{subscriber} has no dead letter {id}."),
            );
        }
        Err(e) => {
            return message_for(
                &console,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "Dead letter unavailable",
                &e.to_string(),
            );
        }
    };
    let order_link = letter
        .stream_id
        .strip_prefix("order-")
        .filter(|id| id.parse::<uuid::Uuid>().is_ok())
        .map(|id| format!("/console/orders/{id}"))
        .unwrap_or_default();
    let view = DeadLetterView {
        id: letter.id,
        position: letter.position,
        event_id: letter.event_id.to_string(),
        stream_id: letter.stream_id,
        order_link,
        event_type: letter.event_type,
        schema_version: letter.schema_version,
        payload_note: if letter.payload_chars as usize > letter.payload.chars().count() {
            format!(
                "first {} of {} characters",
                letter.payload.chars().count(),
                letter.payload_chars
            )
        } else {
            String::new()
        },
        payload: letter.payload,
        error: letter.error,
        attempts: letter.attempts,
        total_attempts: letter.total_attempts,
        first_failed_at: time(letter.first_failed_at),
        last_failed_at: time(letter.last_failed_at),
        open: letter.resolution.is_none(),
        resolution: match (&letter.resolution, letter.resolved_at) {
            (Some(r), Some(at)) => format!("{r} at {}", time(at)),
            (Some(r), None) => r.clone(),
            _ => "open".into(),
        },
        subscriber,
    };
    render(&DeadLetterPage {
        chrome: Chrome::new(&console, "Dead letter", Some(&session)),
        view,
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct FindOrder {
    #[serde(default)]
    id: String,
}

/// `GET /console/orders?id=…`: the search box's target.
pub(crate) async fn find_order(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    query: Result<Query<FindOrder>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let session = match signed_in(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let id = query.map(|Query(q)| q.id).unwrap_or_default();
    let id = id.trim().trim_start_matches("order-");
    match id.parse::<uuid::Uuid>() {
        Ok(u) => Redirect::to(&format!("/console/orders/{u}")).into_response(),
        Err(_) => message_for(
            &console,
            &session,
            StatusCode::BAD_REQUEST,
            "Not an order id",
            "An order id is a UUID, e.g. 01890a5d-ac96-774b-bcce-b302099a8057.",
        ),
    }
}

fn cap(mut s: String, n: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(n) {
        s.truncate(i);
        s.push_str(" …");
    }
    s
}

/// The trace id of a W3C `traceparent` (`00-<trace>-<span>-<flags>`).
fn trace_id(traceparent: Option<&str>) -> String {
    traceparent
        .and_then(|t| t.split('-').nth(1))
        .unwrap_or_default()
        .to_owned()
}

/// `GET /console/orders/{id}`: the order's events with their metadata,
/// beside the fulfilment instance's steps.
pub(crate) async fn order(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let session = match signed_in(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(uuid) = id.parse::<uuid::Uuid>() else {
        return message_for(
            &console,
            &session,
            StatusCode::BAD_REQUEST,
            "Not an order id",
            "An order id is a UUID.",
        );
    };
    let Some(store) = &console.events else {
        return message_for(
            &console,
            &session,
            StatusCode::SERVICE_UNAVAILABLE,
            "No event store",
            "The timeline reads the event store; start the query API with DATABASE_URL.",
        );
    };
    let order = OrderId::new(uuid);
    let read = match StreamId::new(order.stream_id()) {
        Ok(stream) => store.read_stream(&stream).await,
        Err(e) => {
            return message_for(
                &console,
                &session,
                StatusCode::BAD_REQUEST,
                "Bad id",
                &e.to_string(),
            );
        }
    };
    let events = match read {
        Ok(events) => events,
        Err(e) => {
            return message_for(
                &console,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "Event store unavailable",
                &e.to_string(),
            );
        }
    };
    if events.is_empty() {
        return message_for(
            &console,
            &session,
            StatusCode::NOT_FOUND,
            "No such order",
            &format!("The store holds no events of order {uuid}."),
        );
    }
    let events = events
        .into_iter()
        .map(|e| TimelineEntryView {
            version: e.stream_version,
            at: time(e.recorded_at),
            event_type: e.event_type,
            actor: e.metadata.actor.unwrap_or_default(),
            correlation_id: e.metadata.correlation_id.unwrap_or_default(),
            trace_id: trace_id(e.metadata.traceparent.as_deref()),
            payload: cap(e.payload.to_string(), TIMELINE_PAYLOAD),
        })
        .collect();
    let (steps, steps_note) = match orderflow_fulfilment::timeline(store, order).await {
        Ok(steps) if steps.is_empty() => {
            (Vec::new(), "no fulfilment instance for this order".into())
        }
        Ok(steps) => (
            steps
                .into_iter()
                .map(|s| TimelineEntryView {
                    version: s.version,
                    at: time(s.recorded_at),
                    event_type: s.event_type,
                    payload: cap(s.payload.to_string(), TIMELINE_PAYLOAD),
                    ..TimelineEntryView::default()
                })
                .collect(),
            String::new(),
        ),
        Err(e) => (Vec::new(), format!("the instance could not be read: {e}")),
    };
    render(&OrderPage {
        chrome: Chrome::new(&console, "Order timeline", Some(&session)),
        view: OrderView {
            order_id: uuid.to_string(),
            events,
            steps,
            steps_note,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_capped_on_a_character_boundary() {
        assert_eq!(cap("abc".into(), 5), "abc");
        assert_eq!(cap("ééééé".into(), 2), "éé …");
        assert_eq!(
            trace_id(Some(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            )),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(trace_id(None), "");
    }
}
