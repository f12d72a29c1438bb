//! `GET /api/version`: no API key needed.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{json, AppState};

pub(super) async fn get(State(app): State<Arc<AppState>>) -> Response {
    json(StatusCode::OK, &app.about)
}
