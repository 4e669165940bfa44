//! The store's one error type. Every message is one line naming what
//! failed, where, and why, with untrusted text escaped (see [`Display`]),
//! because the CLI and the runner print it verbatim.

use std::fmt;
use std::path::PathBuf;

use crate::escape::{escape, Escaped};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    Db(#[from] rusqlite::Error),
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    InvalidDigest(String),
    InvalidReference(String, &'static str),
    ImageNotFound(String),
    AmbiguousImage(String),
    /// `path` is the entry's name as [`escape`]d bytes.
    BadEntry {
        layer: String,
        path: String,
        reason: String,
    },
    BadTar {
        layer: String,
        reason: String,
    },
    BadArchive {
        archive: String,
        reason: String,
    },
    MissingMember {
        archive: String,
        member: String,
    },
    UnknownMediaType(String),
    BadJson {
        path: String,
        reason: String,
    },
    BadChange(String, String),
    Corrupt(PathBuf, String),
    NotAFile(PathBuf),
    Conflict(String),
}

/// The message is built whole and then escaped, so no field — an archive's
/// member names, a layer label, a parser's message quoting header bytes —
/// can break the line or reach the terminal as control characters.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            Error::Io { context, source } => format!("{context}: {}", one_line(source)),
            Error::Db(e) => format!("metadata database: {e}"),
            Error::DigestMismatch {
                what,
                expected,
                actual,
            } => format!("{what}: digest mismatch: expected {expected}, got {actual}"),
            Error::SizeMismatch {
                what,
                expected,
                actual,
            } => format!("{what}: size mismatch: expected {expected} bytes, got {actual}"),
            Error::InvalidDigest(d) => {
                format!("invalid digest {d:?}: expected sha256:<64 hex digits>")
            }
            Error::InvalidReference(r, why) => format!("invalid reference format {r:?}: {why}"),
            Error::ImageNotFound(name) => format!("no such image: {name}"),
            Error::AmbiguousImage(name) => {
                format!("image reference {name:?} is ambiguous: it matches several image IDs")
            }
            Error::BadEntry {
                layer,
                path,
                reason,
            } => format!("layer {layer}: tar entry \"{path}\": {reason}"),
            Error::BadTar { layer, reason } => {
                format!("layer {layer}: invalid tar stream: {reason}")
            }
            Error::BadArchive { archive, reason } => format!("archive {archive}: {reason}"),
            Error::MissingMember { archive, member } => {
                format!("archive {archive}: missing {member}")
            }
            Error::UnknownMediaType(mt) => format!("unsupported media type {mt:?}"),
            Error::BadJson { path, reason } => format!("{path}: {reason}"),
            Error::BadChange(change, why) => format!("invalid --change {change:?}: {why}"),
            Error::Corrupt(path, why) => {
                format!("store at {} is corrupt: {why}", path.display())
            }
            Error::NotAFile(path) => format!("{}: not a regular file", path.display()),
            Error::Conflict(msg) => msg.clone(),
        };
        write!(f, "{}", Escaped(msg))
    }
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

/// Longest parser message kept in an error, in characters once escaped.
const MAX_PARSER_MESSAGE: usize = 200;

/// Renders an error from a parser as one short line: tar and JSON errors
/// can quote the offending bytes, line breaks and escape sequences included.
pub(crate) fn one_line(e: impl fmt::Display) -> String {
    let s = escape(e.to_string());
    if s.chars().count() <= MAX_PARSER_MESSAGE {
        return s;
    }
    let mut out: String = s.chars().take(MAX_PARSER_MESSAGE).collect();
    out.push('…');
    out
}
