//! KurrentDB log positions as orderflow [`Position`]s.
//!
//! A KurrentDB `$all` position is a pair (commit, prepare), ordered by
//! commit then prepare. orderflow's `Position(major, minor)` is ordered the
//! same way, so the pair is carried whole: `major = commit`,
//! `minor = prepare`. Keeping only the commit position would merge events
//! that share one (the events of an explicit transaction do) and make a
//! checkpoint between them impossible to resume from.

use kurrentdb::StreamPosition;

use crate::Position;

/// The orderflow form of a KurrentDB position.
pub(crate) fn from_kurrent(p: kurrentdb::Position) -> Position {
    Position::new(p.commit, p.prepare)
}

/// The KurrentDB form of an orderflow position.
pub(crate) fn to_kurrent(p: Position) -> kurrentdb::Position {
    kurrentdb::Position {
        commit: p.major(),
        prepare: p.minor(),
    }
}

/// Where a forward read of `$all` that wants the events after `after` starts.
/// KurrentDB reads from a position inclusively, so the caller still drops
/// an event at exactly `after`.
pub(crate) fn read_from(after: Position) -> StreamPosition<kurrentdb::Position> {
    if after == Position::START {
        StreamPosition::Start
    } else {
        StreamPosition::Position(to_kurrent(after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(commit: u64, prepare: u64) -> kurrentdb::Position {
        kurrentdb::Position { commit, prepare }
    }

    const EDGES: [u64; 7] = [
        0,
        1,
        4096,
        u32::MAX as u64,
        i64::MAX as u64,
        u64::MAX - 1,
        u64::MAX,
    ];

    #[test]
    fn round_trips_both_halves() {
        for &commit in &EDGES {
            for &prepare in &EDGES {
                let k = kp(commit, prepare);
                let p = from_kurrent(k);
                assert_eq!(p.major(), commit);
                assert_eq!(p.minor(), prepare, "the prepare half is kept");
                assert_eq!(to_kurrent(p), k);
                // Through the token the relay's checkpoint and the
                // X-Orderflow-Position header carry.
                let token = p.to_string();
                assert_eq!(token.parse::<Position>().map(to_kurrent), Ok(k));
            }
        }
    }

    #[test]
    fn ordering_agrees_with_kurrentdb() {
        let mut pairs = Vec::new();
        for &a in &EDGES {
            for &b in &EDGES {
                pairs.push(kp(a, b));
            }
        }
        for x in &pairs {
            for y in &pairs {
                assert_eq!(
                    x.cmp(y),
                    from_kurrent(*x).cmp(&from_kurrent(*y)),
                    "{x} vs {y}"
                );
            }
        }
        // Same commit, later prepare: a later event, not the same one.
        assert!(from_kurrent(kp(100, 90)) > from_kurrent(kp(100, 80)));
        assert_ne!(from_kurrent(kp(100, 90)), from_kurrent(kp(100, 80)));
    }

    #[test]
    fn reads_start_at_the_beginning_or_at_the_checkpoint() {
        assert_eq!(read_from(Position::START), StreamPosition::Start);
        assert_eq!(
            read_from(Position::new(7433, 1042)),
            StreamPosition::Position(kp(7433, 1042))
        );
    }
}
