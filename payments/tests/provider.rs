//! The refund client against a real HTTP provider (the testkit's fake):
//! signing, retries, timeouts, the breaker's states and exactly-once
//! refunds. Durations are milliseconds; assertions are on states and
//! counts, never on tight wall-clock bounds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orderflow_payments::{
    BreakerConfig, BreakerState, Client, ProviderConfig, ProviderError, RefundRequest, RetryConfig,
    SIGNATURE_HEADER, SharedSecret, verify,
};
use orderflow_testkit::{FakePaymentProvider, ProviderBehaviour};

const SECRET: &str = "provider-secret";
const COOL_DOWN: Duration = Duration::from_millis(300);

fn secret() -> SharedSecret {
    SharedSecret::new(SECRET).unwrap()
}

/// A provider that refuses (401) any request not signed with [`SECRET`].
async fn provider() -> FakePaymentProvider {
    FakePaymentProvider::start_with_check(Arc::new(|headers, body| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
        verify(&secret(), header, body, now, Duration::from_secs(300)).is_ok()
    }))
    .await
}

fn config(url: String, max_retries: u32, failure_threshold: u32) -> ProviderConfig {
    ProviderConfig {
        call_timeout: Duration::from_millis(250),
        retry: RetryConfig {
            max_retries,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        breaker: BreakerConfig {
            failure_threshold,
            cool_down: COOL_DOWN,
        },
        ..ProviderConfig::new(url, secret())
    }
}

fn refund(id: &str) -> RefundRequest {
    RefundRequest {
        refund_id: id.to_owned(),
        order_id: "0193a0b4-0000-7000-8000-000000000001".to_owned(),
        payment_reference: "pay_123".to_owned(),
        amount_minor: 2599,
        currency: "EUR".to_owned(),
    }
}

/// Calls `refund` until the breaker lets a call through (bounded).
async fn refund_after_cool_down(
    client: &Client,
    request: &RefundRequest,
) -> Result<orderflow_payments::RefundReceipt, ProviderError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.refund(request).await {
            Err(ProviderError::CircuitOpen { retry_after }) if Instant::now() < deadline => {
                assert!(retry_after <= COOL_DOWN, "{retry_after:?}");
                tokio::time::sleep(retry_after.max(Duration::from_millis(5))).await;
            }
            other => return other,
        }
    }
}

#[tokio::test]
async fn a_signed_refund_is_accepted_once() {
    let provider = provider().await;
    let client = Client::new(config(provider.url(), 0, 3)).unwrap();
    let receipt = client.refund(&refund("rf-1")).await.unwrap();
    assert_eq!(receipt.refund_id, "rf-1");
    assert_eq!(receipt.attempts, 1);
    assert_eq!(receipt.provider_reference.as_deref(), Some("re_1"));
    assert_eq!(provider.refunds(), ["rf-1"]);

    // The same refund again (a restart, a redelivered event): the provider
    // sees the same idempotency key and pays nothing more.
    let again = client.refund(&refund("rf-1")).await.unwrap();
    assert_eq!(again.provider_reference.as_deref(), Some("re_1"));
    assert_eq!(provider.requests(), 2);
    assert_eq!(provider.refunds(), ["rf-1"]);
}

#[tokio::test]
async fn a_request_signed_with_another_secret_is_refused_without_retries() {
    let provider = provider().await;
    let wrong = ProviderConfig {
        secret: SharedSecret::new("not-the-secret").unwrap(),
        ..config(provider.url(), 3, 1)
    };
    let client = Client::new(wrong).unwrap();
    let err = client.refund(&refund("rf-1")).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(provider.requests(), 1, "a refusal is not retried");
    assert_eq!(
        client.breaker_state(),
        BreakerState::Closed,
        "an answering provider is healthy, even when it says no"
    );
    assert!(provider.refunds().is_empty());
}

