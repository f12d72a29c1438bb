//! Who may look: with query tokens configured, a request needs the session cookie the
//! sign-in page sets (or an `Authorization: Bearer <token>` header, for scripts).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::render::html;
use super::UiState;

/// The session cookie.
const COOKIE: &str = "nodebom_session";
/// How long a session lasts.
const SESSION_SECONDS: u64 = 12 * 3600;

/// Lets the request through when no token is needed or it carries an accepted one;
/// else sends a browser to the sign-in page.
pub async fn require(State(state): State<Arc<UiState>>, request: Request, next: Next) -> Response {
    if state.tokens.is_open() || signed_in(&state, request.headers()) {
        return next.run(request).await;
    }
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let query = serde_urlencoded::to_string([("next", target)]).unwrap_or_default();
    Redirect::to(&format!("/sign-in?{query}")).into_response()
}

fn signed_in(state: &UiState, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| state.tokens.session_for(token).is_some());
    bearer || cookie(headers, COOKIE).is_some_and(|session| state.tokens.accepts_session(session))
}

/// The value of the cookie `name`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[derive(Template)]
#[template(path = "ui/sign_in.html")]
struct SignInPage {
    open: bool,
    next: String,
    problem: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
}

/// `GET /sign-in`.
pub async fn sign_in_page(
    State(state): State<Arc<UiState>>,
    Query(query): Query<SignInQuery>,
) -> Response {
    html(
        StatusCode::OK,
        &SignInPage {
            open: state.tokens.is_open(),
            next: local(query.next.as_deref()).to_owned(),
            problem: None,
        },
    )
}

#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
    next: Option<String>,
}

/// `POST /sign-in`: a valid token sets the session cookie and goes on to `next`.
pub async fn sign_in(State(state): State<Arc<UiState>>, Form(form): Form<SignInForm>) -> Response {
    let next = local(form.next.as_deref()).to_owned();
    let Some(session) = state.tokens.session_for(&form.token) else {
        let page = SignInPage {
            open: state.tokens.is_open(),
            next,
            problem: Some("That token is not valid."),
        };
        return html(StatusCode::UNAUTHORIZED, &page);
    };
    let cookie = format!(
        "{COOKIE}={session}; Path=/; Max-Age={SESSION_SECONDS}; HttpOnly; Secure; SameSite=Strict"
    );
    let mut response = Redirect::to(&next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /sign-out`: forgets the session cookie.
pub async fn sign_out() -> Response {
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "nodebom_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
        ),
    );
    response
}

/// `next` when it is a path of this site, else `/` (no redirect elsewhere).
fn local(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local(Some("/images?after=x")), "/images?after=x");
        for outside in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "",
        ] {
            assert_eq!(local(Some(outside)), "/", "{outside}");
        }
        assert_eq!(local(None), "/");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; nodebom_session=abc; x=1"),
        );
        assert_eq!(cookie(&headers, COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
