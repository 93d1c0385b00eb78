//! The operator's acts on a subscriber: retry or skip its dead letter,
//! rebuild a projection. `GET` shows what will happen and asks to confirm
//! (a POST form with the session's CSRF token); `POST` does it as the
//! signed-in operator and records who and when in the audit log, in the
//! act's own transaction.
//!
//! A rebuild runs in this process, on the code path of `orderflow
//! projections rebuild` (fresh tables, swapped in under the checkpoint's
//! row lock, so it is safe beside the running projector), and reports its
//! progress into `projection_rebuilds`, which every query API replica
//! shows; one that stops reporting is shown silent.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use orderflow_projections::{ProjectionError, ProjectorConfig};
use orderflow_subscriptions::{Actor, SubscriptionError};

use super::Console;
use super::auth::{self, CsrfForm};
use super::pages::{self, Chrome, message_for, pool_of, render};
use super::views::ConfirmView;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Retry,
    Skip,
    Rebuild,
}

impl Act {
    fn parse(s: &str) -> Option<Act> {
        match s {
            "retry" => Some(Act::Retry),
            "skip" => Some(Act::Skip),
            "rebuild" => Some(Act::Rebuild),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Act::Retry => "retry",
            Act::Skip => "skip",
            Act::Rebuild => "rebuild",
        }
    }

    fn explanation(self, name: &str) -> String {
        match self {
            Act::Retry => format!(
                "{name} resumes at its dead-lettered event and tries it again; if it still \
                 fails it is dead-lettered again and {name} stops."
            ),
            Act::Skip => format!(
                "{name} resumes after its dead-lettered event, which it will never handle. \
                 Its effects will lack that event."
            ),
            Act::Rebuild => format!(
                "{name} is rebuilt from the first event into fresh tables, then swapped in; \
                 queries read the current tables until the swap."
            ),
        }
    }
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    view: ConfirmView,
}

/// Resolves the path to an act on a subscriber this console knows, or
/// the 404 page.
fn target(
    console: &Console,
    session: &auth::Session,
    name: &str,
    action: &str,
) -> Result<Act, Box<Response>> {
    let act = Act::parse(action);
    let known = pool_of(console, name).is_some();
    match act {
        Some(Act::Rebuild) if orderflow_projections::projection(name).is_none() => {
            Err(Box::new(message_for(
                console,
                session,
                StatusCode::NOT_FOUND,
                "Cannot rebuild",
                &format!("Only projections are rebuilt; {name:?} is not one."),
            )))
        }
        Some(act) if known => Ok(act),
        _ => Err(Box::new(message_for(
            console,
            session,
            StatusCode::NOT_FOUND,
            "Unknown action",
            "Acts are retry, skip (any subscriber) and rebuild (projections).",
        ))),
    }
}

/// `GET /console/subscribers/{name}/{action}`: the confirmation step.
pub(crate) async fn confirm(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    let session = match pages::signed_in(&console, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let act = match target(&console, &session, &name, &action) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    render(&ConfirmPage {
        chrome: Chrome::new(&console, "Confirm", Some(&session)),
        view: ConfirmView {
            action: act.as_str().to_owned(),
            explanation: act.explanation(&name),
            subscriber: name,
        },
    })
}

/// `POST /console/subscribers/{name}/{action}`: does it, then back to the
/// overview.
pub(crate) async fn act(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    // An act needs a session; a POST is never a navigation to redirect.
    let session = match auth::session(&console, &headers).await {
        Ok(s) => s,
        Err(refusal) => return refusal.page(&console, false),
    };
    let csrf_ok = form
        .as_ref()
        .is_ok_and(|Form(f)| auth::csrf_matches(&session, &f.csrf));
    if !csrf_ok {
        return pages::stale_form(&console);
    }
    let act = match target(&console, &session, &name, &action) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let actor = session.actor();
    let outcome = match act {
        Act::Retry | Act::Skip => {
            let Some(pool) = pool_of(&console, &name) else {
                return pages::not_found(State(console)).await;
            };
            // Projections live in the read database: act through the
            // console's own pool (no statement timeout).
            let pool = if name == orderflow_fulfilment::NAME {
                pool
            } else {
                &console.write
            };
            let r = if act == Act::Retry {
                orderflow_subscriptions::retry(pool, &name, &actor).await
            } else {
                orderflow_subscriptions::skip(pool, &name, &actor).await
            };
            r.map_err(|e| match e {
                SubscriptionError::NothingToResolve(..) => (StatusCode::CONFLICT, e.to_string()),
                e => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            })
        }
        Act::Rebuild => rebuild(&console, &name, &actor).await,
    };
    match outcome {
        Ok(()) => {
            tracing::info!(%actor, action = act.as_str(), subscriber = %name, "console act");
            metrics::counter!("orderflow_console_actions_total", "action" => act.as_str())
                .increment(1);
            Redirect::to(&format!("/console?done={}:{name}", act.as_str())).into_response()
        }
        Err((status, why)) => message_for(
            &console,
            &session,
            status,
            &format!("Could not {} {name}", act.as_str()),
            &why,
        ),
    }
}

async fn rebuild(console: &Console, name: &str, actor: &Actor) -> Result<(), (StatusCode, String)> {
    let Some(store) = console.events.clone() else {
        return Err((
            StatusCode::CONFLICT,
            "a rebuild reads the event store; start the query API with DATABASE_URL".into(),
        ));
    };
    let id = orderflow_projections::request_rebuild(&console.write, name, actor)
        .await
        .map_err(|e| match e {
            ProjectionError::Checkpoint(..) | ProjectionError::UnknownProjection(_) => {
                (StatusCode::CONFLICT, e.to_string())
            }
            e => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        })?;
    tokio::spawn(orderflow_projections::run_requested_rebuild(
        store,
        console.write.clone(),
        id,
        name.to_owned(),
        ProjectorConfig::default(),
    ));
    Ok(())
}