#[tokio::test]
async fn a_failure_is_retried_and_the_refund_goes_through() {
    let provider = provider().await;
    provider.fail_next(2);
    let client = Client::new(config(provider.url(), 3, 5)).unwrap();
    let receipt = client.refund(&refund("rf-2")).await.unwrap();
    assert_eq!(receipt.attempts, 3);
    assert_eq!(provider.requests(), 3);
    assert_eq!(provider.refunds(), ["rf-2"]);
    assert_eq!(client.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn retries_are_bounded() {
    let provider = provider().await;
    provider.set_behaviour(ProviderBehaviour::Fail);
    let client = Client::new(config(provider.url(), 2, 10)).unwrap();
    let err = client.refund(&refund("rf-3")).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Unavailable { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(provider.requests(), 3);
}

#[tokio::test]
async fn a_flapping_provider_is_ridden_out_by_the_retries() {
    let provider = provider().await;
    provider.set_behaviour(ProviderBehaviour::Flap);
    let client = Client::new(config(provider.url(), 3, 10)).unwrap();
    for id in ["rf-a", "rf-b", "rf-c"] {
        let receipt = client.refund(&refund(id)).await.unwrap();
        assert_eq!(receipt.attempts, 2, "{id}: fail, then answer");
    }
    assert_eq!(provider.refunds(), ["rf-a", "rf-b", "rf-c"]);
}

#[tokio::test]
async fn a_hanging_provider_times_out_and_the_retry_pays_once() {
    let provider = provider().await;
    provider.set_behaviour(ProviderBehaviour::Hang(Duration::from_secs(2)));
    let client = Client::new(config(provider.url(), 0, 5)).unwrap();
    let started = Instant::now();
    let err = client.refund(&refund("rf-4")).await.unwrap_err();
    assert_eq!(err, ProviderError::Timeout { attempts: 1 });
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the client gave up before the provider answered"
    );
    // The provider did the refund late; the caller's retry under the same
    // refund id must not do a second one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    provider.set_behaviour(ProviderBehaviour::Answer);
    client.refund(&refund("rf-4")).await.unwrap();
    assert_eq!(provider.refunds(), ["rf-4"]);
}

#[tokio::test]
async fn consecutive_failures_open_the_breaker_and_a_probe_closes_it() {
    let provider = provider().await;
    provider.set_behaviour(ProviderBehaviour::Fail);
    let client = Client::new(config(provider.url(), 0, 3)).unwrap();
    for _ in 0..3 {
        let err = client.refund(&refund("rf-5")).await.unwrap_err();
        assert!(matches!(err, ProviderError::Unavailable { .. }), "{err:?}");
    }
    assert_eq!(client.breaker_state(), BreakerState::Open);

    // Open: refused at once, nothing reaches the provider.
    for _ in 0..5 {
        let err = client.refund(&refund("rf-5")).await.unwrap_err();
        match err {
            ProviderError::CircuitOpen { retry_after } => assert!(retry_after <= COOL_DOWN),
            other => panic!("expected CircuitOpen, got {other:?}"),
        }
    }
    assert_eq!(provider.requests(), 3);
    assert!(provider.refunds().is_empty());

    // Still failing after the cool-down: the probe fails, the breaker opens
    // again, and only the probe reached the provider.
    let err = refund_after_cool_down(&client, &refund("rf-5"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable { .. }), "{err:?}");
    assert_eq!(client.breaker_state(), BreakerState::Open);
    assert_eq!(provider.requests(), 4);

    // Recovered: the next probe succeeds and closes the breaker.
    provider.set_behaviour(ProviderBehaviour::Answer);
    let receipt = refund_after_cool_down(&client, &refund("rf-5"))
        .await
        .unwrap();
    assert_eq!(receipt.attempts, 1);
    assert_eq!(client.breaker_state(), BreakerState::Closed);
    assert_eq!(provider.refunds(), ["rf-5"]);
}

#[tokio::test]
async fn an_opening_breaker_cuts_the_retries_short() {
    let provider = provider().await;
    provider.set_behaviour(ProviderBehaviour::Fail);
    let client = Client::new(config(provider.url(), 10, 2)).unwrap();
    let err = client.refund(&refund("rf-6")).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::CircuitOpen { .. }),
        "the third attempt meets the open breaker: {err:?}"
    );
    assert_eq!(provider.requests(), 2);
}

#[tokio::test]
async fn half_open_lets_exactly_one_probe_through() {
    let provider = provider().await;
    provider.set_behaviour(ProviderBehaviour::Fail);
    let client = Client::new(ProviderConfig {
        call_timeout: Duration::from_secs(5),
        ..config(provider.url(), 0, 1)
    })
    .unwrap();
    client.refund(&refund("rf-7")).await.unwrap_err();
    assert_eq!(client.breaker_state(), BreakerState::Open);
    // The probe takes a while to answer (long enough for every other call
    // to arrive meanwhile, even on a loaded machine); they are refused.
    provider.set_behaviour(ProviderBehaviour::Hang(Duration::from_millis(1500)));
    tokio::time::sleep(COOL_DOWN + Duration::from_millis(50)).await;
    let calls: Vec<_> = (0..5)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.refund(&refund(&format!("rf-p{i}"))).await })
        })
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => ok += 1,
            Err(ProviderError::CircuitOpen { .. }) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((ok, refused), (1, 4));
    assert_eq!(provider.requests(), 2, "the first failure and the probe");
    assert_eq!(client.breaker_state(), BreakerState::Closed);
}
