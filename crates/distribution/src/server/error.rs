//! The spec's error responses: a status code and the JSON body
//! `{"errors":[{"code","message","detail"}]}` that clients print.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// One of the spec's error codes, with the status it is sent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    TooLarge,
    Unauthorized,
    Denied,
    Unsupported,
    PaginationInvalid,
    RangeInvalid,
    Internal,
}

impl Code {
    fn parts(self) -> (StatusCode, &'static str, &'static str) {
        use Code::*;
        match self {
            BlobUnknown => (
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                "blob unknown to registry",
            ),
            BlobUploadInvalid => (
                StatusCode::BAD_REQUEST,
                "BLOB_UPLOAD_INVALID",
                "blob upload invalid",
            ),
            BlobUploadUnknown => (
                StatusCode::NOT_FOUND,
                "BLOB_UPLOAD_UNKNOWN",
                "blob upload unknown to registry",
            ),
            DigestInvalid => (
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                "provided digest did not match uploaded content",
            ),
            ManifestBlobUnknown => (
                StatusCode::BAD_REQUEST,
                "MANIFEST_BLOB_UNKNOWN",
                "manifest references a blob unknown to registry",
            ),
            ManifestInvalid => (
                StatusCode::BAD_REQUEST,
                "MANIFEST_INVALID",
                "manifest invalid",
            ),
            ManifestUnknown => (
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                "manifest unknown",
            ),
            NameInvalid => (
                StatusCode::BAD_REQUEST,
                "NAME_INVALID",
                "invalid repository name",
            ),
            NameUnknown => (
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                "repository name not known to registry",
            ),
            SizeInvalid => (
                StatusCode::BAD_REQUEST,
                "SIZE_INVALID",
                "provided length did not match content length",
            ),
            TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "SIZE_INVALID",
                "content larger than this registry accepts",
            ),
            Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "authentication required",
            ),
            Denied => (
                StatusCode::FORBIDDEN,
                "DENIED",
                "requested access to the resource is denied",
            ),
            Unsupported => (
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "the operation is unsupported",
            ),
            PaginationInvalid => (
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                "invalid number of results requested",
            ),
            RangeInvalid => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UPLOAD_INVALID",
                "requested range not satisfiable",
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "internal error",
            ),
        }
    }

    pub fn status(self) -> StatusCode {
        self.parts().0
    }
}

/// An error response: a code, an optional message replacing the default,
/// detail JSON, and extra headers (`Range` on 416, `WWW-Authenticate`).
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: Option<String>,
    pub detail: Vec<Value>,
    pub headers: Vec<(String, String)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code) -> ApiError {
        ApiError {
            code,
            message: None,
            detail: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn msg(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            message: Some(message.into()),
            ..ApiError::new(code)
        }
    }

    /// One error entry per detail (e.g. one per missing blob).
    pub fn with_detail(mut self, detail: Value) -> ApiError {
        self.detail.push(detail);
        self
    }

    pub fn with_header(mut self, name: &str, value: String) -> ApiError {
        self.headers.push((name.to_string(), value));
        self
    }
}

impl From<layerstore::Error> for ApiError {
    fn from(e: layerstore::Error) -> ApiError {
        tracing::error!("store: {e}");
        ApiError::msg(Code::Internal, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, default) = self.code.parts();
        let message = self.message.unwrap_or_else(|| default.to_string());
        let details = if self.detail.is_empty() {
            vec![Value::Null]
        } else {
            self.detail
        };
        let errors: Vec<Value> = details
            .into_iter()
            .map(|d| {
                let mut e = json!({ "code": code, "message": message });
                if !d.is_null() {
                    e["detail"] = d;
                }
                e
            })
            .collect();
        let mut r = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            json!({ "errors": errors }).to_string(),
        )
            .into_response();
        for (name, value) in self.headers {
            if let (Ok(n), Ok(v)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                r.headers_mut().insert(n, v);
            }
        }
        r
    }
}
