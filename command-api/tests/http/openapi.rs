//! The OpenAPI document is served, is 3.1, and lists every route with every
//! status the tests show it can answer.

use crate::app::TestApp;

#[tokio::test]
async fn openapi_documents_every_route_and_status() {
    let app = TestApp::start().await;
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status, 200);
    let doc = r.body;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();

    let commands = [
        ("post", "/orders"),
        ("post", "/orders/{id}/items"),
        ("patch", "/orders/{id}/items/{sku}"),
        ("delete", "/orders/{id}/items/{sku}"),
        ("put", "/orders/{id}/shipping-address"),
        ("post", "/orders/{id}/submit"),
        ("post", "/orders/{id}/confirm"),
        ("post", "/orders/{id}/reject"),
        ("post", "/orders/{id}/payments"),
        ("post", "/orders/{id}/ship"),
        ("post", "/orders/{id}/deliver"),
        ("post", "/orders/{id}/cancel"),
        ("post", "/orders/{id}/refunds"),
        ("post", "/inventory/{sku}/receipts"),
        ("post", "/inventory/{sku}/adjustments"),
    ];
    for (method, path) in commands {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} undocumented");
        let statuses: Vec<&str> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let ok = if path == "/orders" { "201" } else { "200" };
        for status in [
            ok, "400", "404", "409", "412", "413", "415", "422", "500", "503",
        ] {
            assert!(
                statuses.contains(&status),
                "{method} {path} lacks {status}: {statuses:?}"
            );
        }
        let problem = &op["responses"]["409"]["content"]["application/problem+json"];
        assert!(problem.is_object(), "{method} {path}: 409 is problem+json");
    }
    let reads = ["/orders/{id}", "/orders/{id}/events", "/inventory/{sku}"];
    for path in reads {
        let statuses: Vec<&str> = paths[path]["get"]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        for status in ["200", "404", "503"] {
            assert!(statuses.contains(&status), "get {path} lacks {status}");
        }
    }
    let webhook = &paths["/webhooks/payments"]["post"];
    for status in [
        "200", "400", "401", "404", "409", "413", "415", "422", "500", "503",
    ] {
        assert!(
            webhook["responses"][status].is_object(),
            "the payment webhook lacks {status}"
        );
    }
    assert_eq!(
        webhook["responses"]["401"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/ProblemDetails"
    );
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        commands.len() + reads.len() + 1, // and the payment webhook
        "no undocumented extras, none missing"
    );
    for schema in [
        "CreateOrderRequest",
        "OrderView",
        "ProblemDetails",
        "EventHistory",
        "PaymentNotification",
        "NotificationReceipt",
        "StockView",
        "ReceiptRequest",
        "AdjustmentRequest",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} schema missing"
        );
    }
    let channel = &doc["components"]["schemas"]["ChannelDto"]["enum"];
    assert_eq!(
        channel,
        &serde_json::json!(["web", "mobile", "api", "unknown"]),
        "the create body documents its channels"
    );
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .expect("local schema ref");
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {r}"
        );
    }
}

fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => out.push(r.to_owned()),
                    _ => collect_refs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The document states what the server enforces, quoting the domain's
