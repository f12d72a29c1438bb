//! `/api/v1/analysis`: read and record a user's analysis of a finding.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{json, parse_body, AppState};
use crate::dtrack::error::ApiError;
use crate::dtrack::json::{self as wire, AnalysisQuery, AnalysisRequest};

pub(super) async fn get(
    State(app): State<Arc<AppState>>,
    Query(query): Query<AnalysisQuery>,
) -> Result<Response, ApiError> {
    let (project, component, vulnerability) = query.target()?;
    let state = app.state();
    let analysis = state.analysis(project, component, vulnerability)?;
    Ok(json(StatusCode::OK, &wire::analysis(analysis)))
}

/// `PUT`: 200 with the analysis as it now is.
pub(super) async fn put(
    State(app): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: AnalysisRequest = parse_body(&body)?;
    let (project, component, vulnerability) = request.target()?;
    let analysis = app.state().record_analysis(
        project,
        component,
        vulnerability,
        request.decision(),
        SystemTime::now(),
    )?;
    Ok(json(StatusCode::OK, &wire::analysis(&analysis)))
}
