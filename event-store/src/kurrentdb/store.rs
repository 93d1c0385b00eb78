//! [`KurrentDbStore`]: the [`EventStore`] trait over the KurrentDB client.

use std::fmt;

use async_trait::async_trait;
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, ReadAllOptions, ReadStreamOptions,
    StreamPosition, SubscriptionFilter,
};
use uuid::Uuid;

use super::KurrentDbConfig;
use super::error::{conflict, store_error, stream_state};
use super::idempotency;
use super::metadata::{event_data, is_system, recorded_event};
use super::position::{from_kurrent, read_from};
use super::relay_checkpoint;
use crate::{
    AppendRequest, AppendResult, EventStore, ExpectedVersion, IdempotencyRecord, Position,
    RecordedEvent, StoreError, StreamId,
};

/// The event store on KurrentDB (EventStoreDB). See the module docs of
/// `orderflow_event_store::kurrentdb` for the mapping.
#[derive(Clone)]
pub struct KurrentDbStore {
    client: Client,
    config: KurrentDbConfig,
}

impl fmt::Debug for KurrentDbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KurrentDbStore")
            .field("namespace", &self.config.namespace)
            .field("stream_prefixes", &self.config.stream_prefixes)
            .finish_non_exhaustive()
    }
}

/// Where an append's event ids already are in its stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stored {
    /// None of them: a new append.
    None,
    /// All of them: a retry of an append that succeeded.
    All(AppendResult),
    /// Some of them: not a retry; the first one found.
    Some(Uuid),
}

/// Classifies `ids` against a stream's `(event id, revision, position)`s.
pub(crate) fn classify(
    ids: &[Uuid],
    stream: impl IntoIterator<Item = (Uuid, u64, kurrentdb::Position)>,
) -> Stored {
    let wanted: std::collections::HashSet<&Uuid> = ids.iter().collect();
    let found: Vec<(Uuid, u64, kurrentdb::Position)> = stream
        .into_iter()
        .filter(|(id, _, _)| wanted.contains(id))
        .collect();
    let distinct: std::collections::HashSet<Uuid> = found.iter().map(|(id, _, _)| *id).collect();
    match found.iter().max_by_key(|(_, revision, _)| *revision) {
        None => Stored::None,
        Some((_, revision, position)) if distinct.len() == wanted.len() => {
            Stored::All(AppendResult {
                stream_version: revision + 1,
                position: from_kurrent(*position),
            })
        }
        Some(_) => {
            let first = ids
                .iter()
                .find(|id| distinct.contains(id))
                .copied()
                .unwrap_or_default();
            Stored::Some(first)
        }
    }
}

impl KurrentDbStore {
    /// Builds the client. It connects lazily (and reconnects by itself), so
    /// this only fails on a malformed URL; [`KurrentDbStore::ping`] checks
    /// that the server answers.
    pub fn connect(config: KurrentDbConfig) -> Result<KurrentDbStore, StoreError> {
        config.validate()?;
        let settings: ClientSettings = config
            .url
            .parse()
            .map_err(|e| StoreError::Backend(format!("KURRENTDB_URL: {e}")))?;
        let client = Client::new(settings)
            .map_err(|e| StoreError::Backend(format!("KurrentDB client: {e}")))?;
        Ok(KurrentDbStore { client, config })
    }

    /// Asks the server who it is: fails when it cannot be reached.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .server_info()
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    pub fn config(&self) -> &KurrentDbConfig {
        &self.config
    }

    /// The server's name of an orderflow stream.
    pub(crate) fn server_name(&self, stream: &StreamId) -> String {
        format!("{}{}", self.config.namespace, stream.as_str())
    }

    /// `$all`, filtered on the server to orderflow's stream prefixes.
    fn filter(&self) -> SubscriptionFilter {
        self.config
            .stream_prefixes
            .iter()
            .fold(SubscriptionFilter::on_stream_name(), |f, p| {
                f.add_prefix(format!("{}{p}", self.config.namespace))
            })
    }

