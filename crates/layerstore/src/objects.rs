//! The file-level content-addressed pool: `objects/HE/X...` holds each
//! distinct regular-file content exactly once, read-only.
//!
//! New contents are first written to a staging directory; [`Staged::commit`]
//! renames them into the pool only after the whole layer they came from has
//! been verified, so a layer that fails verification leaves nothing behind.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::layout::{rename_noreplace, Layout};

/// Contents up to this size are hashed in memory first, so content already
/// in the pool is never written to disk at all.
const SMALL_FILE: usize = 1 << 20;
const READ_ONLY: u32 = 0o444;

/// Objects written to staging for one import, not yet in the pool.
pub struct Staged {
    dir: PathBuf,
    digests: HashSet<Digest>,
}

impl Staged {
    /// `dir` must be a fresh directory on the store's filesystem.
    pub fn new(dir: PathBuf) -> Result<Staged> {
        fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        Ok(Staged {
            dir,
            digests: HashSet::new(),
        })
    }

    /// Streams `data` (exactly `size` bytes) into staging unless the pool or
    /// this staging area already has that content. Returns its digest.
    pub fn add(&mut self, layout: &Layout, data: &mut dyn Read, size: u64) -> Result<Digest> {
        let what = || "reading file data from layer".to_string();
        if size <= SMALL_FILE as u64 {
            let mut buf = Vec::with_capacity(size as usize);
            data.take(size).read_to_end(&mut buf).ctx(what)?;
            check_len(buf.len() as u64, size)?;
            let d = Digest::of(&buf);
            if !self.have(layout, &d) {
                // The name is known before writing: staging is private.
                write_read_only(&self.dir.join(d.hex()), &buf)?;
                self.digests.insert(d.clone());
            }
            return Ok(d);
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)
            .ctx(|| format!("creating temp file in {}", self.dir.display()))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut left = size;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = data.read(&mut buf[..want]).ctx(what)?;
            if n == 0 {
                return Err(truncated(size - left, size));
            }
            h.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .ctx(|| "writing staged object".to_string())?;
            left -= n as u64;
        }
        let d = Digest::from_hasher(h);
        if !self.have(layout, &d) {
            let path = tmp
                .into_temp_path()
                .keep()
                .map_err(|e| e.error)
                .ctx(|| "keeping staged object".to_string())?;
            fs::set_permissions(&path, fs::Permissions::from_mode(READ_ONLY))
                .ctx(|| format!("chmod {}", path.display()))?;
            self.adopt(path, d.clone())?;
        }
        Ok(d)
    }

    fn have(&self, layout: &Layout, d: &Digest) -> bool {
        self.digests.contains(d) || layout.object_path(d).exists()
    }

    fn adopt(&mut self, tmp: PathBuf, d: Digest) -> Result<()> {
        let dest = self.dir.join(d.hex());
        fs::rename(&tmp, &dest).ctx(|| format!("renaming {}", tmp.display()))?;
        self.digests.insert(d);
        Ok(())
    }

    /// Moves every staged object into the pool. Objects a concurrent writer
    /// already placed there are left as they are (same content).
    pub fn commit(self, layout: &Layout) -> Result<()> {
        for d in &self.digests {
            let dest = layout.object_path(d);
            let parent = dest.parent().expect("object path has a parent");
            fs::create_dir_all(parent).ctx(|| format!("creating {}", parent.display()))?;
            let src = self.dir.join(d.hex());
            if !rename_noreplace(&src, &dest)? {
                fs::remove_file(&src).ctx(|| format!("removing {}", src.display()))?;
            }
        }
        Ok(())
    }
}

fn check_len(got: u64, want: u64) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(truncated(got, want))
    }
}

fn truncated(got: u64, want: u64) -> crate::error::Error {
    crate::error::Error::io(
        "reading file data from layer",
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("file data truncated: {got} of {want} bytes"),
        ),
    )
}

fn write_read_only(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = File::create(path).ctx(|| format!("creating {}", path.display()))?;
    f.write_all(data)
        .ctx(|| format!("writing {}", path.display()))?;
    f.set_permissions(fs::Permissions::from_mode(READ_ONLY))
        .ctx(|| format!("chmod {}", path.display()))
}

/// Opens a pool object for reading.
pub fn open(layout: &Layout, d: &Digest) -> Result<File> {
    let p = layout.object_path(d);
    File::open(&p).ctx(|| format!("opening object {}", p.display()))
}
