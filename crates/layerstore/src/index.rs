//! The per-layer index: every tar entry's metadata, the object holding its
//! data, and the raw bytes between data sections, so the original
//! uncompressed tar can be rebuilt byte for byte (see [`crate::rebuild`]).
//!
//! On disk it is `layers/HEX/index`: bincode, zstd-compressed. Paths are
//! kept as bytes because tar names need not be UTF-8.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::layout::{rename_noreplace, Layout};

const FORMAT_VERSION: u32 = 1;
const INDEX_FILE: &str = "index";

/// What a tar entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A hard link; [`Entry::link_target`] is the store-relative target path.
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
}

/// One entry of a layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    path: Vec<u8>,
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch.
    pub mtime: u64,
    /// Content size for files (and for hard links to files).
    pub size: u64,
    link: Option<Vec<u8>>,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The pool object holding the content of a file, or of the file a hard
    /// link in this layer points to.
    pub object: Option<Digest>,
    /// True when the tar stream carries this entry's data (the object's bytes
    /// follow `raw` when rebuilding).
    pub(crate) data_in_tar: bool,
    /// Tar bytes between the previous entry's data and this entry's data:
    /// padding, extension headers and this entry's header.
    pub(crate) raw: Vec<u8>,
}

impl Entry {
    pub(crate) fn new(path: Vec<u8>, kind: Kind) -> Entry {
        Entry {
            path,
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: 0,
            link: None,
            rdev_major: 0,
            rdev_minor: 0,
            xattrs: Vec::new(),
            object: None,
            data_in_tar: false,
            raw: Vec::new(),
        }
    }

    /// Path relative to the layer root, without leading `/` or `./`; the root
    /// directory itself is the empty path.
    pub fn path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.path))
    }
    /// Symlink target as written, or a hard link's normalised target path.
    pub fn link_target(&self) -> Option<&Path> {
        self.link
            .as_deref()
            .map(|l| Path::new(OsStr::from_bytes(l)))
    }
    pub(crate) fn set_link(&mut self, l: Vec<u8>) {
        self.link = Some(l);
    }
    /// Extended attributes (from PAX `SCHILY.xattr.` records).
    pub fn xattrs(&self) -> impl Iterator<Item = (&OsStr, &[u8])> {
        self.xattrs
            .iter()
            .map(|(k, v)| (OsStr::from_bytes(k), v.as_slice()))
    }
    pub(crate) fn push_xattr(&mut self, k: Vec<u8>, v: Vec<u8>) {
        self.xattrs.push((k, v));
    }
    /// File name of an OCI whiteout (`.wh.NAME` hides `NAME`), if this is one.
    pub fn whiteout_target(&self) -> Option<&OsStr> {
        let name = self.path().file_name()?.as_bytes();
        match name.strip_prefix(b".wh.") {
            Some(b".wh..opq") | None => None,
            Some(t) => Some(OsStr::from_bytes(t)),
        }
    }
    /// True for `.wh..wh..opq`, which makes its directory opaque.
    pub fn is_opaque_marker(&self) -> bool {
        self.path().file_name().map(|n| n.as_bytes()) == Some(b".wh..wh..opq")
    }
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    diff_id: Digest,
    tar_size: u64,
    entries: Vec<Entry>,
    trailer: Vec<u8>,
}

/// A layer's index, loaded, with path and directory lookups.
pub struct LayerIndex {
    diff_id: Digest,
    tar_size: u64,
    entries: Vec<Entry>,
    trailer: Vec<u8>,
    /// Directories the tar leaves implicit (it names `a/b` but not `a`, or
    /// not the root): synthesised as root-owned 0755 so lookups and
    /// listings see a complete tree. They are not part of the tar.
    implied: Vec<Entry>,
    /// Path → position: `entries` first, then `implied`.
    by_path: HashMap<Vec<u8>, usize>,
    children: BTreeMap<Vec<u8>, Vec<usize>>,
}

pub(crate) fn parent_of(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => &path[..i],
        None => b"",
    }
}

