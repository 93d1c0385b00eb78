//! Gathering the overview from where each fact lives: the read database
//! (projection checkpoints, dead letters, rebuilds, audit log), the event
//! store through its trait (head, lag, watermark, the relay's checkpoint),
//! and the fulfilment database (its subscriber, stuck instances, the
//! payment provider's breaker as its process reports it). A source that
//! fails leaves its part out with the reason shown; the page still renders.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use orderflow_projections::{PROJECTIONS, RebuildRecord, SILENT_AFTER};
use orderflow_subscriptions::operator::{OperatorAction, recent_actions};

use super::Console;
use super::views::{ActionView, FactView, OverviewView, RebuildView, StuckView, SubscriberView};
use crate::schema::projections::projections;

/// Longest the whole overview may take; the live feed asks every 2 s.
const BUDGET: Duration = Duration::from_secs(4);
/// A reported fact older than this is shown stale.
const STALE_AFTER: Duration = Duration::from_secs(20);
/// Audit entries on the overview.
const ACTIONS_SHOWN: i64 = 20;

pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// "12 s", "3 min", "2 h".
pub(crate) fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}

fn since(at: DateTime<Utc>) -> Duration {
    (Utc::now() - at).to_std().unwrap_or_default()
}

fn state_class(state: &str) -> &'static str {
    match state {
        "running" => "ok",
        "backing off" | "not built" => "warn",
        _ => "bad",
    }
}

fn rebuild_view(r: &RebuildRecord) -> RebuildView {
    let total = r.total_events.filter(|t| *t > 0);
    let percent = match (r.state.as_str(), total) {
        ("done", _) => Some(100),
        (_, Some(t)) => Some(((r.events.max(0) * 100) / t).clamp(0, 100) as u32),
        _ => None,
    };
    let silent = since(r.updated_at);
    let note = match (r.state.as_str(), &r.error) {
        ("running", _) if silent > SILENT_AFTER => {
            format!("no progress reported for {}", age(silent))
        }
        (_, Some(e)) => e.clone(),
        _ => String::new(),
    };
    RebuildView {
        state: r.state.clone(),
        percent: percent.unwrap_or(0),
        has_percent: percent.is_some(),
        events: match total {
            Some(t) => format!("{} of {t} events", r.events),
            None => format!("{} events", r.events),
        },
        requested: format!("asked by {} at {}", r.requested_by, time(r.requested_at)),
        note,
    }
}

fn action_view(a: &OperatorAction) -> ActionView {
    ActionView {
        at: time(a.at),
        actor: a.actor.clone(),
        via: a.via.clone(),
        action: a.action.clone(),
        subscriber: a.subscriber.clone(),
        detail: a.detail.clone(),
    }
}

/// The overview now (and a lag sample for each subscriber).
pub(crate) async fn overview(console: &Console) -> OverviewView {
    match tokio::time::timeout(BUDGET, gather(console)).await {
        Ok(view) => view,
        Err(_) => OverviewView {
            generated_at: time(Utc::now()),
            errors: vec![format!(
                "the status sources did not answer within {} s",
                BUDGET.as_secs()
            )],
            ..OverviewView::default()
        },
    }
}

async fn gather(console: &Console) -> OverviewView {
    let mut view = OverviewView {
        generated_at: time(Utc::now()),
        ..OverviewView::default()
    };
    let read = console.services.db.pool();
    let rebuilds = match orderflow_projections::latest_rebuilds(read).await {
        Ok(r) => r,
        Err(e) => {
            view.errors.push(format!("rebuilds: {e}"));
            Vec::new()
        }
    };
    match projections(&console.services).await {
        Ok(list) => {
            for p in list {
                let rebuild = rebuilds.iter().find(|r| r.projection == p.name);
                view.subscribers.push(SubscriberView {
                    kind: "projection",
                    position: p.position.unwrap_or_else(|| "—".into()),
                    head: p.head.unwrap_or_else(|| "unknown".into()),
                    lag_events: p.lag.map_or("unknown".into(), |l| l.0.to_string()),
                    lag_seconds: p
                        .lag_seconds
                        .map_or("unknown".into(), |s| format!("{s:.1} s")),
                    state_class: state_class(&p.state),
                    state: p.state,
                    last_error: p.last_error.unwrap_or_default(),
                    dead_letters: i64::from(p.dead_letters),
                    has_rebuild: rebuild.is_some(),
                    rebuild: rebuild.map(rebuild_view).unwrap_or_default(),
                    can_rebuild: console.events.is_some(),
                    name: p.name,
                    ..SubscriberView::default()
                });
            }
        }
        Err(e) => view.errors.push(format!("projections: {}", e.message)),
    }
    let mut actions = match recent_actions(read, ACTIONS_SHOWN).await {
        Ok(a) => a,
        Err(e) => {
            view.errors.push(format!("audit log: {e}"));
            Vec::new()
        }
    };
    fulfilment(console, &mut view, &mut actions).await;
    store_facts(console, &mut view).await;
    actions.sort_by_key(|a| std::cmp::Reverse(a.at));
    actions.truncate(ACTIONS_SHOWN as usize);
    view.actions = actions.iter().map(action_view).collect();

    let now = Instant::now();
    if let Ok(mut samples) = console.samples.lock() {
        for s in &mut view.subscribers {
            if let Ok(lag) = s.lag_events.parse::<u64>() {
                samples.record(&s.name, lag, now);
            }
            let (points, max) = samples.sparkline(&s.name, now);
            s.spark_points = points;
            s.spark_max = max;
        }
    }
    view
}

