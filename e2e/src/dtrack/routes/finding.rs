//! `GET /api/v1/finding/project/{uuid}`: a project's findings, all at once.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{is_true, json, AppState};
use crate::dtrack::error::ApiError;
use crate::dtrack::journal::Violation;
use crate::dtrack::json as wire;
use crate::dtrack::model::VulnSource;

const SARIF: &str = "application/sarif+json";

#[derive(Debug, Deserialize)]
pub(super) struct FindingsQuery {
    suppressed: Option<String>,
    source: Option<String>,
}

/// Suppressed findings only with `suppressed=true`; `source` keeps one source's;
/// `X-Total-Count` is the number listed.
pub(super) async fn by_project(
    State(app): State<Arc<AppState>>,
    Path(uuid): Path<Uuid>,
    Query(query): Query<FindingsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if accepts_sarif(&headers) {
        // Dependency-Track answers SARIF to this Accept; a test that wants it needs the
        // server extended.
        app.journal.violation(Violation {
            method: "GET".into(),
            path: format!("/api/v1/finding/project/{uuid}"),
            operation: Some("getFindingsByProject".into()),
            message: "SARIF findings: not supported by the test server".into(),
        });
        return Ok(StatusCode::NOT_IMPLEMENTED.into_response());
    }
    // JAX-RS answers 404 to a query parameter it cannot convert to the enum.
    let source = match query.source.as_deref() {
        None => None,
        Some(name) => Some(
            serde_json::from_value::<VulnSource>(name.into())
                .map_err(|_| ApiError::empty(StatusCode::NOT_FOUND))?,
        ),
    };
    let include_suppressed = is_true(query.suppressed.as_deref());
    let state = app.state();
    let findings: Vec<_> = state
        .findings(uuid)?
        .into_iter()
        .filter(|f| include_suppressed || !f.suppressed())
        .filter(|f| source.is_none_or(|s| s == f.source))
        .filter_map(|f| {
            let vulnerability = state.vulnerability(f.vulnerability)?;
            Some(wire::finding(&f, vulnerability, uuid, app.release))
        })
        .collect();
    let mut response = json(StatusCode::OK, &findings);
    response
        .headers_mut()
        .insert("X-Total-Count", HeaderValue::from(findings.len()));
    Ok(response)
}

fn accepts_sarif(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(SARIF))
}
