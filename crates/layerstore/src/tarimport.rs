//! Reads one uncompressed layer tar into a [`LayerIndex`] plus staged file
//! objects, in a single streaming pass.
//!
//! A [`Recorder`] sits under the tar parser: it hashes every byte (giving the
//! diff_id) and keeps the bytes the parser reads *between* file data sections
//! (headers, PAX/GNU extension records, padding), which become each entry's
//! `raw` segment. File data itself goes straight to the object pool and is
//! not recorded. Rebuilding is then concatenation: raw, data, raw, data, …,
//! trailer — identical by construction.
//!
//! Path policy (documented for users): names are normalised as Docker does
//! for absolute paths (a leading `/` is dropped) and `./` prefixes are
//! dropped; any `..` component is refused outright rather than cleaned, as is
//! any entry beneath a non-directory placed by this layer or a lower one
//! (writing through a symlink), a hard link to a path that does not exist
//! in this or a lower layer, and a path that appears twice in one layer.
//! What Go's archive/tar would read differently from the tar crate is
//! refused as well: malformed PAX records (see [`crate::pax`]), a size on
//! an entry that carries no data, a NUL in a name.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;

use tar::EntryType;

use crate::digest::BackgroundHasher;
use crate::error::{one_line, Error, Result};
use crate::escape::{escape, Escaped};
use crate::index::{Entry, Kind, LayerIndex};
use crate::layout::Layout;
use crate::objects::Staged;
use crate::pax;

/// Bound on the non-data bytes of one entry (headers plus extension
/// records) and on the trailer: tar headers are never this large in real
/// layers, and the bound keeps a hostile header from exhausting memory.
pub const MAX_HEADER_BYTES: usize = 1 << 20;

#[derive(Default)]
struct Shared {
    recording: bool,
    raw: Vec<u8>,
    hasher: BackgroundHasher,
    total: u64,
}

/// Hashes everything and records what is read while `recording` is set.
struct Recorder<R> {
    inner: R,
    shared: Rc<RefCell<Shared>>,
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut s = self.shared.borrow_mut();
        s.hasher.update(&buf[..n]);
        s.total += n as u64;
        if s.recording {
            if s.raw.len() + n > MAX_HEADER_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("tar header or trailer larger than {MAX_HEADER_BYTES} bytes"),
                ));
            }
            s.raw.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

/// Normalises a tar name to a root-relative path (see module docs).
pub(crate) fn normalise(name: &[u8]) -> std::result::Result<Vec<u8>, &'static str> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for p in name.split(|&c| c == b'/') {
        match p {
            b"" | b"." => {}
            b".." => return Err("path escapes the layer root (\"..\" component)"),
            p => parts.push(p),
        }
    }
    Ok(parts.join(&b'/'))
}

/// Finds `path` in the topmost lower layer that has an entry for it.
fn lower_lookup<'a>(lower: &[&'a LayerIndex], path: &[u8]) -> Option<&'a Entry> {
    lower.iter().find_map(|l| l.lookup_explicit(path))
}

/// The layers beneath a layer being imported.
#[derive(Clone, Copy)]
pub(crate) enum Below<'a> {
    /// Known, topmost first: parents and hard-link targets are checked
    /// against them as the tar streams.
    Known(&'a [&'a LayerIndex]),
    /// Not known yet (layers imported in parallel): a hard link to a path
    /// this layer does not have is kept unresolved, and [`attach`] checks
    /// the whole layer against its lower layers once they are known.
    Later,
}