async fn fulfilment(console: &Console, view: &mut OverviewView, actions: &mut Vec<OperatorAction>) {
    let Some(pool) = &console.fulfilment else {
        view.facts.push(FactView {
            label: "Fulfilment process manager".into(),
            value: "not shown".into(),
            class: "warn",
            note: "the query API was not given FULFILMENT_DATABASE_URL".into(),
        });
        return;
    };
    match &console.events {
        Some(store) => {
            match orderflow_fulfilment::status(pool, store, console.config.stuck_after).await {
                Ok(status) => {
                    if let Some(s) = status.subscriber {
                        view.subscribers.push(SubscriberView {
                            name: s.name.clone(),
                            kind: "process manager",
                            position: s.position.map_or("—".into(), |p| p.to_string()),
                            head: s.head.to_string(),
                            lag_events: s.lag_events.to_string(),
                            lag_seconds: format!("{:.1} s", s.lag_seconds),
                            state_class: state_class(&s.state),
                            state: s.state,
                            last_error: s.last_error.unwrap_or_default(),
                            dead_letters: s.dead_letters,
                            ..SubscriberView::default()
                        });
                    }
                    view.stuck = status
                        .stuck
                        .iter()
                        .map(|i| StuckView {
                            order_id: i.order_id.to_string(),
                            phase: i.phase.clone(),
                            last_event: i.last_event.clone(),
                            since: time(i.updated_at),
                        })
                        .collect();
                    view.facts.push(FactView {
                        label: "Stuck fulfilment instances".into(),
                        value: status.stuck.len().to_string(),
                        class: if status.stuck.is_empty() { "ok" } else { "bad" },
                        note: format!(
                            "no progress for {}; deadlines pending {}, overdue {}",
                            age(console.config.stuck_after),
                            status.deadlines_pending,
                            status.deadlines_overdue
                        ),
                    });
                }
                Err(e) => view.errors.push(format!("fulfilment: {e}")),
            }
        }
        None => view
            .errors
            .push("fulfilment: its lag needs the event store (DATABASE_URL)".into()),
    }
    match orderflow_fulfilment::health::component_statuses(pool).await {
        Ok(list) => {
            let breaker = list
                .iter()
                .find(|c| c.component == orderflow_fulfilment::health::PAYMENT_PROVIDER);
            view.facts.push(match breaker {
                Some(c) => {
                    let stale = since(c.reported_at);
                    let fresh = stale <= STALE_AFTER;
                    FactView {
                        label: "Payment provider circuit breaker".into(),
                        value: c.state.clone(),
                        class: match (fresh, c.state.as_str()) {
                            (false, _) => "warn",
                            (true, "closed") => "ok",
                            (true, "open") => "bad",
                            _ => "warn",
                        },
                        note: if fresh {
                            format!("reported {} ago by {}", age(stale), c.reported_by)
                        } else {
                            format!(
                                "not reported for {} (last by {}): the fulfilment process may be down",
                                age(stale),
                                c.reported_by
                            )
                        },
                    }
                }
                None => FactView {
                    label: "Payment provider circuit breaker".into(),
                    value: "never reported".into(),
                    class: "warn",
                    note: "no fulfilment process has published its state".into(),
                },
            });
        }
        Err(e) => view.errors.push(format!("component status: {e}")),
    }
    match recent_actions(pool, ACTIONS_SHOWN).await {
        Ok(a) => actions.extend(a),
        Err(e) => view.errors.push(format!("fulfilment audit log: {e}")),
    }
}

