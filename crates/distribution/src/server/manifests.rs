//! `GET`/`HEAD`/`PUT`/`DELETE /v2/NAME/manifests/REF`. A manifest is
//! accepted only when every blob (or, for an index, every manifest) it
//! names is in the repository; an image manifest is then queued for import
//! ([`super::importer`]) so the image becomes an ordinary stored image
//! tagged `NAME:TAG` (for each tag a push by digest names with `?tag=`).

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use layerstore::registry::{self, ManifestRow};
use layerstore::{Digest, Store};
use serde_json::json;

use crate::manifest::{
    is_foreign_layer, Descriptor, Manifest, DOCKER_CONFIG, DOCKER_LAYER_GZIP, OCI_CONFIG,
    OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD,
};
use crate::names::{parse_digest, valid_tag, ManifestRef};
use crate::server::error::{ApiError, ApiResult, Code};
use crate::server::{empty, App};

/// Largest manifest accepted (the spec suggests registries take 4 MiB).
pub const MAX_MANIFEST: usize = 4 << 20;

/// 404 for a manifest: `NAME_UNKNOWN` when the repository has nothing.
fn unknown(s: &Store, repo: &str) -> ApiError {
    match registry::repo_exists(s, repo) {
        Ok(false) => ApiError::new(Code::NameUnknown),
        _ => ApiError::new(Code::ManifestUnknown),
    }
}

fn resolve(s: &Store, repo: &str, r: &ManifestRef) -> ApiResult<ManifestRow> {
    let d = match r {
        ManifestRef::Digest(d) => d.clone(),
        ManifestRef::Tag(t) => {
            registry::resolve_tag(s, repo, t)?.ok_or_else(|| unknown(s, repo))?
        }
    };
    registry::manifest(s, repo, &d)?.ok_or_else(|| unknown(s, repo))
}

pub async fn get(app: &App, repo: String, r: ManifestRef, head: bool) -> ApiResult<Response<Body>> {
    let (row, bytes) = app
        .pool
        .run(move |s| {
            let row = resolve(s, &repo, &r)?;
            let bytes = if head {
                None
            } else {
                Some(layerstore::blobs::get(s.layout(), &row.digest)?)
            };
            Ok((row, bytes))
        })
        .await?;
    let mut resp = empty(
        StatusCode::OK,
        &[
            ("Content-Type", row.media_type.clone()),
            ("Content-Length", row.size.to_string()),
            ("Docker-Content-Digest", row.digest.to_string()),
            ("ETag", format!("\"{}\"", row.digest)),
        ],
    );
    if let Some(b) = bytes {
        *resp.body_mut() = Body::from(b);
    }
    Ok(resp)
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::msg(Code::ManifestInvalid, msg)
}

fn desc_digest(d: &Descriptor) -> ApiResult<Digest> {
    parse_digest(&d.digest).ok_or_else(|| invalid(format!("invalid digest {:?}", d.digest)))
}

