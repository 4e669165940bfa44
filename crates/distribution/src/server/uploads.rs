//! Upload sessions. Each is a file `tmp/upload-ID` in the store plus, in
//! memory, the sha256 state of the bytes written so far, so chunks are
//! hashed once, as they arrive. A blob enters `blobs/sha256/` only when
//! the finished upload hashes to the digest the client names; a session
//! that is cancelled, fails, or stays idle past the timeout is removed
//! with its file. Sessions live in memory: after a restart clients start
//! their uploads again (the spec's 404 `BLOB_UPLOAD_UNKNOWN`).
//!
//! Writes hold the store lock shared, as loads do, so `system prune`
//! (which empties `tmp/`) waits for them; a session whose file was pruned
//! between two requests is reported unknown.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use layerstore::layout::Layout;
use layerstore::Digest;
use sha2::{Digest as _, Sha256};

use crate::server::error::{ApiError, ApiResult, Code};

const PREFIX: &str = "upload-";

/// One upload in progress.
pub struct Session {
    pub repo: String,
    pub id: String,
    path: PathBuf,
    /// Bytes received and hashed so far.
    pub offset: u64,
    hasher: Sha256,
    touched: Instant,
    /// Finished or cancelled; a request that waited for the lock sees it.
    closed: bool,
}

pub type SessionRef = Arc<tokio::sync::Mutex<Session>>;

pub struct Uploads {
    layout: Layout,
    sessions: Mutex<HashMap<String, SessionRef>>,
    pub timeout: Duration,
    pub max_size: u64,
}

fn session_id() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(hex::encode(b))
}

fn unknown() -> ApiError {
    ApiError::new(Code::BlobUploadUnknown)
}

impl Uploads {
    pub fn new(layout: Layout, timeout: Duration, max_size: u64) -> Uploads {
        Uploads {
            layout,
            sessions: Mutex::new(HashMap::new()),
            timeout,
            max_size,
        }
    }

    /// Starts a session for `repo` (an empty file in `tmp/`).
    pub fn start(&self, repo: &str) -> ApiResult<SessionRef> {
        let internal = |e: std::io::Error| ApiError::msg(Code::Internal, e.to_string());
        let id = session_id().map_err(internal)?;
        let path = self.layout.tmp_dir().join(format!("{PREFIX}{id}"));
        std::fs::File::create(&path).map_err(internal)?;
        let s = Arc::new(tokio::sync::Mutex::new(Session {
            repo: repo.to_string(),
            id: id.clone(),
            path,
            offset: 0,
            hasher: Sha256::new(),
            touched: Instant::now(),
            closed: false,
        }));
        self.sessions
            .lock()
            .expect("sessions")
            .insert(id, s.clone());
        Ok(s)
    }

    /// The open session `id` (its repository is checked by [`Uploads::check`]
    /// once it is locked).
    pub fn get(&self, id: &str) -> ApiResult<SessionRef> {
        self.sessions
            .lock()
            .expect("sessions")
            .get(id)
            .cloned()
            .ok_or_else(unknown)
    }

    /// Ends a session and removes its file (if it was not moved into the
    /// store).
    pub fn close(&self, s: &mut Session) {
        s.closed = true;
        self.sessions.lock().expect("sessions").remove(&s.id);
        let _ = std::fs::remove_file(&s.path);
    }

    /// Checks a locked session is still open and belongs to `repo`.
    pub fn check(&self, s: &Session, repo: &str) -> ApiResult<()> {
        if s.closed || s.repo != repo {
            return Err(unknown());
        }
        Ok(())
    }

    /// Appends a request body to the session, hashing as it writes. A body
    /// cut short (the client went away) keeps what arrived, so the client
    /// can ask for the offset and resume; a write failure or the size
    /// limit ends the session.
    pub async fn append(&self, s: &mut Session, body: Body) -> ApiResult<()> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let layout = self.layout.clone();
        let path = s.path.clone();
        let start = s.offset;
        let mut hasher = s.hasher.clone();
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<(Sha256, u64)> {
            let _lock = layout
                .lock(false)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let f = OpenOptions::new().append(true).open(&path)?;
            if f.metadata()?.len() != start {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "upload file changed under the session",
                ));
            }
            let mut w = BufWriter::with_capacity(1 << 20, f);
            let mut n = start;
            while let Some(b) = rx.blocking_recv() {
                w.write_all(&b)?;
                hasher.update(&b);
                n += b.len() as u64;
            }
            w.flush()?;
            Ok((hasher, n))
        });
        let mut stream = body.into_data_stream();
        let mut received = start;
        let mut too_large = false;
        while let Some(frame) = stream.next().await {
            let Ok(b) = frame else {
                tracing::debug!(upload = %s.id, "request body cut short");
                break;
            };
            received += b.len() as u64;
            if received > self.max_size {
                too_large = true;
                break;
            }
            if tx.send(b).await.is_err() {
                break;
            }
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r);
        match written {
            Ok(_) if too_large => {
                self.close(s);
                Err(ApiError::msg(
                    Code::TooLarge,
                    format!("upload larger than {} bytes", self.max_size),
                ))
            }
            Ok((hasher, n)) => {
                s.hasher = hasher;
                s.offset = n;
                s.touched = Instant::now();
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.close(s);
                Err(unknown())
            }
            Err(e) => {
                self.close(s);
                Err(ApiError::msg(
                    Code::Internal,
                    format!("writing upload: {e}"),
                ))
            }
        }
    }

    /// The digest of everything received, and the file holding it.
    pub fn digest(&self, s: &Session) -> (Digest, PathBuf) {
        let hex = hex::encode(s.hasher.clone().finalize());
        (
            Digest::from_hex(&hex).expect("sha256 is 64 hex digits"),
            s.path.clone(),
        )
    }

    /// Removes sessions idle for longer than the timeout (skipping those
    /// a request is using).
    pub fn expire(&self) {
        let all: Vec<SessionRef> = self
            .sessions
            .lock()
            .expect("sessions")
            .values()
            .cloned()
            .collect();
        for s in all {
            if let Ok(mut s) = s.try_lock() {
                if s.touched.elapsed() > self.timeout {
                    tracing::info!(upload = %s.id, repo = %s.repo, "upload session expired");
                    self.close(&mut s);
                }
            }
        }
    }

    /// Removes upload files left by an earlier server (killed, or stopped
    /// with sessions open) once they are older than the timeout.
    pub fn remove_stale_files(&self) {
        let Ok(dir) = std::fs::read_dir(self.layout.tmp_dir()) else {
            return;
        };
        for e in dir.flatten() {
            let stale = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > self.timeout);
            if stale && e.file_name().to_string_lossy().starts_with(PREFIX) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
