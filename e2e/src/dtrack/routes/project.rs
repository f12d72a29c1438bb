//! `/api/v1/project…`: lookup, get, lists, PATCH and POST.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{json, list_response, parse_body, AppState, ListQuery};
use crate::dtrack::error::ApiError;
use crate::dtrack::json::{self as wire, ProjectBody};
use crate::dtrack::state::ProjectFilter;

const NOT_FOUND: &str = "The project could not be found.";

#[derive(Debug, Deserialize)]
pub(super) struct LookupQuery {
    name: Option<String>,
    version: Option<String>,
}

pub(super) async fn lookup(
    State(app): State<Arc<AppState>>,
    Query(query): Query<LookupQuery>,
) -> Result<Response, ApiError> {
    let state = app.state();
    let name = query.name.as_deref().unwrap_or_default();
    let project = state
        .project_named(name, query.version.as_deref())
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(json(StatusCode::OK, &wire::project(project, &state)))
}

/// `PUT /api/v1/project` → 201 with the project.
pub(super) async fn create(
    State(app): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ProjectBody = parse_body(&body)?;
    let mut state = app.state();
    let uuid = state.create_project(body.into_changes())?;
    let project = state
        .project(uuid)
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(json(StatusCode::CREATED, &wire::project(project, &state)))
}

pub(super) async fn get(
    State(app): State<Arc<AppState>>,
    Path(uuid): Path<Uuid>,
) -> Result<Response, ApiError> {
    let state = app.state();
    let project = state
        .project(uuid)
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(json(StatusCode::OK, &wire::project(project, &state)))
}

pub(super) async fn list(
    State(app): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
) -> Response {
    let filter = ProjectFilter {
        name: query.name.clone(),
        search: query.search_text.clone(),
        exclude_inactive: query.exclude_inactive(),
        only_root: query.only_root(),
        ..ProjectFilter::default()
    };
    projects(&app, &query, &filter)
}

pub(super) async fn by_tag(
    State(app): State<Arc<AppState>>,
    Path(tag): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let filter = ProjectFilter {
        tag: Some(tag),
        search: query.search_text.clone(),
        exclude_inactive: query.exclude_inactive(),
        only_root: query.only_root(),
        ..ProjectFilter::default()
    };
    projects(&app, &query, &filter)
}

fn projects(app: &AppState, query: &ListQuery, filter: &ProjectFilter) -> Response {
    let state = app.state();
    let projects: Vec<_> = state
        .projects(filter)
        .into_iter()
        .map(|p| wire::project(p, &state))
        .collect();
    list_response(query, projects)
}

/// 200 with the project, or 304 when the body changes nothing.
pub(super) async fn patch(
    State(app): State<Arc<AppState>>,
    Path(uuid): Path<Uuid>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ProjectBody = parse_body(&body)?;
    let mut state = app.state();
    match state.patch_project(uuid, body.into_changes())? {
        Some(project) => Ok(json(StatusCode::OK, &wire::project(&project, &state))),
        None => Ok(StatusCode::NOT_MODIFIED.into_response()),
    }
}

/// `POST /api/v1/project`: full replacement of the project named by the body's `uuid`.
pub(super) async fn replace(
    State(app): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ProjectBody = parse_body(&body)?;
    let uuid = body.uuid();
    let mut state = app.state();
    let project = state.replace_project(uuid, body.into_changes())?;
    Ok(json(StatusCode::OK, &wire::project(&project, &state)))
}
