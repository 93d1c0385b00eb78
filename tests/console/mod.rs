//! See `e2e_console.rs`.

mod acts;
mod auth;
mod browser;
mod cli;
mod dev;
mod pages;
mod saga;
mod saga_faults;

use std::time::Duration;

use orderflow_auth::Role;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::support::Stack;

/// A client that shows redirects instead of following them.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A page as the browser got it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub csp: Option<String>,
    pub html: String,
}

async fn page(resp: reqwest::Response) -> Page {
    let header = |name| {
        resp.headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let location = header(LOCATION);
    let set_cookie = header(SET_COOKIE);
    let csp = header(reqwest::header::CONTENT_SECURITY_POLICY);
    Page {
        status: resp.status().as_u16(),
        location,
        set_cookie,
        csp,
        html: resp.text().await.unwrap(),
    }
}

/// `GET path` with the session cookie `cookie` (if any).
pub async fn get(base: &str, cookie: Option<&str>, path: &str) -> Page {
    let mut req = browser().get(format!("{base}{path}"));
    if let Some(c) = cookie {
        req = req.header(COOKIE, format!("orderflow_console={c}"));
    }
    page(req.send().await.unwrap()).await
}

/// `POST path` with a form.
pub async fn post(base: &str, cookie: Option<&str>, path: &str, form: &[(&str, &str)]) -> Page {
    let mut req = browser().post(format!("{base}{path}")).form(form);
    if let Some(c) = cookie {
        req = req.header(COOKIE, format!("orderflow_console={c}"));
    }
    page(req.send().await.unwrap()).await
}

/// Signs in as operator `subject` through the form; the cookie's value.
pub async fn sign_in(stack: &Stack, subject: &str) -> String {
    sign_in_with(&stack.query, &stack.token(subject, &[Role::Operator])).await
}

/// Signs in with `token` through the form; the cookie's value.
pub async fn sign_in_with(base: &str, token: &str) -> String {
    let p = post(base, None, "/console/sign-in", &[("token", token)]).await;
    assert_eq!(p.status, 303, "{}", p.html);
    let cookie = p.set_cookie.unwrap();
    let value = cookie
        .strip_prefix("orderflow_console=")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(value, token);
    value
}

/// The CSRF token in a page's forms.
pub fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The state the overview shows for `subscriber`.
pub fn state_of(html: &str, subscriber: &str) -> Option<String> {
    let marker = format!("id=\"sub-{subscriber}\" data-state=\"");
    let at = html.find(&marker)? + marker.len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// Polls the overview until `subscriber` shows `state`.
pub async fn wait_state(base: &str, cookie: &str, subscriber: &str, state: &str) -> Page {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let p = get(base, Some(cookie), "/console").await;
        assert_eq!(p.status, 200, "{}", p.html);
        if state_of(&p.html, subscriber).as_deref() == Some(state) {
            return p;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{subscriber} never {state}: {:?}",
            state_of(&p.html, subscriber)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `orderflow args` to its end with `vars` set (and `ORDERFLOW_ACTOR`
/// unset, so `--actor` or its default decides): whether it succeeded, and
/// what it printed (stdout, then stderr).
pub async fn orderflow(args: &[&str], vars: &[(&str, String)]) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_orderflow"));
    command
        .args(args)
        .env_remove("ORDERFLOW_ACTOR")
        .env("LOG", "warn")
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .expect("orderflow ran over a minute")
    .unwrap()
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