impl LayerIndex {
    pub(crate) fn new(
        diff_id: Digest,
        tar_size: u64,
        entries: Vec<Entry>,
        trailer: Vec<u8>,
    ) -> LayerIndex {
        let mut by_path = HashMap::with_capacity(entries.len());
        let mut children: BTreeMap<Vec<u8>, Vec<usize>> = BTreeMap::new();
        let mut implied: Vec<Entry> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            by_path.insert(e.path.clone(), i);
        }
        let link = |path: &[u8], i: usize, children: &mut BTreeMap<Vec<u8>, Vec<usize>>| {
            if !path.is_empty() {
                children
                    .entry(parent_of(path).to_vec())
                    .or_default()
                    .push(i);
            }
        };
        for (i, e) in entries.iter().enumerate() {
            link(&e.path, i, &mut children);
            let mut dir = parent_of(&e.path);
            loop {
                if by_path.contains_key(dir) {
                    break;
                }
                let at = entries.len() + implied.len();
                by_path.insert(dir.to_vec(), at);
                implied.push(Entry::new(dir.to_vec(), Kind::Dir));
                link(dir, at, &mut children);
                if dir.is_empty() {
                    break;
                }
                dir = parent_of(dir);
            }
        }
        if !by_path.contains_key(&b""[..]) {
            by_path.insert(Vec::new(), entries.len() + implied.len());
            implied.push(Entry::new(Vec::new(), Kind::Dir));
        }
        LayerIndex {
            diff_id,
            tar_size,
            entries,
            trailer,
            implied,
            by_path,
            children,
        }
    }

    fn at(&self, i: usize) -> &Entry {
        match self.entries.get(i) {
            Some(e) => e,
            None => &self.implied[i - self.entries.len()],
        }
    }

    pub fn diff_id(&self) -> &Digest {
        &self.diff_id
    }
    /// Size of the uncompressed layer tar.
    pub fn tar_size(&self) -> u64 {
        self.tar_size
    }
    /// All entries in tar order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
    /// Entries for fixing up in place; paths must not change (the lookup
    /// maps are keyed by them).
    pub(crate) fn entries_mut(&mut self) -> &mut [Entry] {
        &mut self.entries
    }
    pub(crate) fn trailer(&self) -> &[u8] {
        &self.trailer
    }
    /// Bytes of regular-file content in this layer.
    pub fn content_size(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.kind == Kind::File)
            .map(|e| e.size)
            .sum()
    }

    /// The entry at `path` (relative; `""` or `/` is the root), if the
    /// layer has one. Directories the tar leaves implicit are found too.
    pub fn lookup(&self, path: &Path) -> Option<&Entry> {
        self.lookup_indexed(path).map(|(_, e)| e)
    }

    /// [`LayerIndex::lookup`] with the entry's position in the layer: its
    /// place in tar order, implicit directories after. The stored index
    /// fixes it, so it names the entry the same way on every load.
    pub fn lookup_indexed(&self, path: &Path) -> Option<(usize, &Entry)> {
        let key = normalise_lookup(path);
        self.by_path.get(key.as_slice()).map(|&i| (i, self.at(i)))
    }

    /// Like [`LayerIndex::lookup`], but only entries the tar names: the
    /// import rules judge what a layer writes, not what it implies.
    pub(crate) fn lookup_explicit(&self, path: &[u8]) -> Option<&Entry> {
        self.by_path.get(path).and_then(|&i| self.entries.get(i))
    }

    /// Entries directly inside directory `path`, in tar order (implicit
    /// directories after).
    pub fn read_dir(&self, path: &Path) -> impl Iterator<Item = &Entry> {
        self.read_dir_indexed(path).map(|(_, e)| e)
    }

    /// [`LayerIndex::read_dir`] with each entry's position (see
    /// [`LayerIndex::lookup_indexed`]).
    pub fn read_dir_indexed(&self, path: &Path) -> impl Iterator<Item = (usize, &Entry)> {
        let key = normalise_lookup(path);
        self.children
            .get(key.as_slice())
            .into_iter()
            .flatten()
            .map(|&i| (i, self.at(i)))
    }

    /// Writes the index to `dir/index` (dir is a staging directory).
    pub(crate) fn write_to(&self, dir: &Path) -> Result<()> {
        let on_disk = OnDisk {
            version: FORMAT_VERSION,
            diff_id: self.diff_id.clone(),
            tar_size: self.tar_size,
            entries: self.entries.clone(),
            trailer: self.trailer.clone(),
        };
        let path = dir.join(INDEX_FILE);
        let f = fs::File::create(&path).ctx(|| format!("creating {}", path.display()))?;
        let z = zstd::Encoder::new(f, 1).ctx(|| "starting index compression".to_string())?;
        // bincode writes field by field: buffer so zstd sees large writes.
        let mut w = std::io::BufWriter::with_capacity(256 << 10, z);
        bincode::serialize_into(&mut w, &on_disk)
            .map_err(|e| Error::Corrupt(path.clone(), e.to_string()))?;
        w.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|z| z.finish())
            .and_then(|mut f| f.flush())
            .ctx(|| format!("writing {}", path.display()))
    }

    /// Loads `layers/HEX/index`.
    pub fn load(layout: &Layout, diff_id: &Digest) -> Result<LayerIndex> {
        let path = layout.layer_dir(diff_id).join(INDEX_FILE);
        let f = fs::File::open(&path).ctx(|| format!("opening layer index {}", path.display()))?;
        let z = zstd::Decoder::new(f).ctx(|| format!("reading {}", path.display()))?;
        let d: OnDisk = bincode::deserialize_from(std::io::BufReader::new(z))
            .map_err(|e| Error::Corrupt(path.clone(), e.to_string()))?;
        if d.version != FORMAT_VERSION || d.diff_id != *diff_id {
            return Err(Error::Corrupt(
                path,
                "index version or diff_id does not match".into(),
            ));
        }
        Ok(LayerIndex::new(d.diff_id, d.tar_size, d.entries, d.trailer))
    }

    /// Publishes a staged index directory as `layers/HEX`. Returns false when
    /// a concurrent import of the same layer got there first.
    pub(crate) fn publish(layout: &Layout, staged_dir: &Path, diff_id: &Digest) -> Result<bool> {
        rename_noreplace(staged_dir, &layout.layer_dir(diff_id))
    }
}

fn normalise_lookup(path: &Path) -> Vec<u8> {
    let b = path.as_os_str().as_bytes();
    let parts: Vec<&[u8]> = b
        .split(|&c| c == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .collect();
    parts.join(&b'/')
}
