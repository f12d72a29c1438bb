//! `PUT /api/v1/bom` (base64 in JSON) and `POST /api/v1/bom` (multipart).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;

use super::{json, parse_body, AppState, Principal};
use crate::dtrack::bom;
use crate::dtrack::error::ApiError;
use crate::dtrack::form;
use crate::dtrack::journal::Violation;
use crate::dtrack::json::{BomSubmitRequest, BomUploadResponse, UploadFields};
use crate::dtrack::model::UploadVia;

const PATH: &str = "/api/v1/bom";

pub(super) async fn upload_json(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: BomSubmitRequest = parse_body(&body)?;
    let encoded = request
        .bom
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("bom: must not be null"))?;
    // The length limit is a bean constraint, checked before the project is looked at.
    if encoded.chars().count() > bom::MAX_BASE64_CHARS {
        return Err(ApiError::bad_request(format!(
            "bom: size must be between 0 and {}",
            bom::MAX_BASE64_CHARS
        )));
    }
    let project = project_of(&app, &principal, &request.upload_fields())?;
    let bytes = bom::decode_base64(encoded)?;
    accept(&app, project, &bytes, UploadVia::Json)
}

pub(super) async fn upload_multipart(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|ct| form::is_multipart(Some(ct)))
        .ok_or_else(|| ApiError::empty(StatusCode::UNSUPPORTED_MEDIA_TYPE))?;
    let fields = form::read(content_type, body)
        .await
        .map_err(ApiError::bad_request)?;
    let bom = fields
        .iter()
        .find(|f| f.name == "bom")
        .ok_or_else(|| ApiError::bad_request("bom: must not be null"))?;
    let project = project_of(&app, &principal, &UploadFields::from_form(&fields))?;
    accept(&app, project, &bom.value, UploadVia::Multipart)
}

/// The project an upload goes to, created if asked for, as the release played does.
fn project_of(
    app: &AppState,
    principal: &Principal,
    fields: &UploadFields,
) -> Result<uuid::Uuid, ApiError> {
    let (target, tags) = fields.target(app.release)?;
    app.state().resolve_upload(
        &target,
        tags.as_deref(),
        &principal.permissions,
        app.release,
    )
}

/// Checks the BOM and queues it for `project`.
fn accept(
    app: &AppState,
    project: uuid::Uuid,
    bytes: &[u8],
    via: UploadVia,
) -> Result<Response, ApiError> {
    if bom::is_xml(bytes) {
        // Dependency-Track reads XML; a test that sends it needs the server extended.
        app.journal.violation(Violation {
            method: match via {
                UploadVia::Json => "PUT",
                UploadVia::Multipart => "POST",
            }
            .into(),
            path: PATH.into(),
            operation: None,
            message: "XML BOM: not supported by the test server".into(),
        });
    }
    let parsed = bom::parse(bytes, app.validate_bom_schema)?;
    let token = app
        .state()
        .enqueue_upload(project, parsed, via, Instant::now(), SystemTime::now());
    Ok(json(StatusCode::OK, &BomUploadResponse { token }))
}