async fn store_facts(console: &Console, view: &mut OverviewView) {
    let Some(store) = &console.events else {
        view.facts.push(FactView {
            label: "Event store".into(),
            value: "not connected".into(),
            class: "warn",
            note: "head, lag, watermark and relay need DATABASE_URL".into(),
        });
        return;
    };
    match store.watermark().await {
        Ok(w) => view.facts.push(match w.age {
            Some(a) => FactView {
                label: "Watermark age".into(),
                value: format!("{:.1} s", a.as_secs_f64()),
                class: if a > Duration::from_secs(5) {
                    "bad"
                } else {
                    "ok"
                },
                note: "how long the oldest open transaction has held readers back".into(),
            },
            None => FactView {
                label: "Watermark age".into(),
                value: "none".into(),
                class: "ok",
                note: "this store only holds committed events in order".into(),
            },
        }),
        Err(e) => view.errors.push(format!("watermark: {e}")),
    }
    let relay = &console.config.relay_name;
    let published = match store.relay_checkpoint(relay).await {
        Ok(None) => "nothing published yet".to_owned(),
        Ok(Some(at)) => match orderflow_subscriptions::lag(store.as_ref(), at, 10_000).await {
            Ok((0, _)) => format!("published up to {at}, caught up"),
            Ok((n, s)) => format!("published up to {at}, {n} events behind (oldest {s:.0} s)"),
            Err(e) => {
                view.errors.push(format!("relay lag: {e}"));
                format!("published up to {at}")
            }
        },
        Err(e) => {
            view.errors.push(format!("relay checkpoint: {e}"));
            "checkpoint unreadable".to_owned()
        }
    };
    let reports = match &console.relay {
        None => None,
        Some(pool) => match orderflow_relay::relay_statuses(pool, relay).await {
            Ok(r) => Some(r),
            Err(e) => {
                view.errors.push(format!("relay status: {e}"));
                None
            }
        },
    };
    view.facts
        .push(relay_fact(relay, &published, reports.as_deref()));
}

/// The relay as its processes report themselves (the leader first), with
/// how far it has published, from its checkpoint in the store.
fn relay_fact(
    relay: &str,
    published: &str,
    reports: Option<&[orderflow_relay::RelayInstanceStatus]>,
) -> FactView {
    let label = format!("Relay {relay}");
    let Some(reports) = reports else {
        return FactView {
            label,
            value: "not reported".into(),
            class: "warn",
            note: format!(
                "{published}; the query API was not given the relay's database (DATABASE_URL)"
            ),
        };
    };
    let fresh: Vec<_> = reports
        .iter()
        .filter(|r| since(r.reported_at) <= STALE_AFTER)
        .collect();
    let standby = fresh.iter().filter(|r| r.state == "standing by").count();
    let active = fresh.iter().find(|r| r.state != "standing by");
    match (active, reports.first()) {
        (Some(r), _) => FactView {
            label,
            value: r.state.clone(),
            class: if r.state == "leading" { "ok" } else { "bad" },
            note: format!(
                "{} since {}{}; {standby} standing by; {published}",
                r.instance,
                time(r.since),
                if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.detail)
                },
            ),
        },
        (None, Some(_)) if standby > 0 => FactView {
            label,
            value: "no leader".into(),
            class: "bad",
            note: format!("{standby} standing by; {published}"),
        },
        (None, Some(last)) => FactView {
            label,
            value: "not reported".into(),
            class: "bad",
            note: format!(
                "no relay has reported for {} (last {}, {}); {published}",
                age(since(last.reported_at)),
                last.instance,
                last.state
            ),
        },
        (None, None) => FactView {
            label,
            value: "never reported".into(),
            class: "warn",
            note: published.to_owned(),
        },
    }
}

/// The subscribers the console acts on: the projections of this build,
/// and the process manager when its database is known.
pub(crate) fn subscriber_names(console: &Console) -> Vec<String> {
    let mut names: Vec<String> = PROJECTIONS.iter().map(|p| p.name.to_owned()).collect();
    if console.fulfilment.is_some() {
        names.push(orderflow_fulfilment::NAME.to_owned());
    }
    names
}
