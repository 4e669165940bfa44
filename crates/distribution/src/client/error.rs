//! The client's error: one line that says what failed and why, since the
//! CLI prints it verbatim.

/// Everything a pull, push or login can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Store(#[from] layerstore::Error),
    #[error("{0}")]
    Manifest(#[from] crate::manifest::ManifestError),
    /// A transport failure, a refusal by the registry, or a policy limit.
    #[error("{0}")]
    Msg(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn msg(s: impl Into<String>) -> Error {
        Error::Msg(s.into())
    }
}

/// An error and every error under it on one line: reqwest's own message
/// ("error sending request") says nothing without its causes.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s.lines().collect::<Vec<_>>().join(" ")
}
