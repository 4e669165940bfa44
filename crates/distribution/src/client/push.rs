//! `strata push`: each layer's blob is one the registry already has when
//! the store knows one (pulled from or pushed to it: HEAD, or a cross-
//! repository mount), else the layer is rebuilt from the store, compressed
//! deterministically and uploaded (monolithic PUT when small, chunked
//! PATCH otherwise); then the config and an OCI manifest. The same image
//! pushed twice gives the same manifest digest.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use layerstore::compression::{encoder, Compression};
use layerstore::layout::Layout;
use layerstore::origins::{ImageOrigin, LayerBlob};
use layerstore::{blobs, images, rebuild, Digest, LayerIndex, Reference, Store};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use super::error::{chain, Error, Result};
use super::progress::{short, LayerLine, Progress};
use super::registry_api::scope;
use super::transport::{registry_error, Options, Registry, Req};
use crate::manifest::{self, Descriptor, ImageManifest};

/// Bytes per PATCH (raised to the registry's `OCI-Chunk-Min-Length`); a
/// blob no larger goes up in one PUT.
pub const CHUNK: usize = 16 << 20;

#[derive(Clone, Debug)]
pub struct PushOptions {
    /// Compression of uploaded layers; `None` reuses a blob of any
    /// compression the registry has and compresses new ones with gzip.
    pub compression: Option<Compression>,
    pub quiet: bool,
    pub parallel: usize,
}

/// Pushes the stored image `name` to the registry its reference names.
/// Returns the manifest digest.
pub fn push(store: &mut Store, name: &str, opts: &PushOptions, net: &Options) -> Result<Digest> {
    let r: Reference = name.parse::<Reference>()?.with_default_tag();
    let Some(tag) = r.tag().map(String::from) else {
        return Err(Error::msg(format!("{name}: push a tag, not a digest")));
    };
    let id = images::resolve(store, name)?.id;
    let config = blobs::get(store.layout(), &id)?;
    let diff_ids = store.image_layers(&id)?;
    let known: Vec<Vec<LayerBlob>> = diff_ids
        .iter()
        .map(|d| {
            let mut all = store.layer_blobs(d, r.domain(), r.path())?;
            // Without a format asked for, any blob will do, gzip ones
            // first: the default push of an image always picks the same.
            let want = opts.compression.unwrap_or(Compression::Gzip);
            all.retain(|b| {
                opts.compression.is_none() || compression_of(&b.media_type) == Some(want)
            });
            all.sort_by_key(|b| compression_of(&b.media_type) != Some(want));
            Ok(all)
        })
        .collect::<Result<_>>()?;

    let creds = super::credentials::lookup(r.domain())?;
    let reg = Registry::connect(r.domain(), net, creds)?;
    let progress = Progress::new(opts.quiet);
    progress.line(&format!(
        "The push refers to repository [{}]",
        r.repository()
    ));
    let ctx = Ctx {
        reg: &reg,
        repo: r.path(),
        scopes: vec![scope(r.path(), "pull,push")],
        layout: store.layout().clone(),
        compression: opts.compression.unwrap_or(Compression::Gzip),
    };
    let lines: Vec<LayerLine> = diff_ids
        .iter()
        .map(|d| progress.layer(short(d), "Preparing"))
        .collect();
    let blobs = push_layers(&ctx, &diff_ids, &known, &lines, opts.parallel.max(1))?;

    let config_digest = id.clone();
    let mut up = Upload::new(&ctx);
    if let Err(e) = up.write_all(&config) {
        return Err(up.error(e));
    }
    up.finish()?;
    let m = ImageManifest {
        schema_version: 2,
        media_type: Some(manifest::OCI_MANIFEST.into()),
        artifact_type: None,
        config: descriptor(manifest::OCI_CONFIG, &config_digest, config.len() as u64),
        layers: blobs
            .iter()
            .map(|b| descriptor(&oci_media_type(&b.media_type), &b.digest, b.size))
            .collect(),
        subject: None,
        annotations: None,
    };
    let bytes = serde_json::to_vec(&m).expect("manifests serialise");
    let digest = Digest::of(&bytes);
    let resp = reg.send(
        Req::new(
            Method::PUT,
            format!("/v2/{}/manifests/{tag}", r.path()),
            &ctx.scopes,
        )
        .header("Content-Type", manifest::OCI_MANIFEST)
        .body(bytes.clone()),
    )?;
    if !resp.status().is_success() {
        return Err(registry_error(
            &format!("pushing the manifest of {}", r.familiar()),
            resp,
        ));
    }
    let origin = ImageOrigin {
        repo_digest: Some((r.repository(), digest.clone())),
        layers: diff_ids.into_iter().zip(blobs).collect(),
    };
    store.record_origin(&id, &origin)?;
    progress.line(&format!("{tag}: digest: {digest} size: {}", bytes.len()));
    Ok(digest)
}

fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: digest.to_string(),
        size,
        urls: Vec::new(),
        annotations: None,
        platform: None,
        artifact_type: None,
    }
}

/// The compression a layer media type names.
fn compression_of(media_type: &str) -> Option<Compression> {
    if media_type.ends_with("gzip") {
        Some(Compression::Gzip)
    } else if media_type.ends_with("zstd") {
        Some(Compression::Zstd)
    } else if media_type == manifest::OCI_LAYER_TAR {
        Some(Compression::None)
    } else {
        None
    }
}

/// The OCI layer media type for a blob of this media type's compression.
fn oci_media_type(media_type: &str) -> String {
    match compression_of(media_type) {
        Some(Compression::Gzip) => manifest::OCI_LAYER_GZIP,
        Some(Compression::Zstd) => manifest::OCI_LAYER_ZSTD,
        _ => manifest::OCI_LAYER_TAR,
    }
    .into()
}

/// What every layer upload shares.
struct Ctx<'a> {
    reg: &'a Registry,
    repo: &'a str,
    scopes: Vec<String>,
    layout: Layout,
    compression: Compression,
}

impl Ctx<'_> {
    /// `HEAD /v2/REPO/blobs/DIGEST`.
    fn exists(&self, d: &Digest) -> Result<bool> {
        let resp = self.reg.send(Req::new(
            Method::HEAD,
            format!("/v2/{}/blobs/{d}", self.repo),
            &self.scopes,
        ))?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(registry_error(&format!("checking blob {d}"), resp)),
        }
    }

    /// Asks the registry to mount `b` from its repository. True when it
    /// did (201); a 202 is an upload session, abandoned here.
    fn mount(&self, b: &LayerBlob) -> Result<bool> {
        let scopes = [self.scopes[0].clone(), scope(&b.repository, "pull")];
        let url = format!(
            "/v2/{}/blobs/uploads/?mount={}&from={}",
            self.repo, b.digest, b.repository
        );
        let resp = self.reg.send(Req::new(Method::POST, url, &scopes))?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                if let Some(loc) = location(&resp) {
                    // Best effort: the registry expires abandoned sessions.
                    let _ = self.reg.send(Req::new(Method::DELETE, loc, &self.scopes));
                }
                Ok(false)
            }
            _ => Err(registry_error(&format!("mounting blob {}", b.digest), resp)),
        }
    }

    /// Puts one layer in the registry; returns the blob that carries it.
    fn layer(&self, diff_id: &Digest, known: &[LayerBlob], line: &LayerLine) -> Result<LayerBlob> {
        for b in known {
            if b.repository == self.repo {
                if self.exists(&b.digest)? {
                    line.done("Layer already exists");
                    return Ok(b.clone());
                }
            } else if self.mount(b)? {
                line.done(&format!("Mounted from {}", b.repository));
                return Ok(LayerBlob {
                    repository: self.repo.to_string(),
                    ..b.clone()
                });
            }
        }
        let index = LayerIndex::load(&self.layout, diff_id)?;
        line.start("Pushing", index.tar_size());
        let tar = Counted {
            inner: rebuild::verified_tar(&self.layout, &index),
            line,
        };
        let mut up = Upload::new(self);
        let sent = (|| {
            let mut enc = encoder(self.compression, &mut up)?;
            copy(tar, &mut enc)?;
            enc.finish().map(|_| ())
        })();
        if let Err(e) = sent {
            return Err(up.error(e));
        }
        let (digest, size, existed) = up.finish()?;
        line.done(if existed {
            "Layer already exists"
        } else {
            "Pushed"
        });
        let media_type = match self.compression {
            Compression::Gzip => manifest::OCI_LAYER_GZIP,
            Compression::Zstd => manifest::OCI_LAYER_ZSTD,
            Compression::None => manifest::OCI_LAYER_TAR,
        };
        Ok(LayerBlob {
            registry: self.reg.host().to_string(),
            repository: self.repo.to_string(),
            digest,
            size,
            media_type: media_type.into(),
        })
    }
}

/// `io::copy` with a large buffer: the rebuilt tar is read in big pieces.
fn copy(mut from: impl Read, to: &mut impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0;
    loop {
        let got = from.read(&mut buf)?;
        if got == 0 {
            return Ok(n);
        }
        to.write_all(&buf[..got])?;
        n += got as u64;
    }
}

/// Counts bytes read on a layer's line.
struct Counted<'a, R> {
    inner: R,
    line: &'a LayerLine<'a>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.line.inc(n as u64);
        Ok(n)
    }
}

