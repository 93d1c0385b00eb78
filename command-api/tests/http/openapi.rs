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
    for path in ["/orders/{id}", "/orders/{id}/events"] {
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
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        commands.len() + 2,
        "no undocumented extras, none missing"
    );
    for schema in [
        "CreateOrderRequest",
        "OrderView",
        "ProblemDetails",
        "EventHistory",
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
