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

use std::io::Write;
use std::path::Path;
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
        };
        let mountpoint = tempfile::Builder::new()
            .prefix("strata-export-")
            .tempdir()
            .map_err(|e| Error::sys("create export mount point", e))?;
        let session = unionfs::mount::spawn_union(union, mountpoint.path(), false)
            .at("mount union on", mountpoint.path())?;
        let written = write_tree(mountpoint.path(), Form::Flat, &|_| false, out)
            .map_err(|e| Error::sys(format!("export of container {id}"), e));
        // Unmounts before the temp dir is removed.
        drop(session);
        written.map(drop)
    }

    /// [`Runtime::export`] to a file, written under a temporary name and
    /// renamed, so a failed export leaves no partial tar at `path`.
    pub fn export_to_file(&self, id: &str, path: &Path) -> Result<()> {
        layerstore::layout::write_file_atomically(path, |w| self.export(id, w), Error::sys)
    }
}
