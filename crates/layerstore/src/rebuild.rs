//! Rebuilds a layer's uncompressed tar from its index and the object pool:
//! each entry's raw bytes, then its object's bytes, then the trailer. The
//! result is checked against the diff_id as it streams, so a damaged store
//! can never silently produce a different layer.

use std::fs::File;
use std::io::{self, Read};

use crate::digest::HashingReader;
use crate::error::{IoContext, Result};
use crate::index::LayerIndex;
use crate::layout::Layout;
use crate::objects;

/// Streams the layer tar; see [`verified_tar`].
struct TarStream<'a> {
    layout: &'a Layout,
    index: &'a LayerIndex,
    next: usize,
    /// Raw bytes still to emit, from the current entry or the trailer.
    raw: &'a [u8],
    data: Option<io::Take<File>>,
    trailer_done: bool,
}

impl Read for TarStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.raw.is_empty() {
                let n = self.raw.len().min(buf.len());
                buf[..n].copy_from_slice(&self.raw[..n]);
                self.raw = &self.raw[n..];
                return Ok(n);
            }
            if let Some(d) = &mut self.data {
                let n = d.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                if d.limit() > 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "object shorter than its entry",
                    ));
                }
                self.data = None;
                // The padding after this data is the next entry's raw.
            }
            let entries = self.index.entries();
            if self.next < entries.len() {
                let e = &entries[self.next];
                self.next += 1;
                self.raw = &e.raw;
                if e.data_in_tar {
                    let d = e.object.as_ref().expect("file entry has an object");
                    let f = objects::open(self.layout, d)
                        .map_err(|err| io::Error::other(err.to_string()))?;
                    self.data = Some(f.take(e.size));
                }
                continue;
            }
            if !self.trailer_done {
                self.trailer_done = true;
                self.raw = self.index.trailer();
                continue;
            }
            return Ok(0);
        }
    }
}

/// A reader of the rebuilt layer tar that fails at its end if the bytes did
/// not hash to the layer's diff_id.
pub struct VerifiedTar<'a> {
    inner: HashingReader<TarStream<'a>>,
    index: &'a LayerIndex,
    checked: bool,
}

impl Read for VerifiedTar<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.checked {
            self.checked = true;
            let (d, size) = self.inner.digest_so_far();
            if d != *self.index.diff_id() || size != self.index.tar_size() {
                return Err(io::Error::other(format!(
                    "rebuilt layer {} hashes to {d} ({size} bytes): store is damaged, run fsck",
                    self.index.diff_id()
                )));
            }
        }
        Ok(n)
    }
}

/// The byte-identical uncompressed tar of a stored layer.
pub fn verified_tar<'a>(layout: &'a Layout, index: &'a LayerIndex) -> VerifiedTar<'a> {
    VerifiedTar {
        inner: HashingReader::new(TarStream {
            layout,
            index,
            next: 0,
            raw: &[],
            data: None,
            trailer_done: false,
        }),
        index,
        checked: false,
    }
}

/// Rebuilds a layer to a sink, returning an error if it does not match.
pub fn check_layer(layout: &Layout, index: &LayerIndex) -> Result<()> {
    io::copy(&mut verified_tar(layout, index), &mut io::sink())
        .map(|_| ())
        .ctx(|| format!("rebuilding layer {}", index.diff_id()))
}
