//! GraphiQL at `GET /graphql`, served whole from this binary: React and
//! GraphiQL vendored under `query-api/assets/graphiql/` (versions and
//! licences in its README), at paths naming their versions, so a browser
//! keeps them for a year and the page works with no internet. The page
//! itself and its start-up script are ours (`query-api/assets/`).

use axum::Router;
use axum::response::Response;
use orderflow_observability::{Caching, StaticFile, page_response, static_routes};

const PAGE: &str = include_str!("../assets/graphiql.html");

const fn vendored(
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
) -> StaticFile {
    StaticFile {
        path,
        content_type,
        body,
        caching: Caching::Immutable,
    }
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file the page loads. A new vendored version gets a new path (and
/// the page names it), so the year-long caching never serves a stale file.
pub const FILES: &[StaticFile] = &[
    vendored(
        "/graphql/assets/react-18.3.1/react.production.min.js",
        JS,
        include_bytes!("../assets/graphiql/react.production.min.js"),
    ),
    vendored(
        "/graphql/assets/react-dom-18.3.1/react-dom.production.min.js",
        JS,
        include_bytes!("../assets/graphiql/react-dom.production.min.js"),
    ),
    vendored(
        "/graphql/assets/graphiql-4.1.2/graphiql.min.js",
        JS,
        include_bytes!("../assets/graphiql/graphiql.min.js"),
    ),
    vendored(
        "/graphql/assets/graphiql-4.1.2/graphiql.min.css",
        CSS,
        include_bytes!("../assets/graphiql/graphiql.min.css"),
    ),
    StaticFile {
        path: "/graphql/assets/orderflow/graphiql.js",
        content_type: JS,
        body: include_bytes!("../assets/graphiql.js"),
        caching: Caching::Revalidate,
    },
    StaticFile {
        path: "/graphql/assets/orderflow/graphiql.css",
        content_type: CSS,
        body: include_bytes!("../assets/graphiql.css"),
        caching: Caching::Revalidate,
    },
];

/// The page (public: the operations it sends carry the token of its
/// Headers pane).
pub(crate) fn page() -> Response {
    page_response(PAGE)
}

/// The page's files (public, like the page).
pub(crate) fn asset_routes() -> Router {
    static_routes(FILES)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths the page loads (its `src` and `href` attributes naming
    /// `graphql/assets/…`, relative to `/graphql`).
    fn loaded_by_page() -> Vec<String> {
        PAGE.split(['"', '\''])
            .filter(|s| s.starts_with("graphql/assets/"))
            .map(|s| format!("/{s}"))
            .collect()
    }

    #[test]
    fn the_page_loads_exactly_the_files_served() {
        let mut loaded = loaded_by_page();
        let mut served: Vec<String> = FILES.iter().map(|f| f.path.to_owned()).collect();
        loaded.sort();
        served.sort();
        assert_eq!(loaded, served);
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://"));
    }

    #[test]
    fn vendored_paths_name_a_version() {
        for file in FILES {
            let versioned = file.path.split('/').any(|part| {
                part.rsplit_once('-')
                    .is_some_and(|(_, v)| v.split('.').count() == 3)
            });
            assert_eq!(
                versioned,
                file.caching == Caching::Immutable,
                "{}: only a path naming its version may be cached for a year",
                file.path
            );
            assert!(!file.body.is_empty(), "{}", file.path);
        }
    }
}
