//! Reading one blob from a registry as a stream that survives dropped
//! connections: after a read error or an early end it asks again with
//! `Range: bytes=N-` (or skips N bytes if the registry ignores ranges),
//! with backoff, a bounded number of times. It never yields more bytes
//! than the descriptor's size.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::blocking::Response;
use reqwest::{Method, StatusCode};

use super::error::{Error, Result};
use super::progress::LayerLine;
use super::transport::{registry_error, Registry, Req};

/// Resumptions allowed per blob.
const MAX_RESUMES: u32 = 5;

pub struct BlobReader<'a> {
    reg: &'a Registry,
    path: String,
    scopes: &'a [String],
    size: u64,
    pos: u64,
    resp: Response,
    resumes: u32,
    /// Where the last resumption started: another one at the same place
    /// means the registry has nothing more to give.
    resumed_at: Option<u64>,
    cancel: &'a AtomicBool,
    line: &'a LayerLine<'a>,
}

impl<'a> BlobReader<'a> {
    /// Starts `GET /v2/REPO/blobs/DIGEST` for a blob of `size` bytes.
    pub fn open(
        reg: &'a Registry,
        repo: &str,
        digest: &str,
        size: u64,
        scopes: &'a [String],
        cancel: &'a AtomicBool,
        line: &'a LayerLine<'a>,
    ) -> Result<BlobReader<'a>> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let resp = reg.send(Req::new(Method::GET, &path, scopes))?;
        if resp.status() != StatusCode::OK {
            return Err(registry_error(&format!("fetching blob {digest}"), resp));
        }
        Ok(BlobReader {
            reg,
            path,
            scopes,
            size,
            pos: 0,
            resp,
            resumes: 0,
            resumed_at: None,
            cancel,
            line,
        })
    }

    /// Asks for the rest of the blob after `why` cut it short.
    fn resume(&mut self, why: String) -> io::Result<()> {
        if self.resumes == MAX_RESUMES || self.resumed_at == Some(self.pos) {
            return Err(io::Error::other(format!(
                "blob truncated: {why} after {} of {} bytes ({} resumptions)",
                self.pos, self.size, self.resumes
            )));
        }
        std::thread::sleep(self.reg.backoff(self.resumes));
        self.resumes += 1;
        self.resumed_at = Some(self.pos);
        tracing::info!(path = %self.path, at = self.pos, %why, "resuming download");
        let req = Req::new(Method::GET, &self.path, self.scopes)
            .header("Range", format!("bytes={}-", self.pos));
        let mut resp = self.reg.send(req).map_err(io::Error::other)?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let start = resp
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok());
                if start != Some(self.pos) {
                    return Err(io::Error::other(format!(
                        "resuming at byte {}: the registry sent another range",
                        self.pos
                    )));
                }
            }
            StatusCode::OK => {
                let skipped = io::copy(&mut (&mut resp).take(self.pos), &mut io::sink())?;
                if skipped != self.pos {
                    return Err(io::Error::other(format!(
                        "{why}: blob shorter on a second request"
                    )));
                }
            }
            _ => {
                let e: Error = registry_error("resuming a blob download", resp);
                return Err(io::Error::other(e.to_string()));
            }
        }
        self.resp = resp;
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
            }
            match self.resp.read(buf) {
                Ok(0) if self.pos < self.size => self.resume("connection ended early".into())?,
                Ok(n) => {
                    self.pos += n as u64;
                    if self.pos > self.size {
                        return Err(io::Error::other(format!(
                            "blob is longer than the {} bytes its descriptor says",
                            self.size
                        )));
                    }
                    self.line.inc(n as u64);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => self.resume(super::error::chain(&e))?,
            }
        }
    }
}
