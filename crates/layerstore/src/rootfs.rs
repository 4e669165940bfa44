//! Flat root filesystem tars: `import` (one tar becomes a one-layer image)
//! and `export` (an image's merged tree, whiteouts applied, as one tar).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use oci_spec::image::{Arch, HistoryBuilder, ImageConfigurationBuilder, Os, RootFsBuilder};
use serde_json::{Map, Value};

use crate::changes;
use crate::error::{Error, IoContext, Result};
use crate::index::{Entry, Kind};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::store::{LayerExpect, Store, StoredImage};
use crate::view::ImageView;

/// Options of `import`.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Dockerfile instructions (`CMD ["sh"]`, `ENV A=1`, …).
    pub changes: Vec<String>,
    /// History comment; defaults to `Imported from FILE`.
    pub message: Option<String>,
}

fn host_arch() -> Arch {
    match std::env::consts::ARCH {
        "x86_64" => Arch::Amd64,
        "aarch64" => Arch::ARM64,
        other => Arch::from(other),
    }
}

/// Imports a flat rootfs tar (plain, gzip or zstd; `-` = stdin) as a
/// one-layer image, tagged `reference` if given.
pub fn import(
    store: &mut Store,
    input: &Path,
    reference: Option<&str>,
    opts: &ImportOptions,
) -> Result<StoredImage> {
    let tag = reference
        .map(|r| Ok::<_, Error>(r.parse::<Reference>()?.with_default_tag().to_string()))
        .transpose()?;
    let mut config = Map::new();
    for c in &opts.changes {
        changes::apply(&mut config, c)?;
    }
    let label = input.display().to_string();
    let (reader, size): (Box<dyn Read>, Option<u64>) = if input == Path::new("-") {
        (Box::new(io::stdin().lock()), None)
    } else {
        let f = File::open(input).ctx(|| format!("opening {label}"))?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(f), size)
    };
    let progress = Progress::bytes(format!("Importing {label}"), size);
    let reader = progress.wrap(reader);
    let mut pending = store.begin()?;
    let layer = store.add_layer(&mut pending, &label, reader, &LayerExpect::default())?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let err = |e: oci_spec::OciSpecError| Error::BadJson {
        path: "generated image config".into(),
        reason: e.to_string(),
    };
    let history = HistoryBuilder::default()
        .created(now.clone())
        .created_by("strata import".to_string())
        .comment(
            opts.message
                .clone()
                .unwrap_or_else(|| format!("Imported from {label}")),
        )
        .build()
        .map_err(err)?;
    let cfg = ImageConfigurationBuilder::default()
        .created(now)
        .architecture(host_arch())
        .os(Os::Linux)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![layer.diff_id().to_string()])
                .build()
                .map_err(err)?,
        )
        .history(vec![history])
        .build()
        .map_err(err)?;
    let mut v = serde_json::to_value(&cfg).map_err(|e| Error::BadJson {
        path: "generated image config".into(),
        reason: e.to_string(),
    })?;
    if !config.is_empty() {
        v["config"] = Value::Object(config);
    }
    let bytes = serde_json::to_vec(&v).expect("config serialises");
    store.commit(pending, &bytes, None, &tag.into_iter().collect::<Vec<_>>())
}

/// The original of a hard link in the merged tree: follows links (a few
/// hops) to a visible non-link entry with the same content. None when the
/// target is gone or was replaced, so the link must become a copy.
fn link_root<'a>(visible: &HashMap<&Path, &'a Entry>, e: &'a Entry) -> Option<&'a Entry> {
    let mut cur = e;
    for _ in 0..16 {
        if cur.kind != Kind::Hardlink {
            return Some(cur);
        }
        let t = visible.get(cur.link_target()?)?;
        if t.kind == Kind::Dir || t.object != e.object {
            return None;
        }
        cur = t;
    }
    None
}

/// Writes the merged root filesystem of image `name` as a tar to `out`.
/// Paths that share a file through hard links are written once, the rest
/// as links to the first one written, whatever their order in the tree.
pub fn export(store: &Store, name: &str, out: &mut dyn Write) -> Result<()> {
    let view = ImageView::open(store, name)?;
    let merged = view.merged();
    let visible: HashMap<&Path, &Entry> = merged.iter().map(|(_, e)| (e.path(), *e)).collect();
    let mut first_written: HashMap<&Path, &Path> = HashMap::new();
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let w = |e: io::Error| Error::io("writing export tar", e);
    for &(layer, link) in &merged {
        let path = link.path();
        if path.as_os_str().is_empty() {
            continue;
        }
        // What to write at `path`: the link's original if it has one.
        let (e, group) = match link.kind {
            Kind::Hardlink => match link_root(&visible, link) {
                Some(root) => (root, Some(root.path())),
                None => (link, None),
            },
            Kind::File => (link, Some(path)),
            _ => (link, None),
        };
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(0);
        if let Some(first) = group.and_then(|g| first_written.get(g)) {
            h.set_entry_type(tar::EntryType::Link);
            b.append_link(&mut h, path, first).map_err(w)?;
            continue;
        }
        let xattrs: Vec<(String, &[u8])> = e
            .xattrs()
            .map(|(k, v)| (format!("SCHILY.xattr.{}", k.to_string_lossy()), v))
            .collect();
        if !xattrs.is_empty() {
            b.append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), *v)))
                .map_err(w)?;
        }
        match e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                b.append_data(&mut h, path, io::empty()).map_err(w)?;
            }
            Kind::Symlink => {
                let target = e.link_target().unwrap_or(Path::new(""));
                append_symlink(&mut b, &mut h, path, target.as_os_str().as_bytes()).map_err(w)?;
            }
            Kind::File | Kind::Hardlink => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(e.size);
                match &e.object {
                    Some(_) => b
                        .append_data(&mut h, path, layer.open(e)?.take(e.size))
                        .map_err(w)?,
                    // A link whose non-file target is gone: nothing to copy.
                    None => {
                        h.set_size(0);
                        b.append_data(&mut h, path, io::empty()).map_err(w)?
                    }
                }
            }
            Kind::CharDevice | Kind::BlockDevice | Kind::Fifo => {
                h.set_entry_type(match e.kind {
                    Kind::CharDevice => tar::EntryType::Char,
                    Kind::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                h.set_device_major(e.rdev_major).map_err(w)?;
                h.set_device_minor(e.rdev_minor).map_err(w)?;
                b.append_data(&mut h, path, io::empty()).map_err(w)?;
            }
        }
        if let Some(g) = group {
            first_written.insert(g, path);
        }
    }
    b.finish().map_err(w)
}

/// Appends a symlink entry whose target is `target` byte for byte. The tar
/// crate's `append_link` normalises a link name as a path (`/` becomes
/// `//`, `./x` becomes `x`); only targets too long for the header go that
/// way, as a GNU long-link record, which it writes verbatim.
pub fn append_symlink<W: Write>(
    b: &mut tar::Builder<W>,
    h: &mut tar::Header,
    path: &Path,
    target: &[u8],
) -> io::Result<()> {
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    if target.len() < h.as_old().linkname.len() {
        h.set_link_name_literal(target)?;
        b.append_data(h, path, io::empty())
    } else {
        b.append_link(h, path, std::ffi::OsStr::from_bytes(target))
    }
}

/// [`export`] to a file, written under a temporary name and renamed, so a
/// failed export leaves no partial tar at `path`.
pub fn export_to_file(store: &Store, name: &str, path: &Path) -> Result<()> {
    crate::layout::write_file_atomically(path, |w| export(store, name, w), Error::io)
}
