//! Parsed queries, remembered by their text. Clients send the same few
//! query texts over and over with different variables; parsing (pest) and
//! measuring them again each time was a measurable share of a small
//! query's cost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::ServerError;
use async_graphql::parser::parse_query;
use async_graphql::parser::types::ExecutableDocument;

use crate::shape::{Shape, ShapeError, measure};

/// Entries kept; past this the cache starts over (a client sending ever
/// new texts only costs itself the parsing it would have paid anyway).
const CAPACITY: usize = 512;

/// A parsed query and its shape.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub doc: ExecutableDocument,
    pub shape: Result<Shape, ShapeError>,
}

#[derive(Debug, Default)]
pub(crate) struct DocCache {
    entries: Mutex<HashMap<String, Arc<Parsed>>>,
}

impl DocCache {
    /// The parsed `query`, from the cache or parsed now (parse errors are
    /// not remembered).
    pub fn get(&self, query: &str) -> Result<Arc<Parsed>, ServerError> {
        if let Some(hit) = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(query)
        {
            return Ok(Arc::clone(hit));
        }
        let doc = parse_query(query)?;
        let shape = measure(&doc);
        let parsed = Arc::new(Parsed { doc, shape });
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(query.to_owned(), Arc::clone(&parsed));
        Ok(parsed)
    }
}