/// Imports the tar stream `tar`. `below` are the layers beneath this one,
/// used to validate parents and hard-link targets. `label` names the layer
/// in errors. New objects go to `staged`. Also returns the positions of
/// the hard links left for [`attach`] (none unless `below` is
/// [`Below::Later`]).
pub(crate) fn import_tar(
    layout: &Layout,
    label: &str,
    tar: impl Read,
    below: Below,
    staged: &mut Staged,
) -> Result<(LayerIndex, Vec<usize>)> {
    let lower = match below {
        Below::Known(l) => l,
        Below::Later => &[],
    };
    let shared = Rc::new(RefCell::new(Shared {
        recording: true,
        ..Default::default()
    }));
    let bad_tar = |e: io::Error| Error::BadTar {
        layer: label.to_string(),
        reason: one_line(e),
    };
    let mut archive = tar::Archive::new(Recorder {
        inner: tar,
        shared: shared.clone(),
    });
    let mut entries: Vec<Entry> = Vec::new();
    let mut by_path: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut unresolved = Vec::new();

    for item in archive.entries().map_err(bad_tar)? {
        let mut te = item.map_err(bad_tar)?;
        let name = te.path_bytes().into_owned();
        let bad = |reason: &str| Error::BadEntry {
            layer: label.to_string(),
            path: escape(&name),
            reason: reason.to_string(),
        };
        let entry_type = te.header().entry_type();
        if entry_type == EntryType::XGlobalHeader {
            // Global PAX headers describe the archive, not a path, and
            // neither Go nor the tar crate applies them to later entries;
            // Go still refuses malformed ones. Their bytes stay in the
            // recorder and join the next entry's raw.
            if local_pax(&shared.borrow().raw).map_err(bad_tar)?.is_some() {
                // Go drops such a local header; the tar crate applies its
                // `size` to the global one.
                return Err(bad("a local PAX header describes a global one"));
            }
            let mut data = Vec::new();
            te.read_to_end(&mut data).map_err(bad_tar)?;
            pax::parse(&data).map_err(|r| bad(&r))?;
            continue;
        }
        let raw = std::mem::take(&mut shared.borrow_mut().raw);
        let pax = match local_pax(&raw).map_err(bad_tar)? {
            Some(data) => pax::parse(data).map_err(|r| bad(&r))?,
            None => pax::Pax::default(),
        };
        let hdr = te.header();
        let kind = match entry_type {
            EntryType::Regular | EntryType::Continuous => Kind::File,
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink,
            EntryType::Link => Kind::Hardlink,
            EntryType::Char => Kind::CharDevice,
            EntryType::Block => Kind::BlockDevice,
            EntryType::Fifo => Kind::Fifo,
            EntryType::GNUSparse => return Err(bad("GNU sparse files are not supported")),
            other => {
                return Err(bad(&format!(
                    "unsupported entry type {:?}",
                    other.as_byte() as char
                )))
            }
        };
        // Go reads no data for these types whatever their size says, the
        // tar crate reads `size` bytes: the two would see different entries.
        if kind != Kind::File && te.size() != 0 {
            return Err(bad(&format!(
                "a {kind:?} entry carries no data, yet its size is {}",
                te.size()
            )));
        }
        // Go ends a GNU long name at its first NUL, the tar crate keeps it.
        if name.contains(&0) {
            return Err(bad("NUL byte in the name"));
        }
        let path = normalise(&name).map_err(bad)?;
        if path.is_empty() && kind != Kind::Dir {
            return Err(bad("the layer root must be a directory"));
        }
        if by_path.contains_key(&path) {
            return Err(bad("duplicate path in one layer"));
        }
        let own = |p: &[u8]| by_path.get(p).map(|&i| &entries[i]);
        check_parents(&path, own, lower).map_err(|r| bad(&r))?;

        let meta = |r: io::Result<u64>| r.map_err(|e| bad(&one_line(e)));
        let mut e = Entry::new(path.clone(), kind);
        e.mode = meta(hdr.mode().map(u64::from))? as u32 & 0o7777;
        e.uid = meta(hdr.uid())?;
        e.gid = meta(hdr.gid())?;
        e.mtime = match pax.mtime {
            Some(t) => t,
            None => meta(hdr.mtime())?,
        };
        if matches!(kind, Kind::CharDevice | Kind::BlockDevice) {
            e.rdev_major = meta(hdr.device_major().map(|m| m.unwrap_or(0) as u64))? as u32;
            e.rdev_minor = meta(hdr.device_minor().map(|m| m.unwrap_or(0) as u64))? as u32;
        }
        let size = te.size();
        let link = te
            .link_name_bytes()
            .filter(|_| matches!(kind, Kind::Symlink | Kind::Hardlink));
        if link.as_ref().is_some_and(|l| l.contains(&0)) {
            return Err(bad("NUL byte in the link target"));
        }
        match kind {
            Kind::Symlink => {
                let target = link.ok_or_else(|| bad("symlink without a target"))?;
                e.set_link(target.into_owned());
            }
            Kind::Hardlink => {
                let given = link.ok_or_else(|| bad("hard link without a target"))?;
                let target = normalise(&given)
                    .map_err(|_| bad("hard link target escapes the layer root"))?;
                let found = match by_path.get(&target) {
                    Some(&i) => Some(&entries[i]),
                    None => lower_lookup(lower, &target),
                };
                match (found, below) {
                    (Some(t), _) => {
                        if t.kind == Kind::Dir {
                            return Err(bad("hard link to a directory"));
                        }
                        e.object = t.object.clone();
                        e.size = t.size;
                    }
                    // Resolved by `attach` against the lower layers.
                    (None, Below::Later) => unresolved.push(entries.len()),
                    (None, Below::Known(_)) => return Err(bad("hard link target does not exist")),
                }
                e.set_link(target);
            }
            _ => {}
        }
        for (k, v) in pax.xattrs {
            e.push_xattr(k.to_vec(), v.to_vec());
        }
        e.raw = raw;
        if kind == Kind::File {
            shared.borrow_mut().recording = false;
            let d = staged.add(layout, &mut te, size);
            shared.borrow_mut().recording = true;
            e.object = Some(d?);
            e.size = size;
            e.data_in_tar = true;
        }
        by_path.insert(path, entries.len());
        entries.push(e);
    }

    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(bad_tar)?;
    drop(rest);
    let s = Rc::try_unwrap(shared)
        .ok()
        .expect("recorder dropped with the archive")
        .into_inner();
    if s.raw.len() < 1024 || s.raw[..1024].iter().any(|&b| b != 0) {
        return Err(Error::BadTar {
            layer: label.to_string(),
            reason: "truncated: no end-of-archive marker".into(),
        });
    }
    let index = LayerIndex::new(s.hasher.finish(), s.total, entries, s.raw);
    Ok((index, unresolved))
}

