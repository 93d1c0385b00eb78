//! Automatic persisted queries and trusted documents through real HTTP, on
//! the query API of the whole stack (every document here only asks for
//! `__typename`).

use std::sync::Arc;

use orderflow_query_api::{PersistedConfig, TrustedDocuments, TrustedEnforcement, document_hash};
use serde_json::{Value, json};

use crate::support::Stack;

const LISTED: &str = "query Listed { __typename }";
const UNLISTED: &str = "query Unlisted { __typename }";

/// The stack with these persisted-document settings, and requests to it.
struct Api {
    stack: Stack,
}

impl Api {
    async fn start(persisted: PersistedConfig) -> Api {
        let stack = Stack::start_with(|c| c.persisted = persisted).await;
        Api { stack }
    }

    async fn finish(self) {
        self.stack.finish().await;
    }

    /// As the back office (staff, finance, operator).
    async fn post(&self, body: Value) -> Value {
        self.post_as(&self.stack.back_office_token(), body).await
    }

    async fn post_as(&self, token: &str, body: Value) -> Value {
        let r = self.stack.send_graphql(Some(token), body, &[]).await;
        assert_eq!(r.status, 200);
        r.body
    }

    async fn by_hash(&self, hash: &str) -> Value {
        self.post(json!({
            "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } }
        }))
        .await
    }

    async fn with_hash(&self, query: &str) -> Value {
        self.post(json!({
            "query": query,
            "extensions": {
                "persistedQuery": { "version": 1, "sha256Hash": document_hash(query) }
            }
        }))
        .await
    }

    async fn text(&self, query: &str) -> Value {
        self.post(json!({ "query": query })).await
    }
}

fn served(body: &Value) {
    assert_eq!(body["data"]["__typename"], "QueryRoot", "{body}");
    assert!(body.get("errors").is_none(), "{body}");
}

fn refused(body: &Value, code: &str) {
    assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body}");
    assert!(body["data"].is_null(), "{body}");
}

/// A manifest file with `LISTED`, read the way the service reads it.
fn manifest() -> Arc<TrustedDocuments> {
    let path = std::env::temp_dir().join(format!(
        "orderflow-trusted-{}.json",
        uuid::Uuid::now_v7().simple()
    ));
    let body = json!({ document_hash(LISTED): LISTED });
    std::fs::write(&path, body.to_string()).unwrap();
    let docs = TrustedDocuments::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    Arc::new(docs)
}

#[tokio::test]
async fn apq_misses_then_registers_then_serves_by_hash_alone() {
    let api = Api::start(PersistedConfig::default()).await;
    let query = "query Apq { __typename }";
    let hash = document_hash(query);

    let miss = api.by_hash(&hash).await;
    refused(&miss, "PERSISTED_QUERY_NOT_FOUND");
    // What Apollo clients match on before retrying with the text.
    assert_eq!(miss["errors"][0]["message"], "PersistedQueryNotFound");

    served(&api.with_hash(query).await);
    served(&api.by_hash(&hash).await);
    served(&api.by_hash(&hash.to_uppercase()).await);

    // A hash that is not the text's registers nothing.
    let lie = api
        .post(json!({
            "query": "query Other { __typename }",
            "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } }
        }))
        .await;
    refused(&lie, "BAD_USER_INPUT");
    let other = document_hash("query Other { __typename }");
    refused(&api.by_hash(&other).await, "PERSISTED_QUERY_NOT_FOUND");
    api.finish().await;
}

#[tokio::test]
async fn a_document_the_limits_refuse_is_not_registered() {
    let api = Api::start(PersistedConfig::default()).await;
    let deep = format!("{{ {}__typename{} }}", "a { ".repeat(30), " }".repeat(30));
    let body = api.with_hash(&deep).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    refused(
        &api.by_hash(&document_hash(&deep)).await,
        "PERSISTED_QUERY_NOT_FOUND",
    );
    api.finish().await;
}

#[tokio::test]
async fn without_an_apq_cache_a_hash_alone_is_not_supported() {
    let api = Api::start(PersistedConfig {
        apq_cache_entries: 0,
        ..PersistedConfig::default()
    })
    .await;
    refused(
        &api.by_hash(&document_hash(UNLISTED)).await,
        "PERSISTED_QUERY_NOT_SUPPORTED",
    );
    served(&api.with_hash(UNLISTED).await);
    api.finish().await;
}

#[tokio::test]
async fn enforced_trusted_documents_serve_listed_and_refuse_everything_else() {
    let api = Api::start(PersistedConfig {
        trusted: Some(manifest()),
        enforce: TrustedEnforcement::All,
        ..PersistedConfig::default()
    })
    .await;
    served(&api.text(LISTED).await);
    served(&api.by_hash(&document_hash(LISTED)).await);
    served(&api.with_hash(LISTED).await);

    refused(&api.text(UNLISTED).await, "PERSISTED_QUERY_NOT_ALLOWED");
    refused(
        &api.with_hash(UNLISTED).await,
        "PERSISTED_QUERY_NOT_ALLOWED",
    );
    // Registering it was refused, so its hash stays unknown — and a hash
    // not in the manifest is refused, not looked up.
    refused(
        &api.by_hash(&document_hash(UNLISTED)).await,
        "PERSISTED_QUERY_NOT_ALLOWED",
    );
    // One refused operation in a batch does not fail its neighbours.
    let batch = api
        .post(json!([{ "query": LISTED }, { "query": UNLISTED }]))
        .await;
    served(&batch[0]);
    refused(&batch[1], "PERSISTED_QUERY_NOT_ALLOWED");
    api.finish().await;
}

/// The default enforcement restricts the token's customer role: a
/// customer runs listed documents only, staff anything.
#[tokio::test]
async fn the_manifest_restricts_customer_tokens_only() {
    use orderflow_auth::Role;
    let api = Api::start(PersistedConfig {
        trusted: Some(manifest()),
        ..PersistedConfig::default()
    })
    .await;
    let customer = api.stack.token("customer-1", &[Role::Customer]);
    let text = |q: &str| json!({ "query": q });
    refused(
        &api.post_as(&customer, text(UNLISTED)).await,
        "PERSISTED_QUERY_NOT_ALLOWED",
    );
    served(&api.post_as(&customer, text(LISTED)).await);
    let by_hash = json!({
        "extensions": { "persistedQuery": { "version": 1, "sha256Hash": document_hash(LISTED) } }
    });
    served(&api.post_as(&customer, by_hash).await);
    // A token with no orderflow role is restricted like a customer.
    let nobody = api.stack.token("nobody", &[]);
    refused(
        &api.post_as(&nobody, text(UNLISTED)).await,
        "PERSISTED_QUERY_NOT_ALLOWED",
    );
    served(&api.post_as(&api.stack.staff_token(), text(UNLISTED)).await);
    served(&api.text(UNLISTED).await);
    api.finish().await;
}
