//! The pages the APIs serve for people, in headless Chromium without
//! internet (see `orderflow_testkit::browser`): GraphiQL runs a query with
//! the token of its Headers pane, and the command API's reference renders
//! its operations, each loading nothing from another origin. Screenshots
//! land in `target/screenshots/`. Without chromedriver the tests print
//! `skipped: …` and pass, unless `CI` is set.

mod docs;
mod graphiql;
