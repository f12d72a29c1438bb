//! Rendering pages: the part every page shows, and the page of a request that cannot be
//! answered.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::Error;

/// What every page shows around its content.
#[derive(Debug, Default)]
pub struct Chrome {
    /// The search box's text.
    pub query: String,
}

impl Chrome {
    /// With `query` in the search box.
    pub fn with_query(query: &str) -> Self {
        Self {
            query: query.to_owned(),
        }
    }
}

/// `page` as an HTML answer with `status`.
pub fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "web UI: rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A request the UI cannot answer, shown as a page that says why.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    /// 400: the request's parameters are wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl From<Error> for PageError {
    fn from(err: Error) -> Self {
        let status = match &err {
            Error::InvalidArgument { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::ResourceExhausted(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => {
                tracing::warn!(error = %err, "web UI: a request failed");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        Self {
            status,
            message: err.to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            chrome: Chrome::default(),
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error"),
            message: &self.message,
        };
        html(self.status, &page)
    }
}
