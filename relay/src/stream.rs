//! The JetStream stream the relay publishes to: created with the relay's
//! settings, or brought to them when it exists, without ever lowering its
//! replicas or dropping settings an operator made by hand.

use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::{Context, stream};
use async_nats::jetstream::{Error as JsError, ErrorCode};

use crate::{RelayConfig, RelayError};

/// The settings `config` gives a new stream.
fn new_stream(config: &RelayConfig) -> stream::Config {
    stream::Config {
        name: config.stream_name.clone(),
        subjects: vec![config.stream_subjects()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: config.max_age,
        duplicate_window: config.duplicate_window,
        num_replicas: config.stream_replicas.unwrap_or(1),
        ..Default::default()
    }
}

/// The settings an existing stream is updated to: `existing` with the
/// fields the relay owns (subjects, retention age, de-duplication window)
/// set from `config`, and everything else kept (limits, compression,
/// placement, a description made by hand). Its replicas go up when
/// `config` asks for more and stay as they are when it names none; asking
/// for fewer is refused: a typo or a default must not quietly cost the
/// stream its copies. A stream whose retention or storage is not the
/// relay's is refused too rather than silently changed.
pub fn updated_stream(
    existing: &stream::Config,
    config: &RelayConfig,
) -> Result<stream::Config, RelayError> {
    let name = &existing.name;
    if existing.retention != stream::RetentionPolicy::Limits {
        return Err(RelayError::StreamConfig(format!(
            "stream {name} has retention {:?}; the relay needs limits retention (replay for \
             every consumer): fix or recreate the stream by hand",
            existing.retention
        )));
    }
    if existing.storage != stream::StorageType::File {
        return Err(RelayError::StreamConfig(format!(
            "stream {name} keeps its messages in {:?} storage; the relay needs file storage \
             (NATS cannot change it in place): recreate the stream",
            existing.storage
        )));
    }
    let replicas = match config.stream_replicas {
        None => existing.num_replicas,
        Some(wanted) if wanted < existing.num_replicas => {
            return Err(RelayError::StreamConfig(format!(
                "stream {name} has {} replicas and EVENTS_STREAM_REPLICAS={wanted} would lower \
                 them; the relay never lowers them itself. Set EVENTS_STREAM_REPLICAS={} (or \
                 unset it), or lower them deliberately with `nats stream edit {name} \
                 --replicas {wanted}` first",
                existing.num_replicas, existing.num_replicas
            )));
        }
        Some(wanted) => wanted,
    };
    Ok(stream::Config {
        subjects: vec![config.stream_subjects()],
        max_age: config.max_age,
        duplicate_window: config.duplicate_window,
        num_replicas: replicas,
        ..existing.clone()
    })
}

/// Creates the stream, or updates it as [`updated_stream`] says; safe to
/// run from every relay at start. A setting NATS refuses (more replicas
/// than the cluster has servers, replicas on a single server) or one the
/// relay refuses is a [`RelayError::StreamConfig`], which stops the relay
/// instead of retrying; NATS being away is a [`RelayError::Nats`].
pub async fn ensure_stream(js: &Context, config: &RelayConfig) -> Result<(), RelayError> {
    let existing = match js.get_stream(&config.stream_name).await {
        Ok(s) => Some(s.cached_info().config.clone()),
        Err(e) => match e.kind() {
            GetStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == ErrorCode::STREAM_NOT_FOUND =>
            {
                None
            }
            _ => return Err(RelayError::nats(e)),
        },
    };
    let wanted = match &existing {
        None => new_stream(config),
        Some(existing) => updated_stream(existing, config)?,
    };
    if existing.as_ref() == Some(&wanted) {
        return Ok(());
    }
    // A server outside any cluster takes an update to more replicas and
    // reports them, yet holds one copy: refuse rather than pretend.
    let server = js.client().server_info();
    if wanted.num_replicas > 1 && server.cluster.is_none() {
        return Err(RelayError::StreamConfig(format!(
            "stream {} should have {} replicas (EVENTS_STREAM_REPLICAS), but NATS server {} is \
             not part of a cluster and holds one copy; run a cluster (docs/scaling.md) or set \
             EVENTS_STREAM_REPLICAS=1",
            config.stream_name, wanted.num_replicas, server.server_name
        )));
    }
    let result = match &existing {
        None => js
            .create_stream(wanted.clone())
            .await
            .map(|s| s.cached_info().config.clone()),
        Some(_) => js.update_stream(&wanted).await.map(|info| info.config),
    };
    match result {
        // Asked for more than it took (a cluster may answer so when short
        // of servers).
        Ok(now) if now.num_replicas < wanted.num_replicas => {
            Err(RelayError::StreamConfig(format!(
                "NATS kept stream {} at {} replica(s) when asked for {} (EVENTS_STREAM_REPLICAS; a \
             single server holds 1, a cluster at most as many as it has servers)",
                config.stream_name, now.num_replicas, wanted.num_replicas
            )))
        }
        Ok(now) => {
            tracing::info!(
                stream = %config.stream_name,
                replicas = now.num_replicas,
                created = existing.is_none(),
                "JetStream stream ready"
            );
            Ok(())
        }
        Err(e) => match e.kind() {
            CreateStreamErrorKind::JetStream(js_err) if refused(&js_err) => {
                Err(RelayError::StreamConfig(format!(
                    "NATS refused stream {} with {} replicas (EVENTS_STREAM_REPLICAS; a single \
                     server holds 1, a cluster at most as many as it has servers): {js_err}",
                    config.stream_name,
                    config.stream_replicas.unwrap_or(1),
                )))
            }
            _ => Err(RelayError::nats(e)),
        },
    }
}

/// A refusal of the settings themselves, which retrying cannot change (as
/// opposed to a cluster that is electing a leader or not reachable).
fn refused(e: &JsError) -> bool {
    let code = e.error_code();
    ![
        ErrorCode::CLUSTER_NOT_ACTIVE,
        ErrorCode::CLUSTER_NOT_ASSIGNED,
        ErrorCode::CLUSTER_NOT_AVAILABLE,
        ErrorCode::CLUSTER_NOT_LEADER,
    ]
    .contains(&code)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn relay(replicas: Option<usize>) -> RelayConfig {
        RelayConfig {
            stream_name: "EVENTS".into(),
            subject_prefix: "p".into(),
            max_age: Duration::from_secs(3600),
            stream_replicas: replicas,
            ..RelayConfig::default()
        }
    }

    fn existing(replicas: usize) -> stream::Config {
        stream::Config {
            num_replicas: replicas,
            max_bytes: 1 << 30,
            description: Some("made by hand".into()),
            max_age: Duration::from_secs(60),
            ..new_stream(&relay(None))
        }
    }

    #[test]
    fn unset_replicas_keep_the_streams_own() {
        let up = updated_stream(&existing(3), &relay(None)).unwrap();
        assert_eq!(up.num_replicas, 3);
        // The relay's own fields follow the settings; the rest is kept.
        assert_eq!(up.max_age, Duration::from_secs(3600));
        assert_eq!(up.max_bytes, 1 << 30);
        assert_eq!(up.description.as_deref(), Some("made by hand"));
    }

    #[test]
    fn more_replicas_are_asked_for_and_fewer_refused() {
        assert_eq!(
            updated_stream(&existing(1), &relay(Some(3)))
                .unwrap()
                .num_replicas,
            3
        );
        assert_eq!(
            updated_stream(&existing(3), &relay(Some(3)))
                .unwrap()
                .num_replicas,
            3
        );
        let err = updated_stream(&existing(3), &relay(Some(1))).unwrap_err();
        assert!(matches!(err, RelayError::StreamConfig(_)), "{err}");
        assert!(
            err.to_string().contains("EVENTS_STREAM_REPLICAS=1"),
            "{err}"
        );
    }

    #[test]
    fn other_retention_or_storage_is_refused() {
        let interest = stream::Config {
            retention: stream::RetentionPolicy::Interest,
            ..existing(1)
        };
        assert!(updated_stream(&interest, &relay(None)).is_err());
        let memory = stream::Config {
            storage: stream::StorageType::Memory,
            ..existing(1)
        };
        assert!(updated_stream(&memory, &relay(None)).is_err());
    }
}
