//! The console in headless Chromium without internet (see
//! `orderflow_testkit::browser`): an operator signs in through the form,
//! sees the dead letter this test made stop `orders`, opens it, clicks
//! Retry and confirms after the fix, and sees `orders` running again; the
//! order's timeline renders. Nothing is loaded from another origin.
//! Screenshots land in `target/screenshots/console-*.png` (the ones in
//! `docs/images/` come from here).

use orderflow_auth::Role;
use orderflow_testkit::browser::fantoccini::Locator;
use orderflow_testkit::browser::{Browser, bounded};

use super::{sign_in, wait_state};
use crate::support::{Stack, Step};

async fn constraint(stack: &Stack, on: bool) {
    let sql = if on {
        "ALTER TABLE orders ADD CONSTRAINT console_ui CHECK (confirmed_at IS NULL) NOT VALID"
    } else {
        "ALTER TABLE orders DROP CONSTRAINT console_ui"
    };
    sqlx::query(sql).execute(&stack.read).await.unwrap();
}

#[tokio::test]
async fn an_operator_retries_a_dead_letter_in_the_browser() {
    const TEST: &str = "an_operator_retries_a_dead_letter_in_the_browser";
    let Some(browser) = Browser::start(TEST).await else {
        return;
    };
    let stack = Stack::start().await;
    let (id, _) = stack
        .create_order("c-ui", "EUR", &[("SKU-UI", 3, 1250)])
        .await;
    stack.advance(id, &[Step::Submit]).await;
    constraint(&stack, true).await;
    stack.advance(id, &[Step::Confirm]).await;
    // The fold fails, is retried, then dead-lettered: `orders` stops.
    let probe = sign_in(&stack, "ops-probe").await;
    wait_state(&stack.query, &probe, "orders", "stopped").await;
    let token = stack.token("ops-ui", &[Role::Operator]);

    bounded(TEST, async {
        browser.set_window_size(1400, 1000).await.unwrap();
        // Not signed in: the sign-in form.
        browser
            .goto(&format!("{}/console", stack.query))
            .await
            .unwrap();
        let field = browser.wait_for("textarea#token").await;
        assert!(
            browser
                .current_url()
                .await
                .unwrap()
                .path()
                .ends_with("/console/sign-in")
        );
        field.send_keys(&token).await.unwrap();
        browser
            .find(Locator::Css("form button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The overview: orders stopped, one dead letter.
        browser.wait_for("#sub-orders[data-state=stopped]").await;
        browser.wait_for("polyline").await;
        browser.screenshot("console-overview-stopped").await;

        browser
            .find(Locator::Css("#sub-orders a[href*='dead-letters']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser
            .wait_for("table.letters tbody tr a")
            .await
            .click()
            .await
            .unwrap();
        let payload = browser.wait_for("pre.payload").await;
        assert!(payload.text().await.unwrap().contains("at"), "a payload");
        let error = browser
            .find(Locator::Css("dd.err"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(error.contains("console_ui"), "{error}");
        browser.screenshot("console-dead-letter").await;
    })
    .await;

    // The fix.
    constraint(&stack, false).await;

    bounded(TEST, async {
        browser
            .find(Locator::Css("a.button[href$='/orders/retry']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The confirmation step.
        let confirm = browser.wait_for("button#confirm").await;
        browser.screenshot("console-confirm-retry").await;
        confirm.click().await.unwrap();
        browser.wait_for(".notice").await;
        // Running at once; caught up (lag 0) a moment later, which the live
        // feed brings without a reload.
        browser.wait_for("#sub-orders[data-state=running]").await;
        browser
            .wait_for("#sub-orders[data-state=running][data-lag='0']")
            .await;
        assert!(
            browser
                .current_url()
                .await
                .unwrap()
                .query()
                .is_some_and(|q| q.contains("done=retry")),
            "still the page the confirmation led to (no reload)"
        );
        let audit = browser
            .find(Locator::Css("table.audit"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            audit.contains("ops-ui") && audit.contains("retry"),
            "{audit}"
        );
        assert_eq!(browser.foreign_urls().await, Vec::<String>::new());
        browser.screenshot("console-overview-running").await;

        browser
            .goto(&format!("{}/console/orders/{id}", stack.query))
            .await
            .unwrap();
        browser.wait_for("table.timeline").await;
        let text = browser
            .find(Locator::Css("main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("OrderConfirmed"), "{text}");
        browser.screenshot("console-order-timeline").await;
    })
    .await;
    browser.close().await;
    stack.finish().await;
}