fn push_layers(
    ctx: &Ctx,
    diff_ids: &[Digest],
    known: &[Vec<LayerBlob>],
    lines: &[LayerLine],
    parallel: usize,
) -> Result<Vec<LayerBlob>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let results: Vec<Mutex<Option<LayerBlob>>> =
        diff_ids.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..parallel.min(diff_ids.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= diff_ids.len() || failed.load(Ordering::Relaxed) {
                    return;
                }
                match ctx.layer(&diff_ids[i], &known[i], &lines[i]) {
                    Ok(b) => *results[i].lock().expect("results lock") = Some(b),
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        first_error.lock().expect("error lock").get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("error lock") {
        return Err(e);
    }
    Ok(results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .expect("results lock")
                .expect("every layer pushed")
        })
        .collect())
}

fn location(resp: &reqwest::blocking::Response) -> Option<String> {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// A blob upload fed through `Write`: hashes what it is given, buffers up
/// to a chunk, and sends each full chunk with PATCH. A blob that never
/// fills a chunk is HEADed by digest and, if missing, sent in one PUT.
struct Upload<'a> {
    ctx: &'a Ctx<'a>,
    chunk: usize,
    buf: Vec<u8>,
    hasher: Sha256,
    size: u64,
    location: Option<String>,
    sent: u64,
    /// The registry error behind a failed write (io::Error cannot carry it).
    err: Option<Error>,
}

impl<'a> Upload<'a> {
    fn new(ctx: &'a Ctx<'a>) -> Upload<'a> {
        Upload {
            ctx,
            chunk: CHUNK,
            buf: Vec::new(),
            hasher: Sha256::new(),
            size: 0,
            location: None,
            sent: 0,
            err: None,
        }
    }

    /// The error to report for a failed write: the registry's if it was one.
    fn error(&mut self, e: io::Error) -> Error {
        self.err
            .take()
            .unwrap_or_else(|| Error::msg(format!("pushing a blob: {}", chain(&e))))
    }

    /// `POST /v2/REPO/blobs/uploads/`: opens a session.
    fn start(&mut self) -> Result<()> {
        let resp = self.ctx.reg.send(Req::new(
            Method::POST,
            format!("/v2/{}/blobs/uploads/", self.ctx.repo),
            &self.ctx.scopes,
        ))?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(registry_error("starting a blob upload", resp));
        }
        let min = resp
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        self.chunk = self.chunk.max(min);
        self.location = Some(
            location(&resp)
                .ok_or_else(|| Error::msg("the registry started an upload without a Location"))?,
        );
        Ok(())
    }

    /// PATCHes the buffered bytes as the next chunk.
    fn send_chunk(&mut self) -> Result<()> {
        let loc = self.location.clone().expect("session started");
        let body = std::mem::take(&mut self.buf);
        let len = body.len() as u64;
        let resp = self.ctx.reg.send(
            Req::new(Method::PATCH, loc, &self.ctx.scopes)
                .header("Content-Type", "application/octet-stream")
                .header(
                    "Content-Range",
                    format!("{}-{}", self.sent, self.sent + len - 1),
                )
                .body(body),
        )?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(registry_error("uploading a blob chunk", resp));
        }
        self.sent += len;
        self.location = location(&resp).or(self.location.take());
        Ok(())
    }

    /// Completes the upload. Returns the digest, the size, and whether the
    /// registry had the blob already.
    fn finish(mut self) -> Result<(Digest, u64, bool)> {
        let digest = Digest::from_hasher(self.hasher.clone());
        if self.location.is_none() {
            if self.ctx.exists(&digest)? {
                return Ok((digest, self.size, true));
            }
            self.start()?;
        } else if !self.buf.is_empty() {
            self.send_chunk()?;
        }
        let loc = self.location.clone().expect("session started");
        let sep = if loc.contains('?') { '&' } else { '?' };
        let body = std::mem::take(&mut self.buf);
        let resp = self.ctx.reg.send(
            Req::new(
                Method::PUT,
                format!("{loc}{sep}digest={digest}"),
                &self.ctx.scopes,
            )
            .header("Content-Type", "application/octet-stream")
            .body(body),
        )?;
        if resp.status() != StatusCode::CREATED {
            return Err(registry_error(
                &format!("completing the upload of {digest}"),
                resp,
            ));
        }
        Ok((digest, self.size, false))
    }
}

impl Write for Upload<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.hasher.update(data);
        self.size += data.len() as u64;
        self.buf.extend_from_slice(data);
        if self.buf.len() >= self.chunk {
            let r = match self.location {
                None => self.start().and_then(|()| {
                    if self.buf.len() >= self.chunk {
                        self.send_chunk()
                    } else {
                        Ok(())
                    }
                }),
                Some(_) => self.send_chunk(),
            };
            if let Err(e) = r {
                let msg = e.to_string();
                self.err = Some(e);
                return Err(io::Error::other(msg));
            }
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
