//! Invariants under at-least-once, out-of-order delivery: any sequence of
//! inputs, with duplicates and in any order, never makes the instance
//! reserve twice, both confirm and reject, refund twice, or leave
//! reserved stock unreleased once the order is cancelled or rejected.

use std::collections::{HashMap, HashSet};

use orderflow_domain::RefundId;
use orderflow_domain::fulfilment::{
    Command, FulfilmentEvent, FulfilmentState, Input, OrderStep, Outcome, decide, deterministic_id,
    evolve, fold, stream_id,
};
use proptest::prelude::*;

use crate::support::*;

fn pool() -> Vec<Input> {
    let stream = stream_id(order());
    let refund_id = RefundId::new(
        deterministic_id(&format!("{stream}/refund"))
            .hyphenated()
            .to_string(),
    )
    .unwrap();
    let mut inputs = vec![
        submitted(vec![line("A", 1), line("B", 2)]),
        reserved("A"),
        reserved("B"),
        refused("A"),
        refused("B"),
        confirmed(),
        paid(),
        Input::DeadlineFired {
            deadline_id: deterministic_id(&format!("{stream}/deadline/payment")),
            at: t(32),
        },
        Input::DeadlineFired {
            deadline_id: deterministic_id(&format!("{stream}/deadline/refund-retry/1")),
            at: t(40),
        },
        Input::OrderCancelled {
            reason: "customer".into(),
            refund_owed: Some(eur(1000)),
            at: t(10),
        },
        Input::OrderCancelled {
            reason: "payment_timeout".into(),
            refund_owed: None,
            at: t(33),
        },
        Input::OrderRejected {
            reason: "staff".into(),
            at: t(5),
        },
        Input::OrderShipped { at: t(20) },
        Input::RefundConfirmed {
            refund_id,
            at: t(12),
        },
        Input::RefundDeferred {
            retry_at: t(11),
            at: t(10),
        },
    ];
    for s in ["A", "B"] {
        inputs.push(Input::StockReleased {
            sku: sku(s),
            at: t(6),
        });
        inputs.push(Input::StockCommitted {
            sku: sku(s),
            at: t(21),
        });
    }
    for step in [
        OrderStep::Confirm,
        OrderStep::Reject,
        OrderStep::Cancel,
        OrderStep::RecordRefund,
    ] {
        inputs.push(Input::OrderCommand {
            step,
            outcome: Outcome::Applied,
            at: t(4),
        });
        inputs.push(Input::OrderCommand {
            step,
            outcome: Outcome::Refused {
                reason: "invalid_transition".into(),
            },
            at: t(4),
        });
    }
    inputs
}

/// A run: submitted first (mostly), then picks from the pool, each
/// possibly delivered twice in a row.
fn runs() -> impl Strategy<Value = Vec<Input>> {
    let pool = pool();
    let n = pool.len();
    (
        any::<bool>(),
        prop::collection::vec((0..n, any::<bool>()), 0..40),
    )
        .prop_map(move |(start, picks)| {
            let mut run = Vec::new();
            if start {
                run.push(pool[0].clone());
            }
            for (i, twice) in picks {
                run.push(pool[i].clone());
                if twice {
                    run.push(pool[i].clone());
                }
            }
            run
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn invariants_hold_under_duplicates_and_reordering(run in runs()) {
        let mut state = FulfilmentState::default();
        let mut events: Vec<FulfilmentEvent> = Vec::new();
        let mut issued: Vec<Command> = Vec::new();
        for input in &run {
            let decision = decide(&state, input);
            prop_assert_eq!(&decision, &decide(&state, input), "deterministic");
            state = decision.events.iter().fold(state, evolve);
            events.extend(decision.events.iter().cloned());
            issued.extend(decision.commands.iter().cloned());
            // The same input again right away has no further effect.
            prop_assert!(decide(&state, input).events.is_empty(), "{:?} twice", input);
        }
        prop_assert_eq!(&fold(&events), &state);

        let mut reserves: HashMap<String, usize> = HashMap::new();
        let mut released = HashSet::new();
        let mut committed = HashSet::new();
        let (mut confirms, mut rejects, mut refunds) = (0, 0, 0);
        for c in &issued {
            match c {
                Command::Reserve(r) => *reserves.entry(r.sku.to_string()).or_default() += 1,
                Command::Release(r) => { released.insert(r.sku.to_string()); }
                Command::Commit(r) => { committed.insert(r.sku.to_string()); }
                Command::Confirm(_) => confirms += 1,
                Command::Reject(_) => rejects += 1,
                Command::RequestRefund(_) => refunds += 1,
                Command::Cancel(_) | Command::RecordRefund(_) => {}
            }
        }
        prop_assert!(reserves.values().all(|&n| n == 1), "reserved twice: {:?}", reserves);
        prop_assert!(confirms <= 1 && rejects <= 1);
        prop_assert!(confirms == 0 || rejects == 0, "both confirmed and rejected");
        prop_assert!(refunds <= 1, "refunded twice");
        prop_assert!(released.is_disjoint(&committed));
        if state.phase.releases_stock() {
            for e in &events {
                if let FulfilmentEvent::StockReserved { sku, .. } = e {
                    prop_assert!(released.contains(sku.as_str()), "{} kept", sku);
                }
            }
        }
    }
}
