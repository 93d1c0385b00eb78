//! With the fulfilment process manager: the console shows its subscriber,
//! the payment provider's breaker as the saga's process reports it, an
//! order's instance steps beside its events, and acts on the saga's own
//! database.

use std::sync::Arc;
use std::time::Duration;

use orderflow::{FulfilmentService, Services};
use orderflow_auth::{
    AuthConfig, DEV_AUDIENCE, DEV_ISSUER, KeySource, Role, SigningKey, TokenClaims, Verifier, mint,
};
use orderflow_fulfilment::FulfilmentConfig;
use orderflow_payments::{ProviderConfig, SharedSecret};
use orderflow_subscriptions::RuntimeConfig;
use orderflow_testkit::TestDb;
use serde_json::{Value, json};

use super::{get, post, sign_in_with, state_of, wait_state};
use crate::support::{Env, nats_url};

#[tokio::test]
async fn the_console_shows_the_saga_its_breaker_and_an_instance_beside_its_order() {
    let env = Env::new().await;
    let saga_db = TestDb::new().await;
    let key = SigningKey::generate_ed25519().unwrap();
    let auth = AuthConfig::jwks(KeySource::Static(key.jwks()), DEV_ISSUER, DEV_AUDIENCE);
    let verifier = Arc::new(Verifier::new(auth).await.unwrap());
    let token = |sub: &str, roles: &[Role]| {
        mint(
            &key,
            &TokenClaims::development(sub, roles, Duration::from_secs(3600)),
        )
        .unwrap()
    };
    let mut query = env.query_config();
    query.console.fulfilment_database_url = Some(saga_db.url().to_owned());
    let saga = FulfilmentConfig {
        database_url: saga_db.url().to_owned(),
        scheduler_interval: Duration::from_millis(50),
        runtime: RuntimeConfig {
            nats_url: nats_url(),
            stream_name: env.stream_name.clone(),
            standby_interval: Duration::from_millis(100),
            ..FulfilmentConfig::default().runtime
        },
        ..FulfilmentConfig::default()
    };
    // Nothing listens there; no refund is asked for, so it stays closed.
    let provider = ProviderConfig::new("http://127.0.0.1:1", SharedSecret::new("s").unwrap());
    let running = env
        .start(Services {
            fulfilment: Some(FulfilmentService::with_provider(saga, Some(provider)).unwrap()),
            ..env.api_services(query, verifier.clone())
        })
        .await;
    let base = format!("http://{}", running.query_api_addr().unwrap());
    let rest = format!("http://{}", running.command_api_addr().unwrap());
    let cookie = sign_in_with(&base, &token("ops-cy", &[Role::Operator])).await;

    // An order the saga takes up (no stock: it rejects it).
    let client = reqwest::Client::new();
    let buyer = token("c-5", &[Role::Customer]);
    let created: Value = client
        .post(format!("{rest}/orders"))
        .bearer_auth(&buyer)
        .json(&json!({
            "customer_id": "c-5", "currency": "EUR",
            "items": [{ "sku": "SKU-5", "name": "Lamp", "quantity": 1,
                        "unit_price": { "amount_minor": 900, "currency": "EUR" } }],
            "shipping_address": { "name": "Cy", "line1": "1 Road", "city": "Lyon",
                                  "postal_code": "69001", "country": "FR" }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let submitted = client
        .post(format!("{rest}/orders/{id}/submit"))
        .bearer_auth(&buyer)
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 200);

    // The saga's subscriber beside the projections, and its breaker.
    wait_state(&base, &cookie, "fulfilment", "running").await;
    let p = wait_state(&base, &cookie, "orders", "running").await;
    assert!(state_of(&p.html, "fulfilment").is_some());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let p = get(&base, Some(&cookie), "/console").await;
        let breaker = p
            .html
            .find("<dt>Payment provider circuit breaker</dt>")
            .map(|at| p.html[at..at + 250].to_owned());
        if breaker
            .as_deref()
            .is_some_and(|b| b.contains("state ok\">closed</span>") && b.contains("reported"))
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{breaker:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The order's events beside the instance's steps.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let p = get(&base, Some(&cookie), &format!("/console/orders/{id}")).await;
        assert_eq!(p.status, 200, "{}", p.html);
        if p.html.contains("FulfilmentStarted") {
            assert!(p.html.contains("OrderSubmitted"), "{}", p.html);
            assert!(!p.html.contains("no fulfilment instance"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", p.html);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Acts go to the saga's own database: nothing to retry there; and it is
    // no projection to rebuild.
    let p = get(
        &base,
        Some(&cookie),
        "/console/dead-letters?subscriber=fulfilment",
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.html);
    assert!(p.html.contains("0 dead letters open"), "{}", p.html);
    let confirm = get(
        &base,
        Some(&cookie),
        "/console/subscribers/fulfilment/retry",
    )
    .await;
    assert_eq!(confirm.status, 200);
    let p = post(
        &base,
        Some(&cookie),
        "/console/subscribers/fulfilment/retry",
        &[("csrf", &super::csrf(&confirm.html))],
    )
    .await;
    assert_eq!(p.status, 409, "{}", p.html);
    assert!(
        p.html.contains("fulfilment has no dead letter"),
        "{}",
        p.html
    );
    let p = get(
        &base,
        Some(&cookie),
        "/console/subscribers/fulfilment/rebuild",
    )
    .await;
    assert_eq!(p.status, 404);
    assert!(p.html.contains("Only projections"), "{}", p.html);

    let _ = tokio::time::timeout(Duration::from_secs(10), running.shutdown()).await;
    env.cleanup().await;
}
