//! `/api/v1/tag…`: create tags, tag and untag projects, tag policies.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::{parse_body, AppState};
use crate::dtrack::error::ApiError;

/// Bounds of the name and UUID lists these operations take.
const MIN_ITEMS: usize = 1;
const MAX_ITEMS: usize = 100;

/// `PUT /api/v1/tag` with `["name", …]`; existing names are fine.
pub(super) async fn create(
    State(app): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let names: Vec<String> = parse_body(&body)?;
    check_len(names.len())?;
    app.state().create_tags(&names);
    Ok(StatusCode::CREATED.into_response())
}

pub(super) async fn tag_projects(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let uuids = uuid_list(&body)?;
    app.state().tag_projects(&name, &uuids)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn untag_projects(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let uuids = uuid_list(&body)?;
    app.state().untag_projects(&name, &uuids)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn tag_policies(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let uuids = uuid_list(&body)?;
    app.state().tag_policies(&name, &uuids)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `["<uuid>", …]`, 1–100 items.
fn uuid_list(body: &[u8]) -> Result<Vec<Uuid>, ApiError> {
    let items: Vec<String> = parse_body(body)?;
    check_len(items.len())?;
    items
        .iter()
        .map(|item| {
            Uuid::parse_str(item)
                .map_err(|_| ApiError::bad_request(format!("Invalid UUID: {item}")))
        })
        .collect()
}

fn check_len(len: usize) -> Result<(), ApiError> {
    if (MIN_ITEMS..=MAX_ITEMS).contains(&len) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "size must be between {MIN_ITEMS} and {MAX_ITEMS}"
        )))
    }
}
