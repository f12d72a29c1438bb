//! The web UI (`--ui-listen`): read-only HTML pages over the store — the fleet,
//! search, images with their SBOMs, exposures — rendered on the server from templates
//! compiled into the binary (`collector/templates/ui`). The Query API's tokens guard it:
//! a sign-in page takes one and keeps a credential derived from it in an HttpOnly,
//! Secure, SameSite=Strict cookie. Every answer carries a strict Content-Security-Policy
//! and everything that came from an image is escaped by the templates.

mod pages;
mod render;
mod serve;
mod session;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::api::SharedState;
use crate::auth::QueryTokens;

pub use serve::serve;

/// What the pages read from.
#[derive(Clone)]
pub struct UiState {
    /// The store, the KEV catalog and the exposure cache the Query API uses.
    pub api: SharedState,
    /// Who may look; none configured: everyone.
    pub tokens: QueryTokens,
    /// Dependency-Track, for links to an image's project.
    pub dtrack: Option<DtLinks>,
}

/// What links to Dependency-Track need: its API, to find a project's UUID, and where
/// browsers open it.
#[derive(Clone)]
pub struct DtLinks {
    /// The API client.
    pub client: crate::dtrack::DtClient,
    /// The frontend's base URL.
    pub frontend: reqwest::Url,
}

impl std::fmt::Debug for UiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiState")
            .field("open", &self.tokens.is_open())
            .finish_non_exhaustive()
    }
}

/// No script, no frame, no outside origin: styles and images from this server only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The UI's routes.
pub fn router(state: UiState) -> Router {
    let state = Arc::new(state);
    Router::new()
        .route("/", get(pages::fleet))
        .route("/search", get(pages::search))
        .route("/clusters/{cluster}", get(pages::cluster))
        .route(
            "/clusters/{cluster}/namespaces/{namespace}",
            get(pages::namespace),
        )
        .route("/images", get(pages::images))
        .route("/images/{digest}", get(pages::image))
        .route("/images/{digest}/sbom.json", get(pages::sbom))
        .route("/exposures", get(pages::exposures))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            session::require,
        ))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", axum::routing::post(session::sign_out))
        .route("/static/style.css", get(pages::style))
        .route("/static/icon.svg", get(pages::icon))
        .route("/favicon.ico", get(pages::icon))
        .fallback(pages::not_found)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Headers every answer carries.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
