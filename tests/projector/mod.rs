//! The projector (and the relay feeding it) on events appended straight to
//! the store.

mod catch_up;
mod copies;
mod live;
mod money;
mod outage;
mod poison;
mod rebuild_tx;
mod upcast;
