//! Stored images served by strata-fs with nothing extracted: each layer of
//! an image becomes a union lower whose metadata comes from the layer index
//! and whose file data is opened from the store's object pool.
//!
//! This crate joins `layerstore` (which knows nothing of FUSE) and `unionfs`
//! (which knows nothing of images); the runner mounts container roots
//! through it and `strata mount` exposes it directly.

pub mod lower;

use std::path::{Path, PathBuf};

use layerstore::view::ImageView;
use layerstore::Store;
use unionfs::options::Options;
use unionfs::Lower;

pub use lower::ImageLower;

/// Device numbers for image layers: far from any real device's, one per layer.
const DEV_BASE: u64 = 0xfff0_0000_0000_0000;

/// The layers of `image`, topmost first, as union lowers.
pub fn image_lowers(store: &Store, image: &str) -> layerstore::Result<Vec<Box<dyn Lower>>> {
    let view = ImageView::open(store, image)?;
    Ok(view
        .layers()
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Box::new(ImageLower::new(
                l.clone(),
                DEV_BASE + i as u64,
                store.root(),
            )) as Box<dyn Lower>
        })
        .collect())
}

/// Mounts `image` from the store at `root` on `mountpoint` and returns once
/// the mount is live; a daemon serves it until unmounted. Read-only unless
/// `upper` gives an upper and a work directory.
pub fn mount_image(
    root: &Path,
    image: &str,
    mountpoint: &Path,
    upper: Option<(PathBuf, PathBuf)>,
) -> Result<(), String> {
    // Resolve in the caller, so a bad reference fails before anything forks.
    let store = Store::open(root).map_err(|e| e.to_string())?;
    ImageView::open(&store, image).map_err(|e| e.to_string())?;
    drop(store);
    let (upperdir, workdir) = match upper {
        Some((u, w)) => (Some(u), Some(w)),
        None => (None, None),
    };
    let opts = Options {
        source: Some(image.to_string()),
        mountpoint: mountpoint.to_path_buf(),
        upperdir,
        workdir,
        ..Options::defaults(nix::unistd::geteuid().is_root())
    };
    unionfs::mount::daemonize_with(&opts, || {
        // In the daemon: its own database connection and layer handles.
        let store = Store::open(root).map_err(|e| e.to_string())?;
        let lowers = image_lowers(&store, image).map_err(|e| e.to_string())?;
        unionfs::mount::union_config_with(&opts, lowers)
    })
}
