//! The upload endpoints: `POST …/blobs/uploads/` (a session, a monolithic
//! upload with `?digest=`, or a cross-repository `?mount=&from=`),
//! chunked `PATCH` with `Content-Range`, `PUT ?digest=` to finish, `GET`
//! for the offset, `DELETE` to cancel.

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, Response, StatusCode};
use layerstore::{registry, Digest};
use serde_json::json;

use crate::names::{parse_digest, valid_repository};
use crate::server::error::{ApiError, ApiResult, Code};
use crate::server::uploads::Session;
use crate::server::{empty, query, App};

/// `Range` of what a session holds: inclusive, `0-0` when empty (as
/// distribution/registry sends it).
fn range_value(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

fn session_headers(repo: &str, s: &Session) -> Vec<(&'static str, String)> {
    vec![
        ("Location", format!("/v2/{repo}/blobs/uploads/{}", s.id)),
        ("Range", range_value(s.offset)),
        ("Docker-Upload-UUID", s.id.clone()),
        ("Blob-Upload-Session-ID", s.id.clone()),
    ]
}

fn created(repo: &str, d: &Digest) -> Response<Body> {
    empty(
        StatusCode::CREATED,
        &[
            ("Location", format!("/v2/{repo}/blobs/{d}")),
            ("Docker-Content-Digest", d.to_string()),
        ],
    )
}

fn digest_param(req: &Request<Body>) -> ApiResult<Digest> {
    let q = query::pairs(req.uri().query());
    let given = query::get(&q, "digest")
        .ok_or_else(|| ApiError::msg(Code::DigestInvalid, "the digest parameter is required"))?;
    parse_digest(given).ok_or_else(|| {
        ApiError::msg(
            Code::DigestInvalid,
            format!("invalid digest {given:?}: expected sha256:<64 lowercase hex digits>"),
        )
    })
}

pub async fn start(app: &App, repo: String, req: Request<Body>) -> ApiResult<Response<Body>> {
    let q = query::pairs(req.uri().query());
    if let (Some(m), Some(from)) = (query::get(&q, "mount"), query::get(&q, "from")) {
        // An unknown source or digest falls back to a plain upload, as the
        // spec says.
        if let (Some(d), true) = (parse_digest(m), valid_repository(from)) {
            let (to, from, digest) = (repo.clone(), from.to_string(), d.clone());
            let mounted = app
                .pool
                .run(move |s| {
                    let _lock = s.layout().lock(false)?;
                    let ok = registry::blob_linked(s, &from, &digest)?;
                    if ok {
                        registry::link_blob(s, &to, &digest)?;
                    }
                    Ok(ok)
                })
                .await?;
            if mounted {
                return Ok(created(&repo, &d));
            }
        }
    }
    let monolithic = query::get(&q, "digest").is_some();
    let d = if monolithic {
        Some(digest_param(&req)?)
    } else {
        None
    };
    let session = app.uploads.start(&repo)?;
    let mut s = session.lock().await;
    match d {
        Some(d) => {
            app.uploads.append(&mut s, req.into_body()).await?;
            complete(app, &mut s, d).await
        }
        None => Ok(empty(StatusCode::ACCEPTED, &session_headers(&repo, &s))),
    }
}

/// A `Content-Range: A-B` (optionally `bytes A-B` / `bytes=A-B`) must start
/// where the session is and agree with `Content-Length`; otherwise 416 with
/// the session's range, so the client resumes from there.
fn check_chunk(headers: &HeaderMap, repo: &str, s: &Session) -> ApiResult<()> {
    let Some(cr) = headers.get(header::CONTENT_RANGE) else {
        return Ok(());
    };
    let refuse = || {
        let mut e = ApiError::msg(
            Code::RangeInvalid,
            format!("chunk must start at offset {}", s.offset),
        );
        for (k, v) in session_headers(repo, s) {
            e = e.with_header(k, v);
        }
        e
    };
    let text = cr.to_str().map_err(|_| refuse())?.trim();
    let text = text
        .strip_prefix("bytes")
        .map(|t| t.trim_start_matches([' ', '=']))
        .unwrap_or(text);
    let (a, b) = text.split_once('-').ok_or_else(refuse)?;
    let (a, b) = match (a.trim().parse::<u64>(), b.trim().parse::<u64>()) {
        (Ok(a), Ok(b)) if a <= b => (a, b),
        _ => return Err(refuse()),
    };
    let len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if a != s.offset || len.is_some_and(|l| l != b - a + 1) {
        return Err(refuse());
    }
    Ok(())
}

async fn locked(
    app: &App,
    repo: &str,
    id: &str,
) -> ApiResult<tokio::sync::OwnedMutexGuard<Session>> {
    let s = app.uploads.get(id)?.lock_owned().await;
    app.uploads.check(&s, repo)?;
    Ok(s)
}

pub async fn patch(
    app: &App,
    repo: String,
    id: String,
    req: Request<Body>,
) -> ApiResult<Response<Body>> {
    let mut s = locked(app, &repo, &id).await?;
    check_chunk(req.headers(), &repo, &s)?;
    app.uploads.append(&mut s, req.into_body()).await?;
    Ok(empty(StatusCode::ACCEPTED, &session_headers(&repo, &s)))
}

pub async fn finish(
    app: &App,
    repo: String,
    id: String,
    req: Request<Body>,
) -> ApiResult<Response<Body>> {
    let d = digest_param(&req)?;
    let mut s = locked(app, &repo, &id).await?;
    check_chunk(req.headers(), &repo, &s)?;
    app.uploads.append(&mut s, req.into_body()).await?;
    complete(app, &mut s, d).await
}

/// Moves a finished upload into the store if it hashes to `d`; the session
/// ends either way.
async fn complete(app: &App, s: &mut Session, d: Digest) -> ApiResult<Response<Body>> {
    let (got, path) = app.uploads.digest(s);
    if got != d {
        app.uploads.close(s);
        return Err(ApiError::msg(
            Code::DigestInvalid,
            format!("upload hashes to {got}, not {d}"),
        )
        .with_detail(json!({ "digest": d.to_string() })));
    }
    let (repo, digest) = (s.repo.clone(), d.clone());
    let stored = app
        .pool
        .run(move |store| {
            let _lock = store.layout().lock(false)?;
            registry::put_blob_file(store, &path, &digest)?;
            registry::link_blob(store, &repo, &digest)?;
            Ok(())
        })
        .await;
    app.uploads.close(s);
    stored?;
    Ok(created(&s.repo, &d))
}

pub async fn status(app: &App, repo: String, id: String) -> ApiResult<Response<Body>> {
    let s = locked(app, &repo, &id).await?;
    Ok(empty(StatusCode::NO_CONTENT, &session_headers(&repo, &s)))
}

pub async fn cancel(app: &App, repo: String, id: String) -> ApiResult<Response<Body>> {
    let mut s = locked(app, &repo, &id).await?;
    app.uploads.close(&mut s);
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}
