//! The query API's persisted-document settings: the APQ cache and the
//! optional trusted-document manifest, read once at start.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use orderflow_query_api::{
    DEFAULT_APQ_CACHE_ENTRIES, PersistedConfig, TrustedDocuments, TrustedEnforcement,
};

#[derive(Debug, Clone, Args)]
pub struct PersistedArgs {
    /// A manifest of trusted documents (JSON: sha256 hex → document). When
    /// set, restricted callers may only run those documents.
    #[arg(long, env = "QUERY_TRUSTED_DOCUMENTS")]
    pub trusted_documents: Option<PathBuf>,
    /// Who is restricted to the manifest: `customer` (callers whose token
    /// has only the customer role; takes effect once tokens reach the query
    /// API) or `all`.
    #[arg(long, env = "QUERY_TRUSTED_DOCUMENTS_ENFORCE", default_value = "customer", value_parser = parse_enforcement)]
    pub trusted_documents_enforce: TrustedEnforcement,
    /// Documents the APQ cache remembers by hash (0 turns APQ off).
    #[arg(long, env = "QUERY_APQ_CACHE_ENTRIES", default_value_t = DEFAULT_APQ_CACHE_ENTRIES)]
    pub apq_cache_entries: usize,
}

fn parse_enforcement(s: &str) -> Result<TrustedEnforcement, String> {
    s.parse()
}

impl PersistedArgs {
    /// Reads the manifest, if one is named; a bad one stops the start.
    pub fn config(&self) -> anyhow::Result<PersistedConfig> {
        let trusted = match &self.trusted_documents {
            None => None,
            Some(path) => {
                let docs = TrustedDocuments::load(path)
                    .with_context(|| format!("QUERY_TRUSTED_DOCUMENTS={}", path.display()))?;
                tracing::info!(
                    documents = docs.len(),
                    enforce = ?self.trusted_documents_enforce,
                    "trusted documents loaded"
                );
                Some(Arc::new(docs))
            }
        };
        Ok(PersistedConfig {
            trusted,
            enforce: self.trusted_documents_enforce,
            apq_cache_entries: self.apq_cache_entries,
        })
    }
}
