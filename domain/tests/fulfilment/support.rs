use chrono::{DateTime, Duration, TimeZone, Utc};
use orderflow_domain::fulfilment::{
    Command, Decision, FulfilmentState, Input, Line, Outcome, decide, evolve,
};
use orderflow_domain::{Currency, Money, OrderId, PaymentId, Sku};
use uuid::Uuid;

pub fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).single().unwrap() + Duration::minutes(minute)
}

pub fn order() -> OrderId {
    OrderId::new(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001))
}

pub fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

pub fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::new("EUR").unwrap())
}

pub fn line(s: &str, quantity: u32) -> Line {
    Line {
        sku: sku(s),
        quantity,
    }
}

pub fn submitted(lines: Vec<Line>) -> Input {
    Input::OrderSubmitted {
        order: order(),
        lines,
        at: t(0),
    }
}

pub fn reserved(s: &str) -> Input {
    Input::Reservation {
        sku: sku(s),
        outcome: Outcome::Applied,
        at: t(1),
    }
}

pub fn refused(s: &str) -> Input {
    Input::Reservation {
        sku: sku(s),
        outcome: Outcome::Refused {
            reason: "insufficient_stock".into(),
        },
        at: t(1),
    }
}

pub fn confirmed() -> Input {
    Input::OrderConfirmed {
        at: t(2),
        pay_by: t(32),
    }
}

pub fn paid() -> Input {
    Input::PaymentRecorded {
        payment_id: PaymentId::new("pay-1").unwrap(),
        amount: eur(1000),
        at: t(3),
    }
}

/// The state after feeding `inputs` through `decide` and `evolve`.
pub fn given(inputs: &[Input]) -> FulfilmentState {
    inputs
        .iter()
        .fold(FulfilmentState::default(), |s, i| apply(s, i).0)
}

pub fn apply(state: FulfilmentState, input: &Input) -> (FulfilmentState, Decision) {
    let decision = decide(&state, input);
    let next = decision.events.iter().fold(state, evolve);
    (next, decision)
}

pub fn names(commands: &[Command]) -> Vec<String> {
    commands
        .iter()
        .map(|c| match c {
            Command::Reserve(r) => format!("reserve {} x{}", r.sku, r.quantity),
            Command::Release(r) => format!("release {}", r.sku),
            Command::Commit(r) => format!("commit {}", r.sku),
            Command::Confirm(_) => "confirm".into(),
            Command::Reject(r) => format!("reject {}", r.reason),
            Command::Cancel(r) => format!("cancel {}", r.reason),
            Command::RequestRefund(r) => format!("request refund {}", r.amount.amount_minor),
            Command::RecordRefund(r) => format!("record refund {}", r.amount.amount_minor),
        })
        .collect()
}
