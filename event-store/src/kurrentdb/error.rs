//! Expected versions and errors between orderflow and the KurrentDB client.
//!
//! Transient failures (server unreachable, connection dropped, leader
//! changed, deadline exceeded) become [`StoreError::Unavailable`], the
//! error the relay and the command API treat as "back off and retry": the
//! client reconnects (and rediscovers the leader) by itself on the next
//! call, and the relay resumes from its checkpoint.

use kurrentdb::{CurrentRevision, StreamState};

use crate::{ExpectedVersion, StoreError, StreamId};

/// The client's expected stream state for an orderflow expectation.
/// orderflow versions are 1-based (the version of the stream's last event),
/// KurrentDB revisions 0-based (the revision of the stream's last event).
pub(crate) fn stream_state(expected: ExpectedVersion) -> StreamState {
    match expected {
        ExpectedVersion::Any => StreamState::Any,
        ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => StreamState::NoStream,
        ExpectedVersion::Exact(v) => StreamState::StreamRevision(v - 1),
    }
}

/// A stream's orderflow version (0 = empty) from the server's revision.
pub(crate) fn actual_version(current: CurrentRevision) -> u64 {
    match current {
        CurrentRevision::NoStream => 0,
        CurrentRevision::Current(revision) => revision + 1,
    }
}

/// The conflict error the Postgres store returns for the same situation.
pub(crate) fn conflict(
    stream: &StreamId,
    expected: ExpectedVersion,
    current: CurrentRevision,
) -> StoreError {
    StoreError::WrongExpectedVersion {
        stream: stream.clone(),
        expected,
        actual: actual_version(current),
    }
}

/// Any other client error.
pub(crate) fn store_error(e: kurrentdb::Error) -> StoreError {
    use kurrentdb::Error as E;
    use tonic::Code;
    match e {
        // The client maps gRPC Unavailable / Internal / Unknown / DataLoss
        // to ServerError.
        E::ServerError(_)
        | E::ConnectionClosed
        | E::GrpcConnectionError(_)
        | E::NotLeaderException(_)
        | E::DeadlineExceeded => StoreError::Unavailable(e.to_string()),
        E::Grpc {
            code:
                Code::Unavailable
                | Code::Cancelled
                | Code::Aborted
                | Code::ResourceExhausted
                | Code::Unknown,
            ..
        } => StoreError::Unavailable(e.to_string()),
        E::InternalParsingError(_) => StoreError::Corrupt(e.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_versions_map_to_stream_states() {
        assert_eq!(stream_state(ExpectedVersion::Any), StreamState::Any);
        assert_eq!(
            stream_state(ExpectedVersion::NoStream),
            StreamState::NoStream
        );
        assert_eq!(
            stream_state(ExpectedVersion::Exact(0)),
            StreamState::NoStream,
            "Exact(0) means the same as NoStream"
        );
        assert_eq!(
            stream_state(ExpectedVersion::Exact(1)),
            StreamState::StreamRevision(0)
        );
        assert_eq!(
            stream_state(ExpectedVersion::Exact(42)),
            StreamState::StreamRevision(41)
        );
    }

    #[test]
    fn current_revisions_map_to_versions() {
        assert_eq!(actual_version(CurrentRevision::NoStream), 0);
        assert_eq!(actual_version(CurrentRevision::Current(0)), 1);
        assert_eq!(actual_version(CurrentRevision::Current(9)), 10);
        // Mapping there and back agrees with ExpectedVersion::admits.
        for v in 0..5u64 {
            let current = if v == 0 {
                CurrentRevision::NoStream
            } else {
                CurrentRevision::Current(v - 1)
            };
            assert!(ExpectedVersion::Exact(v).admits(actual_version(current)));
        }
    }

    #[test]
    fn a_conflict_is_the_postgres_conflict() {
        let stream = StreamId::new("order-1").expect("valid");
        match conflict(
            &stream,
            ExpectedVersion::Exact(2),
            CurrentRevision::Current(4),
        ) {
            StoreError::WrongExpectedVersion {
                stream: s,
                expected,
                actual,
            } => {
                assert_eq!(s, stream);
                assert_eq!(expected, ExpectedVersion::Exact(2));
                assert_eq!(actual, 5);
            }
            other => panic!("got {other:?}"),
        }
    }

    #[test]
    fn transient_errors_are_unavailable() {
        use kurrentdb::Error as E;
        let transient = [
            E::ServerError("status: Unavailable".into()),
            E::ConnectionClosed,
            E::GrpcConnectionError(kurrentdb::GrpcConnectionError::MaxDiscoveryAttemptReached(
                10,
            )),
            E::NotLeaderException(kurrentdb::Endpoint {
                host: "node2".into(),
                port: 2113,
            }),
            E::DeadlineExceeded,
            E::Grpc {
                code: tonic::Code::Unavailable,
                message: "connection refused".into(),
            },
            E::Grpc {
                code: tonic::Code::Aborted,
                message: "aborted".into(),
            },
        ];
        for e in transient {
            let text = e.to_string();
            assert!(store_error(e).is_unavailable(), "{text}");
        }
        let permanent = [
            E::AccessDenied,
            E::ResourceDeleted,
            E::UnsupportedFeature,
            E::Grpc {
                code: tonic::Code::InvalidArgument,
                message: "bad".into(),
            },
        ];
        for e in permanent {
            assert!(matches!(store_error(e), StoreError::Backend(_)));
        }
        assert!(matches!(
            store_error(E::InternalParsingError("x".into())),
            StoreError::Corrupt(_)
        ));
    }
}
