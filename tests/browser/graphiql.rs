use orderflow_testkit::browser::{Browser, bounded};
use serde_json::{Value, json};

use crate::support::Stack;

/// Sets the CodeMirror editor inside `css` to `text`, as typing would.
const SET_EDITOR: &str = "const host = document.querySelector(arguments[0]); \
     if (!host) { return 'no ' + arguments[0]; } \
     const editor = host.querySelector('.CodeMirror'); \
     if (!editor || !editor.CodeMirror) { return 'no editor in ' + arguments[0]; } \
     editor.CodeMirror.setValue(arguments[1]); return 'ok';";

/// The text of the result pane.
const RESULT: &str = "const editor = document.querySelector('.result-window .CodeMirror'); \
     return editor && editor.CodeMirror ? editor.CodeMirror.getValue() : '';";

#[tokio::test]
async fn graphiql_runs_a_query_with_the_token_of_its_headers_pane_offline() {
    const TEST: &str = "graphiql_runs_a_query_with_the_token_of_its_headers_pane_offline";
    let Some(browser) = Browser::start(TEST).await else {
        return;
    };
    let stack = Stack::start().await;
    let (id, position) = stack.create_sample_order(&[]).await;
    stack.settle(&position).await;
    let token = stack.staff_token();

    bounded(TEST, async {
        browser.goto(&stack.graphql).await.unwrap();
        browser
            .wait_for(".graphiql-container .graphiql-query-editor .CodeMirror")
            .await;
        // Opened on the Headers pane, which holds a placeholder to replace.
        let headers = json!({ "Authorization": format!("Bearer {token}") }).to_string();
        let set = browser
            .eval(
                SET_EDITOR,
                vec![
                    json!(".graphiql-editor-tool .graphiql-editor:not(.hidden)"),
                    json!(headers),
                ],
            )
            .await;
        assert_eq!(set, "ok");
        let query = format!("{{ order(id: \"{id}\") {{ id status }} }}");
        let set = browser
            .eval(
                SET_EDITOR,
                vec![json!(".graphiql-query-editor"), json!(query)],
            )
            .await;
        assert_eq!(set, "ok");
        browser
            .wait_for(".graphiql-execute-button")
            .await
            .click()
            .await
            .unwrap();

        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let result = loop {
            let text = browser.eval(RESULT, vec![]).await;
            let parsed: Value = text
                .as_str()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null);
            if !parsed.is_null() {
                break parsed;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no result in GraphiQL's result pane"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert_eq!(result["data"]["order"]["id"], id.as_str(), "{result}");
        assert_eq!(result["data"]["order"]["status"], "DRAFT", "{result}");
        browser.screenshot("graphiql").await;

        let loaded = browser.loaded_urls().await;
        assert!(
            loaded
                .iter()
                .any(|u| u.ends_with("/graphql/assets/graphiql-4.1.2/graphiql.min.js")),
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
