//! A real browser for tests: headless Chromium (Debian's `chromium`),
//! driven over WebDriver by [`fantoccini`] through a private `chromedriver`
//! (Debian's `chromium-driver`) on a free port, one per test.
//!
//! The browser has no internet: every host name but the loopback ones
//! fails to resolve, so a page passes only if it works offline, on any
//! machine.
//!
//! Skip rule: without `chromedriver` (or Chromium) a test prints
//! `skipped: …` and passes, so `cargo test` works on a machine without a
//! browser; with `CI` set it fails instead, so CI cannot skip silently
//! (`.ci/run` installs both packages).
//!
//! ```no_run
//! # async fn example(base: &str) {
//! use orderflow_testkit::browser::{Browser, bounded};
//! let Some(browser) = Browser::start("graphiql_renders").await else { return };
//! bounded("graphiql_renders", async {
//!     browser.goto(&format!("{base}/graphql")).await.unwrap();
//!     browser.wait_for(".graphiql-container").await;
//!     browser.screenshot("graphiql").await;
//! })
//! .await;
//! browser.close().await;
//! # }
//! ```

use std::future::Future;
use std::io::Write;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use fantoccini;
use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::free_port;

/// The most a browser test's interaction may take (page loads, clicks,
/// waits); see [`bounded`].
pub const TEST_LIMIT: Duration = Duration::from_secs(30);
/// The most one page load may take.
pub const PAGE_LOAD_LIMIT: Duration = Duration::from_secs(20);
/// How long [`Browser::wait_for`] waits for an element.
pub const ELEMENT_WAIT: Duration = Duration::from_secs(15);

/// A headless Chromium session and the private chromedriver behind it,
/// both ended on [`Browser::close`] or drop. Derefs to the
/// [`fantoccini::Client`] for everything else.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    driver: Driver,
}

impl Deref for Browser {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Browser {
    /// A new session, or `None` after printing `skipped: <test>: …` when
    /// this machine has no chromedriver or Chromium and `CI` is not set.
    /// Panics under `CI` without them, or when they are there but do not
    /// start.
    pub async fn start(test: &str) -> Option<Browser> {
        let (driver_bin, chromium_bin) = match (chromedriver(), chromium()) {
            (Some(driver), Some(chromium)) => (driver, chromium),
            (driver, _) => {
                let missing = if driver.is_none() {
                    "chromedriver (Debian: chromium-driver)"
                } else {
                    "chromium"
                };
                assert!(
                    !in_ci(),
                    "{test}: {missing} not found, and CI is set: browser tests must run \
                     in CI (.ci/run installs Debian's chromium and chromium-driver; \
                     CHROMEDRIVER and CHROME_BIN name other binaries)"
                );
                // Straight to stderr: print! in a test is captured and only
                // shown on failure, and a skip must be seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: {test}: {missing} not found (apt-get install chromium chromium-driver)"
                );
                return None;
            }
        };
        let driver = Driver::start(&driver_bin);
        let client = driver.wait_ready().await;
        let client = connect(client, &chromium_bin).await;
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(10)),
                Some(PAGE_LOAD_LIMIT),
                Some(Duration::ZERO),
            ))
            .await
            .unwrap_or_else(|e| panic!("setting WebDriver timeouts: {e}"));
        Some(Browser { client, driver })
    }

    /// The first element matching `css`, waiting up to [`ELEMENT_WAIT`]
    /// for it to appear (a screenshot is saved when it never does).
    pub async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(ELEMENT_WAIT)
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let shot = self.screenshot("failed-wait").await;
                panic!(
                    "`{css}` did not appear within {ELEMENT_WAIT:?} ({e}); screenshot: {}",
                    shot.display()
                )
            }
        }
    }

    /// Runs `script` (a function body; `arguments` as in WebDriver) and
    /// returns its value.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Every URL the current page fetched (`performance` resource
    /// entries: scripts, styles, fonts, fetches, and the page itself).
    pub async fn loaded_urls(&self) -> Vec<String> {
        let urls = self
            .eval(
                "return [location.href].concat(performance.getEntriesByType('resource')\
                 .map(function (e) { return e.name; }));",
                vec![],
            )
            .await;
        serde_json::from_value(urls).unwrap_or_else(|e| panic!("resource list: {e}"))
    }

    /// The URLs of [`Browser::loaded_urls`] from another origin than the
    /// page's (`blob:` URLs the page made count as its own).
    pub async fn foreign_urls(&self) -> Vec<String> {
        let urls = self
            .eval(
                "return performance.getEntriesByType('resource')\
                 .map(function (e) { return e.name; })\
                 .filter(function (u) { return new URL(u).origin !== location.origin; });",
                vec![],
            )
            .await;
        serde_json::from_value(urls).unwrap_or_else(|e| panic!("resource list: {e}"))
    }

    /// Saves a PNG of the window as `target/screenshots/<name>.png` and
    /// returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// Ends the session (Chromium exits) and chromedriver.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.close()).await;
        drop(self.driver);
    }
}

/// Runs `test` for at most [`TEST_LIMIT`]; a test still running then
/// fails, naming `what`.
pub async fn bounded<T>(what: &str, test: impl Future<Output = T>) -> T {
    match tokio::time::timeout(TEST_LIMIT, test).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: the browser test took longer than {TEST_LIMIT:?}"),
    }
}

/// Where [`Browser::screenshot`] writes: `screenshots/` in the target
/// directory of the running test binary (`target/debug/deps/<test>`).
pub fn screenshots_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    exe.ancestors()
        .nth(3)
        .map(|target| target.join("screenshots"))
        .unwrap_or_else(|| PathBuf::from("target/screenshots"))
}

/// `CI` set to anything but empty, `0` or `false`.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// `$CHROMEDRIVER`, or `chromedriver` on the `PATH`.
fn chromedriver() -> Option<PathBuf> {
    from_env_or_path("CHROMEDRIVER", &["chromedriver"])
}

/// `$CHROME_BIN`, or Chromium on the `PATH`.
fn chromium() -> Option<PathBuf> {
    from_env_or_path("CHROME_BIN", &["chromium", "chromium-browser"])
}

fn from_env_or_path(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "{var}={} is not a file", path.display());
        return Some(path);
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// chromedriver in a process group of its own, so the Chromium it starts
/// goes with it even when a failing test never closes the session.
#[derive(Debug)]
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(bin: &Path) -> Driver {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        Driver { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits (at most 10 s) until chromedriver accepts connections.
    async fn wait_ready(&self) -> String {
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return self.url();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver does not listen on {} after 10 s", self.url());
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group is chromedriver's own (`process_group(0)`): its id is
        // chromedriver's pid, and it holds only what chromedriver started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless session on `chromium` through chromedriver at `url`.
async fn connect(url: String, chromium: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                // Root (CI) has no user namespace sandbox to drop into.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // No internet: only the loopback names resolve.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
            ],
        }),
    );
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    let mut builder = ClientBuilder::new(connector);
    builder.capabilities(caps);
    match tokio::time::timeout(Duration::from_secs(20), builder.connect(&url)).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => panic!("starting headless {}: {e}", chromium.display()),
        Err(_) => panic!("headless {} did not start in 20 s", chromium.display()),
    }
}
