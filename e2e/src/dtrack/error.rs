//! Error answers, shaped like Dependency-Track's: plain-text messages from most resources,
//! RFC 9457 problem details from the BOM and tag resources, empty bodies from the
//! authorization filter.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Empty,
    Text(String),
    Problem(Problem),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Problem {
    status: u16,
    title: String,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<String>>,
}

impl ApiError {
    /// 400 with a plain-text message (validation errors, malformed bodies).
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::text(StatusCode::BAD_REQUEST, message)
    }

    /// 401 with an empty body, for a missing or unknown key.
    pub(crate) fn unauthorized() -> ApiError {
        ApiError::empty(StatusCode::UNAUTHORIZED)
    }

    /// 401 with a reason, for a known key that may not do this.
    pub(crate) fn unauthorized_because(message: impl Into<String>) -> ApiError {
        ApiError::text(StatusCode::UNAUTHORIZED, message)
    }

    /// 403 with an empty body, as for a key that lacks a permission.
    pub(crate) fn forbidden() -> ApiError {
        ApiError::empty(StatusCode::FORBIDDEN)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::text(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::text(StatusCode::CONFLICT, message)
    }

    /// 400 problem details for a BOM that cannot be accepted.
    pub(crate) fn invalid_bom(detail: impl Into<String>, errors: Vec<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body: Body::Problem(Problem {
                status: StatusCode::BAD_REQUEST.as_u16(),
                title: "The uploaded BOM is invalid".into(),
                detail: detail.into(),
                errors: (!errors.is_empty()).then_some(errors),
            }),
        }
    }

    /// 404 problem details for an unknown tag.
    pub(crate) fn tag_not_found(name: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            body: Body::Problem(Problem {
                status: StatusCode::NOT_FOUND.as_u16(),
                title: "Resource does not exist".into(),
                detail: format!("A tag with name {name} does not exist"),
                errors: None,
            }),
        }
    }

    /// 500 for a fault of the test server itself (a schema that does not compile).
    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::text(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// Any status with an empty body (injected faults).
    pub(crate) fn empty(status: StatusCode) -> ApiError {
        ApiError {
            status,
            body: Body::Empty,
        }
    }

    fn text(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: Body::Text(message.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.body {
            Body::Empty => self.status.into_response(),
            Body::Text(message) => (self.status, message).into_response(),
            Body::Problem(problem) => {
                let mut response = (self.status, axum::Json(problem)).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                response
            }
        }
    }
}
