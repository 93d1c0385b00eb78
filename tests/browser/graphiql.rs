use std::time::Duration;

use orderflow_testkit::browser::{Browser, bounded};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::{Stack, Step};

/// Sets the CodeMirror editor inside `css` to `text`, as typing would.
const SET_EDITOR: &str = "const host = document.querySelector(arguments[0]); \
     if (!host) { return 'no ' + arguments[0]; } \
     const editor = host.querySelector('.CodeMirror'); \
     if (!editor || !editor.CodeMirror) { return 'no editor in ' + arguments[0]; } \
     editor.CodeMirror.setValue(arguments[1]); return 'ok';";

/// The text of the result pane.
const RESULT: &str = "const editor = document.querySelector('.result-window .CodeMirror'); \
     return editor && editor.CodeMirror ? editor.CodeMirror.getValue() : '';";

/// Records what the page's WebSockets send, so the test knows when
/// GraphiQL has subscribed (GraphiQL opens its socket on the first
/// subscription, after this ran).
const WATCH_SOCKETS: &str = "window.sentOnSockets = []; \
     const send = WebSocket.prototype.send; \
     WebSocket.prototype.send = function (data) { window.sentOnSockets.push(String(data)); \
       return send.call(this, data); }; return 'ok';";

async fn set_editor(browser: &Browser, css: &str, text: &str) {
    let set = browser
        .eval(SET_EDITOR, vec![json!(css), json!(text)])
        .await;
    assert_eq!(set, "ok");
}

async fn result_text(browser: &Browser) -> String {
    browser
        .eval(RESULT, vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Clicks Run and returns the result pane once it shows JSON other than
/// `before`.
async fn run(browser: &Browser, before: &str) -> Value {
    browser
        .wait_for(".graphiql-execute-button")
        .await
        .click()
        .await
        .unwrap();
    next_result(browser, before, Duration::from_secs(10)).await
}

/// The result pane's JSON once it differs from `before` (`Null` if it
/// does not within `wait`).
async fn next_result(browser: &Browser, before: &str, wait: Duration) -> Value {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        let text = result_text(browser).await;
        if text != before
            && let Ok(v) = serde_json::from_str::<Value>(&text)
        {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Value::Null
}

#[tokio::test]
async fn graphiql_runs_queries_and_subscriptions_with_the_token_of_its_headers_pane_offline() {
    const TEST: &str =
        "graphiql_runs_queries_and_subscriptions_with_the_token_of_its_headers_pane_offline";
    let Some(browser) = Browser::start(TEST).await else {
        return;
    };
    let stack = Stack::start().await;
    let (id, position) = stack
        .create_order("customer-1", "EUR", &[("SKU-1", 2, 1250)])
        .await;
    let id = id.to_string();
    stack.settle(&position).await;
    let token = stack.staff_token();

    bounded(TEST, async {
        browser.goto(&stack.graphql).await.unwrap();
        browser
            .wait_for(".graphiql-container .graphiql-query-editor .CodeMirror")
            .await;
        browser.screenshot("graphiql-opened").await;
        let query = format!("{{ order(id: \"{id}\") {{ id status }} }}");
        set_editor(&browser, ".graphiql-query-editor", &query).await;

        // The Headers pane opens with a placeholder token: refused.
        let refused = run(&browser, "").await;
        assert!(refused.get("data").is_none(), "{refused}");
        assert_eq!(refused["status"], 401, "{refused}");

        // With a real one, the query answers.
        let headers = json!({ "Authorization": format!("Bearer {token}") }).to_string();
        set_editor(
            &browser,
            ".graphiql-editor-tool .graphiql-editor:not(.hidden)",
            &headers,
        )
        .await;
        let answer = run(&browser, &result_text(&browser).await).await;
        assert_eq!(answer["data"]["order"]["id"], id.as_str(), "{answer}");
        assert_eq!(answer["data"]["order"]["status"], "DRAFT", "{answer}");
        browser.screenshot("graphiql").await;

        // A subscription carries the same header (in connection_init) and
        // shows the order's next change.
        assert_eq!(browser.eval(WATCH_SOCKETS, vec![]).await, "ok");
        let subscription = format!("subscription {{ orderChanged(id: \"{id}\") {{ id status }} }}");
        set_editor(&browser, ".graphiql-query-editor", &subscription).await;
        // GraphiQL picks the transport from the document it parses after
        // an edit settles (debounced): run at once, it would still see the
        // query and POST it.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = result_text(&browser).await;
        browser
            .wait_for(".graphiql-execute-button")
            .await
            .click()
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let sent = browser.eval("return window.sentOnSockets;", vec![]).await;
            if sent.to_string().contains("subscribe") {
                assert!(sent.to_string().contains(&token), "{sent}");
                break;
            }
            if Instant::now() >= deadline {
                let shot = browser.screenshot("graphiql-failed-subscribe").await;
                panic!(
                    "GraphiQL never subscribed: sent {sent}, result pane {:?}, screenshot {}",
                    result_text(&browser).await,
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The server registers the subscription just after the message:
        // a change made in that gap is missed, so a second one follows.
        tokio::time::sleep(Duration::from_millis(300)).await;
        stack.advance(id.parse().unwrap(), &[Step::Submit]).await;
        let mut change = next_result(&browser, &before, Duration::from_secs(5)).await;
        if change.is_null() {
            stack.advance(id.parse().unwrap(), &[Step::Confirm]).await;
            change = next_result(&browser, &before, Duration::from_secs(5)).await;
        }
        let status = change["data"]["orderChanged"]["status"].as_str();
        assert!(
            matches!(status, Some("SUBMITTED" | "CONFIRMED")),
            "{change}"
        );
        browser.screenshot("graphiql-subscription").await;

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
