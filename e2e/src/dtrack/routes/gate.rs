//! What happens to every request before (and after) its handler: the OpenAPI check,
//! injected faults, authentication and the permission the operation requires.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppState, MatchedOperation, Principal};
use crate::dtrack::error::ApiError;
use crate::dtrack::faults::FaultKind;
use crate::dtrack::form;
use crate::dtrack::journal::{lock, RecordedRequest, Violation};
use crate::dtrack::openapi::{Lookup, Operation, RequestParts};

/// Largest request body read (a multipart BOM of a very large image).
const MAX_REQUEST_BYTES: usize = 256 * 1024 * 1024;
/// Largest answer read back for the OpenAPI check.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// The middleware in front of every route.
pub(super) async fn gate(
    State(app): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let mut seen = Seen {
        app: &app,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(String::from),
        operation: None,
        at: SystemTime::now(),
    };
    let Ok(body) = to_bytes(body, MAX_REQUEST_BYTES).await else {
        seen.violation(format!("request body over {MAX_REQUEST_BYTES} bytes"));
        return seen.answer(ApiError::empty(StatusCode::PAYLOAD_TOO_LARGE), false);
    };

    let (operation, path_params) = match app.openapi.find(&seen.method, &seen.path) {
        Lookup::Found {
            operation,
            path_params,
        } => (operation, path_params),
        Lookup::MethodNotAllowed => {
            seen.violation("this method is not in Dependency-Track's API for this path".into());
            return seen.answer(ApiError::empty(StatusCode::METHOD_NOT_ALLOWED), false);
        }
        Lookup::NotFound => {
            seen.violation("no operation of Dependency-Track's API has this path".into());
            return seen.answer(ApiError::empty(StatusCode::NOT_FOUND), false);
        }
    };
    seen.operation = Some(operation.id.clone());

    check_request(&app, &seen, operation, &path_params, &parts, &body).await;

    let fault = lock(&app.faults).take(&seen.path);
    match &fault {
        Some(FaultKind::Status(status)) => return seen.answer(fault_answer(*status), true),
        Some(FaultKind::Body { status, body }) => {
            return seen.answer_with_body(*status, Bytes::copy_from_slice(body))
        }
        Some(FaultKind::Delay(delay)) => tokio::time::sleep(*delay).await,
        Some(FaultKind::DelayResponse(_)) | None => {}
    }

    let key = parts.headers.get("X-Api-Key").and_then(|v| v.to_str().ok());
    let permissions = key.and_then(|key| lock(&app.keys).get(key).cloned());
    let permissions = match permissions {
        Some(permissions) => permissions,
        None if !operation.authenticated => BTreeSet::new(),
        None => return seen.answer(ApiError::unauthorized(), fault.is_some()),
    };
    if let Some(required) = operation.permission {
        if !permissions.contains(&required) {
            return seen.answer(ApiError::forbidden(), fault.is_some());
        }
    }
    parts.extensions.insert(Principal { permissions });
    parts
        .extensions
        .insert(MatchedOperation(operation.id.clone()));

    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    let body = match to_bytes(body, MAX_RESPONSE_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            seen.violation(format!("the test server's answer could not be read: {e}"));
            Bytes::new()
        }
    };
    let status = parts.status.as_u16();
    for problem in app.openapi.check_response(
        operation,
        status,
        content_type(&parts.headers).as_deref(),
        &body,
    ) {
        seen.violation(format!("test server bug: {problem}"));
    }
    if let Some(FaultKind::DelayResponse(delay)) = &fault {
        tokio::time::sleep(*delay).await;
    }
    seen.record(status, fault.is_some());
    Response::from_parts(parts, Body::from(body))
}

/// Records every way the request departs from the operation in the OpenAPI document.
async fn check_request(
    app: &AppState,
    seen: &Seen<'_>,
    operation: &Operation,
    path_params: &[(String, String)],
    parts: &Parts,
    body: &Bytes,
) {
    let query = match Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
        Ok(Query(pairs)) => pairs,
        Err(e) => {
            seen.violation(format!("unreadable query string: {e}"));
            Vec::new()
        }
    };
    let request_type = content_type(&parts.headers);
    let form = match request_type.as_deref() {
        Some(ct) if form::is_multipart(Some(ct)) && !body.is_empty() => {
            match form::read(ct, body.clone()).await {
                Ok(fields) => Some(fields),
                Err(e) => {
                    seen.violation(format!("unreadable multipart body: {e}"));
                    None
                }
            }
        }
        _ => None,
    };
    let problems = app.openapi.check_request(
        operation,
        &RequestParts {
            path_params,
            query: &query,
            content_type: request_type.as_deref(),
            body,
            form: form.as_deref(),
        },
    );
    for problem in problems {
        seen.violation(problem);
    }
}

/// The request being handled, for the journal.
struct Seen<'a> {
    app: &'a AppState,
    method: String,
    path: String,
    query: Option<String>,
    operation: Option<String>,
    at: SystemTime,
}

impl Seen<'_> {
    fn violation(&self, message: String) {
        self.app.journal.violation(Violation {
            method: self.method.clone(),
            path: self.path.clone(),
            operation: self.operation.clone(),
            message,
        });
    }

    fn record(&self, status: u16, faulted: bool) {
        self.app.journal.request(RecordedRequest {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            operation: self.operation.clone(),
            status,
            faulted,
            at: self.at,
        });
    }

    /// An injected answer: `status` with `body` as JSON.
    fn answer_with_body(&self, status: u16, body: Bytes) -> Response {
        self.record(status, true);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    }

    fn answer(&self, error: ApiError, faulted: bool) -> Response {
        self.record(error.status.as_u16(), faulted);
        let mut response = error.into_response();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            // As a rate-limiting proxy in front of Dependency-Track would.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

fn fault_answer(status: u16) -> ApiError {
    ApiError::empty(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}
