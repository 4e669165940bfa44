//! `blobs/sha256/`: manifests and image configs, stored under their digest.
//! A blob is written to `tmp/`, its digest checked, then renamed into place,
//! so a blob path that exists always holds exactly the bytes it names.

use std::fs;
use std::io::{Read, Write};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::layout::{rename_noreplace, Layout};

/// Manifests and configs are small; anything bigger is refused rather than
/// read into memory.
pub const MAX_METADATA_BLOB: u64 = 16 << 20;

/// Stores `bytes`, checking them against `expected` when given.
pub fn put(layout: &Layout, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
    let d = Digest::of(bytes);
    if let Some(e) = expected {
        if *e != d {
            return Err(Error::DigestMismatch {
                what: "blob".into(),
                expected: e.to_string(),
                actual: d.to_string(),
            });
        }
    }
    let dest = layout.blob_path(&d);
    if dest.exists() {
        return Ok(d);
    }
    let mut tmp = tempfile::NamedTempFile::new_in(layout.tmp_dir())
        .ctx(|| format!("creating temp file in {}", layout.tmp_dir().display()))?;
    tmp.write_all(bytes).ctx(|| "writing blob".to_string())?;
    let path = tmp
        .into_temp_path()
        .keep()
        .map_err(|e| e.error)
        .ctx(|| "keeping blob".to_string())?;
    if !rename_noreplace(&path, &dest)? {
        fs::remove_file(&path).ctx(|| format!("removing {}", path.display()))?;
    }
    Ok(d)
}

/// Reads a whole metadata blob.
pub fn get(layout: &Layout, d: &Digest) -> Result<Vec<u8>> {
    let p = layout.blob_path(d);
    fs::read(&p).ctx(|| format!("reading blob {}", p.display()))
}

/// Reads at most [`MAX_METADATA_BLOB`] bytes of a small JSON document from
/// an archive, refusing larger ones instead of buffering them.
pub fn read_bounded(mut r: impl Read, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    (&mut r)
        .take(MAX_METADATA_BLOB + 1)
        .read_to_end(&mut buf)
        .ctx(|| format!("reading {what}"))?;
    if buf.len() as u64 > MAX_METADATA_BLOB {
        return Err(Error::BadJson {
            path: what.to_string(),
            reason: format!("larger than {MAX_METADATA_BLOB} bytes"),
        });
    }
    Ok(buf)
}
