//! Tokens already verified, so a client that sends the same token on every
//! request pays for one signature check, not one per request (an RS256
//! check costs ~130 µs with the pure-Rust backend, a large share of a
//! command's CPU time).
//!
//! Entries are keyed by the token's SHA-256, so only the exact token
//! verified hits; they end at the token's `exp` (plus leeway) and when the
//! key set changes, so a key the provider withdrew stops working at once.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::principal::Principal;

#[derive(Debug)]
struct Entry {
    principal: Principal,
    /// `exp` + leeway: the last second the token is accepted.
    valid_until: u64,
    /// The key set the token was verified against.
    key_generation: u64,
}

#[derive(Debug)]
pub(crate) struct TokenCache {
    entries: RwLock<HashMap<[u8; 32], Entry>>,
    capacity: usize,
    hits: AtomicU64,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenCache {
    /// `capacity` 0 turns the cache off.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            entries: RwLock::new(HashMap::new()),
            capacity,
            hits: AtomicU64::new(0),
        }
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// The principal of `token` if it was verified against key set
    /// `key_generation` and has not expired at `now`.
    pub fn get(&self, token: &str, now: u64, key_generation: u64) -> Option<Principal> {
        if self.capacity == 0 {
            return None;
        }
        let key = digest(token);
        // A poisoned lock only means a writer panicked around a whole
        // insert or clear; the map is still consistent.
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = entries.get(&key)?;
        if entry.key_generation != key_generation || entry.valid_until < now {
            return None;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(entry.principal.clone())
    }

    pub fn insert(
        &self,
        token: &str,
        principal: &Principal,
        valid_until: u64,
        key_generation: u64,
        now: u64,
    ) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.retain(|_, e| e.valid_until >= now && e.key_generation == key_generation);
            // Still full of live tokens: start over rather than track
            // recency; the next requests re-verify once each.
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            digest(token),
            Entry {
                principal: principal.clone(),
                valid_until,
                key_generation,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(sub: &str) -> Principal {
        Principal {
            subject: sub.into(),
            roles: Vec::new(),
            customer_id: None,
            client_id: None,
        }
    }

    #[test]
    fn entries_end_at_expiry_and_with_their_key_set() {
        let cache = TokenCache::new(10);
        cache.insert("t", &principal("a"), 100, 1, 50);
        assert_eq!(cache.get("t", 100, 1), Some(principal("a")));
        assert_eq!(cache.get("t", 101, 1), None);
        assert_eq!(cache.get("t", 50, 2), None);
        assert_eq!(cache.get("u", 50, 1), None);
        assert_eq!(cache.hits(), 1);
    }

    #[test]
    fn a_full_cache_drops_dead_entries_first_and_stays_bounded() {
        let cache = TokenCache::new(2);
        cache.insert("old", &principal("a"), 10, 1, 0);
        cache.insert("live", &principal("b"), 100, 1, 0);
        cache.insert("new", &principal("c"), 100, 1, 50);
        assert!(cache.get("live", 50, 1).is_some());
        assert!(cache.get("new", 50, 1).is_some());
        cache.insert("newer", &principal("d"), 100, 1, 50);
        assert!(cache.get("newer", 50, 1).is_some());
        assert!(cache.entries.read().unwrap().len() <= 2);
        let off = TokenCache::new(0);
        off.insert("t", &principal("a"), 100, 1, 0);
        assert_eq!(off.get("t", 0, 1), None);
    }
}
