//! The HTTP side: one module per Dependency-Track resource, and the gate every request
//! passes first (OpenAPI check, faults, authentication).

mod analysis;
mod bom;
mod event;
mod finding;
mod gate;
mod policy;
mod project;
mod tag;
mod version;
mod vulnerability;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request, State as AxumState};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::faults::FaultQueue;
use super::journal::{lock, Journal, Violation};
use super::json::AboutJson;
use super::openapi::OpenApi;
use super::options::{Permission, Release};
use super::state::State;

/// Everything the handlers share with each other and with [`DtServer`](super::DtServer).
pub(crate) struct AppState {
    state: Mutex<State>,
    pub(crate) faults: Mutex<FaultQueue>,
    pub(crate) journal: Journal,
    /// API key → its permissions.
    pub(crate) keys: Mutex<HashMap<String, BTreeSet<Permission>>>,
    pub(crate) openapi: &'static OpenApi,
    pub(crate) validate_bom_schema: bool,
    /// The Dependency-Track release played.
    pub(crate) release: Release,
    /// The answer of `/api/version`.
    pub(crate) about: AboutJson,
}

/// How the server is set up, apart from its state and keys.
pub(crate) struct Setup {
    pub(crate) openapi: &'static OpenApi,
    pub(crate) validate_bom_schema: bool,
    pub(crate) release: Release,
    pub(crate) about: AboutJson,
}

impl AppState {
    pub(crate) fn new(
        state: State,
        keys: HashMap<String, BTreeSet<Permission>>,
        setup: Setup,
    ) -> AppState {
        AppState {
            state: Mutex::new(state),
            faults: Mutex::new(FaultQueue::default()),
            journal: Journal::default(),
            keys: Mutex::new(keys),
            openapi: setup.openapi,
            validate_bom_schema: setup.validate_bom_schema,
            release: setup.release,
            about: setup.about,
        }
    }

    /// The state, with every upload whose processing delay has passed applied.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        let mut state = lock(&self.state);
        state.settle(Instant::now());
        state
    }
}

/// Who sent the request: the permissions of its API key (set by the gate).
#[derive(Clone, Debug)]
pub(crate) struct Principal {
    pub(crate) permissions: BTreeSet<Permission>,
}

/// The `operationId` the gate matched (set by the gate).
#[derive(Clone, Debug)]
struct MatchedOperation(String);

pub(crate) fn router(app: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/api/v1/bom",
            put(bom::upload_json).post(bom::upload_multipart),
        )
        .route("/api/version", get(version::get))
        .route("/api/v1/analysis", get(analysis::get).put(analysis::put))
        .route("/api/v1/event/token/{uuid}", get(event::token))
        .route("/api/v1/finding/project/{uuid}", get(finding::by_project))
        .route(
            "/api/v1/vulnerability/source/{source}/vuln/{vuln}",
            get(vulnerability::by_id),
        )
        .route(
            "/api/v1/project",
            get(project::list)
                .put(project::create)
                .post(project::replace),
        )
        .route("/api/v1/project/lookup", get(project::lookup))
        .route("/api/v1/project/tag/{tag}", get(project::by_tag))
        .route(
            "/api/v1/project/{uuid}",
            get(project::get).patch(project::patch),
        )
        .route("/api/v1/tag", put(tag::create))
        .route(
            "/api/v1/tag/{name}/project",
            post(tag::tag_projects).delete(tag::untag_projects),
        )
        .route("/api/v1/tag/{name}/policy", post(tag::tag_policies))
        .route(
            "/api/v1/policy",
            get(policy::list).put(policy::create).post(policy::update),
        )
        .route("/api/v1/licenseGroup", get(policy::license_groups))
        .route("/api/v1/policy/condition", post(policy::update_condition))
        .route(
            "/api/v1/policy/condition/{uuid}",
            delete(policy::delete_condition),
        )
        .route(
            "/api/v1/policy/{uuid}",
            get(policy::get).delete(policy::delete),
        )
        .route(
            "/api/v1/policy/{uuid}/condition",
            put(policy::create_condition),
        )
        .fallback(unimplemented)
        .method_not_allowed_fallback(unimplemented)
        // The gate bounds bodies; axum's 2 MB default would refuse large BOMs.
        .layer(DefaultBodyLimit::disable())
        .layer(from_fn_with_state(Arc::clone(&app), gate::gate))
        .with_state(app)
}

/// Operations of Dependency-Track's API this server does not implement: a test that
/// reaches one needs the server extended, so it is recorded as a violation.
async fn unimplemented(AxumState(app): AxumState<Arc<AppState>>, request: Request) -> Response {
    app.journal.violation(Violation {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
        operation: request
            .extensions()
            .get::<MatchedOperation>()
            .map(|m| m.0.clone()),
        message: "operation of Dependency-Track's API not implemented by the test server".into(),
    });
    StatusCode::NOT_IMPLEMENTED.into_response()
}

/// Reads a JSON body; Dependency-Track answers 400 to one it cannot map.
fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("Invalid JSON: {e}")))
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    (status, Json(value)).into_response()
}

/// Query parameters shared by the list operations. Booleans are read like Java's
/// `Boolean.parseBoolean` (only `true` is true), so a bad value is not an error.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    page_number: Option<String>,
    page_size: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
    search_text: Option<String>,
    name: Option<String>,
    exclude_inactive: Option<String>,
    only_root: Option<String>,
}

impl ListQuery {
    fn exclude_inactive(&self) -> bool {
        is_true(self.exclude_inactive.as_deref())
    }

    fn only_root(&self) -> bool {
        is_true(self.only_root.as_deref())
    }

    /// Alpine's pagination: `pageNumber` (from 1) with `pageSize`, or `offset` with
    /// `limit`; without either pair, everything.
    fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        let number = |v: &Option<String>| v.as_deref().and_then(|v| v.trim().parse::<usize>().ok());
        let window = match (number(&self.page_number), number(&self.page_size)) {
            (Some(page), Some(size)) => {
                Some((page.max(1).saturating_sub(1).saturating_mul(size), size))
            }
            _ => number(&self.offset).zip(number(&self.limit)),
        };
        match window {
            Some((skip, take)) => items.into_iter().skip(skip).take(take).collect(),
            None => items,
        }
    }
}

/// A page of a list with the total in `X-Total-Count`.
fn list_response<T: Serialize>(query: &ListQuery, items: Vec<T>) -> Response {
    let total = items.len();
    let mut response = json(StatusCode::OK, &query.page(items));
    response
        .headers_mut()
        .insert("X-Total-Count", HeaderValue::from(total));
    response
}

fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_count_from_one_and_offsets_from_zero() {
        let items: Vec<u32> = (1..=7).collect();
        let query = |page: &str, size: &str| ListQuery {
            page_number: Some(page.into()),
            page_size: Some(size.into()),
            ..ListQuery::default()
        };
        assert_eq!(query("1", "3").page(items.clone()), [1, 2, 3]);
        assert_eq!(query("3", "3").page(items.clone()), [7]);
        let offset = ListQuery {
            offset: Some("5".into()),
            limit: Some("10".into()),
            ..ListQuery::default()
        };
        assert_eq!(offset.page(items.clone()), [6, 7]);
        assert_eq!(ListQuery::default().page(items.clone()), items);
    }
}
