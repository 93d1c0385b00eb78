//! Every limit and every error code; the service endpoints.

use std::time::{Duration, Instant};

use orderflow_auth::Role;
use orderflow_event_store::Position;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::Stack;

/// What GraphiQL sends on load: deep, but introspection, so allowed.
const INTROSPECTION: &str = "query IntrospectionQuery { __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } } } }
  fragment FullType on __Type { kind name description
    fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef }
      isDeprecated deprecationReason }
    inputFields { ...InputValue } interfaces { ...TypeRef }
    enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
    possibleTypes { ...TypeRef } }
  fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
  fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    } } } } } } } } }";

#[tokio::test]
async fn hostile_queries_are_refused_before_the_database() {
    let env = Stack::start().await;
    let before = env.api.db().statements();
    let cases: Vec<(String, &str)> = vec![
        // Too deep.
        (
            // 13 levels; cheap, so only depth refuses it.
            format!(
                "{{ {} id {} }}",
                "orders(first: 1) { nodes { customer { ".repeat(4),
                "} } } ".repeat(4)
            ),
            "levels deep",
        ),
        // Too complex: 100 orders × 100 orders each.
        (
            "{ orders(first: 100) { nodes { id customer { orders(first: 100) { nodes { id
               items { sku } } } } } } }"
                .into(),
            "too complex",
        ),
        // Huge aliases.
        (
            format!(
                "{{ {} }}",
                (0..600)
                    .map(|i| format!("a{i}: order(id: \"{}\") {{ id }}", Uuid::nil()))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            "bytes",
        ),
        (
            format!(
                "{{ {} }}",
                (0..1001)
                    .map(|i| format!("a{i}:__typename"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            "fields",
        ),
        // A fragment bomb: 2^40 fields once expanded.
        (
            {
                let mut q = String::from("{ ...F0 } ");
                for i in 0..40 {
                    q.push_str(&format!(
                        "fragment F{i} on QueryRoot {{ ...F{n} ...F{n} }} ",
                        n = i + 1
                    ));
                }
                q.push_str("fragment F40 on QueryRoot { projections { name } }");
                q
            },
            "fields",
        ),
        (
            "{ ...A } fragment A on QueryRoot { ...B } fragment B on QueryRoot { ...A }".into(),
            "spreads itself",
        ),
        // Nesting the parser refuses to recurse through.
        (
            format!("{}{}", "{ a ".repeat(3000), "}".repeat(3000)),
            "stack limit",
        ),
        // Plain bad queries.
        ("{ orders { nope } }".into(), "nope"),
        ("{ orders(first: 1 ".into(), ""),
        ("query($id: UUID!) { order(id: $id) { id } }".into(), "id"),
    ];
    for (query, expect) in &cases {
        let started = Instant::now();
        let r = env.gql(query, json!({})).await;
        let message = r.only_error("BAD_USER_INPUT");
        assert!(
            message.to_lowercase().contains(&expect.to_lowercase()),
            "{expect:?} not in {message:?}"
        );
        assert_eq!(r.body["data"], Value::Null);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{expect}: slow refusal"
        );
    }
    assert_eq!(env.api.db().statements(), before, "no statement ran");

    // GraphiQL's introspection is deep but allowed.
    let r = env.gql(INTROSPECTION, json!({})).await;
    assert!(r.data()["__schema"]["types"].as_array().unwrap().len() > 20);
    env.finish().await;
}

#[tokio::test]
async fn batches_bodies_and_headers() {
    let env = Stack::start().await;
    let q = json!({ "query": "{ __typename }" });

    let r = env.post_graphql(json!([q, q, q]), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_array().unwrap().len(), 3);
    assert_eq!(r.body[2]["data"]["__typename"], "QueryRoot");

    let before = env.api.db().statements();
    let r = env
        .post_graphql(
            Value::Array(vec![json!({ "query": "{ projections { name } }" }); 11]),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.only_error("BAD_USER_INPUT").contains("1 to 10"));
    let r = env.post_graphql(json!([]), &[]).await;
    assert_eq!(r.status, 400);
    r.only_error("BAD_USER_INPUT");
    let r = env
        .client
        .post(&env.graphql)
        .bearer_auth(env.back_office_token())
        .header("content-type", "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let r = env.post_graphql(json!({ "nothing": "here" }), &[]).await;
    assert_eq!(r.status, 400);
    r.only_error("BAD_USER_INPUT");
    assert_eq!(env.api.db().statements(), before);

    // Bodies over the limit never reach GraphQL.
    let big = json!({ "query": "{ __typename }", "variables": { "x": "y".repeat(300 * 1024) } });
    let r = env.post_graphql(big, &[]).await;
    assert_eq!(r.status, 413);

    // GraphiQL (and the files it loads, no token needed; the vendored
    // ones cached for a year), health, readiness, metrics.
    let page = env.client.get(&env.graphql).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["content-security-policy"],
        orderflow_observability::PAGE_CSP
    );
    let html = page.text().await.unwrap();
    assert!(html.to_lowercase().contains("graphiql"));
    let base = env.graphql.trim_end_matches("/graphql");
    let script = "/graphql/assets/graphiql-4.1.2/graphiql.min.js";
    assert!(html.contains(&script[1..]), "{html}");
    let r = env
        .client
        .get(format!("{base}{script}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    for path in ["/healthz", "/readyz"] {
        let r = env
            .client
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // `/metrics` on the public port: an operator's token, nothing less.
    let anonymous = env
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let staff = env
        .client
        .get(format!("{base}/metrics"))
        .bearer_auth(env.token("staff", &[Role::Staff, Role::Finance, Role::Customer]))
        .send()
        .await
        .unwrap();
    assert_eq!(staff.status(), 403);
    let metrics = env
        .client
        .get(format!("{base}/metrics"))
        .bearer_auth(env.token("ops", &[Role::Operator]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("orderflow_http_requests_total"),
        "{metrics}"
    );
    let r = env
        .client
        .post(&env.graphql)
        .bearer_auth(env.back_office_token())
        .header("x-correlation-id", "corr-q-1")
        .json(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-correlation-id"], "corr-q-1");
    env.finish().await;
}

#[tokio::test]
async fn timeouts_and_internal_errors_have_codes_and_no_sql() {
    let env = Stack::start_with(|c| {
        c.limits.request_timeout = Duration::from_millis(200);
        c.position_wait = Duration::from_secs(5);
    })
    .await;
    let (id, position) = env.create_order("t", "EUR", &[("SKU", 1, 100)]).await;
    env.settle(&position).await;
    let far = Position::new(position.parse::<Position>().unwrap().major() + 1_000_000, 0);
    let started = Instant::now();
    let r = env
        .gql_with(
            "query($id: UUID!) { order(id: $id) { id } }",
            json!({ "id": id }),
            &[("x-orderflow-position", &far.to_string())],
        )
        .await;
    let message = r.only_error("TIMEOUT");
    assert!(message.contains("200 ms"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // A read model gone missing: INTERNAL, with nothing about the SQL.
    sqlx::query("DROP TABLE daily_sales")
        .execute(&env.read)
        .await
        .unwrap();
    let r = env
        .gql(
            r#"{ salesByDay(from: "2025-01-01", to: "2025-01-02") { day } }"#,
            json!({}),
        )
        .await;
    let message = r.only_error("INTERNAL");
    for leak in ["daily_sales", "relation", "SELECT", "sql", "postgres"] {
        assert!(!message.contains(leak), "{message}");
        assert!(!r.body.to_string().contains(leak), "{}", r.body);
    }
    // The rest of the service is unaffected.
    let r = env
        .gql(
            "query($id: UUID!) { order(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.data()["order"]["id"], id.to_string());
    env.finish().await;
}
