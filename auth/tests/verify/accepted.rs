//! Valid tokens of every allowed algorithm, and how claims become a
//! principal.

use orderflow_auth::{ClaimPath, Principal, Role};
use serde_json::json;

use crate::support::{Setup, claims, token};

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_are_accepted() {
    let s = Setup::new().await;
    for key in [&s.rsa, &s.ec, &s.ed] {
        let principal = s
            .verifier
            .verify(&token(key, &claims("customer-42", &["customer"])))
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}", key.algorithm()));
        assert_eq!(
            principal,
            Principal {
                subject: "customer-42".into(),
                roles: vec![Role::Customer],
                customer_id: Some("customer-42".into()),
                client_id: None,
            }
        );
    }
}

#[tokio::test]
async fn roles_come_from_a_nested_claim_and_unknown_ones_are_ignored() {
    let s = Setup::with(|c| {
        c.roles_claim = ClaimPath::parse("realm_access.roles").unwrap();
        c.customer_id_claim = ClaimPath::parse("orderflow.customer_id").unwrap();
    })
    .await;
    let mut c = claims("f3a1-user", &[]);
    c["realm_access"] = json!({ "roles": ["offline_access", "finance", "staff", "finance", 7] });
    c["orderflow"] = json!({ "customer_id": "customer-7" });
    // The flat claim is not the configured one: it must not grant anything.
    c["roles"] = json!(["operator"]);
    let p = s.verifier.verify(&token(&s.rsa, &c)).await.unwrap();
    assert_eq!(p.roles, vec![Role::Staff, Role::Finance]);
    assert_eq!(p.customer_id.as_deref(), Some("customer-7"));
    assert_eq!(p.subject, "f3a1-user");
}

#[tokio::test]
async fn space_separated_roles_and_service_clients_are_read() {
    let s = Setup::new().await;
    let mut c = claims("service-account-billing", &[]);
    c["roles"] = json!("finance operator admin");
    c["azp"] = json!("billing");
    let p = s.verifier.verify(&token(&s.ec, &c)).await.unwrap();
    assert_eq!(p.roles, vec![Role::Finance, Role::Operator]);
    assert_eq!(p.client_id.as_deref(), Some("billing"));
    assert!(p.has_role(Role::Finance) && !p.has_role(Role::Customer));

    let mut c = claims("svc", &["staff"]);
    c["client_id"] = json!("warehouse");
    let p = s.verifier.verify(&token(&s.ed, &c)).await.unwrap();
    assert_eq!(p.client_id.as_deref(), Some("warehouse"));
}

#[tokio::test]
async fn a_token_without_roles_is_valid_and_grants_none() {
    let s = Setup::new().await;
    let mut c = claims("customer-1", &[]);
    c.as_object_mut().unwrap().remove("roles");
    let p = s.verifier.verify(&token(&s.ed, &c)).await.unwrap();
    assert!(p.roles.is_empty());
    assert!(!p.has_any_role(&Role::ALL));
}
