//! The marketplace and explorer web page, served by the market itself on the API's port.
//! Its three files are compiled into the binary (no separate server, no Node build).
//!
//! Everything the page shows comes from orders and the chain, which attackers write:
//! the script builds the page with `textContent` and DOM nodes only (never markup from
//! data), and every answer carries a Content-Security-Policy that allows only these files:
//! no inline script or style, no other origin, no framing, no plugins. A name such as
//! `<img src=x onerror=…>` is shown as those characters, and would not run if it slipped
//! through.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::MarketState;

const INDEX_HTML: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const APP_CSS: &str = include_str!("../web/app.css");

/// Only this origin's own files and API; nothing inline, nothing framed.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub(crate) fn routes() -> Router<Arc<MarketState>> {
    Router::new()
        .route("/", get(|| async { file("text/html; charset=utf-8", INDEX_HTML) }))
        .route(
            "/ui/app.js",
            get(|| async { file("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { file("text/css; charset=utf-8", APP_CSS) }),
        )
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
