//! Documents named by their SHA-256 hash (`extensions.persistedQuery`):
//!
//! - **APQ** (Apollo automatic persisted queries), a bandwidth cache: a
//!   client sends only the hash; on `PERSISTED_QUERY_NOT_FOUND` it sends
//!   hash and text once, which registers the text in a bounded LRU.
//! - **Trusted documents** (off unless a manifest is configured): a JSON
//!   object `{"<sha256 hex>": "<document>", …}` read at start. Restricted
//!   callers may only run those documents, by hash or by a text whose hash
//!   is listed; anything else is `PERSISTED_QUERY_NOT_ALLOWED`. Who is
//!   restricted: with [`TrustedEnforcement::Customers`] (the default) a
//!   caller whose verified token ([`Principal`], in the request or
//!   connection data) holds no staff, finance or operator role — customers,
//!   and tokens without an orderflow role; with [`TrustedEnforcement::All`]
//!   every caller. A request without a principal (none gets here: HTTP and
//!   WebSocket refuse them first) is restricted too.
//!
//! Done in the executor, before the admission checks, rather than with
//! async-graphql's `ApolloPersistedQueries` extension: any registered
//! extension puts every resolved field through the extension chain (see
//! `executor.rs`), that one answers a miss without `extensions.code`, and
//! it would run after our own parse of the (empty) query text.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::{Data, Request, ServerError};
use hashlink::LruCache;
use orderflow_auth::{Principal, Role};
use sha2::{Digest, Sha256};

use crate::error::ErrorCode;

/// APQ documents remembered by default; each is at most `max_query_bytes`.
pub const DEFAULT_APQ_CACHE_ENTRIES: usize = 512;

/// The lowercase hex SHA-256 of a document's text, as clients compute it.
pub fn document_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The manifest of trusted documents, by hash.
#[derive(Debug, Default)]
pub struct TrustedDocuments {
    by_hash: HashMap<String, Arc<str>>,
}

/// Why a manifest cannot be used; the service refuses to start on it.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("trusted documents {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("trusted documents: {0}")]
    Invalid(String),
}

impl TrustedDocuments {
    /// Reads and checks a manifest file.
    pub fn load(path: &Path) -> Result<TrustedDocuments, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ManifestError::Invalid(format!("{}: not JSON: {e}", path.display())))?;
        TrustedDocuments::from_json(&json)
    }

    /// `{"<sha256 hex>": "<document>", …}`; every hash must be its
    /// document's, so a typo cannot allow an unreviewed text.
    pub fn from_json(json: &serde_json::Value) -> Result<TrustedDocuments, ManifestError> {
        let object = json.as_object().ok_or_else(|| {
            ManifestError::Invalid("the manifest is an object of hash → document".into())
        })?;
        let mut by_hash = HashMap::with_capacity(object.len());
        for (hash, document) in object {
            let document = document.as_str().ok_or_else(|| {
                ManifestError::Invalid(format!("the document of {hash} is not a string"))
            })?;
            if document_hash(document) != hash.to_ascii_lowercase() {
                return Err(ManifestError::Invalid(format!(
                    "{hash} is not the SHA-256 of its document"
                )));
            }
            by_hash.insert(hash.to_ascii_lowercase(), Arc::from(document));
        }
        Ok(TrustedDocuments { by_hash })
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    fn get(&self, hash: &str) -> Option<&Arc<str>> {
        self.by_hash.get(hash)
    }
}

/// Whom a configured manifest restricts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TrustedEnforcement {
    /// Callers whose token holds none of staff, finance, operator: the
    /// customer role (or no orderflow role at all).
    #[default]
    Customers,
    /// Every caller, with or without a principal.
    All,
}

impl FromStr for TrustedEnforcement {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "customer" | "customers" => Ok(TrustedEnforcement::Customers),
            "all" => Ok(TrustedEnforcement::All),
            other => Err(format!("`{other}`: expected `customer` or `all`")),
        }
    }
}

