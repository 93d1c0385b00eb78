//! Who gets in: no cookie → sign-in; a bad token, a non-operator, a
//! missing or foreign CSRF token → refused, with nothing done.

use orderflow_auth::Role;

use super::{get, post, sign_in};
use crate::support::Stack;

#[tokio::test]
async fn the_console_lets_in_operators_only_and_refuses_forged_forms() {
    let stack = Stack::start().await;

    // No session: a navigation is sent to sign in; the live feed and acts
    // are 401.
    let p = get(&stack.query, None, "/console").await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location.as_deref(), Some("/console/sign-in"));
    let p = get(&stack.query, None, "/console/dead-letters").await;
    assert_eq!(p.location.as_deref(), Some("/console/sign-in"));
    let p = get(&stack.query, None, "/console/live").await;
    assert_eq!(p.status, 401);
    let p = post(
        &stack.query,
        None,
        "/console/subscribers/orders/skip",
        &[("csrf", "x")],
    )
    .await;
    assert_eq!(p.status, 401);
    assert!(p.html.contains("Sign in"), "{}", p.html);

    // The sign-in page, with the policy every console page carries.
    let p = get(&stack.query, None, "/console/sign-in").await;
    assert_eq!(p.status, 200);
    assert!(p.html.contains("name=\"token\""));
    let csp = p.csp.unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    // Not development mode: no banner.
    assert!(!p.html.contains("DEVELOPMENT AUTH MODE"));

    // A token that does not verify, an empty form.
    let p = post(
        &stack.query,
        None,
        "/console/sign-in",
        &[("token", "not.a.jwt")],
    )
    .await;
    assert_eq!(p.status, 401, "{}", p.html);
    assert!(p.html.contains("refused"), "{}", p.html);
    assert!(p.set_cookie.is_none());
    let p = post(&stack.query, None, "/console/sign-in", &[("token", "")]).await;
    assert_eq!(p.status, 400);

    // Staff are not operators: 403, no cookie; the subject is escaped.
    let staff = stack.token("<b>staff</b>", &[Role::Staff, Role::Finance]);
    let p = post(&stack.query, None, "/console/sign-in", &[("token", &staff)]).await;
    assert_eq!(p.status, 403, "{}", p.html);
    assert!(p.set_cookie.is_none());
    assert!(
        p.html.contains("&#60;b&#62;staff&#60;/b&#62;"),
        "{}",
        p.html
    );
    assert!(!p.html.contains("<b>staff</b>"));
    // …nor with the token set as the cookie by hand.
    let p = get(&stack.query, Some(&staff), "/console").await;
    assert_eq!(p.status, 403);
    let p = get(&stack.query, Some(&staff), "/console/live").await;
    assert_eq!(p.status, 403);
    // A cookie that no longer verifies ends the session and clears it.
    let p = get(&stack.query, Some("e30.e30.AAAA"), "/console").await;
    assert_eq!(p.status, 401);
    assert!(p.set_cookie.unwrap().contains("Max-Age=0"));

    // An operator: an HttpOnly, SameSite=Strict, Secure cookie that ends
    // with the token (an hour).
    let token = stack.token("ops-1", &[Role::Operator]);
    let p = post(&stack.query, None, "/console/sign-in", &[("token", &token)]).await;
    assert_eq!(p.status, 303, "{}", p.html);
    assert_eq!(p.location.as_deref(), Some("/console"));
    let cookie = p.set_cookie.unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/console"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let max_age: u64 = cookie
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&max_age), "{cookie}");
    let session = sign_in(&stack, "ops-1").await;
    let p = get(&stack.query, Some(&session), "/console").await;
    assert_eq!(p.status, 200, "{}", p.html);
    assert!(p.html.contains("ops-1"));
    assert!(p.html.contains("id=\"sub-orders\""), "{}", p.html);

    // Acts without the session's CSRF token (another site's form) or
    // with another session's are refused and change nothing.
    let other = super::csrf(
        &get(
            &stack.query,
            Some(&sign_in(&stack, "ops-2").await),
            "/console",
        )
        .await
        .html,
    );
    for form in [
        vec![],
        vec![("csrf", "forged")],
        vec![("csrf", other.as_str())],
    ] {
        let p = post(
            &stack.query,
            Some(&session),
            "/console/subscribers/orders/rebuild",
            &form,
        )
        .await;
        assert_eq!(p.status, 403, "{}", p.html);
        assert!(p.html.contains("CSRF"), "{}", p.html);
    }
    let acts: i64 = sqlx::query_scalar("SELECT count(*) FROM operator_actions")
        .fetch_one(&stack.read)
        .await
        .unwrap();
    assert_eq!(acts, 0);
    let rebuilds: i64 = sqlx::query_scalar("SELECT count(*) FROM projection_rebuilds")
        .fetch_one(&stack.read)
        .await
        .unwrap();
    assert_eq!(rebuilds, 0);

    // Sign-out clears the cookie (with the CSRF token).
    let csrf = super::csrf(&get(&stack.query, Some(&session), "/console").await.html);
    let p = post(
        &stack.query,
        Some(&session),
        "/console/sign-out",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(p.status, 303);
    assert!(p.set_cookie.unwrap().contains("Max-Age=0"));

    // Unknown pages are the console's 404.
    let p = get(&stack.query, Some(&session), "/console/nowhere").await;
    assert_eq!(p.status, 404);
    stack.finish().await;
}
