//! Sums across orders are `numeric` in the read models and can pass 64
//! bits. They are read without loss: `formatted` shows them exactly, and
//! `amountMinor` / `unitsSold` (a `Long`) answer a field error with code
//! `AMOUNT_OUT_OF_RANGE` rather than a clamped or wrapped number.

use serde_json::json;

use crate::support::Stack;

/// 2^63: one more than i64::MAX.
const BEYOND: &str = "9223372036854775808";

#[tokio::test]
async fn sums_beyond_64_bits_are_exact_or_an_error_with_a_code() {
    let env = Stack::start().await;
    // Rows as the projectors write them for sums of huge orders (the
    // domain refuses such orders now; older events may hold them).
    for sql in [
        "INSERT INTO customer_stats (customer_id, order_count, draft_count, submitted_count, \
             confirmed_count, paid_count, shipped_count, delivered_count, cancelled_count, \
             rejected_count) VALUES ('whale', 2, 0, 0, 0, 2, 0, 0, 0, 0)",
        "INSERT INTO customer_lifetime_value (customer_id, currency, paid_minor, refunded_minor) \
             VALUES ('whale', 'EUR', 9223372036854775808, 1)",
        "INSERT INTO daily_sales (day, currency, orders_paid, gross_minor, refunds_minor, \
             units_sold) VALUES ('1999-01-01', 'JPY', 2, 9223372036854775808, 0, 2)",
        "INSERT INTO product_sales (sku, currency, units_sold, revenue_minor, order_count) \
             VALUES ('BIG', 'EUR', 9223372036854775808, 9223372036854775808, 2), \
                    ('SMALL', 'EUR', 1, 100, 1)",
    ] {
        sqlx::query(sql).execute(&env.read).await.unwrap();
    }

    // Exact where the type can say it.
    let r = env
        .gql(
            r#"{ customer(id: "whale") { stats { lifetimeValue { paid { formatted }
                net { formatted } refunded { amountMinor } } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        r.data()["customer"]["stats"]["lifetimeValue"],
        json!([{ "paid": { "formatted": "92233720368547758.08 EUR" },
                 "net": { "formatted": "92233720368547758.07 EUR" },
                 "refunded": { "amountMinor": 1 } }])
    );
    let r = env
        .gql(
            r#"{ salesByDay(from: "1999-01-01", to: "1999-01-01") { gross { formatted } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        r.data()["salesByDay"],
        json!([{ "gross": { "formatted": format!("{BEYOND} JPY") } }])
    );

    // A Long cannot: an error with a code, naming the field and the value.
    let r = env
        .gql(
            r#"{ customer(id: "whale") { stats { lifetimeValue { paid { amountMinor } } } } }"#,
            json!({}),
        )
        .await;
    let message = r.only_error("AMOUNT_OUT_OF_RANGE");
    assert!(
        message.contains("amountMinor") && message.contains(BEYOND),
        "{message}"
    );
    let r = env
        .gql(
            r#"{ topProducts(currency: "EUR") { sku unitsSold } }"#,
            json!({}),
        )
        .await;
    assert_eq!(r.codes(), ["AMOUNT_OUT_OF_RANGE"], "{}", r.body);

    // Ranked on the exact sums: 2^63 first.
    let r = env
        .gql(
            r#"{ topProducts(currency: "EUR") { sku revenue { formatted } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        r.data()["topProducts"],
        json!([{ "sku": "BIG", "revenue": { "formatted": "92233720368547758.08 EUR" } },
               { "sku": "SMALL", "revenue": { "formatted": "1.00 EUR" } }])
    );
    env.finish().await;
}
