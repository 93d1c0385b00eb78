//! `GET /docs`: a reference of the command API rendered in the browser
//! from `/openapi.json` by Redoc, vendored under `command-api/assets/redoc/`
//! (version and licence in its README) and served from this binary at a
//! path naming its version, so the page works with no internet. Public,
//! like the document it renders.

use axum::Router;
use axum::routing::get;
use orderflow_observability::{Caching, StaticFile, page_response, static_routes};

/// Where the page is served.
pub const DOCS_PATH: &str = "/docs";

const PAGE: &str = include_str!("../assets/docs.html");

/// Every file the page loads.
pub const FILES: &[StaticFile] = &[
    StaticFile {
        path: "/docs/assets/redoc-2.5.4/redoc.standalone.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/redoc/redoc.standalone.js"),
        caching: Caching::Immutable,
    },
    StaticFile {
        path: "/docs/assets/orderflow/docs.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/docs.css"),
        caching: Caching::Revalidate,
    },
];

/// The page and its files; they need no token.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    static_routes(FILES).route(DOCS_PATH, get(|| async { page_response(PAGE) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_exactly_the_files_served_and_the_served_document() {
        let mut loaded: Vec<String> = PAGE
            .split('"')
            .filter(|s| s.starts_with("docs/assets/"))
            .map(|s| format!("/{s}"))
            .collect();
        let mut served: Vec<String> = FILES.iter().map(|f| f.path.to_owned()).collect();
        loaded.sort();
        served.sort();
        assert_eq!(loaded, served);
        assert!(PAGE.contains(r#"spec-url="openapi.json""#));
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://"));
    }
}