    /// Whether an event of `$all` (already filtered) is one of orderflow's.
    fn is_ours(&self, e: &kurrentdb::RecordedEvent) -> bool {
        !is_system(e)
            && e.stream_id()
                .strip_prefix(self.config.namespace.as_str())
                .is_some_and(|name| {
                    self.config
                        .stream_prefixes
                        .iter()
                        .any(|p| name.starts_with(p.as_str()))
                })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// All events a read of one stream returns (none if it does not exist).
    pub(crate) async fn read_raw(
        &self,
        name: &str,
        options: &ReadStreamOptions,
    ) -> Result<Vec<kurrentdb::RecordedEvent>, StoreError> {
        let mut read = match self.client.read_stream(name, options).await {
            Ok(read) => read,
            Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
            Err(e) => return Err(store_error(e)),
        };
        let mut events = Vec::new();
        loop {
            match read.next().await {
                Ok(Some(resolved)) => events.extend(resolved.event),
                Ok(None) => return Ok(events),
                Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
                Err(e) => return Err(store_error(e)),
            }
        }
    }

    async fn read_all_raw(
        &self,
        options: &ReadAllOptions,
    ) -> Result<Vec<kurrentdb::RecordedEvent>, StoreError> {
        let mut read = self.client.read_all(options).await.map_err(store_error)?;
        let mut events = Vec::new();
        while let Some(resolved) = read.next().await.map_err(store_error)? {
            events.extend(resolved.event);
        }
        Ok(events)
    }

    /// Where `ids` already are in `stream`.
    pub(crate) async fn stored(
        &self,
        stream: &StreamId,
        ids: &[Uuid],
    ) -> Result<Stored, StoreError> {
        let events = self
            .read_raw(&self.server_name(stream), &ReadStreamOptions::default())
            .await?;
        Ok(classify(
            ids,
            events.iter().map(|e| (e.id, e.revision, e.position)),
        ))
    }

    /// The position of the event at `revision`, if it is the event `id`.
    async fn position_at(
        &self,
        name: &str,
        revision: u64,
        id: Uuid,
    ) -> Result<Option<Position>, StoreError> {
        let options = ReadStreamOptions::default()
            .position(StreamPosition::Position(revision))
            .forwards()
            .max_count(1);
        Ok(self
            .read_raw(name, &options)
            .await?
            .first()
            .filter(|e| e.id == id && e.revision == revision)
            .map(|e| from_kurrent(e.position)))
    }

    /// The append itself, without the idempotency key.
    pub(crate) async fn append_events(
        &self,
        req: &AppendRequest,
    ) -> Result<AppendResult, StoreError> {
        let ids: Vec<Uuid> = req.events.iter().map(|e| e.event_id).collect();
        let Some(&last_id) = ids.last() else {
            return Err(StoreError::EmptyAppend);
        };
        // With `Any` the server's own de-duplication is best effort (a
        // cache), so a retry is recognised here before writing.
        if req.expected == ExpectedVersion::Any {
            match self.stored(&req.stream_id, &ids).await? {
                Stored::None => {}
                Stored::All(result) => return Ok(result),
                Stored::Some(event_id) => return Err(StoreError::EventIdReused { event_id }),
            }
        }
        let name = self.server_name(&req.stream_id);
        let data = req
            .events
            .iter()
            .map(event_data)
            .collect::<Result<Vec<_>, _>>()?;
        let options = AppendToStreamOptions::default().stream_state(stream_state(req.expected));
        match self
            .client
            .append_to_stream(name.as_str(), &options, data)
            .await
        {
            Ok(written) => {
                // The write result's position is not the last event's
                // `$all` position in every case (an idempotent retry gets
                // none), so it is read back: the result must equal what
                // read_stream and read_all return for that event.
                let revision = written.next_expected_version;
                if let Some(position) = self.position_at(&name, revision, last_id).await? {
                    return Ok(AppendResult {
                        stream_version: revision + 1,
                        position,
                    });
                }
                match self.stored(&req.stream_id, &ids).await? {
                    Stored::All(result) => Ok(result),
                    _ => Err(StoreError::Backend(format!(
                        "KurrentDB acknowledged the append to {} but its events are not at revision {revision}",
                        req.stream_id
                    ))),
                }
            }
            Err(kurrentdb::Error::WrongExpectedVersion { current, .. }) => {
                // A retry after a lost reply fails the expectation it once
                // met; so does an append reusing some of its event ids.
                match self.stored(&req.stream_id, &ids).await? {
                    Stored::All(result) => Ok(result),
                    Stored::Some(event_id) => Err(StoreError::EventIdReused { event_id }),
                    Stored::None => Err(conflict(&req.stream_id, req.expected, current)),
                }
            }
            Err(e) => Err(store_error(e)),
        }
    }
}

#[async_trait]
impl EventStore for KurrentDbStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendResult, StoreError> {
        if request.events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        match &request.idempotency {
            None => self.append_events(&request).await,
            Some(claim) => idempotency::append_with_key(self, &request, claim).await,
        }
    }

