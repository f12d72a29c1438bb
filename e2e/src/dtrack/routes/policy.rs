//! `/api/v1/policy…`: policies and their conditions.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::{json, list_response, parse_body, AppState, ListQuery};
use crate::dtrack::error::ApiError;
use crate::dtrack::json::{self as wire, ConditionBody, PolicyBody};
use crate::dtrack::model::ConditionSubject;

pub(super) async fn list(
    State(app): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
) -> Response {
    let state = app.state();
    let policies: Vec<_> = state
        .policies(query.search_text.as_deref())
        .into_iter()
        .map(wire::policy)
        .collect();
    list_response(&query, policies)
}

pub(super) async fn get(
    State(app): State<Arc<AppState>>,
    Path(uuid): Path<Uuid>,
) -> Result<Response, ApiError> {
    let state = app.state();
    let policy = state
        .policy(uuid)
        .ok_or_else(|| ApiError::not_found("The policy could not be found."))?;
    Ok(json(StatusCode::OK, &wire::policy(policy)))
}

/// `PUT /api/v1/policy` → 201; 409 for a name in use.
pub(super) async fn create(
    State(app): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: PolicyBody = parse_body(&body)?;
    let policy = app.state().create_policy(body.fields()?)?;
    Ok(json(StatusCode::CREATED, &wire::policy(&policy)))
}

/// `POST /api/v1/policy`: sets the scalar fields of the policy named by `uuid`.
pub(super) async fn update(
    State(app): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: PolicyBody = parse_body(&body)?;
    let policy = app.state().update_policy(body.uuid(), body.fields()?)?;
    Ok(json(StatusCode::OK, &wire::policy(&policy)))
}

pub(super) async fn delete(
    State(app): State<Arc<AppState>>,
    Path(uuid): Path<Uuid>,
) -> Result<Response, ApiError> {
    app.state().delete_policy(uuid)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/licenseGroup` (paged).
pub(super) async fn license_groups(
    State(app): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
) -> Response {
    let state = app.state();
    let groups: Vec<_> = state
        .license_groups()
        .into_iter()
        .map(|(uuid, name)| wire::license_group(uuid, name))
        .collect();
    list_response(&query, groups)
}

/// `PUT /api/v1/policy/{uuid}/condition` → 201.
pub(super) async fn create_condition(
    State(app): State<Arc<AppState>>,
    Path(policy): Path<Uuid>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ConditionBody = parse_body(&body)?;
    let fields = body.fields()?;
    if fields.subject == ConditionSubject::Epss && !app.release.has_epss() {
        // The subject came with EPSS in 4.12; Jackson refuses an unknown enum constant.
        return Err(ApiError::bad_request(
            "Cannot deserialize value of type `PolicyCondition$Subject` from String \"EPSS\"",
        ));
    }
    let condition = app.state().create_condition(policy, fields)?;
    Ok(json(StatusCode::CREATED, &wire::condition(&condition)))
}

/// `POST /api/v1/policy/condition`: the body names the condition by `uuid`.
pub(super) async fn update_condition(
    State(app): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ConditionBody = parse_body(&body)?;
    let condition = app.state().update_condition(body.uuid(), body.fields()?)?;
    Ok(json(StatusCode::OK, &wire::condition(&condition)))
}

pub(super) async fn delete_condition(
    State(app): State<Arc<AppState>>,
    Path(uuid): Path<Uuid>,
) -> Result<Response, ApiError> {
    app.state().delete_condition(uuid)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
