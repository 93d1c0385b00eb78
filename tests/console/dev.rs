//! Development auth mode is loud on every page and its cookie is not
//! `Secure` (plain HTTP on localhost); a query API with nothing but an
//! empty read database still answers every console page, naming what it
//! could not read.

use std::sync::Arc;
use std::time::Duration;

use orderflow_auth::{AuthConfig, Role, SigningKey, TokenClaims, Verifier, mint};
use orderflow_query_api::QueryApiConfig;
use orderflow_testkit::TestDb;
use tokio::sync::oneshot;

use super::{get, post, sign_in_with};

#[tokio::test]
async fn development_mode_is_loud_and_a_bare_query_api_still_answers() {
    let read_db = TestDb::new().await;
    let key = SigningKey::generate_ed25519().unwrap();
    let verifier = Arc::new(Verifier::new(AuthConfig::development(&key)).await.unwrap());
    assert!(verifier.is_development());
    let config = QueryApiConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        read_database_url: read_db.url().to_owned(),
        ..QueryApiConfig::default()
    };
    let listener = orderflow_query_api::bind(&config).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(orderflow_query_api::serve_on(
        listener,
        config,
        None,
        verifier,
        async move {
            let _ = stopped.await;
        },
    ));

    let p = get(&base, None, "/console/sign-in").await;
    assert_eq!(p.status, 200);
    assert!(p.html.contains("DEVELOPMENT AUTH MODE"), "{}", p.html);
    assert!(p.html.contains("orderflow token --role operator"));
    let token = mint(
        &key,
        &TokenClaims::development("dev-ops", &[Role::Operator], Duration::from_secs(600)),
    )
    .unwrap();
    let signed = post(&base, None, "/console/sign-in", &[("token", &token)]).await;
    let cookie = signed.set_cookie.unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    let session = sign_in_with(&base, &token).await;

    // No event store, no fulfilment database, read models never built:
    // the page says so instead of failing.
    let p = get(&base, Some(&session), "/console").await;
    assert_eq!(p.status, 200, "{}", p.html);
    assert!(p.html.contains("DEVELOPMENT AUTH MODE"));
    for needle in [
        "head, lag, watermark and relay need DATABASE_URL",
        "was not given FULFILMENT_DATABASE_URL",
        "audit log:",
    ] {
        assert!(p.html.contains(needle), "{needle}: {}", p.html);
    }
    // Without the store there is nothing to rebuild from.
    assert!(!p.html.contains("/rebuild\""), "{}", p.html);
    let p = get(
        &base,
        Some(&session),
        "/console/orders/01890a5d-ac96-774b-bcce-b302099a8057",
    )
    .await;
    assert_eq!(p.status, 503);
    assert!(p.html.contains("DATABASE_URL"));
    let p = get(&base, Some(&session), "/console/dead-letters").await;
    assert_eq!(p.status, 503, "{}", p.html);
    let _ = stop.send(());
}