/// The query API's settings for both.
#[derive(Debug, Clone)]
pub struct PersistedConfig {
    /// `None`: any document may run (the default).
    pub trusted: Option<Arc<TrustedDocuments>>,
    pub enforce: TrustedEnforcement,
    /// APQ cache size; 0 turns APQ off (`PERSISTED_QUERY_NOT_SUPPORTED`).
    pub apq_cache_entries: usize,
}

impl Default for PersistedConfig {
    fn default() -> Self {
        PersistedConfig {
            trusted: None,
            enforce: TrustedEnforcement::Customers,
            apq_cache_entries: DEFAULT_APQ_CACHE_ENTRIES,
        }
    }
}

/// A text to remember under its hash once it has passed admission, so the
/// cache never holds a document the limits refuse.
#[derive(Debug)]
pub(crate) struct ToRegister(String);

pub(crate) struct PersistedQueries {
    trusted: Option<Arc<TrustedDocuments>>,
    enforce: TrustedEnforcement,
    apq: Option<Mutex<LruCache<String, Arc<str>>>>,
}

impl std::fmt::Debug for PersistedQueries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistedQueries")
            .field("trusted", &self.trusted.as_ref().map(|t| t.len()))
            .field("enforce", &self.enforce)
            .finish_non_exhaustive()
    }
}

fn principal_in(data: &Data) -> Option<&Principal> {
    data.get(&TypeId::of::<Principal>())
        .and_then(|b| b.downcast_ref::<Principal>())
}

/// `(version, hash)` of `extensions.persistedQuery`, taken out of the
/// request.
fn take_persisted_query(request: &mut Request) -> Result<Option<String>, ServerError> {
    let Some(value) = request.extensions.remove("persistedQuery") else {
        return Ok(None);
    };
    let json = value.into_json().unwrap_or_default();
    let version = json.get("version").and_then(serde_json::Value::as_i64);
    let hash = json.get("sha256Hash").and_then(serde_json::Value::as_str);
    match (version, hash) {
        (Some(1), Some(hash)) => Ok(Some(hash.to_ascii_lowercase())),
        (Some(v), Some(_)) => Err(ErrorCode::BadUserInput.server_error(format!(
            "persistedQuery version {v} is not supported; only version 1"
        ))),
        _ => Err(ErrorCode::BadUserInput
            .server_error("persistedQuery needs `version` (1) and `sha256Hash`")),
    }
}

impl PersistedQueries {
    pub fn new(config: &PersistedConfig) -> PersistedQueries {
        PersistedQueries {
            trusted: config.trusted.clone(),
            enforce: config.enforce,
            apq: (config.apq_cache_entries > 0)
                .then(|| Mutex::new(LruCache::new(config.apq_cache_entries))),
        }
    }

    fn restricts(&self, request: &Request, session: Option<&Data>) -> bool {
        if self.trusted.is_none() {
            return false;
        }
        match self.enforce {
            TrustedEnforcement::All => true,
            TrustedEnforcement::Customers => principal_in(&request.data)
                .or_else(|| session.and_then(principal_in))
                .is_none_or(|p| !p.has_any_role(&[Role::Staff, Role::Finance, Role::Operator])),
        }
    }

    fn trusted(&self, hash: &str) -> Option<&Arc<str>> {
        self.trusted.as_ref().and_then(|t| t.get(hash))
    }