    async fn read_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self
            .read_raw(&self.server_name(stream), &ReadStreamOptions::default())
            .await?;
        events
            .iter()
            .filter(|e| !is_system(e))
            .map(|e| recorded_event(e, &self.config.namespace))
            .collect()
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        let mut from = after;
        while out.len() < limit {
            // One more than wanted: the read starts at `from` inclusively.
            let ask = limit - out.len() + 1;
            let options = ReadAllOptions::default()
                .position(read_from(from))
                .forwards()
                .filter(self.filter())
                .max_count(ask);
            let page = self.read_all_raw(&options).await?;
            let complete = page.len() < ask;
            for e in &page {
                let position = from_kurrent(e.position);
                if position <= from {
                    continue;
                }
                from = position;
                if self.is_ours(e) {
                    out.push(recorded_event(e, &self.config.namespace)?);
                    if out.len() == limit {
                        break;
                    }
                }
            }
            if complete {
                break;
            }
        }
        Ok(out)
    }

    async fn head(&self) -> Result<Position, StoreError> {
        const PAGE: usize = 16;
        // Backwards from the end; `before` is the oldest event seen, when a
        // page held only system events (a tombstone, say) and we go on.
        let mut before: Option<kurrentdb::Position> = None;
        loop {
            let options = ReadAllOptions::default()
                .position(before.map_or(StreamPosition::End, StreamPosition::Position))
                .backwards()
                .filter(self.filter())
                .max_count(PAGE);
            let page = self.read_all_raw(&options).await?;
            let newer_than_seen =
                |e: &&kurrentdb::RecordedEvent| before.is_none_or(|b| e.position < b);
            if let Some(e) = page
                .iter()
                .filter(newer_than_seen)
                .find(|e| self.is_ours(e))
            {
                return Ok(from_kurrent(e.position));
            }
            let oldest = page.last().map(|e| e.position);
            if page.len() < PAGE || oldest.is_none() || oldest == before {
                return Ok(Position::START);
            }
            before = oldest;
        }
    }

    async fn find_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        idempotency::find(self, key).await
    }

    /// Expired keys are free again without this (see `idempotency.rs`);
    /// KurrentDB frees space only by scavenging, so nothing is deleted here.
    async fn delete_expired_idempotency(&self, _limit: usize) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn relay_checkpoint(&self, name: &str) -> Result<Option<Position>, StoreError> {
        relay_checkpoint::load(self, name).await
    }

    async fn save_relay_checkpoint(
        &self,
        name: &str,
        position: Position,
    ) -> Result<(), StoreError> {
        relay_checkpoint::save(self, name, position).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(n: u64) -> kurrentdb::Position {
        kurrentdb::Position {
            commit: n * 100,
            prepare: n * 100 - 10,
        }
    }

    #[test]
    fn classifies_retries_and_reuse() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let c = Uuid::now_v7();
        let stream = vec![(a, 0, kp(1)), (b, 1, kp(2))];
        assert_eq!(classify(&[c], stream.clone()), Stored::None);
        assert_eq!(
            classify(&[a, b], stream.clone()),
            Stored::All(AppendResult {
                stream_version: 2,
                position: Position::new(200, 190),
            })
        );
        assert_eq!(classify(&[b, c], stream.clone()), Stored::Some(b));
        assert_eq!(classify(&[c, a], stream), Stored::Some(a));
        assert_eq!(classify(&[a], Vec::new()), Stored::None);
    }
}
