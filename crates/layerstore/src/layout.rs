//! The store's directory layout and its process-wide lock.
//!
//! ```text
//! ROOT/strata.db          SQLite metadata (WAL)
//! ROOT/lock               flock: loads hold it shared, gc holds it exclusive
//! ROOT/blobs/sha256/HEX   manifests and configs
//! ROOT/objects/HE/X...    file contents, one file per distinct content, 0444
//! ROOT/layers/HEX/index   per-layer index, HEX = the layer's diff_id
//! ROOT/tmp/               staging; everything enters the store by rename
//! ```
//!
//! Readers never take the lock: every path they can see was renamed into
//! place complete. Writers that add content take it shared, so several loads
//! run at once; gc takes it exclusive so it never deletes an object a load
//! has staged but not yet recorded in the database.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{IoContext, Result};

/// Paths inside one store root.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Creates the directory skeleton if needed.
    pub fn create(root: &Path) -> Result<Layout> {
        let l = Layout {
            root: root.to_path_buf(),
        };
        for d in [l.blobs_dir(), l.objects_dir(), l.layers_dir(), l.tmp_dir()] {
            fs::create_dir_all(&d).ctx(|| format!("creating {}", d.display()))?;
        }
        Ok(l)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Flushes everything written to the store's filesystem (one `syncfs`,
    /// far cheaper than an fsync per object).
    pub fn sync(&self) -> Result<()> {
        let dir = File::open(&self.root).ctx(|| format!("opening {}", self.root.display()))?;
        // SAFETY: syncfs on an fd we own; it takes no pointers.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(std::io::Error::last_os_error())
                .ctx(|| format!("syncing {}", self.root.display()));
        }
        Ok(())
    }
    pub fn db_path(&self) -> PathBuf {
        self.root.join("strata.db")
    }
    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }
    pub fn objects_dir(&self) -> PathBuf {
        self.root.join("objects")
    }
    pub fn object_path(&self, d: &Digest) -> PathBuf {
        let h = d.hex();
        self.objects_dir().join(&h[..2]).join(&h[2..])
    }
    pub fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.layers_dir().join(diff_id.hex())
    }
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// A fresh private staging directory under `tmp/`, removed on drop.
    pub fn staging(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("stage-")
            .tempdir_in(self.tmp_dir())
            .ctx(|| format!("creating staging dir in {}", self.tmp_dir().display()))
    }

    /// Takes the store lock shared (adding content) or exclusive (gc).
    pub fn lock(&self, exclusive: bool) -> Result<StoreLock> {
        lock_file(&self.root.join("lock"), exclusive)
    }
}

fn lock_file(path: &Path, exclusive: bool) -> Result<StoreLock> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ctx(|| format!("opening {}", path.display()))?;
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    loop {
        // SAFETY: flock on a file descriptor we own for the whole call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(StoreLock { _file: file });
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).ctx(|| format!("locking {}", path.display()));
        }
    }
}

/// Held store lock; released when dropped (the fd closes).
pub struct StoreLock {
    _file: File,
}

/// Renames `from` to `to` unless `to` already exists. Returns whether this
/// call put it there. Losing the race to a concurrent writer of the same
/// content-addressed name is success, not an error.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> Result<bool> {
    let c_from = cstr(from);
    let c_to = cstr(to);
    // SAFETY: both are valid NUL-terminated paths that live across the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            c_from.as_ptr(),
            libc::AT_FDCWD,
            c_to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EEXIST) | Some(libc::ENOTEMPTY) => Ok(false),
        // Filesystems without RENAME_NOREPLACE: check, then plain rename.
        // Both names are content-addressed, so replacing is harmless.
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            if to.exists() {
                return Ok(false);
            }
            fs::rename(from, to)
                .ctx(|| format!("renaming {} to {}", from.display(), to.display()))?;
            Ok(true)
        }
        _ => Err(err).ctx(|| format!("renaming {} to {}", from.display(), to.display())),
    }
}

fn cstr(p: &Path) -> std::ffi::CString {
    use std::os::unix::ffi::OsStrExt;
    // Store paths are built by us and never contain NUL.
    std::ffi::CString::new(p.as_os_str().as_bytes()).expect("store path contains NUL")
}

impl Layout {
    /// Exclusive lock held only while opening the database, separate from
    /// the store lock so opening never waits for a long load or gc.
    pub(crate) fn init_lock(&self) -> Result<StoreLock> {
        lock_file(&self.root.join("init.lock"), true)
    }
}

/// Writes `path` through a temporary file beside it that is renamed into
/// place only once complete, so a failed write leaves no partial file.
/// `io` turns an I/O failure, with what was being done, into the caller's
/// error type.
pub fn write_file_atomically<E>(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::result::Result<(), E>,
    io: impl Fn(String, std::io::Error) -> E,
) -> std::result::Result<(), E> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| io(format!("creating a temp file in {}", dir.display()), e))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush()
            .map_err(|e| io(format!("writing {}", path.display()), e))?;
    }
    tmp.persist(path)
        .map_err(|e| io(format!("renaming into {}", path.display()), e.error))?;
    Ok(())
}