    /// Puts the text of a hash-only request into `request.query` and
    /// refuses what a restricted caller may not run. Returns the text to
    /// remember (see [`Self::remember`]).
    pub fn resolve(
        &self,
        request: &mut Request,
        session: Option<&Data>,
    ) -> Result<Option<ToRegister>, ServerError> {
        let hash = take_persisted_query(request)?;
        let restricted = self.restricts(request, session);
        let not_allowed = || {
            metrics::counter!("orderflow_query_untrusted_documents_total").increment(1);
            ErrorCode::PersistedQueryNotAllowed.server_error(
                "only trusted documents may run here; send one of the listed documents or its hash",
            )
        };
        match hash {
            None if !restricted => Ok(None),
            None if self.trusted(&document_hash(&request.query)).is_some() => Ok(None),
            None => Err(not_allowed()),
            Some(hash) if request.query.is_empty() => {
                if let Some(text) = self.trusted(&hash) {
                    request.query = text.to_string();
                    return Ok(None);
                }
                if restricted {
                    return Err(not_allowed());
                }
                let Some(apq) = &self.apq else {
                    return Err(ErrorCode::PersistedQueryNotSupported
                        .server_error("PersistedQueryNotSupported"));
                };
                let cached = apq
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&hash)
                    .cloned();
                match cached {
                    Some(text) => {
                        request.query = text.to_string();
                        Ok(None)
                    }
                    // The message is what Apollo clients look for.
                    None => {
                        Err(ErrorCode::PersistedQueryNotFound
                            .server_error("PersistedQueryNotFound"))
                    }
                }
            }
            Some(hash) => {
                if document_hash(&request.query) != hash {
                    return Err(ErrorCode::BadUserInput.server_error(
                        "persistedQuery.sha256Hash is not the SHA-256 of the query",
                    ));
                }
                let listed = self.trusted(&hash).is_some();
                if restricted && !listed {
                    return Err(not_allowed());
                }
                Ok((!listed && self.apq.is_some()).then_some(ToRegister(hash)))
            }
        }
    }

    /// Remembers an admitted request's text under its hash.
    pub fn remember(&self, register: ToRegister, text: &str) {
        if let Some(apq) = &self.apq {
            apq.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(register.0, Arc::from(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn hashes_are_lowercase_hex_sha256() {
        assert_eq!(
            document_hash("{ __typename }"),
            "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
        );
    }

    #[test]
    fn a_manifest_whose_hash_is_not_its_documents_is_refused() {
        let doc = "{ __typename }";
        let good = json!({ document_hash(doc): doc });
        assert_eq!(TrustedDocuments::from_json(&good).unwrap().len(), 1);
        let bad = json!({ document_hash("{ other }"): doc });
        assert!(TrustedDocuments::from_json(&bad).is_err());
        assert!(TrustedDocuments::from_json(&json!([doc])).is_err());
        assert!(TrustedDocuments::from_json(&json!({ document_hash(doc): 1 })).is_err());
    }

    fn principal(roles: &[Role]) -> Principal {
        Principal {
            subject: "someone".into(),
            roles: roles.to_vec(),
            customer_id: None,
            client_id: None,
        }
    }

    #[test]
    fn customers_are_restricted_and_staff_are_not() {
        let listed = "query Listed { __typename }";
        let trusted = TrustedDocuments::from_json(&json!({ document_hash(listed): listed }));
        let queries = PersistedQueries::new(&PersistedConfig {
            trusted: Some(Arc::new(trusted.unwrap())),
            ..PersistedConfig::default()
        });
        let run = |roles: Option<&[Role]>, in_session: bool| {
            let mut request = Request::new("{ __typename }");
            let mut session = Data::default();
            match (roles, in_session) {
                (Some(r), false) => request = request.data(principal(r)),
                (Some(r), true) => session.insert(principal(r)),
                (None, _) => {}
            }
            queries
                .resolve(&mut request, Some(&session))
                .map(|_| ())
                .map_err(|e| e.extensions.unwrap().get("code").cloned())
        };
        let not_allowed = Err(Some(async_graphql::Value::from(
            "PERSISTED_QUERY_NOT_ALLOWED",
        )));
        assert_eq!(run(Some(&[Role::Customer]), false), not_allowed);
        assert_eq!(run(Some(&[Role::Customer]), true), not_allowed, "WebSocket");
        assert_eq!(run(Some(&[]), false), not_allowed, "no orderflow role");
        assert_eq!(run(Some(&[Role::Customer, Role::Staff]), false), Ok(()));
        assert_eq!(run(Some(&[Role::Finance]), false), Ok(()));
        assert_eq!(run(None, false), not_allowed, "no principal: fail closed");
        let mut listed_request = Request::new(listed).data(principal(&[Role::Customer]));
        assert!(queries.resolve(&mut listed_request, None).is_ok());
    }
}
