//! `GET /api/v1/event/token/{uuid}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::{json, AppState};
use crate::dtrack::json::IsTokenBeingProcessedResponse;

/// `processing` is false for finished and for unknown tokens alike.
pub(super) async fn token(State(app): State<Arc<AppState>>, Path(token): Path<Uuid>) -> Response {
    let processing = app.state().is_processing(token);
    json(
        StatusCode::OK,
        &IsTokenBeingProcessedResponse { processing },
    )
}
