//! Stored images served by strata-fs with nothing extracted: each layer of
//! an image becomes a union lower whose metadata comes from the layer index
//! and whose file data is opened from the store's object pool.
//!
//! This crate joins `layerstore` (which knows nothing of FUSE) and `unionfs`
//! (which knows nothing of images); the runner mounts container roots
//! through it and `strata mount` exposes it directly.

pub mod lower;

use std::path::{Path, PathBuf};

use layerstore::view::{ImageView, LayerView};
use layerstore::Store;
use unionfs::options::Options;
use unionfs::Lower;

pub use lower::ImageLower;

/// Device numbers for image layers: far from any real device's.
const DEV_BASE: u64 = 0xfff0_0000_0000_0000;

/// The device number of a layer: from its diff_id, so it is the same on
/// every mount and another image's layers have others (a copied-up file
/// records its lower file by device and inode number: see
/// `unionfs::origin`). A layer that appears twice in an image gets one
/// device twice, which is harmless: the upper copy of each path hides the
/// lower one.
fn layer_dev(layer: &LayerView) -> u64 {
    let hex = &layer.diff_id().hex()[..13];
    DEV_BASE | u64::from_str_radix(hex, 16).expect("a digest is hex")
}

/// The layers of `image`, topmost first, as union lowers.
pub fn image_lowers(store: &Store, image: &str) -> layerstore::Result<Vec<Box<dyn Lower>>> {
    let view = ImageView::open(store, image)?;
    Ok(view
        .layers()
        .iter()
        .map(|l| Box::new(ImageLower::new(l.clone(), layer_dev(l), store.root())) as Box<dyn Lower>)
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
