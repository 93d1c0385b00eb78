//! HTTP headers shared by the command API and the query API.

/// `X-Orderflow-Position`: the command API answers a write with the
/// [`Position`](crate::Position) token of its last event; a query sent with
/// it waits (bounded) until the read models have reached that position
/// (read-your-writes). Lower case, as HTTP/2 sends header names and as
/// `http::HeaderName::from_static` requires.
pub const POSITION_HEADER: &str = "x-orderflow-position";