/// Every descriptor the manifest names (not its subject, which may be
/// pushed later) must be in `repo`, with the size the descriptor says.
fn check_references(s: &Store, repo: &str, m: &Manifest) -> ApiResult<()> {
    let mut missing = Vec::new();
    let named: Vec<&Descriptor> = match m {
        Manifest::Image(i) => std::iter::once(&i.config).chain(&i.layers).collect(),
        Manifest::Index(i) => i.manifests.iter().collect(),
    };
    for desc in named {
        let d = desc_digest(desc)?;
        if is_foreign_layer(&desc.media_type) && !desc.urls.is_empty() {
            continue;
        }
        let size = match m {
            Manifest::Index(_) => registry::manifest(s, repo, &d)?.map(|r| r.size),
            Manifest::Image(_) if registry::blob_linked(s, repo, &d)? => {
                std::fs::metadata(s.layout().blob_path(&d))
                    .ok()
                    .map(|m| m.len())
            }
            Manifest::Image(_) => None,
        };
        match size {
            None => missing.push(d),
            Some(n) if n != desc.size => {
                return Err(invalid(format!(
                    "{d} is {n} bytes, the manifest says {}",
                    desc.size
                )))
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let mut e = ApiError::new(Code::ManifestBlobUnknown);
    for d in missing {
        e = e.with_detail(json!({ "digest": d.to_string() }));
    }
    Err(e)
}

/// An image manifest strata can store as an image: an image config and
/// tar layers (plain, gzip, zstd). Artifacts and foreign layers are kept
/// by the registry only.
pub(crate) fn importable(m: &Manifest) -> bool {
    let Manifest::Image(i) = m else {
        return false;
    };
    [DOCKER_CONFIG, OCI_CONFIG].contains(&i.config.media_type.as_str())
        && i.layers.iter().all(|l| {
            [
                DOCKER_LAYER_GZIP,
                OCI_LAYER_TAR,
                OCI_LAYER_GZIP,
                OCI_LAYER_ZSTD,
            ]
            .contains(&l.media_type.as_str())
        })
}

/// For an image strata will store: the config must be an image config with
/// one diff_id per layer (the layers themselves are checked when imported,
/// after the push; see `importer`).
fn check_config(s: &Store, m: &Manifest) -> ApiResult<()> {
    let Manifest::Image(i) = m else {
        return Ok(());
    };
    let d = desc_digest(&i.config)?;
    let config = registry::read_small_blob(s, &d)?;
    registry::check_image_config(&config, &d, i.layers.len())
        .map_err(|e| invalid(format!("image config: {e}")))
}

fn row(digest: Digest, size: u64, m: &Manifest) -> ApiResult<ManifestRow> {
    let (artifact_type, annotations) = match m {
        Manifest::Image(i) => (
            i.artifact_type
                .clone()
                .or_else(|| Some(i.config.media_type.clone())),
            i.annotations.as_ref(),
        ),
        Manifest::Index(i) => (i.artifact_type.clone(), i.annotations.as_ref()),
    };
    Ok(ManifestRow {
        digest,
        media_type: m.media_type().to_string(),
        size,
        artifact_type,
        annotations: annotations.map(|a| serde_json::Value::Object(a.clone()).to_string()),
        subject: m.subject().map(desc_digest).transpose()?,
        image_id: None,
    })
}

/// The tags a push applies: the reference itself when it is a tag; for a
/// push by digest, each `?tag=` (spec end-7, pushing a manifest with
/// tags), every one checked before anything is stored so a bad one
/// applies none. The spec's error codes have no `TAG_INVALID` (a legacy
/// Docker code), so a bad tag is `MANIFEST_INVALID`, as in the path.
fn push_tags(r: &ManifestRef, query: &[(String, String)]) -> ApiResult<Vec<String>> {
    if let ManifestRef::Tag(t) = r {
        return Ok(vec![t.clone()]);
    }
    let mut tags: Vec<String> = Vec::new();
    for (_, t) in query.iter().filter(|(k, _)| k == "tag") {
        if !valid_tag(t) {
            return Err(invalid(format!("invalid tag {t:?}")).with_detail(json!({ "tag": t })));
        }
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    Ok(tags)
}

pub async fn put(
    app: &App,
    repo: String,
    r: ManifestRef,
    query: Vec<(String, String)>,
    req: Request<Body>,
) -> ApiResult<Response<Body>> {
    let tags = push_tags(&r, &query)?;
    let too_large = || {
        ApiError::msg(
            Code::TooLarge,
            format!("manifest larger than {MAX_MANIFEST} bytes"),
        )
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = axum::body::to_bytes(req.into_body(), MAX_MANIFEST)
        .await
        .map_err(|_| too_large())?;
    let digest = Digest::of(&bytes);
    if let ManifestRef::Digest(d) = &r {
        if *d != digest {
            return Err(ApiError::msg(
                Code::DigestInvalid,
                format!("manifest hashes to {digest}, not {d}"),
            )
            .with_detail(json!({ "digest": d.to_string() })));
        }
    }
    let m = Manifest::parse(content_type.as_deref(), &bytes).map_err(|e| invalid(e.to_string()))?;
    let (name, d, applied) = (repo.clone(), digest.clone(), tags.clone());
    let (subject, queued) = app
        .pool
        .run(move |s| {
            // Held until the manifest is recorded, so gc keeps its blobs.
            let _lock = s.layout().lock(false)?;
            check_references(s, &name, &m)?;
            let import = importable(&m);
            if import {
                check_config(s, &m)?;
            }
            layerstore::blobs::put(s.layout(), &bytes, Some(&d))?;
            let row = row(d, bytes.len() as u64, &m)?;
            let tags: Vec<&str> = applied.iter().map(String::as_str).collect();
            registry::put_manifest(s, &name, &row, &tags, import)?;
            Ok((row.subject, import))
        })
        .await?;
    if queued {
        app.importer.notify_one();
    }
    let mut hdrs = vec![
        ("Location", format!("/v2/{repo}/manifests/{digest}")),
        ("Docker-Content-Digest", digest.to_string()),
    ];
    if let Some(sd) = subject {
        hdrs.push(("OCI-Subject", sd.to_string()));
    }
    // One `OCI-Tag` per `?tag=` applied: a client seeing none knows the
    // registry ignored them and pushes by tag instead.
    if matches!(r, ManifestRef::Digest(_)) {
        hdrs.extend(tags.into_iter().map(|t| ("OCI-Tag", t)));
    }
    Ok(empty(StatusCode::CREATED, &hdrs))
}

pub async fn delete(app: &App, repo: String, r: ManifestRef) -> ApiResult<Response<Body>> {
    let existed = app
        .pool
        .run(move |s| {
            Ok(match &r {
                ManifestRef::Digest(d) => registry::delete_manifest(s, &repo, d)?,
                ManifestRef::Tag(t) => registry::delete_tag(s, &repo, t)?,
            })
        })
        .await?;
    if !existed {
        return Err(ApiError::new(Code::ManifestUnknown));
    }
    Ok(empty(StatusCode::ACCEPTED, &[]))
}