/// The data of the local PAX header (`x`) read for the entry whose header
/// ends `raw` (the tar crate refuses two). `raw` is the recorded segment:
/// the padding after the previous file's data (under one block, as no other
/// entry carries data), then whole blocks of extension headers with their
/// padded data, and last the entry's own header. The tar crate has read all
/// of them, so their sizes parse and fit.
fn local_pax(raw: &[u8]) -> io::Result<Option<&[u8]>> {
    const BLOCK: usize = 512;
    let mut at = raw.len() % BLOCK;
    let mut local = None;
    while at + BLOCK < raw.len() {
        let h = tar::Header::from_byte_slice(&raw[at..at + BLOCK]);
        let size = usize::try_from(h.entry_size()?).ok();
        let data = size
            .and_then(|n| raw.get(at + BLOCK..)?.get(..n))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "an extension header is larger than the bytes read for it",
                )
            })?;
        if h.entry_type() == EntryType::XHeader {
            local = Some(data);
        }
        at += BLOCK + data.len().next_multiple_of(BLOCK);
    }
    Ok(local)
}

/// Refuses an entry whose parent is a non-directory in this layer (`own`),
/// or, when this layer does not define the parent, in the topmost lower
/// layer that does: creating it would write through a symlink or into a
/// file.
fn check_parents<'a>(
    path: &[u8],
    own: impl Fn(&[u8]) -> Option<&'a Entry>,
    lower: &[&'a LayerIndex],
) -> std::result::Result<(), String> {
    let mut end = 0;
    while let Some(off) = path[end..].iter().position(|&c| c == b'/') {
        end += off;
        let prefix = &path[..end];
        if let Some(p) = own(prefix).or_else(|| lower_lookup(lower, prefix)) {
            if p.kind != Kind::Dir {
                return Err(format!(
                    "parent \"{}\" is not a directory (writing through a {:?} is refused)",
                    Escaped(prefix),
                    p.kind
                ));
            }
        }
        end += 1;
    }
    Ok(())
}

/// Checks a layer the store already has against the lower layers of the
/// image that now reuses it: the same parent and hard-link rules as at
/// import, since a stored layer may sit on a different stack this time.
pub(crate) fn validate_on(label: &str, index: &LayerIndex, lower: &[&LayerIndex]) -> Result<()> {
    let own = |p: &[u8]| index.lookup_explicit(p);
    for e in index.entries() {
        let path = e.path().as_os_str().as_bytes();
        let bad = |reason: String| Error::BadEntry {
            layer: label.to_string(),
            path: escape(path),
            reason,
        };
        check_parents(path, own, lower).map_err(bad)?;
        if e.kind == Kind::Hardlink {
            let t = e
                .link_target()
                .map(|t| t.as_os_str().as_bytes())
                .unwrap_or_default();
            if own(t).is_none() && lower_lookup(lower, t).is_none() {
                return Err(bad("hard link target does not exist".into()));
            }
        }
    }
    Ok(())
}

/// Places a layer imported with [`Below::Later`] on its lower layers: the
/// checks of [`validate_on`], and each hard link left unresolved (its
/// target was not earlier in the layer) takes the object and size of its
/// target in the lower layers, exactly as a sequential import would have.
pub(crate) fn attach(
    label: &str,
    index: &mut LayerIndex,
    unresolved: &[usize],
    lower: &[&LayerIndex],
) -> Result<()> {
    validate_on(label, index, lower)?;
    for &i in unresolved {
        let e = &index.entries()[i];
        let bad = |reason: &str| Error::BadEntry {
            layer: label.to_string(),
            path: e.path().display().to_string(),
            reason: reason.to_string(),
        };
        let target = e
            .link_target()
            .map(|t| t.as_os_str().as_bytes())
            .unwrap_or_default();
        let t =
            lower_lookup(lower, target).ok_or_else(|| bad("hard link target does not exist"))?;
        if t.kind == Kind::Dir {
            return Err(bad("hard link to a directory"));
        }
        let (object, size) = (t.object.clone(), t.size);
        let e = &mut index.entries_mut()[i];
        e.object = object;
        e.size = size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn normalises_names() {
        assert_eq!(normalise(b"./a/b/").unwrap(), b"a/b");
        assert_eq!(normalise(b"/etc//passwd").unwrap(), b"etc/passwd");
        assert_eq!(normalise(b"./").unwrap(), b"");
        assert!(normalise(b"../x").is_err());
        assert!(normalise(b"a/../../x").is_err());
    }
}
