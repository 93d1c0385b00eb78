//! The CLI's acts on projections go through the console's code path:
//! `orderflow projections retry|skip|rebuild` record their actor (from
//! `--actor`, or the shell user at the host) marked as coming from the CLI,
//! in the act's transaction (a refused act records nothing); `projections
//! status` and the console's audit log show them.

use crate::support::{Stack, Step};

use super::acts::{constraint, wait_letters};
use super::{get, orderflow, sign_in, wait_state};

#[tokio::test]
async fn cli_retry_skip_and_rebuild_are_audited_with_their_actor_and_shown() {
    let stack = Stack::start().await;
    let cookie = sign_in(&stack, "ops-ada").await;
    let vars = |user: &str| {
        vec![
            ("DATABASE_URL", stack.events_db.url().to_owned()),
            ("READ_DATABASE_URL", stack.read_db.url().to_owned()),
            ("USER", user.to_owned()),
        ]
    };
    let (order, _) = stack.create_order("c-1", "EUR", &[("SKU-1", 1, 500)]).await;
    stack.advance(order, &[Step::Submit]).await;
    constraint(&stack, true).await;
    stack.advance(order, &[Step::Confirm]).await;
    wait_letters(&stack, 1).await;
    wait_state(&stack.query, &cookie, "orders", "stopped").await;

    // Retry before the fix, no --actor: the shell user at this host; the
    // event is dead-lettered again.
    let (ok, out) = orderflow(&["projections", "retry", "orders"], &vars("dana")).await;
    assert!(ok, "{out}");
    let host = whoami::hostname().unwrap();
    let dana = format!("dana@{host}");
    assert!(out.contains(&format!("resumed by cli:{dana}")), "{out}");
    wait_letters(&stack, 2).await;
    wait_state(&stack.query, &cookie, "orders", "stopped").await;

    // After the fix, skip as a named actor: running again.
    constraint(&stack, false).await;
    let (ok, out) = orderflow(
        &["projections", "skip", "orders", "--actor", "alice"],
        &vars("dana"),
    )
    .await;
    assert!(ok, "{out}");
    wait_state(&stack.query, &cookie, "orders", "running").await;

    // Refused acts record nothing: nothing left to skip, a blank actor.
    let (ok, out) = orderflow(
        &["projections", "skip", "orders", "--actor", "alice"],
        &vars("dana"),
    )
    .await;
    assert!(!ok, "{out}");
    assert!(out.contains("no dead letter"), "{out}");
    let (ok, out) = orderflow(
        &["projections", "retry", "orders", "--actor", " "],
        &vars("dana"),
    )
    .await;
    assert!(!ok, "{out}");
    assert!(out.contains("--actor must name someone"), "{out}");

    // A CLI rebuild is requested like the console's: its row (which the
    // console shows) and its audit entry.
    let (ok, out) = orderflow(
        &[
            "projections",
            "rebuild",
            "daily_sales",
            "--json",
            "--actor",
            "bob",
        ],
        &vars("dana"),
    )
    .await;
    assert!(ok, "{out}");
    let rebuilds: Vec<(String, String, String)> =
        sqlx::query_as("SELECT projection, requested_by, state FROM projection_rebuilds")
            .fetch_all(&stack.read)
            .await
            .unwrap();
    assert_eq!(
        rebuilds,
        [("daily_sales".into(), "cli:bob".into(), "done".into())]
    );

    let log: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT actor, via, action, subscriber FROM operator_actions ORDER BY id")
            .fetch_all(&stack.read)
            .await
            .unwrap();
    let row = |a: &str, act: &str, s: &str| (a.to_owned(), "cli".into(), act.into(), s.into());
    assert_eq!(
        log,
        [
            row(&dana, "retry", "orders"),
            row("alice", "skip", "orders"),
            row("bob", "rebuild", "daily_sales"),
        ]
    );

    // `projections status` lists them, newest first.
    let (ok, out) = orderflow(&["projections", "status"], &vars("dana")).await;
    assert!(ok, "{out}");
    assert!(out.contains("audit log (latest 3)"), "{out}");
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle}: {out}"))
    };
    assert!(at("cli:bob") < at("cli:alice"), "{out}");
    assert!(at("cli:alice") < at(&format!("cli:{dana}")), "{out}");

    // The console's audit log says where each came from; the rebuild is
    // shown as asked by the CLI's actor.
    let p = get(&stack.query, Some(&cookie), "/console").await;
    let audit = &p.html[p.html.find("Audit log").unwrap()..];
    assert!(
        audit.contains("<td>alice</td><td>cli</td><td>skip</td><td>orders</td>"),
        "{audit}"
    );
    assert_eq!(audit.matches("<td>cli</td>").count(), 3, "{audit}");
    assert!(p.html.contains("asked by cli:bob"), "{}", p.html);
    stack.finish().await;
}
