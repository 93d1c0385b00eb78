//! Fixtures and the given/when/then harness.

use chrono::{DateTime, Duration, TimeZone, Utc};
use orderflow_domain::inventory::{decide, evolve, fold};
use orderflow_domain::{
    InventoryCommand, InventoryError, InventoryEvent, InventoryState, OrderId,
    ReservationCommitted, StockAdjusted, StockReceived, StockReleased, StockReserved,
};

/// Domain time `minutes` after a fixed epoch; tests never read the clock.
pub fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + Duration::minutes(minutes)
}

/// The time every `when` command is decided at.
pub fn now() -> DateTime<Utc> {
    t(1_000)
}

/// Order number `n`, a fixed UUID.
pub fn order(n: u8) -> OrderId {
    format!("01956f4a-1c00-7000-8000-0000000000{n:02x}")
        .parse()
        .unwrap()
}

// ---- events -------------------------------------------------------------------------

pub fn received(quantity: u32, at: DateTime<Utc>) -> InventoryEvent {
    StockReceived { quantity, at }.into()
}

pub fn adjusted(on_hand: u32, delta: i64, reason: &str, at: DateTime<Utc>) -> InventoryEvent {
    StockAdjusted {
        on_hand,
        delta,
        reason: reason.into(),
        at,
    }
    .into()
}

pub fn reserved(n: u8, quantity: u32, at: DateTime<Utc>) -> InventoryEvent {
    StockReserved {
        order_id: order(n),
        quantity,
        at,
    }
    .into()
}

pub fn released(n: u8, quantity: u32, at: DateTime<Utc>) -> InventoryEvent {
    StockReleased {
        order_id: order(n),
        quantity,
        at,
    }
    .into()
}

pub fn committed(n: u8, quantity: u32, at: DateTime<Utc>) -> InventoryEvent {
    ReservationCommitted {
        order_id: order(n),
        quantity,
        at,
    }
    .into()
}

// ---- histories -----------------------------------------------------------------------

/// 10 units received.
pub fn stocked() -> Vec<InventoryEvent> {
    vec![received(10, t(0))]
}

/// 10 on hand, order 1 holds 3, order 2 holds 4: 3 available.
pub fn reserving() -> Vec<InventoryEvent> {
    let mut h = stocked();
    h.push(reserved(1, 3, t(1)));
    h.push(reserved(2, 4, t(2)));
    h
}

// ---- commands ------------------------------------------------------------------------

pub fn receive(quantity: u32) -> InventoryCommand {
    InventoryCommand::ReceiveStock { quantity }
}

pub fn adjust(on_hand: u32, reason: &str) -> InventoryCommand {
    InventoryCommand::AdjustStock {
        on_hand,
        reason: reason.into(),
    }
}

pub fn reserve(n: u8, quantity: u32) -> InventoryCommand {
    InventoryCommand::Reserve {
        order_id: order(n),
        quantity,
    }
}

pub fn release(n: u8) -> InventoryCommand {
    InventoryCommand::Release { order_id: order(n) }
}

pub fn commit(n: u8) -> InventoryCommand {
    InventoryCommand::Commit { order_id: order(n) }
}

// ---- given / when / then -------------------------------------------------------------

/// The stock as it stands after `history`.
pub fn given(history: impl IntoIterator<Item = InventoryEvent>) -> Given {
    let history: Vec<InventoryEvent> = history.into_iter().collect();
    Given {
        state: fold(&history),
    }
}

/// The stock in `state`, for chaining steps.
pub fn given_state(state: InventoryState) -> Given {
    Given { state }
}

pub struct Given {
    state: InventoryState,
}

impl Given {
    /// Decides `command` at [`now`].
    pub fn when(self, command: InventoryCommand) -> When {
        let result = decide(&self.state, &command, now());
        When {
            state: self.state,
            command,
            result,
        }
    }
}

pub struct When {
    state: InventoryState,
    command: InventoryCommand,
    result: Result<Vec<InventoryEvent>, InventoryError>,
}

impl When {
    /// Asserts exactly these events, and returns the state after them.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = InventoryEvent>) -> InventoryState {
        let expected: Vec<InventoryEvent> = expected.into_iter().collect();
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "events for {:?}", self.command);
                events.iter().fold(self.state, evolve)
            }
            Err(e) => panic!(
                "expected {expected:?} for {:?}, got error {} ({e})",
                self.command,
                e.code()
            ),
        }
    }

    /// Asserts acceptance whatever the events, and returns the state after.
    #[track_caller]
    pub fn then_ok_state(self) -> InventoryState {
        match self.result {
            Ok(events) => events.iter().fold(self.state, evolve),
            Err(e) => panic!(
                "expected {:?} to be accepted, got {} ({e})",
                self.command,
                e.code()
            ),
        }
    }

    /// Asserts acceptance with no events (a repeat), and that nothing moved.
    #[track_caller]
    pub fn then_nothing(self) -> InventoryState {
        let before = self.state.clone();
        let after = self.then([]);
        assert_eq!(after, before);
        after
    }

    /// Asserts refusal with `code`, and returns the error for more checks.
    #[track_caller]
    pub fn then_error(self, code: &str) -> InventoryError {
        match self.result {
            Ok(events) => panic!(
                "expected {code} for {:?}, got events {events:?}",
                self.command
            ),
            Err(e) => {
                assert_eq!(e.code(), code, "error for {:?}: {e}", self.command);
                e
            }
        }
    }
}
