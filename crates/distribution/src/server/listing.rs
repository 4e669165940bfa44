//! Listings: `tags/list` and Docker's `_catalog` (sorted, paged with
//! `n`/`last` and a `Link` to the next page), and the referrers API.

use axum::body::Body;
use axum::http::{header, HeaderValue, Response};
use layerstore::{registry, Digest};
use serde_json::json;

use crate::manifest::{Descriptor, OCI_INDEX};
use crate::server::error::{ApiError, ApiResult, Code};
use crate::server::{json_response, query, App};

/// `n` from the query: `None` is "all".
fn page_size(q: &[(String, String)]) -> ApiResult<Option<u64>> {
    query::get(q, "n")
        .map(|n| {
            n.parse::<u64>()
                .map_err(|_| ApiError::msg(Code::PaginationInvalid, format!("invalid n {n:?}")))
        })
        .transpose()
}

/// Fetches one more than asked to know whether a next page exists; returns
/// the page and the `Link` header value if so.
fn paged(
    mut items: Vec<String>,
    n: Option<u64>,
    next: impl Fn(u64, &str) -> String,
) -> (Vec<String>, Option<String>) {
    match n {
        Some(n) if items.len() as u64 > n => {
            items.truncate(n as usize);
            let link = items
                .last()
                .map(|l| format!("<{}>; rel=\"next\"", next(n, l)));
            (items, link)
        }
        _ => (items, None),
    }
}

fn with_link(body: serde_json::Value, link: Option<String>) -> Response<Body> {
    let mut r = json_response(body.to_string());
    if let Some(v) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert(header::LINK, v);
    }
    r
}

pub async fn tags(app: &App, repo: String, q: Vec<(String, String)>) -> ApiResult<Response<Body>> {
    let n = page_size(&q)?;
    let last = query::get(&q, "last").map(str::to_string);
    let name = repo.clone();
    let tags = app
        .pool
        .run(move |s| {
            if !registry::repo_exists(s, &name)? {
                return Err(ApiError::new(Code::NameUnknown));
            }
            Ok(registry::tags(
                s,
                &name,
                last.as_deref(),
                n.map_or(u64::MAX, |n| n.saturating_add(1)),
            )?)
        })
        .await?;
    let (tags, link) = paged(tags, n, |n, l| {
        format!("/v2/{repo}/tags/list?n={n}&last={l}")
    });
    Ok(with_link(json!({ "name": repo, "tags": tags }), link))
}

pub async fn catalog(app: &App, q: Vec<(String, String)>) -> ApiResult<Response<Body>> {
    let n = page_size(&q)?;
    let last = query::get(&q, "last").map(str::to_string);
    let repos = app
        .pool
        .run(move |s| {
            Ok(registry::repositories(
                s,
                last.as_deref(),
                n.map_or(u64::MAX, |n| n.saturating_add(1)),
            )?)
        })
        .await?;
    let (repos, link) = paged(repos, n, |n, l| format!("/v2/_catalog?n={n}&last={l}"));
    Ok(with_link(json!({ "repositories": repos }), link))
}

pub async fn referrers(
    app: &App,
    repo: String,
    subject: Digest,
    q: Vec<(String, String)>,
) -> ApiResult<Response<Body>> {
    let filter = query::get(&q, "artifactType").map(str::to_string);
    let rows = app
        .pool
        .run(move |s| Ok(registry::referrers(s, &repo, &subject)?))
        .await?;
    let manifests: Vec<Descriptor> = rows
        .into_iter()
        .filter(|r| filter.is_none() || r.artifact_type == filter)
        .map(|r| Descriptor {
            media_type: r.media_type,
            digest: r.digest.to_string(),
            size: r.size,
            urls: Vec::new(),
            annotations: r.annotations.and_then(|a| serde_json::from_str(&a).ok()),
            platform: None,
            artifact_type: r.artifact_type,
        })
        .collect();
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut r = json_response(body.to_string());
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX));
    if filter.is_some() {
        r.headers_mut().insert(
            "OCI-Filters-Applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(r)
}
