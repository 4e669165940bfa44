//! The store's one error type. Every variant renders as a single line naming
//! what failed, where, and why, because the CLI prints it verbatim.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {}", one_line(source))]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("metadata database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("invalid digest {0:?}: expected sha256:<64 hex digits>")]
    InvalidDigest(String),
    #[error("invalid reference format {0:?}: {1}")]
    InvalidReference(String, &'static str),
    #[error("no such image: {0}")]
    ImageNotFound(String),
    #[error("image reference {0:?} is ambiguous: it matches several image IDs")]
    AmbiguousImage(String),
    #[error("layer {layer}: tar entry {path:?}: {reason}")]
    BadEntry {
        layer: String,
        path: String,
        reason: String,
    },
    #[error("layer {layer}: invalid tar stream: {reason}")]
    BadTar { layer: String, reason: String },
    #[error("archive {archive}: {reason}")]
    BadArchive { archive: String, reason: String },
    #[error("archive {archive}: missing {member}")]
    MissingMember { archive: String, member: String },
    #[error("unsupported media type {0:?}")]
    UnknownMediaType(String),
    #[error("{path}: {reason}")]
    BadJson { path: String, reason: String },
    #[error("invalid --change {0:?}: {1}")]
    BadChange(String, String),
    #[error("store at {0} is corrupt: {1}")]
    Corrupt(PathBuf, String),
    #[error("{0}: not a regular file")]
    NotAFile(PathBuf),
    #[error("{0}")]
    Conflict(String),
}

impl Error {
    /// Wraps an I/O error with the operation and path it concerned.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Attaches a context line to `io::Result`s.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}

/// Renders an error from a parser as one short line: tar and JSON errors
/// can quote the offending bytes, newlines included.
pub(crate) fn one_line(e: impl std::fmt::Display) -> String {
    let s = e.to_string();
    let first = s.lines().next().unwrap_or("");
    let mut out: String = first.chars().take(200).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
