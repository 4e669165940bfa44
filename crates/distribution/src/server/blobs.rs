//! `GET`/`HEAD`/`DELETE /v2/NAME/blobs/DIGEST`. Blobs stream from
//! `blobs/sha256/` as stored, byte for byte; a single `Range` gives 206 (or
//! 416 past the end), as resumable pulls use.

use std::io::SeekFrom;

use axum::body::Body;
use axum::http::{header, HeaderMap, Response, StatusCode};
use layerstore::{registry, Digest};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::server::error::{ApiError, ApiResult, Code};
use crate::server::{empty, App};

/// Read size when streaming a blob out.
const CHUNK: usize = 256 << 10;

fn unknown(d: &Digest) -> ApiError {
    ApiError::new(Code::BlobUnknown).with_detail(json!({ "digest": d.to_string() }))
}

/// A `Range: bytes=A-B` / `bytes=A-` / `bytes=-N` header against a blob of
/// `size` bytes: `Ok(None)` serves it whole (no header, or one this does
/// not handle, such as several ranges), `Err` is unsatisfiable.
fn range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.is_empty(), b.is_empty()) {
        (true, false) => b.parse::<u64>().ok().map(|n| {
            if n == 0 {
                None
            } else {
                Some((size.saturating_sub(n), size.saturating_sub(1)))
            }
        }),
        (false, true) => a
            .parse::<u64>()
            .ok()
            .map(|s| Some((s, size.saturating_sub(1)))),
        (false, false) => match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(s), Ok(e)) if s <= e => Some(Some((s, e.min(size.saturating_sub(1))))),
            _ => None,
        },
        (true, true) => None,
    };
    match parsed {
        // Syntactically invalid: ignored, as RFC 9110 says.
        None => Ok(None),
        Some(Some((s, e))) if s < size && s <= e => Ok(Some((s, e))),
        Some(_) => Err(()),
    }
}

pub async fn get(
    app: &App,
    repo: String,
    d: Digest,
    head: bool,
    headers: &HeaderMap,
) -> ApiResult<Response<Body>> {
    let digest = d.clone();
    let (visible, path) = app
        .pool
        .run(move |s| {
            Ok((
                registry::blob_linked(s, &repo, &digest)?,
                s.layout().blob_path(&digest),
            ))
        })
        .await?;
    if !visible {
        return Err(unknown(&d));
    }
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| unknown(&d))?;
    let size = file
        .metadata()
        .await
        .map_err(|e| ApiError::msg(Code::Internal, e.to_string()))?
        .len();
    let mut hdrs = vec![
        ("Content-Type", "application/octet-stream".to_string()),
        ("Docker-Content-Digest", d.to_string()),
        ("ETag", format!("\"{d}\"")),
        ("Accept-Ranges", "bytes".to_string()),
        ("Cache-Control", "max-age=31536000".to_string()),
    ];
    let (status, start, len) = match range(headers, size) {
        Ok(None) => (StatusCode::OK, 0, size),
        Ok(Some((s, e))) => {
            hdrs.push(("Content-Range", format!("bytes {s}-{e}/{size}")));
            (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
        }
        Err(()) => {
            return Ok(empty(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &[("Content-Range", format!("bytes */{size}"))],
            ))
        }
    };
    hdrs.push(("Content-Length", len.to_string()));
    let mut resp = empty(status, &hdrs);
    if !head {
        if start > 0 {
            file.seek(SeekFrom::Start(start))
                .await
                .map_err(|e| ApiError::msg(Code::Internal, e.to_string()))?;
        }
        let stream = ReaderStream::with_capacity(file.take(len), CHUNK);
        *resp.body_mut() = Body::from_stream(stream);
    }
    Ok(resp)
}

pub async fn delete(app: &App, repo: String, d: Digest) -> ApiResult<Response<Body>> {
    let digest = d.clone();
    let removed = app
        .pool
        .run(move |s| Ok(registry::unlink_blob(s, &repo, &digest)?))
        .await?;
    if !removed {
        return Err(unknown(&d));
    }
    Ok(empty(StatusCode::ACCEPTED, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, v.parse().unwrap());
        range(&h, size)
    }

    #[test]
    fn ranges() {
        assert_eq!(r("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(r("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(r("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(r("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(r("bytes=100-", 100), Err(()));
        assert_eq!(r("bytes=200-300", 100), Err(()));
        assert_eq!(r("bytes=-0", 100), Err(()));
        assert_eq!(r("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(r("bytes=x-y", 100), Ok(None));
        assert_eq!(r("bytes=9-1", 100), Ok(None));
        assert_eq!(r("items=0-1", 100), Ok(None));
    }
}
