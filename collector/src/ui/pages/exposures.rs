//! Exposures by priority, filtered and paged.

use std::sync::Arc;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExposuresParams {
    cluster: Option<String>,
    namespace: Option<String>,
    image: Option<String>,
    vulnerability: Option<String>,
    kev: Option<String>,
    running: Option<String>,
    min_epss: Option<String>,
    min_severity: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/exposures.html")]
struct ExposuresPage {
    chrome: Chrome,
    cluster: String,
    namespace: String,
    image: String,
    vulnerability: String,
    kev: bool,
    running: bool,
    min_epss: String,
    min_severity: String,
    severities: Vec<&'static str>,
    rows: Vec<ExposureRow>,
    total: usize,
    page: usize,
    pages: usize,
    previous: Option<String>,
    next: Option<String>,
}

/// `GET /exposures`: exposures by priority, filtered, a page at a time.
pub async fn exposures(State(state): State<Arc<UiState>>, RawQuery(query): RawQuery) -> Page {
    let raw = query.clone();
    let params: ExposuresParams = params(query)?;
    let min_epss = given(params.min_epss.clone())
        .map(|text| {
            text.parse::<f64>()
                .ok()
                .filter(|epss| (0.0..=1.0).contains(epss))
                .ok_or_else(|| {
                    PageError::bad_request(format!(
                        "min_epss: {text:?} is not a number from 0 to 1"
                    ))
                })
        })
        .transpose()?;
    let min_severity = given(params.min_severity.clone())
        .map(|text| {
            Severity::parse(&text).ok_or_else(|| {
                PageError::bad_request(format!("min_severity: {text:?} is not a severity"))
            })
        })
        .transpose()?;
    let page: usize = match given(params.page.clone()) {
        None => 1,
        Some(text) => text.parse().ok().filter(|page| *page >= 1).ok_or_else(|| {
            PageError::bad_request(format!("page: {text:?} is not a page number"))
        })?,
    };
    let filter = ExposureFilter {
        cluster: given(params.cluster.clone()),
        namespace: given(params.namespace.clone()),
        image: given(params.image.clone()),
        vulnerability: given(params.vulnerability.clone()),
        kev_only: flag("kev", params.kev.as_deref())?,
        running_only: flag("running", params.running.as_deref())?,
        min_epss,
        min_severity,
        kev_or_min_epss: None,
    };
    let kev = state.api.kev.get();
    let all = state
        .api
        .exposures
        .list(state.api.store.as_ref(), kev.as_deref(), &filter, page == 1)
        .await?;
    let pages = all.len().div_ceil(PAGE_SIZE).max(1);
    if page > pages {
        return Err(PageError::bad_request(format!(
            "page: {page} is past the last page, {pages}"
        )));
    }
    let link = |to: usize| {
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
        pairs.retain(|(key, _)| key != "page");
        pairs.push(("page".into(), to.to_string()));
        format!(
            "/exposures?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    };
    let start = (page - 1) * PAGE_SIZE;
    let view = ExposuresPage {
        chrome: Chrome::default(),
        cluster: filter.cluster.clone().unwrap_or_default(),
        namespace: filter.namespace.clone().unwrap_or_default(),
        image: filter.image.clone().unwrap_or_default(),
        vulnerability: filter.vulnerability.clone().unwrap_or_default(),
        kev: filter.kev_only,
        running: filter.running_only,
        min_epss: given(params.min_epss).unwrap_or_default(),
        min_severity: min_severity
            .map(Severity::name)
            .unwrap_or_default()
            .to_owned(),
        severities: Severity::ALL.map(Severity::name).to_vec(),
        rows: all
            .iter()
            .enumerate()
            .skip(start)
            .take(PAGE_SIZE)
            .map(|(i, e)| ExposureRow::of(e, i + 1))
            .collect(),
        total: all.len(),
        page,
        pages,
        previous: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
    };
    Ok(html(StatusCode::OK, &view))
}
