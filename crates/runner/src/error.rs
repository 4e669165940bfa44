//! One error type for the runner; every variant prints as one line that
//! says what failed, on what, and why.

use std::io;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The io::Error is part of the one line, not a `source`: the CLI prints
    // the whole chain, which would repeat it.
    #[error("{op} {path}: {cause}")]
    Path {
        op: &'static str,
        path: PathBuf,
        cause: io::Error,
    },
    #[error("{op}: {cause}")]
    Sys { op: String, cause: io::Error },
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("container name {0:?} is already in use")]
    NameInUse(String),
    #[error("container {0} is running: stop it first or use -f")]
    Running(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} has already been started")]
    AlreadyStarted(String),
    #[error("invalid {what} {value:?}: {why}")]
    Invalid {
        what: &'static str,
        value: String,
        why: String,
    },
    #[error("no command specified: the image has no ENTRYPOINT or CMD and none was given")]
    NoCommand,
    #[error("container state {path}: {why}")]
    State { path: PathBuf, why: String },
    #[error("cannot {op} container {id}: {why}")]
    Refused {
        op: &'static str,
        id: String,
        why: String,
    },
    /// The image store refused or failed: its message is the whole line
    /// (not a `source`, for the same reason as above).
    #[error("{0}")]
    Store(layerstore::Error),
    #[error("supervisor: {0}")]
    Supervisor(String),
    /// The container's command did not start; `code` is Docker's exit code
    /// for it (125, 126 not executable, 127 not found).
    #[error("{message}")]
    Start { code: i32, message: String },
}

impl Error {
    /// An I/O failure of `op` on `path`.
    pub fn path(op: &'static str, path: &Path, source: io::Error) -> Self {
        Error::Path {
            op,
            path: path.to_path_buf(),
            cause: source,
        }
    }

    /// A failed system call or operation without one path.
    pub fn sys(op: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Error::Sys {
            op: op.into(),
            cause: source.into(),
        }
    }

    /// The exit status `strata` ends with for this error (Docker's).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Start { code, .. } => *code,
            _ => crate::init::EXIT_ERROR,
        }
    }

    pub fn invalid(what: &'static str, value: impl Into<String>, why: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            value: value.into(),
            why: why.into(),
        }
    }
}

impl From<layerstore::Error> for Error {
    fn from(e: layerstore::Error) -> Self {
        Error::Store(e)
    }
}

/// Attaches a path and an operation to an `io::Result`.
pub trait PathContext<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> PathContext<T> for io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::path(op, path, e))
    }
}

impl<T> PathContext<T> for nix::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::path(op, path, e.into()))
    }
}
