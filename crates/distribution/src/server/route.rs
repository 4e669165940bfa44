//! Request paths → endpoints. Repository names contain slashes, so a path
//! is read from its right end (`…/manifests/REF`, `…/blobs/uploads/ID`,
//! `…/tags/list`, …) and what is left must be a valid repository name:
//! anything else (`..`, absolute paths, upper case) never reaches the store.

use layerstore::Digest;

use crate::names::{parse_digest, valid_repository, ManifestRef};
use crate::server::error::{ApiError, ApiResult, Code};

/// What a `/v2/…` path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    Manifest(String, ManifestRef),
    Blob(String, Digest),
    /// `/v2/NAME/blobs/uploads/` (start an upload)
    Uploads(String),
    /// `/v2/NAME/blobs/uploads/ID`
    Upload(String, String),
    Tags(String),
    Referrers(String, Digest),
}

/// Upload session ids are ours (hex); anything else is unknown.
fn valid_session(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn repo(name: &str) -> ApiResult<String> {
    if valid_repository(name) {
        Ok(name.to_string())
    } else {
        Err(ApiError::msg(
            Code::NameInvalid,
            format!("invalid repository name {name:?}"),
        ))
    }
}

fn digest(s: &str) -> ApiResult<Digest> {
    parse_digest(s).ok_or_else(|| {
        ApiError::msg(
            Code::DigestInvalid,
            format!("invalid digest {s:?}: expected sha256:<64 lowercase hex digits>"),
        )
    })
}

/// Parses a request path (already without its query). `None` is a path
/// outside the API (404 with no body).
pub fn parse(path: &str) -> Option<ApiResult<Route>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Ok(Route::Base));
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Ok(Route::Catalog));
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(repo(name).map(Route::Tags));
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(repo(name).map(Route::Uploads));
    }
    let (head, last) = rest.rsplit_once('/')?;
    if let Some(name) = head.strip_suffix("/blobs/uploads") {
        if !valid_session(last) {
            return Some(Err(ApiError::new(Code::BlobUploadUnknown)));
        }
        return Some(repo(name).map(|n| Route::Upload(n, last.to_string())));
    }
    if let Some(name) = head.strip_suffix("/manifests") {
        let r = ManifestRef::parse(last).ok_or_else(|| {
            let code = if last.contains(':') {
                Code::DigestInvalid
            } else {
                Code::ManifestInvalid
            };
            ApiError::msg(code, format!("invalid reference {last:?}"))
        });
        return Some(repo(name).and_then(|n| r.map(|r| Route::Manifest(n, r))));
    }
    if let Some(name) = head.strip_suffix("/blobs") {
        return Some(repo(name).and_then(|n| digest(last).map(|d| Route::Blob(n, d))));
    }
    if let Some(name) = head.strip_suffix("/referrers") {
        return Some(repo(name).and_then(|n| digest(last).map(|d| Route::Referrers(n, d))));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> Route {
        parse(p).unwrap().unwrap()
    }
    fn code(p: &str) -> Code {
        parse(p).unwrap().unwrap_err().code
    }

    #[test]
    fn paths() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(ok("/v2/"), Route::Base);
        assert_eq!(ok("/v2"), Route::Base);
        assert_eq!(ok("/v2/_catalog"), Route::Catalog);
        assert_eq!(ok("/v2/a/b/tags/list"), Route::Tags("a/b".into()));
        assert_eq!(
            ok("/v2/a/manifests/v1"),
            Route::Manifest("a".into(), ManifestRef::Tag("v1".into()))
        );
        // A repository may have a component called "blobs" or "manifests".
        assert!(
            matches!(ok(&format!("/v2/x/blobs/y/blobs/{d}")), Route::Blob(n, _) if n == "x/blobs/y")
        );
        assert_eq!(ok("/v2/x/blobs/uploads/"), Route::Uploads("x".into()));
        assert_eq!(ok("/v2/x/blobs/uploads"), Route::Uploads("x".into()));
        assert_eq!(
            ok("/v2/x/blobs/uploads/abc123"),
            Route::Upload("x".into(), "abc123".into())
        );
        assert!(matches!(
            ok(&format!("/v2/x/referrers/{d}")),
            Route::Referrers(..)
        ));
        assert!(parse("/v3/x").is_none());
        assert!(parse("/v2/x/unknown/y").is_none());
    }

    #[test]
    fn refusals() {
        assert_eq!(code("/v2/../etc/tags/list"), Code::NameInvalid);
        assert_eq!(code("/v2//etc/passwd/manifests/x"), Code::NameInvalid);
        assert_eq!(code("/v2/A/manifests/x"), Code::NameInvalid);
        assert_eq!(code("/v2/a/manifests/sha256:abc"), Code::DigestInvalid);
        assert_eq!(code("/v2/a/manifests/.x"), Code::ManifestInvalid);
        assert_eq!(code("/v2/a/blobs/sha512:ab"), Code::DigestInvalid);
        assert_eq!(code("/v2/a/blobs/uploads/.."), Code::BlobUploadUnknown);
        assert!(parse("/v2/a/blobs/uploads/../../x").is_none());
    }
}
