//! Browser pages a service serves from its own binary (GraphiQL, the
//! OpenAPI reference): the page and the vendored scripts and styles it
//! loads, so it works with no internet. The page's Content-Security-Policy
//! lets it load nothing from another origin, so a reference that slipped
//! to a CDN fails loudly in the browser (and in the browser tests) instead
//! of quietly working only when online.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Same origin only. Inline styles are allowed (React and styled-components
/// set them), inline scripts are not; `blob:` workers are Redoc's search
/// index; `data:` images and fonts are inlined in the vendored CSS.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// How long a browser may keep a file without asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// A vendored file whose path names its version: a year, never
    /// revalidated (a new version is a new path).
    Immutable,
    /// One of ours, changed with the service: revalidated on every load.
    Revalidate,
}

impl Caching {
    fn header(self) -> &'static str {
        match self {
            Caching::Immutable => "public, max-age=31536000, immutable",
            Caching::Revalidate => "no-cache",
        }
    }
}

/// One file compiled into the binary, served at `path` (GET and HEAD).
#[derive(Debug, Clone, Copy)]
pub struct StaticFile {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    pub caching: Caching,
}

impl StaticFile {
    fn response(&self) -> Response {
        (
            [
                (header::CONTENT_TYPE, self.content_type),
                (header::CACHE_CONTROL, self.caching.header()),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            self.body,
        )
            .into_response()
    }
}

/// A route for each of `files`; they need no token (public documentation).
pub fn static_routes<S>(files: &'static [StaticFile]) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    files.iter().fold(Router::new(), |router, file| {
        router.route(file.path, get(move || async move { file.response() }))
    })
}

/// `html` as a page under [`PAGE_CSP`], revalidated on every load (it
/// names the versioned asset paths, so it must not outlive them).
pub fn page_response(html: &'static str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    response
}
