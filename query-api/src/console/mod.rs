//! The operator console at `/console`: server-rendered pages (askama
//! templates under `query-api/templates/console/`, checked at compile
//! time and HTML-escaped) over what `orderflow status`, `projections` and
//! `sagas` show, with the operator's acts (retry, skip, rebuild) behind a
//! confirmation step and an audit log. Live refresh over server-sent
//! events; every page works without JavaScript. Assets are compiled in.
//!
//! - `auth.rs`: sign-in with a bearer token into an HttpOnly cookie, the
//!   operator check, CSRF tokens.
//! - `data.rs`: gathering the overview (partial facts when a source fails).
//! - `samples.rs`: lag samples of the last minutes, the sparkline.
//! - `pages.rs`, `actions.rs`, `live.rs`: the routes.

mod actions;
mod assets;
mod auth;
mod data;
mod live;
mod pages;
mod samples;
mod views;

use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use orderflow_auth::Verifier;
use orderflow_event_store::EventStore;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::ConsoleConfig;
use crate::services::Services;

/// The policy of every console response: only our own compiled-in assets,
/// no inline script or style, no framing.
pub(crate) const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     script-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What the console's handlers share.
pub(crate) struct Console {
    /// Read-model status (the `projections` field's code).
    pub services: Services,
    /// The read database for the acts (retry, skip, rebuild): the primary
    /// even when reads go to a replica is the operator's URL to choose;
    /// no statement timeout, a rebuild's statements may be long.
    pub write: PgPool,
    pub fulfilment: Option<PgPool>,
    /// Where relay processes publish their state.
    pub relay: Option<PgPool>,
    pub events: Option<Arc<dyn EventStore>>,
    pub verifier: Arc<Verifier>,
    pub config: ConsoleConfig,
    pub samples: Mutex<samples::Samples>,
    /// Started on first use: a replica nobody opens the console on does
    /// not poll.
    sampler: OnceLock<()>,
}

impl Console {
    pub fn new(
        services: Services,
        read_options: &PgConnectOptions,
        config: ConsoleConfig,
        verifier: Arc<Verifier>,
    ) -> Console {
        describe_metrics();
        let write = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            // The read pool's statement timeout is for queries; a later
            // `-c` wins.
            .connect_lazy_with(
                read_options
                    .clone()
                    .application_name("orderflow-console")
                    .options([("statement_timeout", "0")]),
            );
        let fulfilment = config
            .fulfilment_database_url
            .as_deref()
            .and_then(|url| status_pool(url, "FULFILMENT_DATABASE_URL", 4));
        let relay = config
            .relay_database_url
            .as_deref()
            .and_then(|url| status_pool(url, "DATABASE_URL", 1));
        Console {
            events: services.events.clone(),
            services,
            write,
            fulfilment,
            relay,
            verifier,
            config,
            samples: Mutex::new(samples::Samples::default()),
            sampler: OnceLock::new(),
        }
    }

    /// Samples lag every [`samples::EVERY`] from now on, while the console
    /// exists.
    pub fn start_sampling(self: &Arc<Self>) {
        self.sampler.get_or_init(|| {
            let weak: Weak<Console> = Arc::downgrade(self);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(samples::EVERY);
                loop {
                    tick.tick().await;
                    let Some(console) = weak.upgrade() else {
                        return;
                    };
                    let _ = data::overview(&console).await;
                }
            });
        });
    }
}

/// HELP text of the console's series, once per process.
fn describe_metrics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        metrics::describe_counter!(
            "orderflow_console_actions_total",
            "Operator acts done through the console, by action: retry, skip, rebuild"
        );
        metrics::describe_counter!(
            "orderflow_console_refused_total",
            "Console requests refused, by why: token (does not verify), role (not an operator), csrf (form without its session's token)"
        );
    });
}

/// A small lazy pool on `url` for status reads; `None` (logged) when `url`
/// is not a Postgres URL.
fn status_pool(url: &str, setting: &str, connections: u32) -> Option<PgPool> {
    match PgConnectOptions::from_str(url) {
        Ok(options) => Some(
            PgPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect_lazy_with(
                    options
                        .application_name("orderflow-console")
                        .options([("statement_timeout", "5s")]),
                ),
        ),
        Err(e) => {
            tracing::error!(error = %e, "{setting} is not a Postgres URL; the console leaves out what it holds");
            None
        }
    }
}

/// `/console` and everything under it.
pub(crate) fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(pages::overview))
        .route(
            "/console/sign-in",
            get(auth::sign_in_page).post(auth::sign_in),
        )
        .route("/console/sign-out", post(auth::sign_out))
        .route("/console/live", get(live::live))
        .route("/console/dead-letters", get(pages::dead_letters))
        .route(
            "/console/dead-letters/{subscriber}/{id}",
            get(pages::dead_letter),
        )
        .route("/console/orders", get(pages::find_order))
        .route("/console/orders/{id}", get(pages::order))
        .route(
            "/console/subscribers/{name}/{action}",
            get(actions::confirm).post(actions::act),
        )
        .route("/console/assets/{file}", get(assets::asset))
        .route(
            "/console/{*rest}",
            get(pages::not_found).post(pages::not_found),
        )
        .with_state(console)
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}