/// limits (the fuzz in .ci/fuzz_rest.sh checks the server agrees).
#[tokio::test]
async fn openapi_states_every_constraint_the_server_enforces() {
    use orderflow_domain::limits::{
        MAX_ADDRESS_FIELD_LEN, MAX_AMOUNT_MINOR, MAX_ID_LEN, MAX_ITEM_NAME_LEN, MAX_LINE_ITEMS,
        MAX_QUANTITY, MAX_REASON_LEN, MIN_QUANTITY,
    };
    use serde_json::json;

    let app = TestApp::start().await;
    let served = app.get("/openapi.json").await.body;
    assert_eq!(served, orderflow_command_api::openapi(), "served as built");
    let schemas = &served["components"]["schemas"];
    let prop = |schema: &str, field: &str| schemas[schema]["properties"][field].clone();

    let amount = prop("MoneyDto", "amount_minor");
    assert_eq!(amount["minimum"], 0);
    assert_eq!(amount["maximum"], MAX_AMOUNT_MINOR);
    assert_eq!(prop("MoneyDto", "currency")["pattern"], "^[A-Z]{3}$");
    assert_eq!(
        prop("RefundRequest", "amount")["properties"]["amount_minor"]["minimum"],
        1
    );
    for schema in ["AddItemRequest", "ChangeQuantityRequest"] {
        let q = prop(schema, "quantity");
        assert_eq!(
            (&q["minimum"], &q["maximum"]),
            (&json!(MIN_QUANTITY), &json!(MAX_QUANTITY))
        );
    }
    assert_eq!(
        prop("CreateOrderRequest", "items")["maxItems"],
        MAX_LINE_ITEMS
    );
    let line = orderflow_command_api::contract_patterns().line;
    let lines = orderflow_command_api::contract_patterns().lines;
    for (schema, field, max, pattern) in [
        ("CreateOrderRequest", "customer_id", MAX_ID_LEN, &line),
        ("AddItemRequest", "name", MAX_ITEM_NAME_LEN, &line),
        ("AddressDto", "line1", MAX_ADDRESS_FIELD_LEN, &line),
        ("AddressDto", "line2", MAX_ADDRESS_FIELD_LEN, &line),
        ("PaymentRequest", "payment_id", MAX_ID_LEN, &line),
        ("ShipRequest", "tracking_number", 100, &line),
        ("RefundRequest", "refund_id", MAX_ID_LEN, &line),
        ("ReasonRequest", "reason", MAX_REASON_LEN, &lines),
        ("RefundRequest", "reason", MAX_REASON_LEN, &lines),
    ] {
        let p = prop(schema, field);
        assert_eq!(p["minLength"], 1, "{schema}.{field}");
        assert_eq!(p["maxLength"], max, "{schema}.{field}");
        assert_eq!(&p["pattern"], &json!(pattern), "{schema}.{field}");
    }
    assert_eq!(prop("AddressDto", "country")["pattern"], "^[A-Z]{2}$");

    let params = served["paths"]["/orders/{id}/items"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} not documented"))["schema"]
            .clone()
    };
    assert_eq!(param("id")["format"], "uuid");
    assert_eq!(param("Idempotency-Key")["minLength"], 1);
    assert_eq!(param("Idempotency-Key")["maxLength"], 255);
    assert!(param("Idempotency-Key")["pattern"].is_string());
    assert!(param("If-Match")["pattern"].is_string());
    let events = &served["paths"]["/orders/{id}/events"]["get"];
    let limit = events["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()["schema"]
        .clone();
    assert_eq!(limit["maximum"], orderflow_command_api::MAX_EVENTS_PAGE);
    assert!(events["responses"]["200"]["headers"]["Link"].is_object());
}

/// Values the document allows are accepted, found by fuzzing against it:
/// JSON Schema's integers include `2.0`, and a line that would pass the
/// largest quantity is the order's rule (409), not a malformed request.
/// Values it forbids are refused.
#[tokio::test]
async fn schema_valid_edge_values_are_accepted_and_invalid_ones_refused() {
    use serde_json::json;

    use crate::app::money;

    let app = TestApp::start().await;
    let id = app.create_order().await;
    let r = app
        .post(
            &format!("/orders/{id}/items"),
            json!({ "sku": "S-2", "name": "n", "quantity": 2.0, "unit_price": { "amount_minor": 150.0, "currency": "EUR" } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"][1]["quantity"], 2);
    assert_eq!(r.body["items"][1]["unit_price"], money(150));
    for bad in [json!(2.5), json!(1e300)] {
        let r = app
            .send(
                app.client
                    .patch(app.url(&format!("/orders/{id}/items/S-2")))
                    .json(&json!({ "quantity": bad })),
            )
            .await;
        r.assert_problem(400, "invalid-body");
    }
    let r = app
        .post(
            &format!("/orders/{id}/items"),
            json!({ "sku": "S-2", "name": "n", "quantity": 9999, "unit_price": money(150) }),
        )
        .await;
    r.assert_problem(409, "item.line_quantity_exceeded");

    // More items than an order may hold lines is refused, even when repeated
    // skus would fold them into one line.
    let mut order = crate::app::new_order();
    order["items"] = json!(vec![order["items"][0].clone(); 101]);
    order["items"][0]["quantity"] = json!(1);
    let r = app.post("/orders", order).await;
    r.assert_problem(422, "validation");
    assert_eq!(r.body["errors"][0]["field"], "items");

    let post = |key: &str| {
        app.client
            .post(app.url("/orders"))
            .header("idempotency-key", key)
            .json(&crate::app::new_order())
    };
    assert_eq!(app.send(post(&"k".repeat(255))).await.status, 201);
    assert_eq!(app.send(post("with inner spaces")).await.status, 201);
    for bad in ["k".repeat(256), "tab\there".to_owned()] {
        app.send(post(&bad))
            .await
            .assert_problem(400, "invalid-request");
    }
}
