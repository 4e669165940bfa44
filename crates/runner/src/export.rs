//! `export`: a container's merged root filesystem as one flat tar, as
//! `docker export` writes it.
//!
//! The tree is read through a read-only strata-fs union of the container's
//! upper dir (as the top lower layer) over its image layers, mounted on a
//! private temp dir for the length of the walk. It has no upper and never
//! touches the container's work dir, so it is safe beside the container's
//! own mount, even while the container runs; the union applies whiteouts and
//! opaque dirs exactly as the container sees them, so none reach the tar.
//! As in `docker export`, the runtime's mount points (`/proc`, `/dev`,
//! `/sys`, the `/etc` files) are in it, empty, when the container made them.
//!
//! The mount lives in a private mount namespace of the one thread that walks
//! it (when we may make one, i.e. as root), so nobody else sees it and a
//! killed `strata export` leaves nothing mounted: the namespace, and the
//! mount with it, goes when the process does. The tar bytes cross to the
//! caller's thread through a bounded channel.

use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{self, SyncSender};
use std::time::Duration;

use crate::error::{Error, PathContext, Result};
use crate::lifecycle::Runtime;
use crate::supervisor::{open_lowers, ownership};
use crate::treetar::{write_tree, Form};

impl Runtime {
    /// Writes container `id`'s merged root filesystem as a tar to `out`.
    pub fn export(&self, id: &str, out: &mut dyn Write) -> Result<()> {
        let cfg = self.store().config(id)?;
        let mut lowers = open_lowers(&cfg.rootfs).map_err(|e| Error::sys("open layers", e))?;
        let upper = self.store().dir(id).join("upper");
        // A container created but never started has no upper dir yet.
        if upper.exists() {
            let top = unionfs::DirLower::open(&upper).at("open", &upper)?;
            lowers.insert(0, Box::new(top));
        }
        let union = unionfs::UnionConfig {
            lowers,
            upper: None,
            timeout: Duration::from_secs(86_400),
            ownership: ownership(),
            passthrough: false,
            fsync: false,
            static_nlink: false,
            noxattrs: false,
            posix_acl: false,
        };
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(8);
        std::thread::scope(|s| {
            let walker = s.spawn(move || walk_privately(union, tx));
            let mut copied = Ok(());
            for chunk in rx.iter() {
                if let Err(e) = out.write_all(&chunk) {
                    copied = Err(Error::sys(format!("export of container {id}"), e));
                    break;
                }
            }
            // A failed copy drops the channel, which stops the walk.
            drop(rx);
            let walked = walker.join().expect("export walker panicked");
            copied?;
            walked.map_err(|e| match e {
                WalkError::Mount(e) => e,
                WalkError::Tree(e) => Error::sys(format!("export of container {id}"), e),
            })
        })
    }

    /// [`Runtime::export`] to a file, written under a temporary name and
    /// renamed, so a failed export leaves no partial tar at `path`.
    pub fn export_to_file(&self, id: &str, path: &Path) -> Result<()> {
        layerstore::layout::write_file_atomically(path, |w| self.export(id, w), Error::sys)
    }
}

enum WalkError {
    Mount(Error),
    Tree(io::Error),
}

/// On its own thread: mounts `union` where only this thread sees it, and
/// sends the tree as a tar down `tx`.
fn walk_privately(union: unionfs::UnionConfig, tx: SyncSender<Vec<u8>>) -> Result<(), WalkError> {
    private_mounts().map_err(WalkError::Mount)?;
    let mountpoint = tempfile::Builder::new()
        .prefix("strata-export-")
        .tempdir()
        .map_err(|e| WalkError::Mount(Error::sys("create export mount point", e)))?;
    let session = unionfs::mount::spawn_union(union, mountpoint.path(), false)
        .at("mount union on", mountpoint.path())
        .map_err(WalkError::Mount)?;
    let out = io::BufWriter::with_capacity(256 << 10, Chunks(tx));
    let written =
        write_tree(mountpoint.path(), Form::Flat, &|_| false, out).and_then(|mut w| w.flush());
    // Unmounts before the temp dir is removed.
    drop(session);
    written.map_err(WalkError::Tree)
}

/// Gives this thread its own mount namespace, receiving the host's mount
/// events but sending none. Without the privilege for it (rootless), the
/// union is mounted where the caller's other mounts are.
fn private_mounts() -> Result<()> {
    use nix::mount::{mount, MsFlags};
    match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS) {
        Ok(()) => {
            // If / cannot be made a slave (an LSM may refuse), the union is
            // still mounted, seen from outside as before.
            let none: Option<&str> = None;
            let _ = mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_SLAVE, none);
            Ok(())
        }
        Err(nix::errno::Errno::EPERM) => Ok(()),
        Err(e) => Err(Error::sys("unshare mount namespace", e)),
    }
}

/// A writer whose bytes go down a channel; a closed channel is a broken pipe.
struct Chunks(SyncSender<Vec<u8>>);

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .send(buf.to_vec())
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
