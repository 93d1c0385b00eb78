use orderflow_testkit::browser::{Browser, bounded};
use serde_json::Value;

use crate::support::Stack;

/// The `operationId`s Redoc rendered, from its operation anchors
/// (`#tag/<tag>/operation/<operationId>`).
const RENDERED_OPERATIONS: &str = "return Array.from(document.querySelectorAll('[id^=\"tag/\"][id*=\"/operation/\"]')) \
     .map(function (e) { return e.id.split('/operation/')[1]; });";

#[tokio::test]
async fn the_command_api_reference_renders_every_operation_offline() {
    const TEST: &str = "the_command_api_reference_renders_every_operation_offline";
    let Some(browser) = Browser::start(TEST).await else {
        return;
    };
    let stack = Stack::start().await;

    bounded(TEST, async {
        browser.goto(&format!("{}/docs", stack.rest)).await.unwrap();
        browser.wait_for(".api-content [id*='/operation/']").await;
        let rendered = browser.eval(RENDERED_OPERATIONS, vec![]).await;
        let mut rendered: Vec<String> = serde_json::from_value(rendered).unwrap();
        rendered.sort();
        rendered.dedup();
        let doc = orderflow_command_api::openapi();
        let mut documented: Vec<String> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op.get("operationId").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        documented.sort();
        assert_eq!(rendered, documented);
        browser.screenshot("command-api-docs").await;

        let loaded = browser.loaded_urls().await;
        assert!(
            loaded.iter().any(|u| u.ends_with("/openapi.json")),
            "{loaded:?}"
        );
        assert_eq!(
            browser.foreign_urls().await,
            Vec::<String>::new(),
            "all loaded: {loaded:?}"
        );
    })
    .await;
    browser.close().await;
    stack.finish().await;
}
