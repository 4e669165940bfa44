//! The distribution API calls pull and push share: manifests (bounded in
//! size, checked against their digest), small blobs (configs), tag lists.

use std::io::Read;

use layerstore::{Digest, Reference};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};

use super::error::{Error, Result};
use super::transport::{registry_error, Registry, Req};
use crate::manifest::ACCEPT;

/// Largest manifest read (containers/image's limit): real ones are a few
/// KiB, and a hostile registry must not make us buffer gigabytes.
pub const MAX_MANIFEST: u64 = 4 << 20;

/// `repository:PATH:ACTIONS`, the token scope for a repository.
pub fn scope(path: &str, actions: &str) -> String {
    format!("repository:{path}:{actions}")
}

/// Reads at most `limit` bytes of `r`, refusing more.
fn read_limited(r: impl Read, limit: u64, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::msg(format!("reading {what}: {}", super::error::chain(&e))))?;
    if buf.len() as u64 > limit {
        return Err(Error::msg(format!(
            "{what} is larger than {limit} bytes: refused"
        )));
    }
    Ok(buf)
}

/// A manifest as fetched: bytes, their digest, and the `Content-Type`.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub digest: Digest,
    pub content_type: Option<String>,
}

/// `GET /v2/PATH/manifests/REF`. With a digest reference the bytes must
/// hash to it.
pub fn manifest(
    reg: &Registry,
    r: &Reference,
    reference: &str,
    scopes: &[String],
) -> Result<Fetched> {
    let path = format!("/v2/{}/manifests/{reference}", r.path());
    let resp = reg.send(Req::new(Method::GET, path, scopes).header("Accept", ACCEPT))?;
    let shown = || {
        let base = r.familiar_repository();
        if reference.contains(':') {
            format!("{base}@{reference}")
        } else {
            format!("{base}:{reference}")
        }
    };
    match resp.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => {
            return Err(registry_error(&format!("manifest for {} not found", shown()), resp))
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            return Err(registry_error(
                &format!(
                    "pull access denied for {}: the repository does not exist or needs `strata login {}`",
                    r.familiar_repository(),
                    reg.host()
                ),
                resp,
            ))
        }
        _ => return Err(registry_error(&format!("fetching manifest for {}", shown()), resp)),
    }
    if resp.content_length().is_some_and(|n| n > MAX_MANIFEST) {
        return Err(Error::msg(format!(
            "manifest for {} is larger than {MAX_MANIFEST} bytes: refused",
            shown()
        )));
    }
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let bytes = read_limited(resp, MAX_MANIFEST, &format!("manifest for {}", shown()))?;
    let digest = Digest::of(&bytes);
    if let Ok(want) = reference.parse::<Digest>() {
        if want != digest {
            return Err(Error::msg(format!(
                "manifest for {}: digest mismatch: got {digest}",
                shown()
            )));
        }
    }
    Ok(Fetched {
        bytes,
        digest,
        content_type,
    })
}

/// A small blob (an image config), checked against its descriptor.
pub fn small_blob(
    reg: &Registry,
    path: &str,
    digest: &Digest,
    size: u64,
    scopes: &[String],
) -> Result<Vec<u8>> {
    let what = format!("blob {digest}");
    if size > layerstore::blobs::MAX_METADATA_BLOB {
        return Err(Error::msg(format!(
            "{what}: {size} bytes is too large for an image config"
        )));
    }
    let resp = reg.send(Req::new(
        Method::GET,
        format!("/v2/{path}/blobs/{digest}"),
        scopes,
    ))?;
    if resp.status() != StatusCode::OK {
        return Err(registry_error(&format!("fetching {what}"), resp));
    }
    let bytes = read_limited(resp, size, &what)?;
    let got = Digest::of(&bytes);
    if got != *digest || bytes.len() as u64 != size {
        return Err(Error::msg(format!(
            "{what}: digest mismatch: got {got} ({} bytes, expected {size})",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Every tag of a repository, following `Link: <…>; rel="next"` pages.
pub fn tags(reg: &Registry, path: &str, scopes: &[String]) -> Result<Vec<String>> {
    let mut url = format!("/v2/{path}/tags/list?n=1000");
    let mut out = Vec::new();
    loop {
        let resp = reg.send(Req::new(Method::GET, &url, scopes))?;
        if resp.status() != StatusCode::OK {
            return Err(registry_error(&format!("listing the tags of {path}"), resp));
        }
        let next = resp
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .filter(|l| l.contains("rel=\"next\""))
            .and_then(|l| Some(l.split_once('<')?.1.split_once('>')?.0.to_string()));
        let body = read_limited(resp, MAX_MANIFEST, "tag list")?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| Error::msg(format!("tag list of {path}: {e}")))?;
        for t in v
            .get("tags")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(t) = t.as_str().filter(|t| crate::names::valid_tag(t)) {
                out.push(t.to_string());
            }
        }
        match next {
            Some(n) if n != url => url = n,
            _ => return Ok(out),
        }
    }
}
